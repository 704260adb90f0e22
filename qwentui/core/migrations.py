"""The database schema as an ordered list of steps, and the runner that applies them.

`PRAGMA user_version` records how many steps a database has had. Each step runs in one `BEGIN IMMEDIATE`
transaction together with its version bump: `user_version` is transactional, so a crash (or a failing
statement) in the middle of a step leaves both the schema and the version as they were, and the next start
simply runs the step again. Statements are executed one at a time on purpose: `executescript()` would COMMIT
the open transaction first and break that atomicity (docs/reliability.md §3).

Rules for new steps: only append; never edit a step that has shipped (databases already ran it); a step
must carry the data forward (backfill), not only the DDL. The store refuses databases whose version is
newer than `LATEST` (a downgrade) before calling anything here.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

# A step is SQL statements, or Python for what SQL cannot say (a backfill computed in Python); both run in
# the step's transaction.
Statement = str | Callable[[sqlite3.Connection], None]


@dataclass(frozen=True)
class Migration:
    version: int  # user_version after this step
    name: str
    statements: tuple[Statement, ...]


# Scripts written without spaces between words (Han, kana). unicode61 makes a whole run of them one token,
# so "草地" could not be found inside "一只猫在草地上". `jobs.search_cjk` holds the prompt with each such
# character spaced out (NULL when there is none); a phrase query over it finds any substring.
CJK = re.compile("([\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f])")


def cjk_search_text(text: str) -> str | None:
    """`text` with every CJK character set apart by spaces, or None when it has none."""
    if not CJK.search(text):
        return None
    return " ".join(CJK.sub(r" \1 ", text).split())


V1_CORE = Migration(
    1,
    "jobs, events, assets, drop ledger, lease, settings",
    (
        # AUTOINCREMENT: ids are never reused, because they name output files (<job>_<n>.<ext>).
        """CREATE TABLE jobs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        mode TEXT NOT NULL,
        model TEXT NOT NULL,
        prompt TEXT NOT NULL DEFAULT '',
        request_json TEXT NOT NULL,
        wire_json TEXT,
        body_hash TEXT,
        client_token TEXT NOT NULL UNIQUE,
        state TEXT NOT NULL,
        task_id TEXT UNIQUE,
        request_id TEXT,
        submitted_at REAL,
        finished_at REAL,
        attempts INTEGER NOT NULL DEFAULT 0,
        poll_count INTEGER NOT NULL DEFAULT 0,
        next_check_at REAL,
        expected_seconds REAL,
        results_json TEXT,
        results_expire_at REAL,
        error_code TEXT,
        error_message TEXT,
        usage_json TEXT,
        image_count INTEGER NOT NULL DEFAULT 0,
        video_seconds REAL NOT NULL DEFAULT 0,
        source TEXT NOT NULL DEFAULT 'tui',
        source_path TEXT,
        parent_id INTEGER REFERENCES jobs(id) ON DELETE SET NULL,
        output_dir TEXT,
        priority INTEGER NOT NULL DEFAULT 0,
        deleted INTEGER NOT NULL DEFAULT 0
    )""",
        # Secondary index entries end with the rowid, so "state = ? ORDER BY id DESC LIMIT n" walks this index
        # backwards and stops after n rows: newest-first listing by state without sorting.
        "CREATE INDEX jobs_state ON jobs(state)",
        "CREATE INDEX jobs_due ON jobs(state, next_check_at)",  # the scheduler: due checks per state
        "CREATE INDEX jobs_model ON jobs(model)",
        "CREATE INDEX jobs_mode ON jobs(mode)",
        "CREATE INDEX jobs_updated ON jobs(updated_at)",  # the TUI's incremental refresh
        "CREATE INDEX jobs_created ON jobs(created_at)",  # date ranges, usage by day
        "CREATE INDEX jobs_parent ON jobs(parent_id) WHERE parent_id IS NOT NULL",
        """CREATE TABLE job_events (
        id INTEGER PRIMARY KEY,
        job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
        at REAL NOT NULL,
        from_state TEXT,
        to_state TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT ''
    )""",
        "CREATE INDEX job_events_job ON job_events(job_id, id)",
        """CREATE TRIGGER job_events_append_only BEFORE UPDATE ON job_events
       BEGIN SELECT RAISE(ABORT, 'job_events is append-only'); END""",
        """CREATE TABLE assets (
        id INTEGER PRIMARY KEY,
        job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
        idx INTEGER NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('image', 'video', 'text')),
        url TEXT,
        path TEXT,
        text TEXT,
        size INTEGER,
        sha256 TEXT,
        width INTEGER,
        height INTEGER,
        duration REAL,
        created_at REAL NOT NULL,
        UNIQUE (job_id, idx)
    )""",
        """CREATE TABLE drop_ledger (
        sha256 TEXT PRIMARY KEY,
        rule TEXT NOT NULL,
        original_name TEXT NOT NULL,
        claimed_at REAL NOT NULL,
        job_id INTEGER REFERENCES jobs(id) ON DELETE SET NULL,
        outcome TEXT,
        outcome_path TEXT,
        reason TEXT
    )""",
        "CREATE INDEX drop_ledger_open ON drop_ledger(claimed_at) WHERE outcome IS NULL",
        # One row at most: who follows the remote tasks. Two engines polling and downloading the same tasks
        # would double the request rate and race on every transition.
        """CREATE TABLE lease (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        owner TEXT NOT NULL,
        pid INTEGER NOT NULL,
        acquired_at REAL NOT NULL,
        heartbeat_at REAL NOT NULL,
        expires_at REAL NOT NULL
    )""",
        "CREATE TABLE settings_kv (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    ),
)

V2_FTS = Migration(
    2,
    "full-text search over prompts",
    (
        # External content: the text lives once, in jobs.prompt; the index is kept in step by triggers. The
        # update trigger fires only when `prompt` is written, so state transitions never touch the index.
        """CREATE VIRTUAL TABLE jobs_fts USING fts5(
        prompt, content='jobs', content_rowid='id', tokenize='unicode61 remove_diacritics 2')""",
        """CREATE TRIGGER jobs_fts_insert AFTER INSERT ON jobs BEGIN
        INSERT INTO jobs_fts(rowid, prompt) VALUES (new.id, new.prompt);
    END""",
        """CREATE TRIGGER jobs_fts_delete AFTER DELETE ON jobs BEGIN
        INSERT INTO jobs_fts(jobs_fts, rowid, prompt) VALUES ('delete', old.id, old.prompt);
    END""",
        """CREATE TRIGGER jobs_fts_update AFTER UPDATE OF prompt ON jobs BEGIN
        INSERT INTO jobs_fts(jobs_fts, rowid, prompt) VALUES ('delete', old.id, old.prompt);
        INSERT INTO jobs_fts(rowid, prompt) VALUES (new.id, new.prompt);
    END""",
        "INSERT INTO jobs_fts(jobs_fts) VALUES ('rebuild')",  # index the jobs that already exist
    ),
)

V3_COUNTS = Migration(
    3,
    "per-state job counts kept by triggers",
    (
        # count(*) GROUP BY state reads the whole state index (tens of ms at a million jobs); the status bar
        # asks for it on every refresh, so the counts are kept up to date as rows change instead.
        "CREATE TABLE job_counts (state TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID",
        "INSERT INTO job_counts(state, n) SELECT state, count(*) FROM jobs WHERE deleted = 0 GROUP BY state",
        """CREATE TRIGGER job_counts_insert AFTER INSERT ON jobs WHEN new.deleted = 0 BEGIN
        INSERT INTO job_counts(state, n) VALUES (new.state, 1) ON CONFLICT(state) DO UPDATE SET n = n + 1;
    END""",
        """CREATE TRIGGER job_counts_update AFTER UPDATE OF state, deleted ON jobs BEGIN
        UPDATE job_counts SET n = n - 1 WHERE state = old.state AND old.deleted = 0;
        INSERT INTO job_counts(state, n) SELECT new.state, 1 WHERE new.deleted = 0
            ON CONFLICT(state) DO UPDATE SET n = n + 1;
    END""",
        """CREATE TRIGGER job_counts_delete AFTER DELETE ON jobs WHEN old.deleted = 0 BEGIN
        UPDATE job_counts SET n = n - 1 WHERE state = old.state;
    END""",
    ),
)


def _backfill_search_cjk(conn: sqlite3.Connection) -> None:
    rows = conn.execute("SELECT id, prompt FROM jobs").fetchall()
    spaced = [(text, job_id) for job_id, prompt in rows if (text := cjk_search_text(prompt or "")) is not None]
    conn.executemany("UPDATE jobs SET search_cjk = ? WHERE id = ?", spaced)  # the trigger indexes them


V4_CJK = Migration(
    4,
    "full-text search inside Chinese and Japanese prompts",
    (
        "ALTER TABLE jobs ADD COLUMN search_cjk TEXT",
        # Only rows with CJK text are in this index (the WHEN clauses), so it stays small. Contentless (it keeps
        # no text, only rowids): an external-content index is expected to hold every row of its table. It must
        # never be asked to 'delete' a row it does not hold, hence the same condition on every trigger.
        """CREATE VIRTUAL TABLE jobs_fts_cjk USING fts5(
        search_cjk, content='', tokenize='unicode61 remove_diacritics 2')""",
        """CREATE TRIGGER jobs_fts_cjk_insert AFTER INSERT ON jobs WHEN new.search_cjk IS NOT NULL BEGIN
        INSERT INTO jobs_fts_cjk(rowid, search_cjk) VALUES (new.id, new.search_cjk);
    END""",
        """CREATE TRIGGER jobs_fts_cjk_delete AFTER DELETE ON jobs WHEN old.search_cjk IS NOT NULL BEGIN
        INSERT INTO jobs_fts_cjk(jobs_fts_cjk, rowid, search_cjk) VALUES ('delete', old.id, old.search_cjk);
    END""",
        """CREATE TRIGGER jobs_fts_cjk_update AFTER UPDATE OF search_cjk ON jobs BEGIN
        INSERT INTO jobs_fts_cjk(jobs_fts_cjk, rowid, search_cjk)
            SELECT 'delete', old.id, old.search_cjk WHERE old.search_cjk IS NOT NULL;
        INSERT INTO jobs_fts_cjk(rowid, search_cjk) SELECT new.id, new.search_cjk WHERE new.search_cjk IS NOT NULL;
    END""",
        _backfill_search_cjk,
    ),
)

V5_USAGE = Migration(
    5,
    "covering index for usage totals",
    (
        # Usage sums read only this index (a few dozen bytes per billed job) instead of every row.
        """CREATE INDEX jobs_usage ON jobs(model, image_count, video_seconds, finished_at, created_at)
       WHERE image_count > 0 OR video_seconds > 0""",
    ),
)

V6_CLOCK_OFFSET = Migration(
    6,
    "the service's clock offset at each submission",
    (
        # server time - local time when the POST was sent (NULL: not measured). The reconciler looks for a lost
        # submission on the service's clock; a restart after the local clock was set must not move that window.
        "ALTER TABLE jobs ADD COLUMN clock_offset REAL",
    ),
)


def _ledger_keys_with_rule(conn: sqlite3.Connection) -> None:
    """Each key was the sha256 of the drop's bytes; it becomes the sha256 of "rule:<rule>:<old key>"."""
    rows = conn.execute("SELECT sha256, rule FROM drop_ledger").fetchall()
    conn.executemany(
        "UPDATE drop_ledger SET sha256 = ? WHERE sha256 = ?",
        [(hashlib.sha256(f"rule:{rule}:{key}".encode()).hexdigest(), key) for key, rule in rows],
    )


V7_LEDGER_RULE = Migration(
    7,
    "drop ledger keys include the rule",
    # The same photo dropped in animate/ and then in edit/ is two drops, not a duplicate. The key stays one
    # column (a sha256), so every query keeps its shape; dropfolder.ledger.ledger_key computes the same.
    (_ledger_keys_with_rule,),
)

V8_DROP_COUNTS = Migration(
    8,
    "drop-folder counters that survive a restart",
    (
        # What each rule did, ever (taken, done, failed, duplicates), shown by the status bar and the panel.
        """CREATE TABLE drop_counts (
        rule TEXT NOT NULL,
        counter TEXT NOT NULL,
        n INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (rule, counter)
    ) WITHOUT ROWID""",
        # carried forward: the ledger knows every drop that got a job, and how each ended
        """INSERT INTO drop_counts(rule, counter, n)
        SELECT rule, 'taken', count(*) FROM drop_ledger WHERE job_id IS NOT NULL GROUP BY rule""",
        """INSERT INTO drop_counts(rule, counter, n)
        SELECT rule, outcome, count(*) FROM drop_ledger WHERE outcome IN ('done', 'failed') GROUP BY rule, outcome""",
    ),
)

V9_BATCHES_COSTS = Migration(
    9,
    "batches, and each job's estimated and actual cost",
    (
        # A batch is the jobs made together from one file (qwentui batch): cancel, retry and spend act on it.
        """CREATE TABLE batches (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        created_at REAL NOT NULL,
        name TEXT NOT NULL,
        source_path TEXT,
        max_cost REAL,
        currency TEXT
    )""",
        "ALTER TABLE jobs ADD COLUMN batch_id INTEGER REFERENCES batches(id) ON DELETE SET NULL",
        # The estimate at submit (NULL: no price known), the price per billed unit it used, the currency as
        # published (never converted); the actual cost once the task's `usage` is known (0 when it failed).
        "ALTER TABLE jobs ADD COLUMN cost_estimate REAL",
        "ALTER TABLE jobs ADD COLUMN cost_unit_price REAL",
        "ALTER TABLE jobs ADD COLUMN cost_currency TEXT",
        "ALTER TABLE jobs ADD COLUMN cost_actual REAL",
        "CREATE INDEX jobs_batch ON jobs(batch_id) WHERE batch_id IS NOT NULL",
        # Spend totals read only this index, as usage totals read jobs_usage: every job estimated since this
        # step has a currency (even with no price known), the jobs from before have none.
        """CREATE INDEX jobs_cost ON jobs(model, cost_currency, cost_estimate, cost_actual, finished_at, created_at,
        batch_id) WHERE cost_currency IS NOT NULL""",
    ),
)

V10_LINEAGE_AND_MARKS = Migration(
    10,
    "lineage (where each job came from) and culling marks (rating, star, reject)",
    (
        # Many-to-one: an assembled film has several inputs, in order (position); a clip may appear twice.
        # jobs.parent_id stays the first parent, so older readers of it keep working.
        """CREATE TABLE job_lineage (
        job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
        position INTEGER NOT NULL DEFAULT 0,
        parent_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
        relation TEXT NOT NULL,
        PRIMARY KEY (job_id, position)
    ) WITHOUT ROWID""",
        "CREATE INDEX job_lineage_parent ON job_lineage(parent_id, job_id)",
        # carried forward: a parent_id came from a retry, a duplicate or an animate, as the job's source says
        """INSERT INTO job_lineage(job_id, position, parent_id, relation)
        SELECT id, 0, parent_id, CASE WHEN source IN ('retry', 'animate', 'extend', 'continue') THEN source
        ELSE 'duplicate' END FROM jobs WHERE parent_id IS NOT NULL""",
        "ALTER TABLE jobs ADD COLUMN rating INTEGER CHECK (rating BETWEEN 1 AND 5)",
        "ALTER TABLE jobs ADD COLUMN starred INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE jobs ADD COLUMN rejected INTEGER NOT NULL DEFAULT 0",
        # "rated 4 or better", "starred": few rows among many; this index finds them newest first
        "CREATE INDEX jobs_marked ON jobs(id) WHERE rating IS NOT NULL OR starred OR rejected",
    ),
)

V11_CLOCK_UNCERTAINTY = Migration(
    11,
    "how well the service's clock offset was known at each submission",
    (
        # Half the width of the interval the offset was proved to lie in when the POST was sent (NULL: not
        # measured, as for every job sent before this step). The reconciler's windows are widened by this much
        # instead of a fixed second, so two POSTs sent a fraction of a second apart no longer share a task.
        "ALTER TABLE jobs ADD COLUMN clock_uncertainty REAL",
    ),
)

MIGRATIONS: tuple[Migration, ...] = (
    V1_CORE,
    V2_FTS,
    V3_COUNTS,
    V4_CJK,
    V5_USAGE,
    V6_CLOCK_OFFSET,
    V7_LEDGER_RULE,
    V8_DROP_COUNTS,
    V9_BATCHES_COSTS,
    V10_LINEAGE_AND_MARKS,
    V11_CLOCK_UNCERTAINTY,
)
LATEST = len(MIGRATIONS)

assert all(m.version == i for i, m in enumerate(MIGRATIONS, start=1)), "steps must be numbered 1, 2, 3, ..."


def user_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, target: int = LATEST, steps: tuple[Migration, ...] = MIGRATIONS) -> int:
    """Apply the steps after the database's version up to `target`; return the version reached.

    `conn` must be in autocommit mode (`isolation_level=None`). The version is read again inside each
    transaction, so two processes starting at once do not run a step twice: the second one waits on
    BEGIN IMMEDIATE (busy timeout), then sees the step done.
    """
    while True:
        conn.execute("BEGIN IMMEDIATE")
        try:
            current = user_version(conn)
            if current >= target or current >= len(steps):
                conn.execute("ROLLBACK")
                return current
            step = steps[current]
            for statement in step.statements:
                if isinstance(statement, str):
                    conn.execute(statement)
                else:
                    statement(conn)
            conn.execute(f"PRAGMA user_version = {int(step.version)}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:  # SQLite may already have rolled back by itself (disk full)
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
            raise
