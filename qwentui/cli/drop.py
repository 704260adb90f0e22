"""`qwentui drop`: the drop-folder rules, their folders, what is in them and what each dropped file (or kf2v pair)
is estimated to cost with the rule's parameters; `--init` creates the folders.

The folders are watched by the process that runs the engine (`qwentui run`, or the TUI) through
`qwentui.runtime.start_drop_service`. Listing needs no API key: it reads the settings file and the folders, and the
database only to say which process (if any) is watching right now.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from qwentui.cli.context import options
from qwentui.cli.output import print_json
from qwentui.core.dropfolder import Rule, load_settings
from qwentui.core.dropfolder.claims import DONE, DUPLICATES, FAILED, PROCESSING, ensure_folders, original_name
from qwentui.core.dropfolder.rules import rule_request
from qwentui.core.dropfolder.stability import Kind, classify
from qwentui.core.pricing import Estimate, Pricing, money, pricing_for
from qwentui.core.store import Store, StoreError
from qwentui.runtime import paths_for
from qwentui.runtime.drops import plain


def add_parser(sub: Any) -> None:
    p = sub.add_parser("drop", help="drop-folder rules and their folders (--init creates them)")
    p.add_argument("--init", action="store_true", help="create every enabled rule's folders")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


async def run(args: argparse.Namespace) -> int:
    opts = options(args)
    paths = paths_for(opts)
    settings = load_settings(paths.settings, paths.drop)
    pricing = pricing_for(paths.settings, opts.region, None if opts.demo else opts.base_url)
    if args.init:
        for rule in settings.rules:
            if rule.enabled:
                ensure_folders(rule)
    rows = [_row(rule, pricing) for rule in settings.rules]
    watcher = await _watcher(paths.db)
    if args.json:
        print_json(
            {
                "settings": str(paths.settings),
                "root": str(settings.root),
                "watched_by_pid": watcher,
                "quiet": settings.quiet,
                "rescan": settings.rescan,
                "poll": settings.poll,
                "rules": rows,
            }
        )
        return 0
    source = str(paths.settings) if paths.settings.is_file() else f"defaults ({paths.settings} does not exist)"
    print(f"rules from {source}")
    print(
        "watched now by qwentui process " + str(watcher)
        if watcher
        else "not watched right now: `qwentui run` (or the TUI) watches these folders"
    )
    print(
        f"{'RULE':<12} {'STATE':<9} {'MODE':<5} {'MODEL':<20} {'WAIT':>4} {'BUSY':>4} {'DONE':>5} {'FAIL':>4} "
        f"{'DUP':>4}  FOLDER"
    )
    for r in rows:
        state = "enabled" if r["enabled"] else "disabled"
        if not r["exists"]:
            state = "missing"
        c = r["counts"]
        print(
            f"{plain(r['name']):<12} {state:<9} {r['mode']:<5} {r['model']:<20} {c['waiting']:>4} "
            f"{c['processing']:>4} {c['done']:>5} {c['failed']:>4} {c['duplicates']:>4}  {plain(r['folder'])}"
        )
        if r["prompt"]:
            print(f"{'':<12} prompt: {plain(r['prompt'])[:100]}")
        print(f"{'':<12} {_estimate_line(r['estimate'])}")
    if any(not r["exists"] for r in rows) and not args.init:
        print("some folders do not exist yet: `qwentui drop --init` creates them (so does `qwentui run`)")
    return 0


def _estimate(rule: Rule, pricing: Pricing) -> dict[str, Any]:
    """What one job of this rule is estimated to cost: one dropped file, or one pair for a kf2v rule."""
    per = "pair" if rule.images_per_job == 2 else "file"
    placeholders = [f"oss://placeholder/{i}.png" for i in range(rule.images_per_job)]
    request = rule_request(rule, placeholders, prompt=rule.prompt or "placeholder", params=rule.parameters)
    estimate: Estimate = pricing.estimate(request)
    return {
        "per": per,
        "region": pricing.region,
        "amount": estimate.amount,
        "currency": estimate.currency,
        "basis": estimate.basis,
        "as_of": estimate.as_of.isoformat() if estimate.as_of else None,
        "stale": estimate.stale,
        "text": estimate.text,
    }


def _estimate_line(estimate: dict[str, Any]) -> str:
    """`est. 0.50 USD per file (5 s x 0.10 USD/s; prices as of 2026-12-01; a sidecar may change it)`."""
    if estimate["amount"] is None:
        return f"est. per {estimate['per']}: unknown ({estimate['basis']})"
    dated = f"prices as of {estimate['as_of']}" if estimate["as_of"] else ""
    if dated and estimate["stale"]:
        dated += " (older than 90 days: check them)"
    detail = "; ".join(part for part in (estimate["basis"], dated) if part)
    return f"est. {money(estimate['amount'], estimate['currency'])} per {estimate['per']} ({detail})"


def _row(rule: Rule, pricing: Pricing) -> dict[str, Any]:
    return {
        "name": rule.name,
        "folder": str(rule.folder),
        "exists": rule.folder.is_dir(),
        "enabled": rule.enabled,
        "mode": rule.mode.value,
        "model": rule.model,
        "prompt": rule.prompt,
        "parameters": rule.parameters,
        "outputs": rule.outputs,
        "estimate": _estimate(rule, pricing),
        "counts": {
            "waiting": _images(rule.folder),
            "processing": _images(rule.folder / PROCESSING),
            "done": _images(rule.folder / DONE),
            "failed": _images(rule.folder / FAILED),
            "duplicates": _images(rule.folder / DUPLICATES),
        },
    }


def _images(folder: Path) -> int:
    """Dropped images in a folder (results placed beside them in done/ are `<name>.result*` and not counted)."""
    try:
        return sum(1 for p in folder.iterdir() if classify(original_name(p)) is Kind.IMAGE and ".result" not in p.name)
    except OSError:
        return 0


async def _watcher(db: Path) -> int | None:
    """The pid of the process holding the engine lease (it also runs the drop folders), if any."""
    if not db.is_file():
        return None
    try:
        store = await Store.open(db)
    except StoreError:
        return None
    try:
        lease = await store.lease()
    finally:
        await store.close()
    return lease.pid if lease and lease.expires_at > time.time() else None
