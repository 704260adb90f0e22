"""The long chaos run: 300 jobs of every kind, 20 SIGKILLs of the engine process, every simulator fault on,
then a last run with the faults off. Prints the jobs by final state, tasks submitted twice, sha256 mismatches,
.part files left and the database's integrity_check (the CI-sized run is tests/faults/test_chaos.py).

    python3 dev.py bench bench/chaos.py [--jobs 300] [--kills 20] [--seed 7] [--run-requests LO HI] [--keep DIR]

By default each engine life lasts 2-8 s; on a loaded machine an engine then does less before its kill and the
run meets fewer faults. `--run-requests 20 120` kills each after that many requests served instead, so two
runs compare on the same footing whatever the load. A shorter run: `--jobs 100 --kills 8`.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the chaos run lives with the tests

from tests.faults.chaos_run import ChaosPlan, run_chaos  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--run-requests", type=int, nargs=2, metavar=("LO", "HI"), help="kill each engine after LO-HI requests"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="engine logs at INFO in DIR/logs")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (database, outputs, logs)")
    args = parser.parse_args(argv)
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="qwentui-chaos-"))
    plan = ChaosPlan(
        jobs=args.jobs,
        kills=args.kills,
        seed=args.seed,
        run_seconds=(2.0, 8.0),
        run_requests=tuple(args.run_requests) if args.run_requests else None,
        final_timeout=900.0,
        verbose=args.verbose,
    )
    print(f"chaos: {plan.jobs} jobs, {plan.kills} kills, seed {plan.seed}, in {workdir}", flush=True)
    try:
        report = run_chaos(workdir, plan, say=lambda line: print("  " + line, flush=True))
    finally:
        if args.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)
    for line in report.lines():
        print(line)
    ok = report.outcome.ok and report.final_ok and not report.log_problems
    print("verdict:", "OK" if ok else "PROBLEMS")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
