#!/usr/bin/env python3
"""One entry point for a fresh clone: `python3 dev.py demo` and `python3 dev.py test`.

Both create `.venv/` beside this file on first use and (re)install the project into it whenever
pyproject.toml changes, so nothing has to be installed by hand. Only the standard library is used here.
"""

from __future__ import annotations

import hashlib
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


def ensure_env(extras: str) -> None:
    """Create the venv and install the project with `extras`, unless the same install is already there."""
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + extras.encode()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == digest and PY.exists():
        return
    if not PY.exists():
        print("dev.py: creating .venv ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print(f"dev.py: installing qwentui[{extras}] into .venv ...", flush=True)
    pip = [str(PY), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "-e", f"{ROOT}[{extras}]"], check=True)
    STAMP.write_text(digest)


def run(cmd: list[str]) -> int:
    return subprocess.call(cmd, cwd=ROOT)


def main(argv: list[str]) -> int:
    what = argv[0] if argv else "help"
    rest = argv[1:]
    if what == "demo":
        ensure_env("test")
        return run([str(BIN / "qwentui"), "--demo", *rest])
    if what == "test":
        ensure_env("test")
        for step in (
            [str(BIN / "ruff"), "format", "--check", "qwentui", "tests", "bench", "dev.py"],
            [str(BIN / "ruff"), "check", "qwentui", "tests", "bench", "dev.py"],
            [str(BIN / "mypy")],
        ):
            print("dev.py:", " ".join(Path(step[0]).name if i == 0 else s for i, s in enumerate(step)), flush=True)
            if rc := run(step):
                return rc
        return run([str(PY), "-m", "pytest", "-q", *rest])
    if what == "bench":
        ensure_env("test,bench")
        return run([str(PY), *rest])
    print("usage: python3 dev.py demo | test [pytest args] | bench bench/<script>.py [args]")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
