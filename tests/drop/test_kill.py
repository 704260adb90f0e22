"""kill -9 of a real process while drops are in `.processing/`: the restart finishes them, submitting nothing twice.

The simulator runs on loopback (uvicorn in a thread of this test), so its records of what was submitted
survive the worker process; the worker is `drop_worker.py` (the CLI context plus `start_drop_service`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from qwentui.sim import SimConfig, running
from tests.drop.helpers import colour, names, submitted_shas, write_png
from tests.helpers import wait_for

WORKER = Path(__file__).with_name("drop_worker.py")
ROOT = Path(__file__).resolve().parents[2]
FILES = 6


def start_worker(tmp: Path, api_url: str, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "QWEN_API_KEY": "test-key",
        "QWENTUI_DROP": str(tmp / "drop"),
        "QWENTUI_SETTINGS": str(tmp / "settings.toml"),
        "PYTHONPATH": str(ROOT),
    }
    env.pop("DASHSCOPE_API_KEY", None)
    cmd = [
        sys.executable,
        str(WORKER),
        "--db",
        str(tmp / "jobs.db"),
        "--output",
        str(tmp / "out"),
        "--base-url",
        api_url,
    ]
    return subprocess.Popen(cmd, env=env, cwd=tmp, stdout=log.open("ab"), stderr=subprocess.STDOUT)


def wait(check: Callable[[], object], timeout: float, what: str, proc: subprocess.Popen[bytes]) -> None:
    """Wait for `check`, failing at once if the worker process ends first."""

    def holds() -> object:
        assert proc.poll() is None, f"the worker exited ({proc.returncode}) while waiting for {what}"
        return check()

    wait_for(holds, timeout=timeout, what=what)


@pytest.mark.slow
@pytest.mark.parametrize("kill_when", ["first_claim", "after_submits"])
def test_sigkill_with_files_in_processing_then_restart_finishes_them_once(tmp_path: Path, kill_when: str) -> None:
    (tmp_path / "settings.toml").write_text(
        '[drop]\nquiet = 0.2\nrescan = 5\n\n[[drop.rules]]\nname = "edit"\nmode = "edit"\n'
        'model = "wan2.6-image"\nprompt = "paint it like a watercolour"\n'
    )
    folder = tmp_path / "drop" / "edit"
    folder.mkdir(parents=True)
    shas = [write_png(folder / f"pic{i}.png", colour(i * 40)) for i in range(FILES)]
    log = tmp_path / "worker.log"
    config = SimConfig(pending_seconds=4.0, running_seconds=0.5, seed=1, task_query_qps=None)
    with running(config) as server:
        first = start_worker(tmp_path, server.api_url, log)
        try:
            if kill_when == "first_claim":
                wait(lambda: names(folder / ".processing"), 60, "a claim", first)
            else:
                wait(lambda: len(server.sim.submissions) >= FILES // 2, 60, "submissions", first)
            os.kill(first.pid, signal.SIGKILL)
            first.wait(10)
        finally:
            if first.poll() is None:
                first.kill()
        assert first.returncode == -signal.SIGKILL
        assert names(folder / ".processing"), "the kill came too late to leave anything in .processing/"
        before = sum(submitted_shas(server.sim).values())

        second = start_worker(tmp_path, server.api_url, log)
        try:
            # the dead worker's engine lease must expire first (15 s), then everything is finished
            wait(
                lambda: {f"pic{i}.png" for i in range(FILES)} <= names(folder / "done"),
                120,
                "every picture in done/",
                second,
            )
            wait(lambda: not names(folder / ".processing"), 30, ".processing/ empty", second)
        finally:
            second.send_signal(signal.SIGTERM)
            try:
                second.wait(15)
            except subprocess.TimeoutExpired:
                second.kill()
        counts = submitted_shas(server.sim)
    assert counts == {sha: 1 for sha in shas}, log.read_text()[-3000:]
    assert before <= FILES
    assert names(folder / "duplicates") == names(folder / "failed") == set()
