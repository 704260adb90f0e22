"""Rules of the code base that are cheap to check and expensive to lose."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "qwentui" / "core"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_core_never_imports_textual_or_the_tui() -> None:
    offenders = []
    for path in sorted(CORE.rglob("*.py")):
        for name in _imports(path):
            if name.split(".")[0] in ("textual", "textual_image", "rich") or name.startswith("qwentui.tui"):
                offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not offenders, "qwentui/core must stay headless:\n" + "\n".join(offenders)


def test_core_never_imports_the_simulator() -> None:
    offenders = [
        f"{p.relative_to(ROOT)}"
        for p in sorted(CORE.rglob("*.py"))
        if any(n.startswith("qwentui.sim") for n in _imports(p))
    ]
    assert not offenders, "the core must not depend on the simulator: " + ", ".join(offenders)


def test_no_env_file_is_tracked() -> None:
    import subprocess

    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    assert not [t for t in tracked if t == ".env" or t.endswith("/.env")]
