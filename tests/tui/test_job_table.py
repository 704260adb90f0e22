"""The job table's window: a bounded page of the newest matching jobs, kept current by applying changes (rows
updated, added and removed by key; never cleared and refilled), against a real store and no engine."""

from __future__ import annotations

import asyncio
import time

import pytest
from textual.app import App, ComposeResult

from qwentui.core.catalog import Mode
from qwentui.core.states import JobState
from qwentui.core.store import Job, Store
from qwentui.tui.job_filter import JobFilter
from qwentui.tui.widgets.job_table import JobTable
from tests.tui.conftest import wait_until


class TableApp(App[None]):
    def __init__(self, store: Store, page: int) -> None:
        super().__init__()
        self.store = store
        self.page = page

    def compose(self) -> ComposeResult:
        yield JobTable(self.store, page=self.page, clock=lambda: 2_000_000_000.0)


async def add(store: Store, prompt: str, mode: Mode = Mode.T2I) -> int:
    job = await store.add_job({"mode": mode.value, "model": "wan2.6-t2i", "prompt": prompt})
    return job.id


class Changes:
    """What the main screen does each refresh: the jobs changed since the last stamp seen."""

    def __init__(self) -> None:
        self.seen = 0.0

    async def __call__(self, store: Store) -> list[Job]:
        changed = await store.changed_since(self.seen)
        if changed:
            self.seen = changed[-1].updated_at
        return changed


def display_order(table: JobTable) -> list[int]:
    return list(table.row_ids)


async def test_window_updates_adds_and_removes_by_key(store: Store) -> None:
    first = [await add(store, f"job {i}") for i in range(12)]
    changes = Changes()
    await changes(store)
    app = TableApp(store, page=5)
    async with app.run_test() as pilot:
        table = app.query_one(JobTable)
        await table.reload()
        assert display_order(table) == first[::-1][:5]  # newest first, one page

        await store.transition(first[9], JobState.CANCELED)
        await table.apply(await changes(store))
        assert table.jobs[first[9]].state is JobState.CANCELED
        assert table.cell(first[9], "state").plain.endswith("canceled")

        await table.reload(JobFilter(states=frozenset({JobState.QUEUED})))
        assert display_order(table) == [first[11], first[10], first[8], first[7], first[6]]
        await store.transition(first[10], JobState.CANCELED)  # leaves the filter: its row goes
        newer = await add(store, "a new one")  # enters at the top
        await store.transition(first[1], JobState.CANCELED)  # below the window: nothing to show
        await table.apply(await changes(store))
        assert display_order(table) == [newer, first[11], first[8], first[7], first[6]]

        await store.delete_job(first[11])  # hidden from lists: the change removes the row
        await table.apply(await changes(store))
        assert first[11] not in table.jobs

        table.move_cursor(row=table.row_count - 1)  # near the end: the next page by keyset
        await table.load_more()  # the cursor may have asked for it already: then this one finds it loading
        await wait_until(
            pilot, lambda: display_order(table)[-1] < first[6] and table.row_count > 4, what="the next page"
        )


async def test_search_window_admits_only_matching_new_jobs(store: Store) -> None:
    for i in range(8):
        await add(store, f"zebra number {i}" if i % 2 else f"horse number {i}")
    changes = Changes()
    await changes(store)
    app = TableApp(store, page=3)
    async with app.run_test():
        table = app.query_one(JobTable)
        await table.reload(JobFilter(text="zebra"))
        assert all("zebra" in table.jobs[i].prompt for i in table.jobs) and table.row_count == 3
        zebra = await add(store, "a zebra at night")
        horse = await add(store, "a horse at night")
        await table.apply(await changes(store))
        assert zebra in table.jobs and horse not in table.jobs
        assert display_order(table)[0] == zebra


async def test_a_burst_of_a_thousand_changes(store: Store) -> None:
    rows = [{"request": {"mode": "t2i", "model": "wan2.6-t2i", "prompt": f"p{i}"}} for i in range(1000)]
    await store.bulk_insert_jobs(rows)
    changes = Changes()
    await changes(store)
    app = TableApp(store, page=200)
    async with app.run_test():
        table = app.query_one(JobTable)
        await table.reload(JobFilter(states=frozenset({JobState.QUEUED})))
        shown = list(table.jobs)
        for job_id in range(1, 1001):
            await store.transition(job_id, JobState.CANCELED if job_id % 2 else JobState.SUBMITTING)
        changed = await changes(store)
        assert len(changed) == 1000
        await table.apply(changed)
        assert table.row_count == 0  # every shown job left the "queued" filter; nothing else entered
        await table.reload(JobFilter())
        assert sorted(table.jobs) == sorted(shown) and all(
            j.state is (JobState.CANCELED if j.id % 2 else JobState.SUBMITTING) for j in table.jobs.values()
        )


async def test_a_flood_of_new_jobs_does_not_grow_the_window_without_bound(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    import qwentui.tui.widgets.job_table as job_table

    monkeypatch.setattr(job_table, "MAX_ROWS", 10)
    await add(store, "the first")
    changes = Changes()
    await changes(store)
    app = TableApp(store, page=5)
    async with app.run_test():
        table = app.query_one(JobTable)
        await table.reload()
        newest = [await add(store, f"new {i}") for i in range(20)]
        await table.apply(await changes(store))
        assert display_order(table) == newest[::-1][:5]  # one fresh page, newest first


class HeldPage:
    """Holds the table's page reads after they return from the store, until released: a slow disk, on demand."""

    def __init__(self, table: JobTable) -> None:
        self.read = asyncio.Event()
        self.release = asyncio.Event()
        self._page = table._page

        async def held(before_id: int | None) -> list[Job]:
            jobs = await self._page(before_id)
            self.read.set()
            await self.release.wait()
            return jobs

        table._page = held  # type: ignore[method-assign]


async def test_a_change_that_arrives_while_the_window_is_read_is_kept(store: Store) -> None:
    await add(store, "old")
    changes = Changes()
    await changes(store)
    app = TableApp(store, page=5)
    async with app.run_test():
        table = app.query_one(JobTable)
        await table.reload()
        held = HeldPage(table)
        reloading = asyncio.create_task(table.reload())
        await held.read.wait()  # the page is read: a job added now is not in it
        new = await add(store, "arrived meanwhile")
        await table.apply(await changes(store))
        held.release.set()
        await reloading
        assert new in table.jobs and table.row_ids[0] == new


async def test_a_slow_older_reload_never_replaces_a_newer_one(store: Store) -> None:
    for i in range(4):
        await add(store, f"zebra {i}" if i % 2 else f"horse {i}")
    app = TableApp(store, page=5)
    async with app.run_test():
        table = app.query_one(JobTable)
        held = HeldPage(table)
        older = asyncio.create_task(table.reload(JobFilter(text="horse")))
        await held.read.wait()
        table._page = held._page  # type: ignore[method-assign]  # the next read is quick
        await table.reload(JobFilter(text="zebra"))
        held.release.set()
        await older
        assert table.job_filter.text == "zebra"
        assert table.jobs and all("zebra" in job.prompt for job in table.jobs.values())


def drawn(table: JobTable) -> list[str]:
    """The table's lines as drawn (header first)."""
    return [table.render_line(y).text for y in range(table.scrollable_content_region.height)]


@pytest.mark.parametrize("width", [40, 120])
async def test_a_change_repaints_its_row_in_place(store: Store, width: int) -> None:
    """A changed job's line is redrawn where it is: the order, the cursor's job and the other lines stay; with
    or without the id column (the width decides which columns show, never the order)."""
    ids = [await add(store, f"job {i}") for i in range(5)]
    changes = Changes()
    await changes(store)
    app = TableApp(store, page=10)
    async with app.run_test(size=(width, 12)) as pilot:
        table = app.query_one(JobTable)
        await table.reload()
        assert table.select_job(ids[2])
        await pilot.pause()
        before = drawn(table)
        assert "queued" in before[4] and "job 1" in before[4]  # lines: header, ids[4], ids[3], ids[2], ids[1]
        await store.transition(ids[1], JobState.CANCELED)
        await table.apply(await changes(store))
        await pilot.pause()
        after = drawn(table)
        assert "canceled" in after[4] and "job 1" in after[4]
        assert [line for i, line in enumerate(after) if i != 4] == [line for i, line in enumerate(before) if i != 4]
        assert table.row_ids == tuple(reversed(ids)) and table.selected_id == ids[2]


async def test_a_held_key_scrolls_half_a_page_and_the_tick_remakes_only_the_time_cells(store: Store) -> None:
    """The cursor stepping past an edge lands mid-screen (the table scrolls once every half page, not every row);
    a jump scrolls only as far as it must. Each tick re-makes a row's time cells (age, elapsed, progress) alone."""
    ids = [await add(store, f"job {i}") for i in range(40)]
    now = [time.time()]
    app = TableApp(store, page=40)
    async with app.run_test(size=(80, 12)) as pilot:
        table = app.query_one(JobTable)
        table.clock = lambda: now[0]
        await table.reload()
        table.focus()
        await pilot.pause()
        rows = table.scrollable_content_region.height - 1
        assert rows == 11  # rows under the header
        await pilot.press(*["down"] * 11)  # one past the last row on screen
        assert (table.cursor_row, table.scroll_offset.y) == (11, 6)  # rows 6-16 shown: the cursor mid-screen
        await pilot.press(*["down"] * 5)  # down to the bottom row: no scroll
        assert (table.cursor_row, table.scroll_offset.y) == (16, 6)
        await pilot.press("down")
        assert (table.cursor_row, table.scroll_offset.y) == (17, 12)
        await pilot.press(*["up"] * 6)  # one above the top row
        assert (table.cursor_row, table.scroll_offset.y) == (11, 6)
        await pilot.press("end")  # a jump: the last row at the bottom, not mid-screen
        assert table.scroll_offset.y == 40 - rows and table.selected_id == ids[0]
        await pilot.press("home")
        assert table.scroll_offset.y == 0 and table.selected_id == ids[-1]
        assert table.row_ids == tuple(reversed(ids))  # the order never moved

        first = table.row_ids[0]
        await pilot.pause()
        before = table._cells_of(first)
        age_before = drawn(table)[1]
        now[0] += 7200.0
        table.tick()
        await pilot.pause()
        after = table._cells_of(first)
        assert after[:-3] == before[:-3] and all(a is b for a, b in zip(after[:-3], before[:-3], strict=True))
        assert after[-3:] != before[-3:] and drawn(table)[1] != age_before  # the age moved on, and is drawn
