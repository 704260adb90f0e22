"""`qwentui drop` shows what each dropped file (or kf2v pair) is estimated to cost with its rule, and the drop
folder's status counts the drops whose job a spending cap holds. Real files, store, engine and simulator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qwentui.cli import main
from qwentui.core.budget import Budget
from qwentui.core.catalog import Mode
from qwentui.core.pricing import Pricing, shipped_table
from qwentui.tui.widgets.status_bar import drop_summary
from tests.drop.conftest import World
from tests.drop.helpers import names, wait_until, write_png

RULES = """
[[drop.rules]]
name = "pairs27"
mode = "kf2v"
model = "wan2.7-i2v"
prompt = "morph"
parameters = { duration = 4, resolution = "720P" }

[[drop.rules]]
name = "edit"
mode = "edit"
model = "wan2.6-image"
prompt = "winter"
"""


@pytest.fixture
def home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for var in ("QWEN_API_KEY", "DASHSCOPE_API_KEY", "QWEN_BASE_URL", "QWEN_REGION", "QWENTUI_DB", "QWENTUI_DROP"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("QWENTUI_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "settings.toml").write_text(RULES, encoding="utf-8")
    return tmp_path


def test_drop_lists_the_estimate_per_file_and_per_pair(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--db", str(home / "jobs.db"), "drop", "--json"]) == 0
    rules = {r["name"]: r["estimate"] for r in json.loads(capsys.readouterr().out)["rules"]}
    assert rules["pairs27"]["per"] == "pair" and rules["edit"]["per"] == "file"
    assert rules["pairs27"]["amount"] == pytest.approx(0.4) and rules["pairs27"]["currency"] == "USD"
    assert rules["edit"]["amount"] == pytest.approx(0.03)
    assert main(["--db", str(home / "jobs.db"), "drop"]) == 0
    out = capsys.readouterr().out
    assert "est. 0.40 USD per pair (4 s x 0.10 USD/s (wan2.7-i2v 720P); prices as of " in out
    assert "est. 0.03 USD per file (1 image x 0.03 USD; prices as of " in out


def test_drop_estimates_in_the_region_named(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--db", str(home / "jobs.db"), "--region", "cn-beijing", "drop", "--json"]) == 0
    estimates = [r["estimate"] for r in json.loads(capsys.readouterr().out)["rules"]]
    assert {e["region"] for e in estimates} == {"cn-beijing"}
    assert all(e["currency"] in ("CNY", None) for e in estimates)


async def test_the_drop_status_counts_drops_held_by_a_spending_cap(world: World) -> None:
    prices = Pricing(shipped_table(), "ap-southeast-1")
    rule = world.rule("edit", Mode.EDIT, "wan2.6-image", "make it winter")
    store = await world.open_store()
    engine = await world.engine(store, prices=prices, budget=Budget(daily=0.0301))  # one 0.03 USD edit a day
    service = await world.service([rule], store=store, engine=engine)
    for i in range(3):
        write_png(rule.folder / f"house{i}.png", (120, 90 + i * 40, 60))
    await wait_until(lambda: service.status().rules[0].held == 2, what="two drops held")
    await wait_until(lambda: len([n for n in names(rule.folder / "done") if ".result" in n]) == 1, what="one done")
    await wait_until(  # the result moves first, the board counts it after (completion._finish)
        lambda: (service.status().rules[0].in_flight, service.status().rules[0].done) == (2, 1), what="counted"
    )
    status = service.status()
    assert "2 held by the budget" in drop_summary(status) and "2⏸" in drop_summary(status, short=True)
