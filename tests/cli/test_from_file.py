"""The way back from a file: `qwentui submit --from FILE` restores the request an output was made with, and
`qwentui show --file FILE` finds the job that made it, for PNG, JPEG, WebP and MP4 outputs and their sidecars."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from qwentui.cli import build_parser, main
from qwentui.cli.submit import request_from_args
from qwentui.core import provenance
from qwentui.core.catalog import Mode
from qwentui.core.requests import GenerationRequest
from qwentui.core.store import Job, Store
from qwentui.sim import BackgroundServer, SimConfig, running
from qwentui.sim.media import MediaSpec, render

KEY = "sk-fromfile0000000000000000000000000"
IMAGE = GenerationRequest(
    mode=Mode.T2I,
    model="wan2.6-t2i",
    prompt="a lighthouse at dusk, oil on canvas",
    negative_prompt="text, watermark",
    size="1280*1280",
    seed=4242,
    prompt_extend=False,
)
VIDEO = GenerationRequest(mode=Mode.T2V, model="wan2.6-t2v", prompt="waves on rocks", duration=5, seed=77)


@pytest.fixture(scope="module")
def server() -> Iterator[BackgroundServer]:
    with running(SimConfig(pending_seconds=0.05, running_seconds=0.1, seed=3, task_query_qps=None)) as srv:
        yield srv


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for var in ("QWEN_API_KEY", "QWEN_BASE_URL", "QWEN_REGION", "QWENTUI_DB"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("DASHSCOPE_API_KEY", KEY)
    monkeypatch.setenv("QWENTUI_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)  # no stray .env is read
    return tmp_path


def qwentui(env: Path, server: BackgroundServer, *args: str) -> int:
    base = ["--db", str(env / "jobs.db"), "--output", str(env / "out"), "--time-scale", "0.01"]
    return main([*base, "--base-url", server.base_url, *args])


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("qwentui: error:")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def jobs_of(env: Path) -> list[Job]:
    async def read() -> list[Job]:
        async with await Store.open(env / "jobs.db") as store:
            return sorted(await store.list_jobs(limit=100), key=lambda j: j.id)

    return asyncio.run(read())


def submit_and_wait(
    env: Path, server: BackgroundServer, request: GenerationRequest, capsys: pytest.CaptureFixture[str]
) -> Path:
    assert qwentui(env, server, "submit", "--json", request.to_json(), "--wait") == 0
    (line,) = capsys.readouterr().out.strip().splitlines()
    return Path(line)


def from_file(path: Path, *flags: str) -> GenerationRequest:
    return request_from_args(build_parser().parse_args(["submit", "--from", str(path), *flags]))


def tagged_copy(source: Path, dest: Path, fmt: str) -> Path:
    """A JPEG or WebP with the record of the qwentui output `source` (the simulator only makes PNG and MP4)."""
    with Image.open(source) as img:
        img.convert("RGB").save(dest, fmt)
    provenance.write(dest, provenance.read(source))
    return dest


def test_submit_from_an_output_recreates_the_request_in_every_format(
    env: Path, server: BackgroundServer, capsys: pytest.CaptureFixture[str]
) -> None:
    png = submit_and_wait(env, server, IMAGE, capsys)
    mp4 = submit_and_wait(env, server, VIDEO, capsys)
    image_job, video_job = jobs_of(env)
    assert (png.suffix, mp4.suffix) == (".png", ".mp4")
    files = {
        "png": (png, image_job),
        "jpeg": (tagged_copy(png, env / "copy.jpg", "JPEG"), image_job),
        "webp": (tagged_copy(png, env / "copy.webp", "WEBP"), image_job),
        "mp4": (mp4, video_job),
        "sidecar": (provenance.write_sidecar(png, provenance.read(png)), image_job),
    }
    for name, (path, job) in files.items():
        restored = from_file(path)
        assert restored == GenerationRequest.from_dict(job.request), name
        assert restored == (VIDEO if job is video_job else IMAGE), name


def test_submit_from_sends_the_same_request_again(
    env: Path, server: BackgroundServer, capsys: pytest.CaptureFixture[str]
) -> None:
    png = submit_and_wait(env, server, IMAGE, capsys)
    assert qwentui(env, server, "submit", "--from", str(png), "--wait") == 0
    again = Path(capsys.readouterr().out.strip())
    first, second = jobs_of(env)
    assert second.request == first.request and second.id != first.id
    assert provenance.read(again).to_request() == IMAGE
    # the same seed and prompt: the simulator renders the same picture
    with Image.open(png) as a, Image.open(again) as b:
        assert a.tobytes() == b.tobytes()


def test_flags_change_a_restored_request(
    env: Path, server: BackgroundServer, capsys: pytest.CaptureFixture[str]
) -> None:
    png = submit_and_wait(env, server, IMAGE, capsys)
    changed = from_file(png, "--seed", "7", "--prompt", "a lighthouse at dawn")
    assert (changed.seed, changed.prompt) == (7, "a lighthouse at dawn")
    assert changed.negative_prompt == IMAGE.negative_prompt and changed.size == IMAGE.size


def test_show_file_finds_the_job(env: Path, server: BackgroundServer, capsys: pytest.CaptureFixture[str]) -> None:
    png = submit_and_wait(env, server, IMAGE, capsys)
    (job,) = jobs_of(env)
    assert qwentui(env, server, "show", "--file", str(png)) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"job {job.id}  done") and "seed:   4242" in out and str(png) in out
    side = provenance.write_sidecar(png, provenance.read(png))
    assert qwentui(env, server, "show", "--file", str(side), "--json") == 0
    assert f'"id": {job.id}' in capsys.readouterr().out


def test_show_says_when_the_seed_is_not_known(
    env: Path, server: BackgroundServer, capsys: pytest.CaptureFixture[str]
) -> None:
    submit_and_wait(env, server, GenerationRequest(mode=Mode.T2I, prompt="no seed given"), capsys)
    (job,) = jobs_of(env)
    assert qwentui(env, server, "show", str(job.id)) == 0
    assert "seed:   not known (the service chose it; give --seed to repeat a result)" in capsys.readouterr().out


def test_files_from_elsewhere_give_one_clear_line(
    env: Path, server: BackgroundServer, capsys: pytest.CaptureFixture[str]
) -> None:
    foreign = env / "holiday.png"
    foreign.write_bytes(render(MediaSpec("png", 32, 32, "x", 1)))
    assert qwentui(env, server, "submit", "--from", str(foreign)) == 1
    assert "holiday.png carries no qwentui record" in one_error_line(capsys.readouterr().err)
    assert qwentui(env, server, "show", "--file", str(foreign)) == 1
    assert "carries no qwentui record" in one_error_line(capsys.readouterr().err)

    broken = env / "broken.png"
    broken.write_bytes(foreign.read_bytes()[:40])
    assert qwentui(env, server, "submit", "--from", str(broken)) == 1
    assert "broken.png is damaged" in one_error_line(capsys.readouterr().err)

    # a qwentui output, but from another database: the request is still there to send again
    stranger = env / "7_1.png"
    stranger.write_bytes(foreign.read_bytes())
    provenance.write(stranger, provenance.Provenance(7, 1, "t2i", "wan2.6-t2i", "x", IMAGE.to_dict(), task_id="t-9"))
    assert qwentui(env, server, "show", "--file", str(stranger)) == 1
    line = one_error_line(capsys.readouterr().err)
    assert "made by job 7 (task t-9) of another qwentui database" in line and "submit --from" in line
    assert from_file(stranger) == IMAGE

    assert qwentui(env, server, "submit", "--from", str(stranger), "--json", "{}") == 1
    assert "not both" in one_error_line(capsys.readouterr().err)
    assert qwentui(env, server, "show") == 1
    assert "give a job id or --file FILE" in one_error_line(capsys.readouterr().err)
    assert jobs_of(env) == []  # nothing was sent
