"""The plot (and the README tables) from the JSON results of the benchmarks.

    python3 dev.py bench bench/plot.py               # bench/plot.png from bench/results/follow*.json
    python3 dev.py bench bench/plot.py --markdown    # also print the figures of every result as Markdown tables

Every results/follow*.json is read and its runs pooled; each figure is the median over the runs of one
(client, tasks in flight, time scale). The plot uses the time scale most runs have (or --time-scale).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from _common import BENCH, RESULTS, fmt, median
from follow import summarize

LABELS = {
    "qwentui": "qwentui (batched GET /tasks)",
    "fixed15": "per-task polling, fixed 15 s (skill scripts)",
    "sdk": "per-task polling, 1-5 s (SDK wait())",
}
COLORS = {"qwentui": "#1f77b4", "fixed15": "#ff7f0e", "sdk": "#2ca02c"}


def load(pattern: str) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(RESULTS.glob(pattern))]


def follow_rows(time_scale: float | None) -> tuple[list[dict[str, Any]], float | None, int]:
    runs = [r for doc in load("follow*.json") for r in doc["runs"]]
    if not runs:
        return [], None, 0
    if time_scale is None:
        time_scale = Counter(r["time_scale"] for r in runs).most_common(1)[0][0]
    chosen = [r for r in runs if r["time_scale"] == time_scale]
    rows = sorted(summarize(chosen), key=lambda r: (list(LABELS).index(r["client"]), r["tasks"]))
    return rows, time_scale, len(chosen)


def plot(rows: list[dict[str, Any]], time_scale: float, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2), dpi=100)
    for client in LABELS:
        rs = [r for r in rows if r["client"] == client]
        if not rs:
            continue
        xs = [r["tasks"] for r in rs]
        ax1.plot(xs, [r["lag_p95_s"] for r in rs], "o-", color=COLORS[client], label=f"{LABELS[client]}, p95")
        ax1.plot(xs, [r["lag_p50_s"] for r in rs], "o--", color=COLORS[client], alpha=0.6, label="p50")
        ax2.plot(xs, [r["requests_per_task"] for r in rs], "o-", color=COLORS[client], label=LABELS[client])
    ax1.axhline(3.0, color="grey", lw=0.8, ls=":")
    ax1.text(105, 3.3, "target p95 <= 3 s", color="grey", fontsize=8)
    ax2.axhline(4.0, color="grey", lw=0.8, ls=":")
    ax2.text(105, 4.4, "target <= 4", color="grey", fontsize=8)
    for ax in (ax1, ax2):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks([100, 1000])
        ax.set_xticklabels(["100", "1,000"])
        ax.set_xlabel("tasks in flight")
        ax.grid(True, which="both", alpha=0.25)
    ax1.set_ylabel("finish-to-known lag, world seconds")
    ax1.set_title("Lag (solid p95, dashed p50)")
    ax2.set_ylabel("HTTP requests per task (submit+status+download)")
    ax2.set_title("Requests per task")
    handles, labels = ax2.get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.suptitle(
        f"Following tasks against a 20 QPS task-query limit (simulator, time scale {time_scale:g}, medians of runs)",
        fontsize=10,
    )
    fig.tight_layout(rect=(0, 0.07, 1, 0.95))
    fig.savefig(out)
    plt.close(fig)


def md_follow(rows: list[dict[str, Any]], time_scale: float | None, n_runs: int) -> None:
    print(f"### follow (time scale {time_scale:g}, {n_runs} runs pooled)\n")
    print(
        "| client | tasks | lag p50 s | lag p95 s | lag max s | requests/task | submit | list | task | download "
        "| 429s | errors | client CPU s | CPU share | peak RSS MB | runs |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        k = r["by_kind_per_task"]
        print(
            f"| {r['client']} | {r['tasks']:,} | {fmt(r['lag_p50_s'], 1)} | {fmt(r['lag_p95_s'], 1)} | "
            f"{fmt(r['lag_max_s'], 1)} | {fmt(r['requests_per_task'])} | {fmt(k['submit'])} | {fmt(k['list'])} | "
            f"{fmt(k['task'])} | {fmt(k['download'])} | {r['throttled_429']:.0f} | {r['errors']:.0f} | "
            f"{fmt(r['client_cpu_s'], 1)} | {r['client_cpu_share'] * 100:.0f} % | {fmt(r['rss_peak_mb'], 0)} | "
            f"{r['runs']} |"
        )
    print()


def md_tui() -> None:
    docs = load("tui.json")  # tui-before.json is the earlier run that bench/tui.py prints beside
    runs = [r for d in docs for r in d["runs"]]
    if not runs:
        return
    sizes = sorted({r["jobs"] for r in runs})
    print(f"### tui ({len(runs)} runs pooled)\n")
    print(
        "| jobs | start-up ms (in process) | from spawn ms | imports ms | worst store query ms | worst UI filter ms "
        "| key p50 ms | key p95 ms | key max ms | key p95 ms, nothing changing | RSS after start MB | peak RSS MB |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    per: dict[int, dict[str, Any]] = {}
    for n in sizes:
        rs = [r for r in runs if r["jobs"] == n]
        s = per[n] = {
            "start": median([r["startup_in_process_s"] * 1000 for r in rs]),
            "spawn": median([r["startup_from_spawn_s"] * 1000 for r in rs]),
            "imports": median([r["imports_s"] * 1000 for r in rs]),
            "store": {k: median([r["store_query_ms"][k] for r in rs]) for k in rs[0]["store_query_ms"]},
            "ui": {k: median([r["ui_filter_ms"][k] for r in rs]) for k in rs[0]["ui_filter_ms"]},
            "kp50": median([r["key_ms"]["p50"] for r in rs]),
            "kp95": median([r["key_ms"]["p95"] for r in rs]),
            "kmax": median([r["key_ms"]["max"] for r in rs]),
            "kidle": median([r["key_idle_ms"]["p95"] for r in rs if "key_idle_ms" in r]),
            "rss0": median([r["rss_after_start_mb"] for r in rs]),
            "rss": median([r["rss_peak_mb"] for r in rs]),
            "runs": len(rs),
        }
        print(
            f"| {n:,} | {fmt(s['start'], 0)} | {fmt(s['spawn'], 0)} | {fmt(s['imports'], 0)} | "
            f"{max(s['store'].values()):.1f} | {max(s['ui'].values()):.0f} | {fmt(s['kp50'], 0)} | "
            f"{fmt(s['kp95'], 0)} | {fmt(s['kmax'], 0)} | {fmt(s['kidle'], 0)} | {fmt(s['rss0'], 0)} | "
            f"{fmt(s['rss'], 0)} |"
        )
    print()
    print("| filter (store ms / UI ms) | " + " | ".join(f"{n:,} jobs" for n in sizes) + " |")
    print("|---|" + "---:|" * len(sizes))
    for name in per[sizes[0]]["store"]:
        print(
            f"| {name} | "
            + " | ".join(f"{fmt(per[n]['store'][name], 1)} / {fmt(per[n]['ui'][name], 0)}" for n in sizes)
            + " |"
        )
    print()


def md_drop() -> None:
    docs = load("dropfolder*.json")
    if not docs:
        return
    print(f"### dropfolder ({len(docs)} runs)\n")
    print("| figure | median of runs | runs |")
    print("|---|---:|---|")

    def row(label: str, values: list[Any], digits: int = 2) -> None:
        print(f"| {label} | {fmt(median(values), digits)} | {', '.join(fmt(v, digits) for v in values)} |")

    row("1 file: p50 s (upload excluded)", [d["single"]["p50"] for d in docs])
    row("1 file: p95 s", [d["single"]["p95"] for d in docs])
    for part in ("detect", "queue", "upload", "submit"):
        row(f"1 file: {part} p50 s", [d["single"]["parts_p50"][part] for d in docs], 3)
    row(f"{docs[0]['files_dropped'] - docs[0]['single']['n']} files at once: p50 s", [d["batch"]["p50"] for d in docs])
    row("... p95 s", [d["batch"]["p95"] for d in docs])
    row("... max s", [d["batch"]["max"] for d in docs])
    for part in ("detect", "queue", "upload", "submit"):
        row(f"... {part} p50 s", [d["batch"]["parts_p50"][part] for d in docs], 3)
    row("... all submitted after s", [d["batch_wall_s"] for d in docs], 1)
    row("idle CPU s / 30 s, engine alone", [d["idle_cpu_engine_s"] for d in docs], 3)
    row("idle CPU s / 30 s, engine + drop folder", [d["idle_cpu_engine_and_drop_s"] for d in docs], 3)
    row("idle CPU s / 30 s, drop folder's share", [d["idle_cpu_drop_s"] for d in docs], 3)
    print(
        f"| exactly once | {all(d['exactly_once'] for d in docs)} | "
        + ", ".join(f"{d['jobs']} jobs / {d['distinct_task_ids']} tasks" for d in docs)
        + " |"
    )
    print()


def md_download() -> None:
    docs = load("download*.json")
    if not docs:
        return
    print(f"### download ({len(docs)} invocations x {docs[0]['runs']} runs each)\n")
    print("| destination | curl MB/s | qwentui MB/s | qwentui / curl | qwentui CPU s |")
    print("|---|---:|---:|---:|---:|")
    for place in docs[0]["places"]:
        curl = [d["places"][place]["curl_mb_s"] for d in docs]
        q = [d["places"][place]["qwentui_mb_s"] for d in docs]
        cpu = [d["places"][place]["qwentui_cpu_s_median"] for d in docs]
        c, qq = median(curl), median(q)
        print(f"| {place} | {fmt(c, 0)} | {fmt(qq, 0)} | {(qq or 0) / (c or 1) * 100:.0f} % | {fmt(median(cpu))} |")
    print()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--time-scale", type=float, default=None)
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--out", type=Path, default=BENCH / "plot.png")
    args = ap.parse_args()
    rows, ts, _ = follow_rows(args.time_scale)
    if rows and ts is not None:
        plot(rows, ts, args.out)
        print(f"wrote {args.out}")
    else:
        print("no results/follow*.json yet: run bench/follow.py first")
    if args.markdown:
        scales = sorted({r["time_scale"] for doc in load("follow*.json") for r in doc["runs"]})
        for scale in scales:
            md_follow(*follow_rows(scale))
        md_tui()
        md_drop()
        md_download()
    return 0


if __name__ == "__main__":
    sys.exit(main())
