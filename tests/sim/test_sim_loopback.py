"""The simulator on a real socket (uvicorn in a thread): dropped and truncated connections as clients see
them, a urllib client like the skill scripts, uploads through the advertised host, and the CLI."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from qwentui.core.catalog import Mode, lookup
from qwentui.core.requests import GenerationRequest, build
from qwentui.sim import BackgroundServer, SimConfig, running
from tests.helpers import wait_for
from tests.sim.helpers import API, ASYNC, AUTH, minimal_request, probe_mp4, result_urls

T2I = lookup("wan2.5-t2i-preview", Mode.T2I)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def server() -> Iterator[BackgroundServer]:
    with running(SimConfig(seed=5, pending_seconds=0.0, running_seconds=0.0, task_query_qps=None)) as srv:
        yield srv


def wait_done(client: httpx.Client, task_id: str) -> dict[str, object]:
    seen: list[dict[str, object]] = []

    def final() -> bool:
        seen.append(client.get(f"{API}/tasks/{task_id}", headers=AUTH).json())
        return seen[-1]["output"]["task_status"] in ("SUCCEEDED", "FAILED")  # type: ignore[index]

    wait_for(final, timeout=30, what=f"task {task_id} to finish", interval=0.01)
    return seen[-1]


def test_end_to_end_over_a_socket(server: BackgroundServer) -> None:
    wire = build(minimal_request(lookup("wan2.6-t2v", Mode.T2V)))
    with httpx.Client(base_url=server.base_url) as client:
        resp = client.post(API + wire.route.value, json=wire.body, headers=ASYNC)
        assert resp.status_code == 200
        body = wait_done(client, resp.json()["output"]["task_id"])
        url = result_urls(body["output"])[0]  # type: ignore[arg-type]
        assert url.startswith(server.base_url + "/files/")
        data = client.get(url).content
    assert probe_mp4(data)[:2] == (1280, 720)


# A closed socket reads as "server disconnected" or, when the close races the request's last bytes, as a reset.
DROPPED = (httpx.RemoteProtocolError, httpx.ReadError)


def test_drops_are_connection_errors(server: BackgroundServer) -> None:
    wire = build(minimal_request(T2I, prompt="dropped"))
    with httpx.Client(base_url=server.base_url) as client:
        server.sim.config.drop_before_rate = 1.0
        with pytest.raises(DROPPED):
            client.post(API + wire.route.value, json=wire.body, headers=ASYNC)
        assert not server.sim.tasks()
        server.sim.config.drop_before_rate = 0.0
        server.sim.config.drop_after_rate = 1.0
        with pytest.raises(DROPPED):
            client.post(API + wire.route.value, json=wire.body, headers=ASYNC)
        assert len(server.sim.find_tasks(prompt="dropped")) == 1
        server.sim.config.drop_after_rate = 0.0
        assert client.get(f"{API}/tasks", headers=AUTH).json()["total"] == 1  # the server survived both


def test_truncated_download_over_a_socket(server: BackgroundServer) -> None:
    wire = build(minimal_request(T2I))
    with httpx.Client(base_url=server.base_url) as client:
        task_id = client.post(API + wire.route.value, json=wire.body, headers=ASYNC).json()["output"]["task_id"]
        url = result_urls(wait_done(client, task_id)["output"])[0]  # type: ignore[arg-type]
        server.sim.config.truncate_rate = 1.0
        received = 0
        with pytest.raises(httpx.RemoteProtocolError), client.stream("GET", url) as resp:
            expected = int(resp.headers["content-length"])
            for chunk in resp.iter_bytes():
                received += len(chunk)
        assert 0 < received < expected
        server.sim.config.truncate_rate = 0.0
        assert client.get(url).status_code == 200


def test_urllib_client_like_the_skill_scripts(server: BackgroundServer) -> None:
    """Title-cased headers (urllib), a trailing slash, getPolicy + upload to the advertised host."""
    body = json.dumps(
        {
            "model": "qwen-image-plus",
            "input": {"prompt": "poster"},
            "parameters": {"n": 1, "size": "1664*928", "prompt_extend": True, "watermark": False},
        }
    )
    req = urllib.request.Request(
        server.api_url + "/services/aigc/text2image/image-synthesis/",
        data=body.encode(),
        headers={"Content-Type": "application/json", "Authorization": "Bearer k", "X-DashScope-Async": "enable"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert json.load(resp)["output"]["task_status"] == "PENDING"
    assert server.sim.submissions[-1].headers["x-dashscope-async"] == "enable"
    with httpx.Client() as client:
        policy = client.get(
            server.api_url + "/uploads", params={"action": "getPolicy", "model": "wan2.6-i2v"}, headers=AUTH
        ).json()["data"]
        assert policy["upload_host"] == server.base_url + "/oss"
        key = policy["upload_dir"] + "/frame.png"
        fields = {
            "OSSAccessKeyId": policy["oss_access_key_id"],
            "Signature": policy["signature"],
            "policy": policy["policy"],
            "key": key,
            "success_action_status": "200",
        }
        resp = client.post(policy["upload_host"], data=fields, files={"file": ("frame.png", b"png", "image/png")})
        assert resp.status_code == 200
        wire = build(GenerationRequest(mode=Mode.I2V, model="wan2.6-i2v", prompt="go", images=[f"oss://{key}"]))
        resp = client.post(
            server.api_url + wire.route.value,
            json=wire.body,
            headers={**ASYNC, "X-DashScope-OssResourceResolve": "enable"},
        )
        assert resp.status_code == 200, resp.text


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_cli_flags_build_the_config() -> None:
    import argparse

    from qwentui.cli.sim import add_parser, config_from_args

    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    args = parser.parse_args(
        [
            "sim",
            "--port",
            "9",
            "--time-scale",
            "0.01",
            "--failure-rate",
            "0.2",
            "--rate-limit",
            "5",
            "--seed",
            "3",
            "--storm-window",
            "10:20",
            "--api-key",
            "a",
            "--drop-after-rate",
            "0.1",
            "--truncate-rate",
            "0.3",
            "--quota-exhausted",
        ]
    )
    cfg = config_from_args(args)
    assert (cfg.time_scale, cfg.failure_rate, cfg.task_query_qps, cfg.seed) == (0.01, 0.2, 5.0, 3)
    assert cfg.storm_windows == [(10.0, 20.0)] and cfg.api_keys == frozenset({"a"})
    assert (cfg.drop_after_rate, cfg.truncate_rate, cfg.quota_exhausted) == (0.1, 0.3, True)
    assert config_from_args(parser.parse_args(["sim", "--rate-limit", "0"])).task_query_qps is None


@pytest.mark.slow
def test_cli_serves(tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "qwentui.cli.sim", "sim", "--port", str(port), "--time-scale", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    answers: list[httpx.Response] = []

    def answered() -> bool:
        try:
            answers.append(httpx.get(f"http://127.0.0.1:{port}/api/v1/tasks/abc", headers=AUTH, timeout=1))
        except httpx.TransportError:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            return False
        return True

    try:
        wait_for(answered, timeout=60, what="qwentui sim to answer", interval=0.1)
        assert answers[-1].json()["output"]["task_status"] == "UNKNOWN"
    finally:
        proc.terminate()
        proc.wait(10)
