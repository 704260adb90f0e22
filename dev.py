#!/usr/bin/env python3
"""One entry point for a fresh clone: `python3 dev.py demo`, `python3 dev.py test` and `python3 dev.py bench`.

Each creates `.venv/` beside this file on first use and (re)installs the project into it, at the versions in
constraints.txt, whenever pyproject.toml or constraints.txt changes, so nothing has to be installed by hand.
The tools come from pyproject's dependency groups: `test` and `lint` for the tests, `bench` for the benchmarks,
none for the demo. Only the standard library is used here.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".qwentui-installed"
CONSTRAINTS = ROOT / "constraints.txt"
CHECKED = ["qwentui", "tests", "bench", "dev.py"]
NOTHING_COLLECTED = 5  # pytest's exit code when no test was selected


def ensure_env(groups: tuple[str, ...]) -> None:
    """Create the venv and install the project with the dependency `groups`, unless they are already there for
    this pyproject.toml and constraints.txt."""
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + CONSTRAINTS.read_bytes()).hexdigest()
    installed = _installed_groups(digest)
    if installed is not None and set(groups) <= installed and PY.exists():
        return
    if not PY.exists():
        print("dev.py: creating .venv ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    wanted = sorted(set(groups) | (installed or set()))
    print(f"dev.py: installing qwentui with {', '.join(wanted) or 'no tool groups'} into .venv ...", flush=True)
    pip = [str(PY), "-m", "pip", "install", "--disable-pip-version-check", "-q", "-c", str(CONSTRAINTS)]
    project = ["-e", str(ROOT), *(f"--group={g}" for g in wanted)]
    # uv installs the same pinned set in ~5 s where pip takes ~35 s (a third of a fresh clone's set-up); pip
    # stays the way when uv cannot be had (no wheel for this platform, no index)
    if subprocess.run([*pip, "uv"], check=False).returncode == 0:
        # --compile-bytecode: uv leaves .py files uncompiled, and every process of the suite (three workers and
        # the processes the tests start) would compile Textual, httpx, ... again where bytecode is not written
        uv = [
            str(BIN / "uv"),
            "pip",
            "install",
            "-q",
            "--compile-bytecode",
            "--python",
            str(PY),
            "-c",
            str(CONSTRAINTS),
        ]
        if subprocess.run([*uv, *project], check=False, cwd=ROOT).returncode == 0:
            STAMP.write_text(json.dumps({"digest": digest, "groups": wanted}))
            return
        print("dev.py: uv could not install; trying pip", flush=True)
    # the pip a new venv starts with is too old for --group (pip >= 25.1); constraints.txt pins the one we use
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, *project], check=True, cwd=ROOT)
    STAMP.write_text(json.dumps({"digest": digest, "groups": wanted}))


def _installed_groups(digest: str) -> set[str] | None:
    """The groups installed for this digest, or None if the venv was made for other files (or an older dev.py)."""
    try:
        stamp = json.loads(STAMP.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(stamp, dict) or stamp.get("digest") != digest:
        return None
    return set(stamp.get("groups", []))


def run(cmd: list[str]) -> int:
    return subprocess.call(cmd, cwd=ROOT, env=_writing_bytecode())


def _writing_bytecode() -> dict[str, str]:
    """This environment with bytecode caching on. Where PYTHONDONTWRITEBYTECODE is set (as on this project's
    machines), each pytest worker and each process a test starts compiled every module and rewrote every test
    module again: ~10 s of CPU per worker before its first test. The caches go to the ignored __pycache__/."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def test(args: list[str]) -> int:
    """Lint, then the tests with the type check beside them: in parallel on every core, then those marked
    `serial` one at a time. `--fast` leaves out the tests marked `slow`; other arguments go to pytest (both passes)."""
    fast = "--fast" in args
    args = [a for a in args if a != "--fast"]
    for step in (
        [str(BIN / "ruff"), "format", "--check", *CHECKED],
        [str(BIN / "ruff"), "check", *CHECKED],
    ):
        print("dev.py:", " ".join([Path(step[0]).name, *step[1:]]), flush=True)
        if rc := run(step):
            return rc
    # mypy (~20 s cold) runs beside the tests at a lower priority, in the moments their workers wait; its
    # verdict is printed and counted at the end
    print("dev.py: mypy (beside the tests; its result comes at the end)", flush=True)
    mypy = subprocess.Popen(
        [str(BIN / "mypy")],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=(lambda: os.nice(10)) if hasattr(os, "nice") else None,
    )
    rc = _tests(fast, args)
    out, _ = mypy.communicate()
    print("dev.py: mypy:", out.strip(), flush=True)
    return rc or mypy.returncode


def _tests(fast: bool, args: list[str]) -> int:
    """The pytest passes; the exit code of the first that failed, else 0."""
    skip_slow = " and not slow" if fast else ""
    pytest = [str(PY), "-m", "pytest", "-q"]
    # One worker more than the cores: a test spends ~40 % of its time waiting (sockets, child processes, the
    # store's thread), and a third worker on two cores fills that (pytest 6 min 4 s against 7 min 59 s with two).
    workers = str((os.cpu_count() or 1) + 1)
    parallel = [] if any(a == "-n" or a.startswith(("-n=", "--numprocesses")) for a in args) else ["-n", workers]
    passes = [[*pytest, *parallel, "--dist", "worksteal", "-m", "not serial" + skip_slow, *args]]
    # collecting the whole suite again only to find no serial test costs ~15 s of CPU: look in the sources first
    serial_files = [str(p.relative_to(ROOT)) for p in sorted((ROOT / "tests").rglob("test_*.py")) if _marks_serial(p)]
    if serial_files:
        chosen = any((ROOT / a.split("::")[0]).exists() for a in args if not a.startswith("-"))
        passes.append([*pytest, "-m", "serial" + skip_slow, *([] if chosen else serial_files), *args, "-n", "0"])
    codes = []
    for cmd in passes:
        print("dev.py:", " ".join(["pytest", *cmd[3:]]), flush=True)
        rc = run(cmd)
        if rc not in (0, NOTHING_COLLECTED):
            return rc
        codes.append(rc)
    # a pass may select nothing (no serial test among the chosen ones); every pass selecting nothing is an error
    return NOTHING_COLLECTED if all(rc == NOTHING_COLLECTED for rc in codes) else 0


def _marks_serial(path: Path) -> bool:
    return "mark.serial" in path.read_text(encoding="utf-8", errors="replace")


def main(argv: list[str]) -> int:
    what = argv[0] if argv else "help"
    rest = argv[1:]
    if what == "demo":
        ensure_env(())
        return run([str(BIN / "qwentui"), "--demo", *rest])
    if what == "test":
        ensure_env(("test", "lint"))
        return test(rest)
    if what == "bench":
        ensure_env(("bench",))
        return run([str(PY), *rest])
    print(
        "usage: python3 dev.py demo [qwentui args]\n"
        "       python3 dev.py test [--fast] [pytest args]   (--fast: without the tests marked slow)\n"
        "       python3 dev.py bench bench/<script>.py [args]"
    )
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
