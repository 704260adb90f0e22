"""`qwentui usage`: what was generated and what it cost, per day, model and batch (`--json` for scripts).

Costs are the estimates recorded when each job was queued and the actual cost from each finished task's usage
(failed: 0), in the currency of the region as published: amounts in different currencies are never added.
"""

from __future__ import annotations

import argparse
from typing import Any

from qwentui.cli.context import options
from qwentui.cli.output import print_json
from qwentui.core.pricing import money
from qwentui.core.store import SpendTotal, Store
from qwentui.runtime import open_store

GROUPS = ("day", "model", "batch")


def add_parser(sub: Any) -> None:
    u = sub.add_parser("usage", help="what was generated and spent, per day, model and batch")
    u.add_argument("--by", choices=GROUPS, action="append", help="only this grouping (repeat for several)")
    u.add_argument("--batch", type=int, metavar="ID", help="only the jobs of this batch")
    u.add_argument("--json", action="store_true", help="machine-readable output")
    u.set_defaults(func=run)


async def report(store: Store, groups: list[str], batch_id: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for group in groups:
        spend = await store.spend(by=group, batch_id=batch_id)  # type: ignore[arg-type]
        entry: dict[str, Any] = {"spend": [s.__dict__ for s in spend]}
        if group in ("day", "model") and batch_id is None:
            entry["generated"] = [u.__dict__ for u in await store.usage_totals(by=group)]  # type: ignore[arg-type]
        out[group] = entry
    return out


def _spend_table(group: str, rows: list[SpendTotal]) -> None:
    print(f"{group.upper():<22} {'JOBS':>6} {'SPENT':>14} {'STILL EST.':>14} {'NO PRICE':>8}")
    for row in rows:
        key = f"batch {row.key}" if group == "batch" else row.key
        unpriced = str(row.unpriced) if row.unpriced else ""
        print(
            f"{key:<22} {row.jobs:>6} {money(row.actual, row.currency):>14} "
            f"{money(row.open_estimate, row.currency):>14} {unpriced:>8}"
        )


async def run(args: argparse.Namespace) -> int:
    groups = list(dict.fromkeys(args.by or GROUPS))
    async with open_store(options(args)) as store:
        data = await report(store, groups, args.batch)
        if args.json:
            print_json(data)
            return 0
        printed = False
        for group in groups:
            rows = [SpendTotal(**r) for r in data[group]["spend"]]
            generated = data[group].get("generated", [])
            if not rows and not generated:
                continue
            if printed:
                print()
            printed = True
            if rows:
                _spend_table(group, rows)
            elif generated:  # jobs from before costs were recorded: what they made, without money
                print(f"{group.upper():<22} {'JOBS':>6} {'IMAGES':>7} {'VIDEO S':>8}")
                for u in generated:
                    print(f"{u['key']!s:<22} {u['jobs']:>6} {u['image_count']:>7} {u['video_seconds']:>8.0f}")
        if not printed:
            print("no usage recorded yet")
    return 0
