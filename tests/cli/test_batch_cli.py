"""`qwentui batch`, `qwentui usage` and the estimate `submit` prints, against the simulator on loopback."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from qwentui.sim import BackgroundServer
from tests.cli.test_cli import env, one_error_line, qwentui, server

__all__ = ["env", "server"]  # the fixtures, shared with test_cli


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def job_count(db: Path) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM jobs").fetchone()[0])


def test_dry_run_prints_jobs_count_and_cost_and_sends_nothing(
    env: Path, server: BackgroundServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    batch = write(env / "b.txt", "a {subject} at dawn\nan owl\n")
    before = len(server.sim.submissions)
    code = qwentui(
        env, server, "batch", str(batch), "--var", "subject=cat,dog", "--seeds", "1..2", "--n", "2", "--dry-run",
        monkeypatch=monkeypatch,
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert "a dog at dawn" in out and "an owl" in out and "0.06 USD" in out
    assert "6 jobs, est. 0.36 USD (prices as of 2026-12-01)\n" in out and "nothing was sent" in out
    assert len(server.sim.submissions) == before and job_count(env / "jobs.db") == 0
    assert qwentui(env, server, "batch", str(batch), "--var", "subject=cat", "--dry-run", "--json") == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["count"] == 2 and plan["estimate"]["amounts"] == {"USD": 0.06}


def test_a_bad_line_queues_nothing_and_names_line_and_field(
    env: Path, server: BackgroundServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    batch = write(env / "b.csv", "prompt,size\nfine,\nfine too,\nsmall,10*10\n")
    assert qwentui(env, server, "batch", str(batch), monkeypatch=monkeypatch) == 1
    err = capsys.readouterr().err
    assert "b.csv: line 4: size: '10*10' is not allowed" in err
    assert "nothing was queued" in one_error_line(err)
    assert job_count(env / "jobs.db") == 0


def test_max_cost_refuses_a_batch_over_the_cap(
    env: Path, server: BackgroundServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    batch = write(env / "b.txt", "one\ntwo\nthree\n")
    assert qwentui(env, server, "batch", str(batch), "--max-cost", "0.05", monkeypatch=monkeypatch) == 1
    line = one_error_line(capsys.readouterr().err)
    assert "estimated at 0.09 USD, over --max-cost 0.05 USD; nothing was queued" in line
    assert job_count(env / "jobs.db") == 0
    # a price that is not known cannot be checked against a cap (no US price is known for wan2.6-t2i)
    unknown = write(env / "u.jsonl", '{"prompt": "x", "model": "wan2.6-t2i"}\n')
    assert qwentui(env, server, "--region", "us-east-1", "batch", str(unknown), "--max-cost", "5") == 1
    assert "no known price" in one_error_line(capsys.readouterr().err)


def test_batch_runs_and_usage_shows_the_spend(
    env: Path, server: BackgroundServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    batch = write(
        env / "b.jsonl",
        '{"prompt": "a red fox", "n": 2}\n'
        '{"prompt": "a tide", "model": "wan2.6-t2v", "size": "1280*720", "duration": 5}\n',
    )
    assert qwentui(env, server, "batch", str(batch), "--max-cost", "1", "--wait", monkeypatch=monkeypatch) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == "1"  # the batch id, for scripts
    assert "batch 1: 2 jobs queued, est. 0.56 USD" in captured.err and "2 done" in captured.err
    assert qwentui(env, None, "usage", "--json") == 0
    report = json.loads(capsys.readouterr().out)
    (batch_spend,) = report["batch"]["spend"]
    assert batch_spend["key"] == "1" and batch_spend["actual"] == pytest.approx(0.56) and batch_spend["jobs"] == 2
    models = {row["key"]: row["actual"] for row in report["model"]["spend"]}
    assert models == {"wan2.6-t2i": pytest.approx(0.06), "wan2.6-t2v": pytest.approx(0.5)}
    assert qwentui(env, None, "usage") == 0
    table = capsys.readouterr().out
    assert "batch 1" in table and "0.56 USD" in table and "wan2.6-t2v" in table
    assert qwentui(env, None, "batch", "--list") == 0
    assert "b.jsonl" in capsys.readouterr().out


def test_cancel_and_retry_a_batch_from_the_command_line(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    batch = write(env / "b.txt", "one\ntwo\nthree\n")
    monkeypatch.setenv("DASHSCOPE_API_KEY", "sk-clitest00000000000000000000000000")
    base = ["--db", str(env / "jobs.db"), "--base-url", "http://127.0.0.1:9"]  # queued only: nothing is sent
    from qwentui.cli import main

    assert main([*base, "batch", str(batch)]) == 0
    capsys.readouterr()
    assert main([*base, "batch", "--cancel", "1"]) == 0
    assert "batch 1: 3 job(s) canceled" in capsys.readouterr().out
    assert main([*base, "batch", "--retry", "1"]) == 0
    assert "batch 1: 3 job(s) queued again" in capsys.readouterr().out
    assert main([*base, "batch", "--cancel", "7"]) == 1
    assert "no batch 7" in one_error_line(capsys.readouterr().err)
    assert main([*base, "batch"]) == 1
    assert "give a batch FILE" in one_error_line(capsys.readouterr().err)


def test_submit_prints_its_estimate(
    env: Path, server: BackgroundServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert qwentui(env, server, "submit", "a red fox", "--n", "3", monkeypatch=monkeypatch) == 0
    assert "est. 0.09 USD (3 images x 0.03 USD; prices as of 2026-12-01)" in capsys.readouterr().err


def test_models_show_prices_for_the_region(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert qwentui(env, None, "models", "wan2.6-i2v-flash") == 0
    text = capsys.readouterr().out
    assert "price: 720P audio 0.05 | 720P silent 0.025" in " ".join(text.split())
    assert qwentui(env, None, "--region", "beijing", "models", "qwen-image-max", "--json") == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["price"]["currency"] == "CNY" and row["price"]["prices"] == [
        {"resolution": None, "audio": None, "price": 0.5}
    ]
    assert qwentui(env, None, "--region", "us-east-1", "models", "qwen-image-max") == 0
    assert "price: no price known in us-east-1" in capsys.readouterr().out
