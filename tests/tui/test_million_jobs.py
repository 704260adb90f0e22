"""The app on a database of 1,000,000 jobs: the first screen shows the newest, filters and search return the right
rows, scrolling pages in more. Only outcomes are asserted, never timings (the benchmarks print those)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from textual.widgets import Input

from qwentui.core.api import DashScopeClient
from qwentui.core.config import ApiKey
from qwentui.core.engine import Engine, EngineConfig
from qwentui.core.states import JobState
from qwentui.core.store import Store
from qwentui.runtime import Context
from qwentui.tui.app import QwenApp
from qwentui.tui.image_backend import HALFBLOCK
from qwentui.tui.widgets.job_table import PAGE
from tests.tui.conftest import SIZE, choose, main_screen, make_paths, quiet, type_text, wait_until

N = 1_000_000
WORDS = "fox lighthouse storm cat boat neon poster forest city river mountain robot dragon garden".split()  # noqa: SIM905

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def million_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built once per session. The store makes the schema; the rows go in with one INSERT ... SELECT over a
    recursive CTE, because a million rows through `bulk_insert_jobs` (Python-side row preparation) would take
    several times longer. Job i: mode/model by i % 3, state failed when i % 10 == 0 else done, prompt two
    words and its number."""
    db = tmp_path_factory.mktemp("million") / "jobs.db"

    async def create() -> None:
        await (await Store.open(db)).close()

    asyncio.run(create())
    conn = sqlite3.connect(db)
    try:
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-200000")
        conn.execute("CREATE TEMP TABLE words(i INTEGER PRIMARY KEY, w TEXT)")
        conn.executemany("INSERT INTO words VALUES (?, ?)", list(enumerate(WORDS)))
        conn.execute(f"""
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {N})
            INSERT INTO jobs(created_at, updated_at, mode, model, prompt, request_json, client_token, state)
            SELECT 1700000000.0 + i, 1700000000.0 + i,
                   CASE i % 3 WHEN 0 THEN 't2i' WHEN 1 THEN 't2v' ELSE 'edit' END,
                   CASE i % 3 WHEN 0 THEN 'wan2.6-t2i' WHEN 1 THEN 'wan2.6-t2v' ELSE 'wan2.6-image' END,
                   (SELECT w FROM words WHERE words.i = n.i % {len(WORDS)}) || ' ' ||
                   (SELECT w FROM words WHERE words.i = (n.i / {len(WORDS)}) % {len(WORDS)}) || ' number ' || i,
                   '{{}}', printf('tok%08d', i), CASE WHEN i % 10 = 0 THEN 'failed' ELSE 'done' END
            FROM n""")
        conn.commit()
    finally:
        conn.close()
    return db


@pytest.fixture
async def million_context(million_db: Path, tmp_path: Path) -> AsyncIterator[Context]:
    store = await Store.open(million_db, backup=False)
    client = DashScopeClient(ApiKey("test", "test"), "http://sim.invalid/api/v1")
    engine = Engine(store, client, EngineConfig(output_dir=tmp_path / "out"))  # never started: nothing to do
    try:
        yield Context(make_paths(tmp_path), store, client, engine, demo=False, endpoint="simulator (tests)")
    finally:
        await engine.stop()
        await client.aclose()
        await store.close()


async def test_a_million_jobs(million_context: Context) -> None:
    app = quiet(QwenApp(context=million_context, backend=HALFBLOCK))
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.screen.__class__.__name__ == "MainScreen", what="the main screen")
        screen = main_screen(app)
        table = screen.table
        await wait_until(pilot, lambda: table.row_count == PAGE, what="the first page")
        assert table.selected_id == N  # the newest job is the first row
        assert sorted(table.jobs, reverse=True) == list(range(N, N - PAGE, -1))
        counts = await million_context.store.count_by_state()
        assert counts[JobState.FAILED] == N // 10 and counts[JobState.DONE] == N - N // 10

        await pilot.press("G")  # to the last row: the next page comes in by keyset
        await wait_until(pilot, lambda: table.row_count == 2 * PAGE, what="the second page")
        assert min(table.jobs) == N - 2 * PAGE + 1

        await choose(pilot, "filter-state", "state:failed")
        await wait_until(
            pilot,
            lambda: table.row_count == PAGE and all(j.state is JobState.FAILED for j in table.jobs.values()),
            what="only failed jobs",
        )
        assert sorted(table.jobs, reverse=True) == list(range(N, N - 10 * PAGE, -10))

        await choose(pilot, "filter-mode", "t2v")  # failed (i % 10 == 0) and t2v (i % 3 == 1)
        await wait_until(
            pilot,
            lambda: bool(table.jobs) and all(j.id % 10 == 0 and j.id % 3 == 1 for j in table.jobs.values()),
            what="failed t2v jobs",
        )
        assert sorted(table.jobs, reverse=True)[:3] == [1_000_000, 999_970, 999_940]  # every 30th

        await pilot.press("escape")  # clear the filters, then a full-text search
        await wait_until(pilot, lambda: table.job_filter.is_empty and table.row_count == PAGE, what="all jobs")
        await pilot.press("slash")
        await type_text(pilot, "dragon lighthouse number 9999")
        search = app.screen.query_one("#filter-text", Input)
        await wait_until(  # every key in the box (a CI run once timed out below, with nothing to tell which step)
            pilot, lambda: search.value == "dragon lighthouse number 9999", what="the typed search"
        )
        expected = await million_context.store.list_jobs(text="dragon lighthouse number 9999", limit=PAGE)
        assert expected and all(
            {"dragon", "lighthouse", "number"} <= set(j.prompt.split()) and j.prompt.split()[-1].startswith("9999")
            for j in expected
        )
        await wait_until(
            pilot, lambda: sorted(table.jobs, reverse=True) == [j.id for j in expected], what="the search results"
        )
        assert table.selected_id == expected[0].id
