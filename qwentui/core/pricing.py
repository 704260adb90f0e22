"""What a job will cost before it is sent, and what it cost after: prices as data, estimates, billed units.

The prices live in `prices.toml` beside this module (dated, with their source) and can be overridden in the
settings file's `[prices]` table:

    [prices]
    as_of = "2027-01-15"                  # the date of your figures (optional; default: the file's date)
    "wan2.6-t2i" = 0.025                  # every resolution of the model, in the region in use
    "wan2.6-t2v/1080P" = 0.14             # one resolution
    "wan2.6-i2v-flash/720P/silent" = 0.02 # one resolution with audio off ("audio" for on)
    "qwen-image-max" = { "cn-beijing" = 0.45, "ap-southeast-1" = 0.06 }   # per region

Billing rules (docs/pricing.md §1): only output is billed (a failed task costs nothing); images per image
returned; videos per second of output at the price of the resolution (and, for the flash models, of the audio
setting); r2v also bills its reference videos, each up to 5 s. Each region keeps its own currency: nothing is
ever converted. A model without a known price gets an explicit "no price known" estimate, never 0.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from qwentui.core.catalog import VIDEO_480P, VIDEO_720P, VIDEO_1080P, Field, Mode, ModelMode, parse_size
from qwentui.core.config import DEFAULT_REGION, REGION_ALIASES, REGIONS, ConfigError, base_url_from_env
from qwentui.core.requests import GenerationRequest

STALE_AFTER = timedelta(days=90)
REFERENCE_VIDEO_CAP = 5.0  # seconds of each r2v reference video that are billed
VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".flv")
ASSUMED_VACE_SECONDS = 5  # VACE takes no duration; its output length follows its input video
_SNAPSHOT = re.compile(r"-\d{4}-\d{2}-\d{2}$")  # qwen-image-plus-2026-01-09 costs what qwen-image-plus costs
_TIER_PIXELS = ((832 * 480 * 1.1, "480P"), (1280 * 720 * 1.1, "720P"))


class PriceDataError(ValueError):
    """The shipped price file is broken: a packaging bug, said plainly."""


@dataclass(frozen=True)
class Price:
    """One row of the table: a model (at a resolution, with audio on or off) -> a price per unit, per region."""

    model: str
    unit: str  # "image" | "second"
    per_region: Mapping[str, float]
    resolution: str | None = None  # None: every resolution
    audio: bool | None = None  # None: audio does not change the price
    note: str = ""
    note_regions: tuple[str, ...] = ()  # the regions the note is about (empty: all)
    overridden: bool = False  # the user's figure, from the settings file

    def note_for(self, region: str) -> str:
        parts = ["your price"] if self.overridden else []
        if self.note and (not self.note_regions or region in self.note_regions):
            parts.append(self.note)
        return "; ".join(parts)


@dataclass(frozen=True)
class Estimate:
    """The expected cost of one job (amount None: no price is known, which is not the same as free)."""

    model: str
    region: str
    amount: float | None
    currency: str | None
    basis: str  # how the amount was reached, e.g. "4 images x 0.03 USD"
    as_of: date | None
    stale: bool  # the prices are older than STALE_AFTER
    unit: str | None = None
    unit_price: float | None = None
    units: float = 0.0
    note: str = ""

    @property
    def known(self) -> bool:
        return self.amount is not None

    @property
    def dated(self) -> str:
        if self.as_of is None:
            return ""
        text = f"prices as of {self.as_of.isoformat()}"
        return text + " (older than 90 days: check them)" if self.stale else text

    @property
    def text(self) -> str:
        """One line for people: "est. 0.12 USD (4 images x 0.03 USD; prices as of 2026-12-01)"."""
        if self.amount is None:
            return f"est. unknown: {self.basis}"
        detail = "; ".join(part for part in (self.basis, self.note, self.dated) if part)
        return f"est. {money(self.amount, self.currency)} ({detail})"

    def fields(self) -> dict[str, Any]:
        """The job fields that record this estimate (store columns)."""
        return {"cost_estimate": self.amount, "cost_currency": self.currency, "cost_unit_price": self.unit_price}


def money(amount: float | None, currency: str | None) -> str:
    if amount is None:
        return "unknown"
    whole, _, cents = f"{amount:.4f}".partition(".")
    cents = cents.rstrip("0").ljust(2, "0")  # at least two decimals, at most four: 0.0375 stays exact
    return f"{whole}.{cents} {currency or ''}".rstrip()


def normalize_region(region: str | None) -> str:
    name = (region or DEFAULT_REGION).strip().lower()
    return REGION_ALIASES.get(name, name)


def region_of_endpoint(endpoint: str | None) -> str:
    """The region whose prices apply to an API root (an unknown host, e.g. the simulator: the default)."""
    host = urlsplit(endpoint or "").hostname or ""
    for region, base in REGIONS.items():
        if urlsplit(base).hostname == host:
            return region
    return DEFAULT_REGION


def video_tier(row: ModelMode, request: GenerationRequest) -> str | None:
    """480P / 720P / 1080P of a video request: its resolution, else the tier its size belongs to."""
    if row.takes(Field.RESOLUTION):
        return request.resolution or row.default_resolution
    size = request.size or row.default_size or (row.size.choices[0] if row.size and row.size.choices else None)
    if size is None:
        return None
    for tier, sizes in (("480P", VIDEO_480P), ("720P", VIDEO_720P), ("1080P", VIDEO_1080P)):
        if size.replace("x", "*") in sizes:
            return tier
    wh = parse_size(size)
    if wh is None:
        return None
    pixels = wh[0] * wh[1]
    return next((tier for limit, tier in _TIER_PIXELS if pixels <= limit), "1080P")


def _image_count(row: ModelMode, request: GenerationRequest) -> int:
    if row.mode is Mode.INTERLEAVE:  # up to max_images come back; each is billed
        return request.max_images if request.max_images is not None else row.max_images_range[1]
    sets = bool(request.enable_sequential) and row.sequential is not None
    default = row.sequential.default_n if sets and row.sequential else row.default_n
    return request.n if isinstance(request.n, int) and request.n > 0 else default


def _reference_videos(request: GenerationRequest) -> int:
    return sum(1 for ref in request.images if ref.lower().split("?")[0].endswith(VIDEO_SUFFIXES))


def billed_units(usage: Mapping[str, Any] | None) -> float:
    """Images, or video seconds, a finished task is billed for, from its `usage` (0 for an unknown shape).

    Wan 2.7 reports `duration` = input + output seconds, the billed figure (docs/protocol.md §12.4); older
    models report `video_duration` of output, plus `input_video_duration` where a reference video is billed
    (capped at 5 s)."""
    if not usage or not isinstance(usage, Mapping):
        return 0.0

    def number(key: str) -> float | None:
        value = usage.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
        return None

    images = number("image_count")
    if images:
        return images
    if (total := number("duration")) is not None and number("output_video_duration") is not None:
        return total
    output = number("video_duration") or number("output_video_duration") or number("duration") or 0.0
    return output + min(number("input_video_duration") or 0.0, REFERENCE_VIDEO_CAP)


@dataclass(frozen=True)
class PriceTable:
    """Every known price, the date they were checked, and any problems found in the user's overrides."""

    prices: tuple[Price, ...]
    currencies: Mapping[str, str]
    as_of: date | None
    source: str
    user_as_of: date | None = None
    problems: tuple[str, ...] = ()
    today: date | None = None  # for tests: the day staleness is judged against

    def currency(self, region: str) -> str | None:
        return self.currencies.get(normalize_region(region))

    def find(self, model: str, region: str, resolution: str | None = None, audio: bool | None = None) -> Price | None:
        """The most specific price for the model (user overrides first); None when none is known."""
        region = normalize_region(region)
        name = _SNAPSHOT.sub("", model)
        best: tuple[int, Price] | None = None
        for price in self.prices:
            if price.model != name or region not in price.per_region:
                continue
            if price.resolution is not None and price.resolution != resolution:
                continue
            if price.audio is not None and price.audio != audio:
                continue
            score = (price.resolution is not None) + (price.audio is not None) + 4 * price.overridden
            if best is None or score > best[0]:
                best = (score, price)
        return best[1] if best else None

    def models(self) -> list[str]:
        return sorted({p.model for p in self.prices})

    def estimate(self, request: GenerationRequest, region: str | None = None) -> Estimate:
        region = normalize_region(region)
        if request.mode.is_local:  # made on this machine (an assembled film): no model, nothing billed
            return Estimate(
                request.model or "", region, 0.0, self.currency(region), "made on this machine", None, False
            )
        model = request.model_name
        try:
            row = request.row
        except LookupError:
            try:  # a dated snapshot of a catalog model has its alias's rules and price
                row = replace(request, model=_SNAPSHOT.sub("", model)).row
            except LookupError:
                return self._unknown(model, region, f"{model} is not in the catalog")
        if row.is_video:
            tier = video_tier(row, request)
            audio = (request.audio if request.audio is not None else True) if row.takes(Field.AUDIO) else None
            price = self.find(model, region, tier, audio)
            what = f"{model} {tier or ''}".rstrip() + ("" if audio is None else f", audio {'on' if audio else 'off'}")
            if price is None:
                return self._unknown(model, region, f"no price known for {what} in {region}")
            seconds = request.duration if request.duration is not None else row.default_duration
            assumed = ""
            if seconds is None:
                seconds, assumed = ASSUMED_VACE_SECONDS, " (assumed: the output follows the input video)"
            units = float(seconds)
            extra = ""
            if row.mode is Mode.R2V and (videos := _reference_videos(request)):
                units += videos * REFERENCE_VIDEO_CAP
                extra = f" + up to {videos * REFERENCE_VIDEO_CAP:g} s of reference video"
            clip = row.media_slot("first_clip")
            if clip is not None and clip.clip is not None and any(m.get("type") == "first_clip" for m in request.media):
                # Wan 2.7 bills the input clip with the new footage (docs/protocol.md §12.4); its length is not
                # known here, so the estimate takes the longest the model accepts
                units += clip.clip.max_seconds
                extra += f" + up to {clip.clip.max_seconds:g} s of first clip"
            basis = f"{seconds} s{extra}{assumed} x {self._unit_text(price, region)}/s ({what})"
        else:
            price = self.find(model, region)
            if price is None:
                return self._unknown(model, region, f"no price known for {model} in {region}")
            units = float(_image_count(row, request))
            label = "image" if units == 1 else "images"
            basis = f"{units:g} {label} x {self._unit_text(price, region)}"
            if row.mode is Mode.INTERLEAVE:
                basis += " (at most; each image returned is billed)"
        unit_price = price.per_region[region]
        return Estimate(
            model=model,
            region=region,
            amount=round(units * unit_price, 6),
            currency=self.currency(region),
            basis=basis,
            as_of=self._as_of(price),
            stale=self._stale(price),
            unit=price.unit,
            unit_price=unit_price,
            units=units,
            note=price.note_for(region),
        )

    def _unit_text(self, price: Price, region: str) -> str:
        return money(price.per_region[region], self.currency(region))

    def _as_of(self, price: Price) -> date | None:
        return (self.user_as_of or self.as_of) if price.overridden else self.as_of

    def _stale(self, price: Price) -> bool:
        when = self._as_of(price)
        return when is not None and (self.today or date.today()) - when > STALE_AFTER

    def _unknown(self, model: str, region: str, why: str) -> Estimate:
        return Estimate(model, region, None, self.currency(region), why, self.as_of, False)

    def with_overrides(self, table: Mapping[str, Any]) -> PriceTable:
        """This table with the settings file's `[prices]` entries on top (problems are collected, not raised)."""
        problems: list[str] = []
        extra: list[Price] = []
        user_as_of = None
        for key, value in table.items():
            if key == "as_of":
                user_as_of = _date(value)
                if user_as_of is None:
                    problems.append(f'[prices] as_of must be a date like "2027-01-15", not {value!r}')
                continue
            model, _, rest = str(key).partition("/")
            resolution, _, audio_word = rest.partition("/")
            audio = {"": None, "audio": True, "silent": False}.get(audio_word.lower(), "bad")
            known = [p for p in self.prices if p.model == model]
            if not known:
                problems.append(f"[prices] {key!r}: unknown model {model!r}")
                continue
            if audio == "bad" or (resolution and resolution.upper() not in {"480P", "720P", "1080P"}):
                problems.append(f'[prices] {key!r}: write "model", "model/720P" or "model/720P/audio|silent"')
                continue
            per_region = _per_region(value, self.currencies)
            if isinstance(per_region, str):
                problems.append(f"[prices] {key!r}: {per_region}")
                continue
            extra.append(
                Price(
                    model,
                    known[0].unit,
                    per_region,
                    resolution=resolution.upper() or None,
                    audio=audio if isinstance(audio, bool) else None,
                    overridden=True,
                )
            )
        return PriceTable(
            (*self.prices, *extra),
            self.currencies,
            self.as_of,
            self.source,
            user_as_of,
            (*self.problems, *problems),
            self.today,
        )


def _date(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        return None


def _per_region(value: Any, currencies: Mapping[str, str]) -> dict[str, float] | str:
    """A price for every region (a bare number) or per named region; a string says what is wrong."""

    def ok(number: Any) -> bool:
        return isinstance(number, int | float) and not isinstance(number, bool) and 0 <= number < 1e6

    if ok(value):
        return dict.fromkeys(currencies, float(value))
    if isinstance(value, Mapping):
        out: dict[str, float] = {}
        for region, number in value.items():
            name = normalize_region(str(region))
            if name not in currencies:
                return f"unknown region {region!r}; use one of: {', '.join(currencies)}"
            if not ok(number):
                return f"the price for {region} must be a number >= 0, not {number!r}"
            out[name] = float(number)
        return out
    return f"must be a price (a number) or a table of region = price, not {value!r}"


def parse_table(data: Mapping[str, Any]) -> PriceTable:
    """A price table from the parsed data file (PriceDataError when it is malformed)."""
    try:
        currencies = {normalize_region(k): str(v) for k, v in data["currency"].items()}
        prices = []
        for entry in data["price"]:
            per_region = {normalize_region(k): float(v) for k, v in entry.items() if normalize_region(k) in currencies}
            unit = str(entry["unit"])
            if unit not in ("image", "second"):
                raise PriceDataError(f"{entry['model']}: unit must be image or second, not {unit!r}")
            prices.append(
                Price(
                    str(entry["model"]),
                    unit,
                    per_region,
                    resolution=entry.get("resolution"),
                    audio=entry.get("audio"),
                    note=str(entry.get("note", "")),
                    note_regions=tuple(normalize_region(r) for r in entry.get("note_regions", ())),
                )
            )
        return PriceTable(tuple(prices), currencies, _date(data.get("as_of")), str(data.get("source", "")))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        if isinstance(exc, PriceDataError):
            raise
        raise PriceDataError(f"the price data is malformed: {exc!r}") from None


def shipped_table() -> PriceTable:
    """The price table that ships with qwentui."""
    text = resources.files("qwentui.core").joinpath("prices.toml").read_text(encoding="utf-8")
    return parse_table(tomllib.loads(text))


def load_prices(settings: Path | None) -> PriceTable:
    """The shipped prices with the settings file's `[prices]` overrides; a broken file only adds problems."""
    table = shipped_table()
    if settings is None or not settings.is_file():
        return table
    try:
        data = tomllib.loads(settings.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return PriceTable(*_fields_of(table), problems=(f"{settings}: {exc}; using the shipped prices",))
    overrides = data.get("prices", {})
    if not isinstance(overrides, Mapping):
        return PriceTable(*_fields_of(table), problems=("[prices] must be a table of model = price",))
    return table.with_overrides(overrides)


def _fields_of(table: PriceTable) -> tuple[tuple[Price, ...], Mapping[str, str], date | None, str]:
    return table.prices, table.currencies, table.as_of, table.source


@dataclass(frozen=True)
class Pricing:
    """A price table bound to the region the account is billed in: what the engine and the CLI estimate with."""

    table: PriceTable
    region: str = DEFAULT_REGION
    notes: list[str] = field(default_factory=list, compare=False)

    def estimate(self, request: GenerationRequest) -> Estimate:
        return self.table.estimate(request, self.region)

    def total(self, estimates: Iterable[Estimate]) -> Total:
        return Total.of(estimates)


@dataclass(frozen=True)
class Total:
    """Estimates added up, per currency; how many have no known price."""

    amounts: Mapping[str, float]
    unknown: int
    count: int
    as_of: date | None
    stale: bool

    @classmethod
    def of(cls, estimates: Iterable[Estimate]) -> Total:
        amounts: dict[str, float] = {}
        unknown = count = 0
        as_of: date | None = None
        stale = False
        for e in estimates:
            count += 1
            if e.amount is None:
                unknown += 1
            else:
                key = e.currency or "?"
                amounts[key] = round(amounts.get(key, 0.0) + e.amount, 6)
            if e.as_of is not None and (as_of is None or e.as_of < as_of):
                as_of = e.as_of
            stale = stale or e.stale
        return cls(amounts, unknown, count, as_of, stale)

    @property
    def text(self) -> str:
        parts = [money(amount, cur) for cur, amount in sorted(self.amounts.items())] or (
            [] if self.unknown else ["0.00"]
        )
        text = "est. " + " + ".join(parts) if parts else "est. unknown"
        if self.unknown:
            text += f" + {self.unknown} job{'s' if self.unknown != 1 else ''} with no price known"
        if self.as_of is not None:
            text += f" (prices as of {self.as_of.isoformat()}" + (", older than 90 days)" if self.stale else ")")
        return text


def row_prices(row: ModelMode, pricing: Pricing) -> dict[str, Any]:
    """A catalog row's prices in the billed region, per resolution and audio setting (`qwentui models`)."""
    table, region = pricing.table, pricing.region
    tiers: list[str | None] = [None]
    if row.is_video:
        if row.resolutions:
            tiers = list(row.resolutions)
        else:
            sizes = row.size.choices if row.size else ()
            found = {video_tier(row, GenerationRequest(mode=row.mode, model=row.model, size=size)) for size in sizes}
            order = ("480P", "720P", "1080P")
            tiers = [t for t in order if t in found] or [video_tier(row, GenerationRequest(mode=row.mode))]
    audios: tuple[bool | None, ...] = (True, False) if row.takes(Field.AUDIO) else (None,)
    entries = []
    as_of = table.as_of
    notes = ["+ up to 5 s of each reference video"] if row.mode is Mode.R2V else []
    for tier in tiers:
        for audio in audios:
            price = table.find(row.model, region, tier, audio)
            if price is not None:
                as_of = table._as_of(price)
                if (note := price.note_for(region)) and note not in notes:
                    notes.append(note)
            entries.append({"resolution": tier, "audio": audio, "price": price.per_region[region] if price else None})
    return {
        "region": region,
        "currency": table.currency(region),
        "unit": "second" if row.is_video else "image",
        "as_of": as_of.isoformat() if as_of else None,
        "stale": bool(as_of and (table.today or date.today()) - as_of > STALE_AFTER),
        "prices": entries,
        "notes": notes,
    }


def prices_text(facts: Mapping[str, Any]) -> str:
    """`row_prices` as one line: "720P 0.10 | 1080P 0.15 USD per second (ap-southeast-1, as of 2026-12-01)"."""
    currency = facts["currency"] or ""
    parts = []
    for entry in facts["prices"]:
        label = " ".join(
            x
            for x in (entry["resolution"], {True: "audio", False: "silent", None: None}[entry["audio"]])
            if x is not None
        )
        amount = "no price known" if entry["price"] is None else money(entry["price"], None)
        parts.append(f"{label} {amount}".strip())
    when = f", as of {facts['as_of']}" + (" (older than 90 days)" if facts["stale"] else "") if facts["as_of"] else ""
    if all(entry["price"] is None for entry in facts["prices"]):
        return f"no price known in {facts['region']}"
    notes = "".join(f"; {note}" for note in facts.get("notes", ()))
    return f"{' | '.join(parts)} {currency} per {facts['unit']} ({facts['region']}{when}{notes})"


def pricing_for(settings: Path | None, region: str | None = None, endpoint: str | None = None) -> Pricing:
    """Prices (with the user's overrides) for the region billed: the one named, else the endpoint's region,
    else the environment's (QWEN_REGION / QWEN_BASE_URL), else the default."""
    if region:
        chosen = normalize_region(region)
    elif endpoint:
        chosen = region_of_endpoint(endpoint)
    else:
        try:
            chosen = region_of_endpoint(base_url_from_env())
        except ConfigError:  # a bad QWEN_REGION is reported where the client is made; prices use the default
            chosen = DEFAULT_REGION
    return Pricing(load_prices(settings), chosen)


def estimate_fields(pricing: Pricing | None, request: GenerationRequest) -> dict[str, Any]:
    """The cost columns for a new job (none when no pricing is configured)."""
    return pricing.estimate(request).fields() if pricing is not None else {}
