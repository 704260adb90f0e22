"""`qwentui models`: every model of the catalog with its modes, limits and defaults; `--json` for scripts.

Everything printed comes from the catalog rows, so a new row shows up here without a change. Prices come from
the price table (core/prices.toml with the settings file's overrides) for the region billed.
"""

from __future__ import annotations

import argparse
import shutil
import textwrap
from dataclasses import asdict
from typing import Any

from qwentui.cli.context import options
from qwentui.cli.output import print_json
from qwentui.core.catalog import (
    CATALOG,
    DEFAULT_MODEL,
    ClipRule,
    ImageRule,
    ModelMode,
    SizeRule,
    models,
)
from qwentui.core.errors import QwentuiError
from qwentui.core.pricing import prices_text, pricing_for, row_prices
from qwentui.runtime import paths_for

MB = 1024 * 1024


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "models",
        help="the models qwentui can use: modes, limits, defaults",
        description="List every model and mode with its limits and defaults (from qwentui's catalog).",
    )
    p.add_argument("model", nargs="?", help="show only this model")
    p.add_argument("--mode", help="show only this mode (t2i, edit, t2v, i2v, ...)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def selected(model: str | None, mode: str | None) -> list[ModelMode]:
    """The rows asked for, or QwentuiError naming what exists."""
    rows = list(CATALOG)
    if model:
        rows = [r for r in rows if r.model == model]
        if not rows:
            raise QwentuiError(f"unknown model {model!r}; known models: {', '.join(models())}")
    if mode:
        known = sorted({r.mode.value for r in CATALOG})
        if mode not in known:
            raise QwentuiError(f"unknown mode {mode!r}; use one of: {', '.join(known)}")
        rows = [r for r in rows if r.mode.value == mode]
        if not rows:
            raise QwentuiError(f"{model} does not do {mode}")
    return rows


# ---- facts as data (the --json output; the text output is written from the same dict) ------------------------


def _size(rule: SizeRule, default: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"choices": list(rule.choices), "default": default, "free_form": rule.free_form}
    if rule.free_form:
        out.update(
            min_pixels=rule.min_pixels,
            max_pixels=rule.max_pixels,
            max_aspect=rule.max_aspect,
            min_side=rule.min_side,
            max_side=rule.max_side,
        )
    return out


def _images(rule: ImageRule) -> dict[str, Any]:
    out = asdict(rule)
    out["formats"] = list(rule.formats)
    return out


def _clip(rule: ClipRule) -> dict[str, Any]:
    out = asdict(rule)
    out["formats"] = list(rule.formats)
    return out


def row_facts(row: ModelMode) -> dict[str, Any]:
    """One catalog row as plain JSON-able facts."""
    facts: dict[str, Any] = {
        "model": row.model,
        "mode": row.mode.value,
        "mode_title": row.mode.label,
        "summary": row.summary,
        "route": row.route.value,
        "async": row.is_async,
        "also_routes": [r.value for r in row.also_routes],
        "default_for_mode": DEFAULT_MODEL.get(row.mode) == row.model,
        "recommended": row.recommended,
        "prompt": {"required": row.prompt_required, "max_chars": row.prompt_max},
        "negative_prompt_max_chars": row.negative_max,
        "fields": sorted(f.value for f in row.fields),
        "typical_seconds": list(row.typical_seconds),
    }
    if row.size is not None:
        facts["size"] = _size(row.size, row.default_size)
    if row.n_range != (1, 1) or row.sequential:
        facts["n"] = {"min": row.n_range[0], "max": row.n_range[1], "default": row.default_n}
    if row.sequential is not None:
        lo, hi = row.sequential.n_range
        facts["image_sets"] = {
            "n": {"min": lo, "max": hi, "default": row.sequential.default_n},
            "size": _size(row.sequential.size, row.default_size),
        }
    if row.images.max_count:
        facts["images"] = _images(row.images)
    if row.durations:
        facts["duration"] = {"allowed": list(row.durations), "default": row.default_duration}
    if row.resolutions:
        facts["resolution"] = {"allowed": list(row.resolutions), "default": row.default_resolution}
    if row.ratios:
        facts["ratio"] = {"allowed": list(row.ratios), "default": row.default_ratio}
    if row.audio_rule is not None:
        facts["audio_url"] = _clip(row.audio_rule)
    if row.media:
        facts["media"] = [
            {
                "type": slot.type,
                "label": slot.label,
                **({"image": _images(slot.image)} if slot.image else {}),
                **({"clip": _clip(slot.clip)} if slot.clip else {}),
            }
            for slot in row.media
        ]
        order = [slot.type for slot in row.media]
        facts["media_combinations"] = [sorted(combo, key=order.index) for combo in row.media_combos]
    return facts


# ---- text -------------------------------------------------------------------------------------------------------


def _range(lo: int | float, hi: int | float) -> str:
    return f"{lo:g}" if lo == hi else f"{lo:g}-{hi:g}"


def _size_text(size: dict[str, Any]) -> str:
    parts = list(size["choices"])
    if size["free_form"]:
        lo, hi = round(size["min_pixels"] ** 0.5), round(size["max_pixels"] ** 0.5)
        free = f"W*H from {lo}*{lo} to {hi}*{hi} px, aspect up to 1:{size['max_aspect']:g}"
        if size["min_side"] or size["max_side"]:
            free += f", sides {size['min_side'] or 1}-{size['max_side'] or '…'} px"
        parts.append(free)
    default = f" (default {size['default']})" if size["default"] else ""
    return " | ".join(parts) + default


def _images_text(images: dict[str, Any], counted: bool = True) -> str:
    text = f"{_range(images['min_count'], images['max_count'])} images, " if counted else "an image, "
    if images["max_videos"]:
        text += f"up to {images['max_videos']} of them videos, "
    text += "/".join(images["formats"])
    if not images["allow_alpha"]:
        text += " (PNG without alpha)"
    text += f", {images['min_side']}-{images['max_side']} px a side"
    if images["max_aspect"]:
        text += f", aspect up to 1:{images['max_aspect']:g}"
    return text + f", ≤{images['max_bytes'] // MB} MB" + (" each" if counted else "")


def _clip_text(clip: dict[str, Any]) -> str:
    text = f"{'/'.join(f.upper() for f in clip['formats'])}, {_range(clip['min_seconds'], clip['max_seconds'])} s"
    if clip["min_side"] or clip["max_side"]:
        text += f", {clip['min_side']}-{clip['max_side']} px a side"
    return text + f", ≤{clip['max_bytes'] // MB} MB"


def row_lines(facts: dict[str, Any]) -> list[str]:
    """A row as a few indented lines (each short enough for an 80-column terminal when it can be)."""
    flags = []
    if facts["default_for_mode"]:
        flags.append("default")
    elif facts["recommended"]:
        flags.append("recommended")
    route = "async" + (" (sync too)" if facts["also_routes"] else "") if facts["async"] else "sync"
    head = f"  {facts['mode']:<10} {facts['mode_title']} · {route}" + (f" · {', '.join(flags)}" if flags else "")
    lines = [head, f"    {facts['summary']}"]
    prompt = facts["prompt"]
    lines.append(f"    prompt {'required' if prompt['required'] else 'optional'}, ≤{prompt['max_chars']} chars")
    if "size" in facts:
        lines.append(f"    size: {_size_text(facts['size'])}")
    if "n" in facts:
        n = facts["n"]
        text = f"    n: {_range(n['min'], n['max'])} (default {n['default']})"
        if "image_sets" in facts:
            sets = facts["image_sets"]
            text += (
                f"; image sets (enable_sequential): {_range(sets['n']['min'], sets['n']['max'])}"
                f" (default {sets['n']['default']}), size {' | '.join(sets['size']['choices'])} or W*H"
            )
        lines.append(text)
    for key, label in (("resolution", "resolution"), ("ratio", "ratio")):
        if key in facts:
            lines.append(f"    {label}: {', '.join(facts[key]['allowed'])} (default {facts[key]['default']})")
    if "duration" in facts:
        d = facts["duration"]["allowed"]
        span = f"{d[0]}-{d[-1]}" if d == list(range(d[0], d[-1] + 1)) and len(d) > 2 else ", ".join(map(str, d))
        lines.append(f"    duration: {span} s (default {facts['duration']['default']})")
    if "images" in facts:
        lines.append(f"    inputs: {_images_text(facts['images'])}")
    if "media" in facts:
        for slot in facts["media"]:
            limits = _images_text(slot["image"], counted=False) if "image" in slot else _clip_text(slot["clip"])
            lines.append(f"    media {slot['type']}: {limits}")
        labels = {slot["type"]: slot["label"] for slot in facts["media"]}
        combos = "; ".join(" + ".join(labels[t] for t in combo) for combo in facts["media_combinations"])
        lines.append(f"    media combinations: {combos}")
    if "audio_url" in facts:
        lines.append(f"    audio_url: {_clip_text(facts['audio_url'])}")
    lines.append(f"    options: {', '.join(facts['fields']) or 'none'}")
    lines.append(f"    usually {facts['typical_seconds'][0]}-{facts['typical_seconds'][1]} s")
    if "price" in facts:
        lines.append(f"    price: {prices_text(facts['price'])}")
    return lines


def run(args: argparse.Namespace) -> int:
    rows = selected(args.model, args.mode)
    opts = options(args)
    pricing = pricing_for(paths_for(opts).settings, opts.region, None if opts.demo else opts.base_url)
    facts = [{**row_facts(r), "price": row_prices(r, pricing)} for r in rows]
    if args.json:
        print_json(facts)
        return 0
    width = max(40, shutil.get_terminal_size((100, 24)).columns)
    current = None
    for f in facts:
        if f["model"] != current:
            if current is not None:
                print()
            current = f["model"]
            print(current)
        for line in row_lines(f):
            print(_wrapped(line, width))
    return 0


def _wrapped(line: str, width: int) -> str:
    """A long line broken at spaces, its continuation indented under its text."""
    indent = " " * (len(line) - len(line.lstrip()) + 2)
    return "\n".join(textwrap.wrap(line, width, subsequent_indent=indent, break_on_hyphens=False)) or line
