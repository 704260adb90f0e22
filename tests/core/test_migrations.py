"""Schema migrations: every older version upgrades to the latest with its data, each step is atomic, and a
newer database is refused."""

from __future__ import annotations

import json
import sqlite3
import stat
import threading
from pathlib import Path

import pytest

from qwentui.core.dropfolder.ledger import ledger_key
from qwentui.core.migrations import LATEST, MIGRATIONS, Migration, migrate, user_version
from qwentui.core.states import JobState
from qwentui.core.store import Store, StoreError


def make_db(path: Path, version: int) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    assert migrate(conn, target=version) == version
    return conn


def insert_old_job(conn: sqlite3.Connection, prompt: str, state: str, deleted: int = 0) -> int:
    """A job row written the way schema v1 allows (the columns every version has)."""
    request = {"mode": "t2i", "model": "wan2.6-t2i", "prompt": prompt}
    cur = conn.execute(
        "INSERT INTO jobs(created_at, updated_at, mode, model, prompt, request_json, client_token, state, deleted,"
        " task_id) VALUES (1.0, 2.0, 't2i', 'wan2.6-t2i', ?, ?, ?, ?, ?, ?)",
        (prompt, json.dumps(request), f"token-{prompt}", state, deleted, f"task-{prompt}"),
    )
    assert cur.lastrowid is not None
    return cur.lastrowid


def schema(path: Path) -> set[tuple[str, str]]:
    with sqlite3.connect(path) as conn:
        return {(name, sql) for name, sql in conn.execute("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL")}


def test_steps_are_numbered_and_single_statements() -> None:
    assert [m.version for m in MIGRATIONS] == list(range(1, LATEST + 1))
    assert LATEST >= 2
    for m in MIGRATIONS:
        for sql in m.statements:
            if not isinstance(sql, str):
                continue  # a Python backfill
            # one statement each: sqlite3 refuses several in execute(); executescript would commit early
            assert sqlite3.complete_statement(sql + ";")
            assert not sql.strip().endswith(";")


async def test_fresh_database_is_at_latest(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    async with await Store.open(path):
        pass
    with sqlite3.connect(path) as conn:
        assert user_version(conn) == LATEST
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {
        "jobs",
        "job_events",
        "assets",
        "drop_ledger",
        "lease",
        "settings_kv",
        "jobs_fts",
        "job_counts",
        "jobs_fts_cjk",
    } <= tables
    assert not list(tmp_path.glob("*.bak"))  # nothing to back up for a new database


@pytest.mark.parametrize("start", range(LATEST))
async def test_upgrade_from_every_older_version_keeps_data(tmp_path: Path, start: int) -> None:
    path = tmp_path / "jobs.db"
    conn = make_db(path, start)
    ids: list[int] = []
    if start >= 1:
        ids = [
            insert_old_job(conn, "old harbour fox", "done"),
            insert_old_job(conn, "old neon cat 草地上", "queued"),
            insert_old_job(conn, "old hidden owl", "done", deleted=1),
        ]
        conn.execute(
            "INSERT INTO job_events(job_id, at, from_state, to_state) VALUES (?, 1.0, NULL, 'done')", (ids[0],)
        )
        conn.execute("INSERT INTO drop_ledger(sha256, rule, original_name, claimed_at) VALUES ('ab', 'r', 'a.png', 1)")
    conn.close()

    async with await Store.open(path) as store:
        if start >= 1:
            fox = await store.get_job(ids[0])
            assert fox is not None and fox.prompt == "old harbour fox" and fox.state is JobState.DONE
            assert fox.task_id == "task-old harbour fox" and fox.request["prompt"] == "old harbour fox"
            assert [j.id for j in await store.list_jobs(text="harbour")] == [ids[0]]  # indexed by the upgrade
            assert await store.list_jobs(text="owl") == []  # deleted stays hidden
            if start < 4:  # rows written before v4 get their CJK search text from the upgrade
                assert [j.id for j in await store.list_jobs(text="草地")] == [ids[1]]
            counts = await store.count_by_state()
            assert (counts[JobState.DONE], counts[JobState.QUEUED]) == (1, 1)  # counted by the upgrade
            assert len(await store.events(ids[0])) == 1
            key = ledger_key("r", ["ab"]) if start < 7 else "ab"  # v7 moved the keys to include the rule
            assert await store.ledger_get(key) is not None
            backup = tmp_path / f"jobs.db.v{start}.bak"
            assert backup.exists() and stat.S_IMODE(backup.stat().st_mode) == 0o600
            with sqlite3.connect(backup) as old:
                assert user_version(old) == start
                assert old.execute("SELECT count(*) FROM jobs").fetchone()[0] == 3
        new = await store.add_job({"mode": "t2i", "model": "wan2.6-t2i", "prompt": "new harbour job"})
        assert next(j.id for j in await store.list_jobs(text="harbour")) == new.id

    with sqlite3.connect(path) as conn:
        assert user_version(conn) == LATEST
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        for fts in ("jobs_fts", "jobs_fts_cjk"):  # raises if an index is out of step with the rows
            conn.execute(f"INSERT INTO {fts}({fts}, rank) VALUES ('integrity-check', 1)")


def test_every_path_gives_the_same_schema(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh.db"
    make_db(fresh, LATEST).close()
    for start in range(LATEST):
        path = tmp_path / f"from{start}.db"
        conn = make_db(path, start)
        migrate(conn)
        conn.close()
        assert schema(path) == schema(fresh)


async def test_newer_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    conn = make_db(path, LATEST)
    conn.execute(f"PRAGMA user_version = {LATEST + 1}")
    conn.close()
    before = path.read_bytes()
    with pytest.raises(StoreError) as info:
        await Store.open(path)
    assert str(info.value).startswith(
        f"database was written by a newer qwentui (schema v{LATEST + 1}); upgrade qwentui"
    )
    assert path.read_bytes() == before


def test_a_failing_step_changes_nothing_and_can_be_rerun(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    conn = make_db(path, 1)
    insert_old_job(conn, "keep me", "done")
    broken = Migration(
        2,
        "broken",
        (
            "CREATE TABLE half_done (x)",
            "INSERT INTO half_done VALUES (1)",
            "THIS IS NOT SQL",
        ),
    )
    with pytest.raises(sqlite3.OperationalError):
        migrate(conn, steps=(MIGRATIONS[0], broken, *MIGRATIONS[2:]))
    assert user_version(conn) == 1
    assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'half_done'").fetchone()[0] == 0
    assert not conn.in_transaction
    assert migrate(conn) == LATEST  # the real steps run cleanly afterwards
    assert conn.execute("SELECT prompt FROM jobs").fetchall() == [("keep me",)]
    conn.close()


def test_concurrent_migrations_run_each_step_once(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    make_db(path, 0).close()
    errors: list[BaseException] = []
    reached: list[int] = []

    def worker() -> None:
        try:
            conn = sqlite3.connect(path, isolation_level=None, timeout=10)
            reached.append(migrate(conn))
            conn.close()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and reached == [LATEST] * 4
