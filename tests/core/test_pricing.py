"""Prices as data: an estimate for every catalog row (each resolution, audio on and off) against the shipped
table, explicit "no price known" (never 0), staleness, the user's overrides, and billed units from `usage`."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest

from qwentui.core.catalog import CATALOG, Field, Mode, ModelMode
from qwentui.core.pricing import (
    PriceTable,
    Total,
    billed_units,
    load_prices,
    money,
    pricing_for,
    region_of_endpoint,
    shipped_table,
)
from qwentui.core.requests import GenerationRequest

TABLE = shipped_table()
AS_OF = date(2026, 12, 1)


def variants(row: ModelMode) -> list[GenerationRequest]:
    """The row's default request, plus one per resolution tier and audio setting it offers."""
    base = GenerationRequest(mode=row.mode, model=row.model)
    out = [base]
    for tier in row.resolutions:
        out.append(replace(base, resolution=tier))
    if row.takes(Field.AUDIO):
        out += [replace(r, audio=audio) for r in list(out) for audio in (True, False)]
    return out


@pytest.mark.parametrize("row", CATALOG, ids=lambda r: f"{r.model}-{r.mode.value}")
@pytest.mark.parametrize(("region", "currency"), [("ap-southeast-1", "USD"), ("cn-beijing", "CNY")])
def test_every_catalog_row_has_a_price(row: ModelMode, region: str, currency: str) -> None:
    for request in variants(row):
        est = TABLE.estimate(request, region)
        assert est.known, f"{row.model} {row.mode} {request.resolution} audio={request.audio}: {est.basis}"
        assert est.amount is not None and est.amount > 0
        assert est.currency == currency and est.unit == ("second" if row.is_video else "image")
        assert est.as_of == AS_OF and "prices as of 2026-12-01" in est.text
        assert est.amount == pytest.approx(est.units * (est.unit_price or 0))


@pytest.mark.parametrize(
    ("request_", "region", "amount"),
    [
        (GenerationRequest(mode=Mode.T2I, model="wan2.6-t2i", n=4), "sg", 0.12),  # four images, four charges
        (GenerationRequest(mode=Mode.T2I, model="qwen-image-max"), "beijing", 0.50),
        (GenerationRequest(mode=Mode.T2I, model="qwen-image-plus-2026-01-09"), "sg", 0.03),  # snapshot = alias
        (GenerationRequest(mode=Mode.T2V, model="wan2.6-t2v", size="1920*1080", duration=10), "sg", 1.5),
        (GenerationRequest(mode=Mode.T2V, model="wan2.5-t2v-preview", size="832*480"), "cn-beijing", 1.5),
        # flash defaults to audio on, which doubles the price
        (GenerationRequest(mode=Mode.I2V, model="wan2.6-i2v-flash", images=["https://x/a.png"]), "sg", 0.25),
        (GenerationRequest(mode=Mode.I2V, model="wan2.6-i2v-flash", audio=False, images=["u"]), "sg", 0.125),
        (GenerationRequest(mode=Mode.I2V, model="wan2.6-i2v-flash", resolution="1080P", audio=False), "cn", 1.25),
        (GenerationRequest(mode=Mode.KF2V, model="wan2.2-kf2v-flash", resolution="480P"), "sg", 0.075),
        # r2v: each reference video adds up to 5 s at the same rate
        (
            GenerationRequest(mode=Mode.R2V, model="wan2.6-r2v", images=["https://x/a.mp4", "https://x/b.png"]),
            "sg",
            1.0,
        ),
        (GenerationRequest(mode=Mode.T2V, model="wan2.7-t2v", resolution="720P", duration=15), "sg", 1.5),
        # wan2.7 bills the input clip too: at most the longest clip the model takes (10 s)
        (
            GenerationRequest(
                mode=Mode.I2V,
                model="wan2.7-i2v",
                resolution="720P",
                duration=5,
                media=[{"type": "first_clip", "url": "https://x/c.mp4"}],
            ),
            "sg",
            1.5,
        ),
    ],
)
def test_estimates_match_the_published_figures(request_: GenerationRequest, region: str, amount: float) -> None:
    assert TABLE.estimate(request_, region).amount == pytest.approx(amount)


def test_no_price_known_is_explicit_never_zero() -> None:
    us = TABLE.estimate(GenerationRequest(mode=Mode.T2I, model="qwen-image-plus"), "us-east-1")
    assert us.amount is None and not us.known and us.currency == "USD"
    assert "no price known" in us.text and "qwen-image-plus" in us.text and "0.00" not in us.text
    unknown = TABLE.estimate(GenerationRequest(mode=Mode.T2I, model="wan9-imaginary"), "sg")
    assert unknown.amount is None and "not in the catalog" in unknown.text
    # a resolution the model has no price for (wan2.2-t2v-plus is priced at 480P and 1080P only)
    tier = TABLE.estimate(GenerationRequest(mode=Mode.T2V, model="wan2.2-t2v-plus", size="1280*720"), "sg")
    assert tier.amount is None and "720P" in tier.text
    total = Total.of([us, TABLE.estimate(GenerationRequest(mode=Mode.T2I, model="wan2.6-t2i"), "us-east-1"), tier])
    assert total.unknown == 3 and not total.amounts and "3 jobs with no price known" in total.text


def test_local_jobs_cost_nothing() -> None:
    est = TABLE.estimate(GenerationRequest(mode=Mode.ASSEMBLE), "sg")
    assert est.amount == 0 and est.known and "made on this machine" in est.text


def test_stale_prices_say_so() -> None:
    fresh = replace(TABLE, today=AS_OF + timedelta(days=89))
    old = replace(TABLE, today=AS_OF + timedelta(days=91))
    request = GenerationRequest(mode=Mode.T2I, model="wan2.6-t2i")
    assert not fresh.estimate(request, "sg").stale
    est = old.estimate(request, "sg")
    assert est.stale and "older than 90 days" in est.text
    assert "older than 90 days" in Total.of([est]).text


def test_totals_never_add_currencies() -> None:
    request = GenerationRequest(mode=Mode.T2I, model="wan2.6-t2i")
    total = Total.of([TABLE.estimate(request, "sg"), TABLE.estimate(request, "beijing")])
    assert total.amounts == {"USD": 0.03, "CNY": 0.2}
    assert "0.20 CNY" in total.text and "0.03 USD" in total.text


def test_user_overrides_from_the_settings_file(tmp_path: Path) -> None:
    settings = tmp_path / "settings.toml"
    settings.write_text(
        """
[tui]
bell = true

[prices]
as_of = "2027-01-15"
"wan2.6-t2i" = 0.025
"wan2.6-t2v/1080P" = 0.14
"wan2.6-i2v-flash/720P/silent" = 0.02
"qwen-image-max" = { "cn-beijing" = 0.45 }
"nonexistent-model" = 1
"wan2.6-t2v/999P" = 1
"wan2.6-t2i-x" = 1
"qwen-image-plus" = -3
""",
        encoding="utf-8",
    )
    table = load_prices(settings)
    t2i = table.estimate(GenerationRequest(mode=Mode.T2I, model="wan2.6-t2i", n=2), "sg")
    assert t2i.amount == pytest.approx(0.05) and "your price" in t2i.text and t2i.as_of == date(2027, 1, 15)
    t2v = GenerationRequest(mode=Mode.T2V, model="wan2.6-t2v", size="1920*1080", duration=5)
    assert table.estimate(t2v, "sg").amount == pytest.approx(0.70)
    assert table.estimate(replace(t2v, size="1280*720"), "sg").amount == pytest.approx(0.50)  # other tier: shipped
    flash = GenerationRequest(mode=Mode.I2V, model="wan2.6-i2v-flash", audio=False, duration=10)
    assert table.estimate(flash, "sg").amount == pytest.approx(0.20)
    assert table.estimate(replace(flash, audio=True), "sg").amount == pytest.approx(0.50)
    qmax = GenerationRequest(mode=Mode.T2I, model="qwen-image-max")
    assert table.estimate(qmax, "cn-beijing").amount == pytest.approx(0.45)
    assert table.estimate(qmax, "sg").amount == pytest.approx(0.075)  # only Beijing was overridden
    problems = " | ".join(table.problems)
    assert "unknown model 'nonexistent-model'" in problems and "999P" in problems and "wan2.6-t2i-x" in problems
    assert "qwen-image-plus" in problems and len(table.problems) == 4


def test_a_broken_settings_file_keeps_the_shipped_prices(tmp_path: Path) -> None:
    settings = tmp_path / "settings.toml"
    settings.write_text("[prices\n", encoding="utf-8")
    table = load_prices(settings)
    assert table.problems and "using the shipped prices" in table.problems[0]
    assert table.estimate(GenerationRequest(mode=Mode.T2I, model="wan2.6-t2i"), "sg").amount == 0.03
    settings.write_text('prices = "cheap"\n', encoding="utf-8")
    assert "[prices] must be a table" in load_prices(settings).problems[0]
    assert load_prices(tmp_path / "missing.toml").problems == ()


@pytest.mark.parametrize(
    ("usage", "units"),
    [
        ({"image_count": 3, "size": "1024*1024"}, 3),
        ({"video_duration": 5, "video_count": 1, "SR": 720}, 5),
        # wan2.7: the billed duration is input + output
        ({"duration": 8, "input_video_duration": 3, "output_video_duration": 5, "video_count": 1}, 8),
        # a reference video is billed for at most 5 s
        ({"video_duration": 5, "input_video_duration": 9}, 10),
        ({}, 0),
        (None, 0),
        ({"image_count": "many"}, 0),
    ],
)
def test_billed_units_from_usage(usage: dict[str, object] | None, units: float) -> None:
    assert billed_units(usage) == units


def test_region_from_the_endpoint_and_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert region_of_endpoint("https://dashscope.aliyuncs.com/api/v1") == "cn-beijing"
    assert region_of_endpoint("https://dashscope-intl.aliyuncs.com/api/v1") == "ap-southeast-1"
    assert region_of_endpoint("http://127.0.0.1:8765/api/v1") == "ap-southeast-1"  # the simulator: the default
    monkeypatch.setenv("QWEN_REGION", "beijing")
    monkeypatch.delenv("QWEN_BASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    assert pricing_for(None).region == "cn-beijing"
    assert pricing_for(None, region="sg").region == "ap-southeast-1"
    monkeypatch.setenv("QWEN_REGION", "atlantis")  # reported where the client is made; prices use the default
    assert pricing_for(None).region == "ap-southeast-1"


def test_money_keeps_published_precision() -> None:
    assert money(0.0375, "USD") == "0.0375 USD"
    assert money(5, "CNY") == "5.00 CNY"
    assert money(0.1, "USD") == "0.10 USD"
    assert money(None, "USD") == "unknown"


def test_the_price_file_is_well_formed() -> None:
    assert isinstance(TABLE, PriceTable) and TABLE.as_of == AS_OF and TABLE.source
    assert set(TABLE.currencies) == {"ap-southeast-1", "cn-beijing", "us-east-1"}
    for price in TABLE.prices:
        assert price.unit in ("image", "second")
        assert price.per_region and all(v > 0 for v in price.per_region.values())
