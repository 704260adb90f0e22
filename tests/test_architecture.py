"""Rules of the code base that are cheap to check and expensive to lose.

The layers, bottom up: `core` (headless: the store, the client, the engine) ← `sim` (a service the core
talks to) ← `runtime` (start-up wiring shared by the front ends) ← `cli` and `tui` (the two front ends; the
CLI may start the TUI, never the other way round). An arrow may only point down.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "qwentui"

# layer -> the qwentui layers it may import (besides itself)
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "sim": {"core"},
    "runtime": {"core", "sim"},
    "tui": {"core", "runtime"},
    "cli": {"core", "sim", "runtime", "tui"},
}
TERMINAL_UI = ("textual", "textual_image", "rich")


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at any depth (function-local imports count too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{path.relative_to(ROOT)}: relative import; write qwentui.… in full")
    return names


def _layer_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "qwentui" and len(parts) > 1 and parts[1] in ALLOWED else None


def upward_imports(package: Path = PACKAGE) -> list[str]:
    """`file imports module` for every import that crosses the layers the wrong way."""
    offenders = []
    for layer, allowed in ALLOWED.items():
        root = package / layer
        files = sorted(root.rglob("*.py")) if root.is_dir() else [package / f"{layer}.py"]
        for path in files:
            for name in sorted(_imports(path)):
                target = _layer_of(name)
                if target is not None and target != layer and target not in allowed:
                    offenders.append(f"{path.relative_to(package.parent)} ({layer}) imports {name}")
    return offenders


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_every_layer_exists(layer: str) -> None:
    assert (PACKAGE / layer).is_dir() or (PACKAGE / f"{layer}.py").is_file()


def test_imports_point_only_down() -> None:
    offenders = upward_imports()
    assert not offenders, "an import points up the layers (" + _rule() + "):\n" + "\n".join(offenders)


def test_core_never_imports_textual() -> None:
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sorted((PACKAGE / "core").rglob("*.py"))
        for name in _imports(path)
        if name.split(".")[0] in TERMINAL_UI
    ]
    assert not offenders, "qwentui/core must stay headless:\n" + "\n".join(offenders)


def test_importing_the_tui_loads_no_cli() -> None:
    """What actually gets loaded, not only what is written: re-exports and package __init__s count."""
    probe = (
        "import sys, qwentui.tui, qwentui.tui.app, qwentui.tui.launch\n"
        "print('\\n'.join(m for m in sys.modules if m.startswith('qwentui.cli')))"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", "the TUI loads the CLI: " + done.stdout


def test_the_simulator_state_does_not_know_its_app() -> None:
    """The one import circle that was (`sim/simulator.py` ↔ `sim/app.py`) stays broken."""
    assert not [n for n in _imports(PACKAGE / "sim" / "simulator.py") if n.startswith("qwentui.sim.app")]


def test_no_env_file_is_tracked() -> None:
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    assert not [t for t in tracked if t == ".env" or t.endswith("/.env")]


def _rule() -> str:
    return "; ".join(f"{layer} → {', '.join(sorted(allowed)) or 'nothing'}" for layer, allowed in ALLOWED.items())
