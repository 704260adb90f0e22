"""Every headless subcommand against the simulator on loopback, with its error paths: one clear line, non-zero
exit, never a traceback."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import pytest

from qwentui.cli import main
from qwentui.core.api import DashScopeClient
from qwentui.core.catalog import Mode
from qwentui.core.config import ApiKey
from qwentui.core.requests import GenerationRequest, build
from qwentui.core.store import Store
from qwentui.sim import BackgroundServer, SimConfig, running

KEY = "sk-clitest00000000000000000000000000"


@pytest.fixture(scope="module")
def server() -> Iterator[BackgroundServer]:
    with running(SimConfig(pending_seconds=0.05, running_seconds=0.1, seed=5, task_query_qps=None)) as srv:
        yield srv


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for var in ("QWEN_API_KEY", "DASHSCOPE_API_KEY", "QWEN_BASE_URL", "QWEN_REGION", "QWENTUI_DB"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("QWENTUI_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)  # no stray .env is read
    return tmp_path


def qwentui(
    env: Path,
    server: BackgroundServer | None,
    *args: str,
    key: str | None = KEY,
    monkeypatch: pytest.MonkeyPatch | None = None,
) -> int:
    if monkeypatch is not None:
        if key:
            monkeypatch.setenv("DASHSCOPE_API_KEY", key)
        else:
            monkeypatch.delenv("DASHSCOPE_API_KEY", raising=False)
    base = ["--db", str(env / "jobs.db"), "--output", str(env / "out"), "--time-scale", "0.01"]
    if server is not None:
        base += ["--base-url", server.base_url]
    return main([*base, *args])


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("qwentui: error:")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_submit_wait_downloads_the_result(
    env: Path, server: BackgroundServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert qwentui(env, server, "submit", "a red fox", "--wait", monkeypatch=monkeypatch) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and Path(out[0]).is_file() and out[0].endswith("_1.png")


def test_submit_json_with_skill_script_keys(
    env: Path, server: BackgroundServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    request = json.dumps({"prompt": "it moves", "img_url": "https://example.com/a.png", "duration": 5})
    assert qwentui(env, server, "submit", "--json", request, "--wait", "--print-json", monkeypatch=monkeypatch) == 0
    out = capsys.readouterr().out
    data = json.loads(out[out.index("{") :])
    assert data["state"] == "done" and data["files"][0].endswith(".mp4")


def test_submit_bad_json(
    env: Path, server: BackgroundServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert qwentui(env, server, "submit", "--json", "{not json", monkeypatch=monkeypatch) == 1
    assert "not valid JSON" in one_error_line(capsys.readouterr().err)


def test_submit_invalid_request_lists_problems_and_sends_nothing(
    env: Path, server: BackgroundServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    before = len(server.sim.submissions)
    assert qwentui(env, server, "submit", "x", "--size", "10*10", "--n", "9", monkeypatch=monkeypatch) == 2
    err = capsys.readouterr().err
    assert "size: '10*10' is not allowed" in err and "n: 9 is out of range" in err
    assert "Traceback" not in err
    assert len(server.sim.submissions) == before


def test_submit_without_a_key(
    env: Path, server: BackgroundServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert qwentui(env, server, "submit", "a cat", key=None, monkeypatch=monkeypatch) == 1
    line = one_error_line(capsys.readouterr().err)
    assert "QWEN_API_KEY" in line and "DASHSCOPE_API_KEY" in line and "--demo" in line


def test_submit_with_the_server_down(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DASHSCOPE_API_KEY", KEY)
    code = main(["--db", str(env / "jobs.db"), "--base-url", "http://127.0.0.1:9", "submit", "a cat"])
    assert code == 1
    line = one_error_line(capsys.readouterr().err)
    assert "could not be sent" in line and "cannot reach" in line
    assert KEY not in line


def test_jobs_show_and_filters(
    env: Path, server: BackgroundServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert qwentui(env, server, "submit", "an orange lighthouse", "--wait", monkeypatch=monkeypatch) == 0
    assert (
        qwentui(env, server, "submit", "x", "--mode", "t2v", "--duration", "5", "--wait", monkeypatch=monkeypatch) == 0
    )
    capsys.readouterr()
    assert qwentui(env, None, "jobs", key=None, monkeypatch=monkeypatch) == 0  # reading needs no key
    table = capsys.readouterr().out
    assert "lighthouse" in table and "t2v" in table
    assert qwentui(env, None, "jobs", "--json", "--search", "lighthouse") == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["prompt"] for r in rows] == ["an orange lighthouse"]
    assert qwentui(env, None, "jobs", "--json", "--mode", "t2v", "--state", "done") == 0
    assert [r["mode"] for r in json.loads(capsys.readouterr().out)] == ["t2v"]
    assert qwentui(env, None, "jobs", "--state", "nonsense") == 1
    assert "unknown state" in one_error_line(capsys.readouterr().err)
    job_id = rows[0]["id"]
    assert qwentui(env, None, "show", str(job_id)) == 0
    shown = capsys.readouterr().out
    assert "an orange lighthouse" in shown and "history:" in shown and "done" in shown
    assert qwentui(env, None, "show", str(job_id), "--json") == 0
    detail = json.loads(capsys.readouterr().out)
    assert detail["files"] and detail["events"]
    assert qwentui(env, None, "show", "4242") == 1
    assert "no job 4242" in one_error_line(capsys.readouterr().err)
    assert qwentui(env, None, "usage", "--json") == 0
    assert json.loads(capsys.readouterr().out)


def test_cancel_retry_and_errors(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with running(SimConfig(pending_seconds=60, running_seconds=60, task_query_qps=None)) as slow:
        assert qwentui(env, slow, "submit", "--mode", "t2v", "slow boat", monkeypatch=monkeypatch) == 0
        capsys.readouterr()
        assert qwentui(env, slow, "cancel", "1") == 0
        assert "canceled" in capsys.readouterr().out
        assert qwentui(env, slow, "cancel", "1") == 1
        assert "already canceled" in one_error_line(capsys.readouterr().err)
        assert qwentui(env, slow, "cancel", "77") == 1
        assert "no job 77" in one_error_line(capsys.readouterr().err)
        assert qwentui(env, slow, "retry", "1") == 0
        assert "retry of job 1" in capsys.readouterr().out
        assert qwentui(env, slow, "resolve", "2", "--resubmit") == 1
        assert "only jobs that need you" in one_error_line(capsys.readouterr().err)


def test_import_and_run_until_idle(
    env: Path, server: BackgroundServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async def create_task_elsewhere() -> str:
        async with DashScopeClient(ApiKey(KEY, "test"), server.api_url) as client:
            result = await client.submit(build(GenerationRequest(mode=Mode.T2V, prompt="made by a skill script")))
            assert result.task_id
            return result.task_id

    task_id = asyncio.run(create_task_elsewhere())
    assert qwentui(env, server, "import", task_id, "00000000-0000-4000-8000-000000000000", monkeypatch=monkeypatch) == 1
    captured = capsys.readouterr()
    assert f"task {task_id} -> job 1 (wan2.6-t2v)" in captured.out
    assert "does not know task" in captured.out + captured.err
    assert qwentui(env, server, "run", "--until-idle", "--quiet") == 0
    assert qwentui(env, None, "jobs", "--json") == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["state"] == "done" and row["task_id"] == task_id


def test_sim_subcommand_is_there(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["sim", "--help"])
    assert info.value.code == 0
    assert "--port" in capsys.readouterr().out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"qwentui {version('qwentui')}"


def test_reset_goes_with_demo(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--reset", "jobs"])
    assert info.value.code == 2
    assert "use it with --demo" in capsys.readouterr().err


def test_two_demo_processes_never_share_a_task_id(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Each `qwentui --demo` command runs its own in-process simulator; they must not hand out the same ids."""
    for prompt in ("a first fox", "a second fox"):
        assert main(["--demo", "submit", prompt]) == 0
    capsys.readouterr()
    assert main(["--demo", "jobs", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 2 and len({r["task_id"] for r in rows}) == 2 and all(r["task_id"] for r in rows)


# ---- a reader that stops early (`| head -1`) ends the command quietly, as for any Unix tool -------------------


@pytest.fixture
def many_jobs(env: Path) -> Path:
    """A database with more jobs than a pipe holds, so the writer is still writing when `head` goes away."""

    async def fill(db: Path) -> None:
        store = await Store.open(db)
        try:
            for i in range(1500):
                req = GenerationRequest(mode=Mode.T2I, prompt=f"a lighthouse at dusk, number {i} " + "x" * 60)
                await store.add_job(req.to_dict(), source="test")
        finally:
            await store.close()

    db = env / "many.db"
    asyncio.run(fill(db))
    return db


@pytest.mark.parametrize("command", [["jobs"], ["jobs", "--json"], ["show", "1"]])
def test_a_closed_pipe_ends_quietly(env: Path, many_jobs: Path, command: list[str]) -> None:
    lines = 2 if command[0] == "show" else 1
    qwentui_cmd = " ".join([sys.executable, "-m", "qwentui", "--db", str(many_jobs), *command])
    done = subprocess.run(
        f"{qwentui_cmd} | head -{lines}; exit ${{PIPESTATUS[0]}}",
        shell=True,
        executable="/bin/bash",
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "QWENTUI_HOME": str(env / "home")},
    )
    assert done.stderr == ""
    assert len(done.stdout.splitlines()) == lines
    assert done.returncode in (0, 141)


def test_a_reader_gone_before_the_first_write(env: Path, many_jobs: Path) -> None:
    """`show` writes little: close the pipe before it writes at all, so the broken pipe is certain."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "qwentui", "--db", str(many_jobs), "show", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "QWENTUI_HOME": str(env / "home")},
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141
    assert err == ""
