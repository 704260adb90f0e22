"""Secrets and files: a recognisable fake key goes through the whole app (CLI submit --wait, run, jobs, show
--json, an upload, a crash, a rejected key, the TUI with a screenshot) and is then searched for everywhere it
must never be: the database (raw bytes, -wal and -shm too), every log and output line, every file written,
the screen. Result URLs' signatures stay out of the logs; downloads never carry the key and fetch only http(s);
file names from the server cannot leave the output folder; the database and outputs are private (0600/0700).
"""

from __future__ import annotations

import json
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from qwentui.core.api import DashScopeClient
from qwentui.core.catalog import Mode
from qwentui.core.config import ApiKey
from qwentui.core.download import DownloadError, download, make_download_client
from qwentui.core.engine import Engine
from qwentui.core.limiter import RateLimiter
from qwentui.core.requests import GenerationRequest
from qwentui.core.states import JobState
from qwentui.core.store import Store
from qwentui.sim import SimConfig, Simulator, create_app
from tests.faults.helpers import LoopbackServer, RecordingApp, engine_cmd, engine_env, sample_png
from tests.helpers import engine_config, poll_until

pytestmark = pytest.mark.slow  # not in `dev.py test --fast`: a fault suite

CANARY = "sk-CANARY0123456789abcdef0123456789"
NEEDLES = [CANARY.encode(), CANARY[3:].encode(), CANARY[3:].encode("utf-16-le"), b"CANARY0123456789"]


def leaks(data: bytes) -> list[str]:
    return [n.decode("latin-1") for n in NEEDLES if n in data]


def files_under(*roots: Path) -> Iterator[Path]:
    for root in roots:
        if root.is_file():
            yield root
        elif root.exists():
            yield from (p for p in root.rglob("*") if p.is_file())


@pytest.fixture
def recorded() -> Iterator[tuple[LoopbackServer, Simulator, RecordingApp]]:
    sim = Simulator(SimConfig(seed=9, pending_seconds=0.2, running_seconds=0.4, task_query_qps=None, api_keys={CANARY}))
    recorder = RecordingApp(create_app(sim=sim))
    with LoopbackServer(recorder) as server:
        yield server, sim, recorder


def _run(cmd: list[str], env: dict[str, str], log: list[bytes], timeout: float = 120) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, env=env, capture_output=True, timeout=timeout)
    log += [done.stdout, done.stderr]
    return done


@pytest.mark.slow
def test_the_key_appears_nowhere_after_a_full_run(
    tmp_path: Path, recorded: tuple[LoopbackServer, Simulator, RecordingApp]
) -> None:
    server, sim, recorder = recorded
    data, home, out = tmp_path / "data", tmp_path / "home", tmp_path / "out"
    db = data / "jobs.db"
    env = engine_env(home, key=CANARY)
    photo = sample_png(tmp_path / "photo.png")
    log: list[bytes] = []

    def qwentui(*args: str, **extra: str) -> subprocess.CompletedProcess:
        return _run(engine_cmd(db, out, server.base_url, *args, verbose=True), {**env, **extra}, log)

    # a job all the way through, an upload of a local file, interleaved text, a sync call
    assert qwentui("submit", "a red fox in snow", "--wait").returncode == 0, log[-1]
    assert qwentui("submit", "--mode", "i2v", "--image", str(photo), "the cat turns", "--wait").returncode == 0, log[-1]
    assert qwentui("submit", "--mode", "interleave", "a recipe", "--wait", "--print-json").returncode == 0, log[-1]
    assert qwentui("submit", "--model", "qwen-image-2.0", "a sync call", "--wait").returncode == 0, log[-1]
    # a crash right after the POST (the process is killed: whatever it printed is kept), then the restart
    crashed = qwentui("submit", "killed after the POST", QWENTUI_CRASHPOINT="after_post")
    assert crashed.returncode < 0
    assert qwentui("run", "--until-idle").returncode == 0, log[-1]
    # the reading commands
    for args in (("jobs",), ("jobs", "--json"), ("show", "1"), ("show", "1", "--json"), ("show", "2"), ("usage",)):
        assert qwentui(*args).returncode == 0, (args, log[-1])
    assert json.loads(_last_json(log)), "show --json printed JSON"
    # the key refused mid-way: the error is printed, the key is not
    sim.config.revoked = True
    refused = qwentui("submit", "after the key was revoked", "--wait")
    sim.config.revoked = False
    assert refused.returncode != 0 and b"qwentui: error:" in refused.stderr

    places = {f"log {i}": chunk for i, chunk in enumerate(log)}
    places |= {str(p): p.read_bytes() for p in files_under(data, home, out)}
    assert any(p.endswith("jobs.db-wal") or p.endswith("jobs.db") for p in places)
    found = {where: leaks(blob) for where, blob in places.items() if leaks(blob)}
    assert found == {}, f"the key leaked into: {sorted(found)}"
    # signed result URLs are credentials too: never in a log line (the database keeps them to download)
    for i, chunk in enumerate(log):
        assert b"Signature=" not in chunk, f"a signed URL was logged (output {i}): {_around(chunk, b'Signature=')}"
    # the result host and the upload host never saw the key
    for method, path, headers in recorder.requests:
        if path.startswith(("/files/", "/oss")):
            assert "authorization" not in headers, (method, path)
        assert CANARY not in json.dumps(headers) or headers.get("authorization") == f"Bearer {CANARY}"
    assert recorder.file_requests(), "results were downloaded from the result host"


def _last_json(log: list[bytes]) -> str:
    for chunk in reversed(log):
        text = chunk.decode(errors="replace").strip()
        if text.startswith("{"):
            return text
    raise AssertionError("no JSON output")


def _around(blob: bytes, needle: bytes, width: int = 120) -> str:
    at = blob.find(needle)
    return blob[max(0, at - width) : at + width].decode(errors="replace")


@pytest.mark.slow
def test_files_and_folders_are_private(
    tmp_path: Path, recorded: tuple[LoopbackServer, Simulator, RecordingApp]
) -> None:
    server, _sim, _recorder = recorded
    data, home, out = tmp_path / "data" / "deeper", tmp_path / "home", tmp_path / "out" / "deeper"
    db = data / "jobs.db"
    env = engine_env(home, key=CANARY)
    for args in (("submit", "a fox", "--wait"), ("submit", "--mode", "interleave", "a recipe", "--wait")):
        done = subprocess.run(engine_cmd(db, out, server.base_url, *args), env=env, capture_output=True, timeout=120)
        assert done.returncode == 0, done.stderr
    created_dirs = [tmp_path / "data", data, tmp_path / "out", out]
    for folder in created_dirs:
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    for name in ("jobs.db", "jobs.db-wal", "jobs.db-shm"):
        path = data / name
        if path.exists():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    outputs = [p for p in out.iterdir() if p.is_file()]
    assert outputs and any(p.suffix == ".md" for p in outputs)
    for path in outputs:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


# ---- in-process checks ------------------------------------------------------------------------------------


async def test_a_server_echoing_the_key_in_an_error_is_masked_before_it_is_stored(tmp_path: Path, store: Store) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        echoed = request.headers.get("authorization", "")
        return httpx.Response(
            400,
            json={"code": "InvalidParameter", "request_id": "r1", "message": f"bad header {echoed!r}; key={CANARY}"},
        )

    client = DashScopeClient(
        ApiKey(CANARY, "test"),
        "http://api.test/api/v1",
        transport=httpx.MockTransport(handler),
        limiter=RateLimiter(rate=1000.0),
    )
    eng = Engine(store, client, engine_config(tmp_path))
    await eng.start()
    try:
        job = await eng.add(GenerationRequest(mode=Mode.T2I, prompt="a fox"))
        (job,) = await eng.wait_for([job.id], timeout=20)
    finally:
        await eng.stop()
        await client.aclose()
    assert job.state is JobState.REJECTED and "bad header" in (job.error_message or "")
    assert CANARY not in (job.error_message or "") and CANARY[3:] not in (job.error_message or "")
    await store.checkpoint()
    for name in ("jobs.db", "jobs.db-wal", "jobs.db-shm"):
        path = tmp_path / name
        if path.exists():
            assert not leaks(path.read_bytes()), name


async def test_the_key_object_never_shows_itself() -> None:
    key = ApiKey(CANARY, "DASHSCOPE_API_KEY")
    client = DashScopeClient(
        key, "http://api.test/api/v1", transport=httpx.MockTransport(lambda r: httpx.Response(200))
    )
    try:
        for text in (str(key), repr(key), f"{key}", repr(client.__dict__), json.dumps(vars(client), default=str)):
            assert CANARY not in text and CANARY[3:] not in text
    finally:
        await client.aclose()


def streamed(status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> httpx.Response:
    """A response whose body arrives as a stream, as from a socket (the download counts the bytes it reads)."""
    return httpx.Response(
        status, headers={"Content-Length": str(len(body)), **(headers or {})}, stream=httpx.ByteStream(body)
    )


def _file_host(routes: dict[str, tuple[int, bytes, dict[str, str]]]) -> tuple[httpx.AsyncClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return streamed(*routes.get(request.url.path, (404, b"", {})))

    return make_download_client(transport=httpx.MockTransport(handler)), seen


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://files.test/x.png",
        "gopher://files.test/x",
        "data:image/png;base64,AAAA",
        "/etc/passwd",
        "files.test/x.png",
        "http:///x.png",
    ],
)
async def test_downloads_refuse_anything_but_http_and_https(tmp_path: Path, url: str) -> None:
    client, seen = _file_host({})
    async with client:
        with pytest.raises(DownloadError) as info:
            await download(client, url, tmp_path / "1_1.png")
    assert not info.value.retryable
    assert not seen and not list(tmp_path.iterdir())


@pytest.mark.parametrize("location", ["file:///etc/passwd", "ftp://files.test/x", "file:/etc/shadow"])
async def test_a_redirect_to_a_local_file_is_refused(tmp_path: Path, location: str) -> None:
    client, seen = _file_host({"/x.png": (302, b"", {"Location": location})})
    async with client:
        with pytest.raises(DownloadError) as info:
            await download(client, "https://files.test/x.png?Expires=9999999999&Signature=abc", tmp_path / "1_1.png")
    assert not info.value.retryable
    assert [r.url.path for r in seen] == ["/x.png"]
    assert not list(tmp_path.iterdir())
    assert "Signature" not in str(info.value)


async def test_the_download_client_never_sends_the_key_even_when_asked_to(tmp_path: Path) -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 32
    client, seen = _file_host(
        {
            "/x.png": (302, b"", {"Location": "https://other.test/y.png"}),
            "/y.png": (200, png, {"Content-Type": "image/png"}),
        }
    )
    async with client:
        client.headers["Authorization"] = f"Bearer {CANARY}"  # a caller that got it wrong
        client.cookies.set("session", CANARY)
        got = await download(client, "https://files.test/x.png", tmp_path / "1_1.png")
    assert got.size == len(png)
    for request in seen:
        assert "authorization" not in request.headers and CANARY not in str(request.headers.raw)


async def test_a_server_supplied_name_cannot_leave_the_output_folder(tmp_path: Path, store: Store) -> None:
    """The result URL and the file host's headers name `../../etc/x`: the file is `<job>_1.png` in the output
    folder, and nothing is written anywhere else."""
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
    evil = "http://files.test/a/..%2F..%2F..%2Fetc/../../../../../etc/x?Expires=9999999999&Signature=s"

    def api(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(200, json={"request_id": "r", "output": {"task_id": "t-1", "task_status": "PENDING"}})
        return httpx.Response(
            200,
            json={
                "request_id": "r",
                "output": {
                    "task_id": "t-1",
                    "task_status": "SUCCEEDED",
                    "results": [{"url": evil}, {"url": evil + "&n=2"}],
                },
            },
        )

    def files(request: httpx.Request) -> httpx.Response:
        return streamed(
            200, png, {"Content-Type": "image/png", "Content-Disposition": 'attachment; filename="../../etc/x"'}
        )

    out = tmp_path / "work" / "out"
    client = DashScopeClient(
        ApiKey(CANARY, "test"),
        "http://api.test/api/v1",
        transport=httpx.MockTransport(api),
        limiter=RateLimiter(rate=1000.0),
    )
    http = make_download_client(transport=httpx.MockTransport(files))
    eng = Engine(store, client, engine_config(tmp_path, output_dir=out), download_http=http)
    await eng.start()
    try:
        job = await eng.add(GenerationRequest(mode=Mode.T2I, prompt="a fox", n=2))
        (job,) = await eng.wait_for([job.id], timeout=20)
    finally:
        await eng.stop()
        await http.aclose()
        await client.aclose()
    assert job.state is JobState.DONE, job.error_message
    written = sorted(p.relative_to(tmp_path / "work") for p in (tmp_path / "work").rglob("*") if p.is_file())
    assert written == [Path("out") / f"{job.id}_1.png", Path("out") / f"{job.id}_2.png"], written
    assert not (tmp_path / "etc").exists() and not Path("/etc/x").exists()


# ---- the TUI ----------------------------------------------------------------------------------------------


async def test_the_tui_never_shows_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from qwentui.core.config import Paths
    from qwentui.core.schedule import SchedulePolicy
    from qwentui.runtime import Context
    from qwentui.tui.app import QwenApp
    from qwentui.tui.image_backend import HALFBLOCK
    from qwentui.tui.screens.details import DetailsScreen
    from qwentui.tui.screens.main import MainScreen

    monkeypatch.setenv("QWENTUI_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("QWENTUI_IMAGE_RENDERER", "halfblock")
    monkeypatch.setenv("DASHSCOPE_API_KEY", CANARY)
    sim_app = create_app(
        SimConfig(seed=2, pending_seconds=0.1, running_seconds=0.2, public_url="http://sim.local", api_keys={CANARY})
    )
    transport = httpx.ASGITransport(app=sim_app)
    client = DashScopeClient(ApiKey(CANARY, "DASHSCOPE_API_KEY"), "http://sim.local/api/v1", transport=transport)
    paths = Paths(
        db=tmp_path / "jobs.db", output=tmp_path / "out", drop=tmp_path / "drop", settings=tmp_path / "settings.toml"
    )
    store = await Store.open(paths.db)
    engine = Engine(
        store,
        client,
        engine_config(tmp_path, output_dir=paths.output, policy=SchedulePolicy(interval=0.05, time_scale=0.01)),
        download_http=make_download_client(transport=transport),
    )
    await engine.start()
    context = Context(paths, store, client, engine, demo=False, endpoint="http://sim.local/api/v1")
    app = QwenApp(context=context, backend=HALFBLOCK)
    screens: list[str] = []
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            job = await engine.add(GenerationRequest(mode=Mode.T2I, prompt="a fox for the screen"))
            await engine.wait_for([job.id], timeout=30)

            async def on_screen(text: str) -> None:
                """Wait until `text` is drawn, keeping the last screenshot (the app runs while the test waits)."""

                def drawn() -> bool:
                    shot = app.export_screenshot()
                    found = text in shot.replace("&#160;", " ")
                    if found:
                        screens.append(shot)
                    return found

                await poll_until(drawn, timeout=60, what=f"{text!r} on the screen", interval=0.1, nap=pilot.pause)

            await poll_until(
                lambda: isinstance(app.screen, MainScreen) and job.id in app.screen.table.jobs,
                timeout=60,
                what="the job in the table",
                nap=pilot.pause,
            )
            await on_screen("a fox for the screen")
            await app.push_screen(DetailsScreen(store, job.id))
            await on_screen("a fox for the screen")
            app.pop_screen()
            sim_app.state.sim.config.revoked = True  # the key refused: the pause is on screen
            await engine.add(GenerationRequest(mode=Mode.T2I, prompt="refused"))
            await poll_until(lambda: engine.pause is not None, timeout=60, what="the pause", nap=pilot.pause)
            # the status bar shows the reason when it fits, else the pause alone: either way that screen is checked
            await on_screen("paused")
    finally:
        await engine.stop()
        await client.aclose()
        await store.close()
    for svg in screens:
        assert not leaks(svg.encode()), "the key is on the screen"
    for path in files_under(tmp_path):
        assert not leaks(path.read_bytes()), path


def test_every_folder_qwentui_creates_in_its_home_is_private(tmp_path: Path) -> None:
    home = tmp_path / "home"
    done = subprocess.run(
        engine_cmd(tmp_path / "data" / "jobs.db", tmp_path / "out", "http://127.0.0.1:9", "run", "--until-idle"),
        env=engine_env(home, key=CANARY),
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    folders = [home, *(p for p in home.rglob("*") if p.is_dir())]
    assert len(folders) > 1
    loose = [f"{stat.S_IMODE(p.stat().st_mode):o} {p}" for p in folders if stat.S_IMODE(p.stat().st_mode) != 0o700]
    assert loose == []
