"""Bad input everywhere: whatever a server answers (random JSON, wrong shapes, wrong statuses and content types,
bodies cut short, bytes that are not text, connections that break) the real `DashScopeClient` ends in a parsed
result or a typed qwentui error, never another exception. And untrusted text (prompts, file names, server
messages) that looks like Rich markup is shown as typed by the CLI and the TUI, and triggers nothing.

(Request validation and `parse_task` on its own are covered in tests/core/test_properties.py.)
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from qwentui.core.api import DashScopeClient
from qwentui.core.catalog import Mode
from qwentui.core.config import ApiKey
from qwentui.core.errors import QwentuiError
from qwentui.core.limiter import RateLimiter
from qwentui.core.requests import GenerationRequest, WireRequest, build
from qwentui.core.results import TaskPage, TaskResult
from tests.helpers import poll_until

KEY = "sk-test0000000000000000000000000000"
BASE = "http://api.test/api/v1"
FAST = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ---- what a broken server can say ---------------------------------------------------------------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
)
anything = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)
# values that are plausible for the field they land in, mixed with anything at all
text_or_any = st.one_of(
    st.text(max_size=60),
    st.sampled_from(
        [
            "",
            "PENDING",
            "RUNNING",
            "SUCCEEDED",
            "FAILED",
            "CANCELED",
            "UNKNOWN",
            "http://x/y.png",
            "https://x/y.mp4?Expires=1",
            "ftp://x",
            "[bold]x",
        ]
    ),
    anything,
)

pytestmark = pytest.mark.slow  # not in `dev.py test --fast`: a fault suite
number_or_any = st.one_of(st.integers(min_value=-5, max_value=10**15), st.floats(allow_nan=True), anything)


def partial(keys: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """Dicts with any subset of `keys` (each value from its strategy), sometimes with a stray key."""
    return st.fixed_dictionaries({}, optional=keys) | st.dictionaries(st.sampled_from(sorted(keys)), anything)


result_item = partial(
    {
        "url": text_or_any,
        "code": text_or_any,
        "message": text_or_any,
        "orig_prompt": text_or_any,
        "actual_prompt": text_or_any,
    }
)
content_part = partial({"image": text_or_any, "text": text_or_any, "type": text_or_any})
choice = partial(
    {
        "message": partial({"role": text_or_any, "content": st.lists(content_part, max_size=3) | anything}),
        "finish_reason": text_or_any,
    }
)
output = partial(
    {
        "task_id": text_or_any,
        "task_status": text_or_any,
        "results": st.lists(result_item, max_size=3) | anything,
        "video_url": text_or_any,
        "choices": st.lists(choice, max_size=2) | anything,
        "code": text_or_any,
        "message": text_or_any,
        "submit_time": text_or_any,
        "end_time": text_or_any,
        "actual_prompt": text_or_any,
        "task_metrics": partial({"TOTAL": number_or_any, "SUCCEEDED": number_or_any, "FAILED": number_or_any}),
    }
)
usage = partial(
    {
        "image_count": number_or_any,
        "video_duration": number_or_any,
        "duration": number_or_any,
        "video_ratio": text_or_any,
        "size": text_or_any,
        "width": number_or_any,
        "height": number_or_any,
    }
)
task_body = partial(
    {
        "output": output | anything,
        "usage": usage | anything,
        "request_id": text_or_any,
        "code": text_or_any,
        "message": text_or_any,
    }
)
list_row = partial(
    {
        "task_id": text_or_any,
        "status": text_or_any,
        "task_status": text_or_any,
        "model_name": text_or_any,
        "gmt_create": number_or_any,
        "start_time": number_or_any,
        "end_time": number_or_any,
        "request_id": text_or_any,
    }
)
list_body = partial(
    {
        "data": st.lists(list_row, max_size=4) | anything,
        "tasks": st.lists(list_row, max_size=2),
        "total": number_or_any,
        "total_page": number_or_any,
        "page_no": number_or_any,
        "page_size": number_or_any,
        "output": anything,
        "request_id": text_or_any,
    }
)
policy_body = partial(
    {
        "data": partial(
            {
                "upload_host": text_or_any,
                "upload_dir": text_or_any,
                "policy": text_or_any,
                "signature": text_or_any,
                "oss_access_key_id": text_or_any,
                "x_oss_object_acl": text_or_any,
                "x_oss_forbid_overwrite": text_or_any,
            }
        )
        | anything,
        "request_id": text_or_any,
    }
)


def encoded(body: st.SearchStrategy[Any]) -> st.SearchStrategy[bytes]:
    """A body as bytes: its JSON, JSON cut short, random bytes, non-UTF-8, nothing, or HTML."""
    as_json = body.map(lambda b: json.dumps(b).encode())
    return st.one_of(
        as_json,
        as_json,
        as_json,
        st.tuples(as_json, st.floats(0, 1)).map(lambda t: t[0][: int(len(t[0]) * t[1])]),
        st.binary(max_size=64),
        st.just(b'\xff\xfe{"output": 1}'),
        st.just(b""),
        st.just(b"<html><body>502 Bad Gateway</body></html>"),
        st.just(b"null"),
        st.just(b"[]"),
    )


STATUSES = [200, 200, 200, 201, 204, 206, 301, 302, 400, 401, 403, 404, 408, 409, 413, 429, 500, 502, 503, 504, 599]
CONTENT_TYPES = [
    None,
    "application/json",
    "application/json; charset=utf-8",
    "text/html",
    "text/plain",
    "application/xml",
    "application/octet-stream",
    "application/json; charset=latin-1",
]
BREAKS: list[type[Exception]] = [
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.ReadTimeout,
    httpx.WriteTimeout,
    httpx.PoolTimeout,
    httpx.RemoteProtocolError,
    httpx.ReadError,
    httpx.WriteError,
    httpx.LocalProtocolError,
    httpx.UnsupportedProtocol,
    httpx.ProxyError,
]


class BrokenStream(httpx.AsyncByteStream):
    """A body that stops in the middle: some bytes, then the connection breaks."""

    def __init__(self, data: bytes, error: type[Exception]) -> None:
        self.data = data
        self.error = error

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.data[: len(self.data) // 2]
        raise self.error("connection broke mid-body")


@st.composite
def answers(draw: st.DrawFn, body: st.SearchStrategy[Any]) -> Callable[[httpx.Request], httpx.Response]:
    """One way for the server to answer (a response, a broken body, or a broken connection)."""
    kind = draw(st.sampled_from(["response", "response", "response", "broken body", "no answer"]))
    if kind == "no answer":
        error = draw(st.sampled_from(BREAKS))

        def fail(request: httpx.Request) -> httpx.Response:
            raise error("simulated", request=request) if issubclass(error, httpx.RequestError) else error("simulated")

        return fail
    status = draw(st.sampled_from(STATUSES))
    content = draw(encoded(body))
    headers = {}
    if (ctype := draw(st.sampled_from(CONTENT_TYPES))) is not None:
        headers["Content-Type"] = ctype
    if draw(st.booleans()):
        headers["Retry-After"] = draw(
            st.sampled_from(
                [
                    "1",
                    "0",
                    "-5",
                    "nan",
                    "inf",
                    "1e400",
                    "soon",
                    "",
                    "3.5",
                    "Wed, 21 Oct 2015 07:28:00 GMT",
                    "99999999999",
                ]
            )
        )
    if draw(st.booleans()):
        headers["X-Request-ID"] = draw(
            st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=20)
        )
    if status in (301, 302) and draw(st.booleans()):
        headers["Location"] = draw(st.sampled_from(["file:///etc/passwd", "http://other/x", "/relative", "::"]))
    if kind == "broken body":
        error = draw(st.sampled_from([httpx.ReadError, httpx.RemoteProtocolError, httpx.ReadTimeout]))
        return lambda request: httpx.Response(status, headers=headers, stream=BrokenStream(content, error))
    return lambda request: httpx.Response(status, headers=headers, content=content)


def client_for(handler: Callable[[httpx.Request], httpx.Response]) -> DashScopeClient:
    # no retries and a fresh limiter: one answer per call, and a Retry-After never stalls the next example
    return DashScopeClient(
        ApiKey(KEY, "test"),
        BASE,
        transport=httpx.MockTransport(handler),
        query_retries=0,
        limiter=RateLimiter(rate=1e6, burst=1e6),
    )


def ends_well(
    call: Callable[[DashScopeClient], Awaitable[Any]],
    handler: Callable[[httpx.Request], httpx.Response],
    expect: type | tuple[type, ...] | None,
) -> None:
    """The call returns a value of type `expect` or raises a QwentuiError; anything else fails the test."""

    async def run() -> None:
        async with client_for(handler) as client:
            try:
                # a Retry-After that reaches the limiter must not turn into a hang either
                value = await asyncio.wait_for(call(client), timeout=10)
            except QwentuiError as exc:
                assert str(exc), "a typed error says something"
                assert KEY not in str(exc)
                return
            if expect is not None:
                assert isinstance(value, expect), type(value)

    asyncio.run(run())


ASYNC_WIRE = build(GenerationRequest(mode=Mode.T2V, prompt="a boat"))
SYNC_WIRE = build(GenerationRequest(mode=Mode.T2I, model="qwen-image-2.0", prompt="a fox"))


@FAST
@given(answer=answers(task_body), wire=st.sampled_from([ASYNC_WIRE, SYNC_WIRE]))
def test_submit_ends_in_a_result_or_a_typed_error(
    answer: Callable[[httpx.Request], httpx.Response], wire: WireRequest
) -> None:
    ends_well(lambda c: c.submit(wire), answer, TaskResult)


@FAST
@given(answer=answers(task_body), task_id=st.sampled_from(["abc", "../../etc", "x?y=1", "%2e%2e", " "]))
def test_get_task_ends_in_a_result_or_a_typed_error(
    answer: Callable[[httpx.Request], httpx.Response], task_id: str
) -> None:
    ends_well(lambda c: c.get_task(task_id), answer, TaskResult)


@FAST
@given(answer=answers(list_body))
def test_list_tasks_ends_in_a_page_or_a_typed_error(answer: Callable[[httpx.Request], httpx.Response]) -> None:
    ends_well(lambda c: c.list_tasks(page_size=10), answer, TaskPage)


@FAST
@given(answer=answers(anything | task_body))
def test_cancel_ends_quietly_or_in_a_typed_error(answer: Callable[[httpx.Request], httpx.Response]) -> None:
    ends_well(lambda c: c.cancel("abc"), answer, None)


@FAST
@given(policy=answers(policy_body), upload=answers(anything))
def test_upload_ends_in_an_oss_url_or_a_typed_error(
    policy: Callable[[httpx.Request], httpx.Response],
    upload: Callable[[httpx.Request], httpx.Response],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    photo = tmp_path_factory.getbasetemp() / "bad-input-photo.png"
    if not photo.exists():
        photo.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)

    def handler(request: httpx.Request) -> httpx.Response:
        return policy(request) if request.url.path.endswith("/uploads") else upload(request)

    async def call(client: DashScopeClient) -> str:
        url = await client.upload(photo, "wan2.6-i2v-flash")
        assert url.startswith("oss://")
        return url

    ends_well(call, handler, str)


EXTREME_BODIES = {
    "nested arrays": b"[" * 100_000 + b"]" * 100_000,  # deeper than the JSON decoder's recursion limit
    "nested objects": b'{"output": ' * 50_000 + b"1" + b"}" * 50_000,
    "a 2 MB url": b'{"output": {"task_id": "x", "task_status": "SUCCEEDED", "results": [{"url": "'
    + b"a" * 2_000_000
    + b'"}]}}',
    "5000 results": json.dumps(
        {"output": {"task_id": "x", "task_status": "SUCCEEDED", "results": [{"url": "http://x/1.png"}] * 5000}}
    ).encode(),
    "non-finite numbers": b'{"output": {"task_id": 1e999, "task_status": NaN}, "usage": {"image_count": Infinity}}',
}


@pytest.mark.parametrize("body", list(EXTREME_BODIES.values()), ids=list(EXTREME_BODIES))
@pytest.mark.parametrize("method", ["submit", "get_task", "list_tasks"])
def test_extreme_bodies_end_in_a_result_or_a_typed_error(body: bytes, method: str) -> None:
    calls: dict[str, Callable[[DashScopeClient], Awaitable[Any]]] = {
        "submit": lambda c: c.submit(ASYNC_WIRE),
        "get_task": lambda c: c.get_task("x"),
        "list_tasks": lambda c: c.list_tasks(),
    }
    ends_well(
        calls[method],
        lambda request: httpx.Response(200, content=body, headers={"Content-Type": "application/json"}),
        None,
    )


@given(value=st.sampled_from(["inf", "1e400", "99999999999", "nan", "-1", "soon"]))
@settings(max_examples=10, deadline=None)
@example(value="99999999999")
def test_a_retry_after_from_a_broken_server_never_stalls_everything(value: str) -> None:
    """One 429 with an absurd Retry-After pauses every task query: the pause must stay bounded."""

    async def run() -> float:
        client = client_for(
            lambda request: httpx.Response(429, headers={"Retry-After": value}, content=b'{"code": "Throttling"}')
        )
        async with client:
            with pytest.raises(QwentuiError):
                await client.get_task("x")
            return client.limiter.paused_for

    paused = asyncio.run(run())
    assert math.isfinite(paused) and paused <= 3600, paused


def test_answers_use_the_real_upload_path(tmp_path: Path) -> None:
    """A sanity check of the fake server: a well-formed policy and upload give an oss:// URL."""
    photo = tmp_path / "p.png"
    photo.write_bytes(b"\x89PNG\r\n\x1a\n")

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/uploads"):
            return httpx.Response(
                200,
                json={
                    "data": {
                        "upload_host": "http://oss.test/up",
                        "upload_dir": "d/x",
                        "policy": "p",
                        "signature": "s",
                        "oss_access_key_id": "k",
                    }
                },
            )
        assert "authorization" not in request.headers, "the API key never goes to the upload host"
        return httpx.Response(200)

    async def run() -> str:
        async with client_for(handler) as client:
            return await client.upload(photo, "wan2.6-i2v-flash")

    assert asyncio.run(run()) == "oss://d/x/p.png"


# ---- untrusted text that looks like markup ------------------------------------------------------------------

LIVE_LINK = "[@click=app.quit]click me[/]"
MARKUP_PROMPT = f"{LIVE_LINK} [bold]bold?[/bold] [link=https://evil.example]link?[/link] [red"
MARKUP_ERROR = "[@click=app.quit]quit[/] the service said [b]no[/b]"
MARKUP_FILE = "/tmp/[@click=app.quit]x[/].png"


async def _seed_markup_jobs(store: Any) -> list[int]:
    from qwentui.core.states import JobState

    done = await store.add_job(
        {"mode": "t2i", "prompt": MARKUP_PROMPT},
        mode="t2i",
        model="wan2.6-t2i",
        prompt=MARKUP_PROMPT,
        source="drop:[bold]rule",
        source_path=MARKUP_FILE,
    )
    for state in (JobState.SUBMITTING, JobState.PENDING, JobState.SUCCEEDED, JobState.DOWNLOADING):
        await store.transition(
            done.id,
            state,
            detail=f"{state.value} [@click=app.quit]q[/]",
            task_id="t-1" if state is JobState.PENDING else None,
        )
    await store.add_asset(
        done.id, 1, "image", url="http://x/[@click=app.quit]q.png?Signature=s", path=MARKUP_FILE, size=10
    )
    await store.transition(done.id, JobState.DONE, detail="saved")
    failed = await store.add_job(
        {"mode": "t2i", "prompt": "plain prompt"}, mode="t2i", model="wan2.6-t2i", prompt="plain prompt"
    )
    await store.transition(failed.id, JobState.SUBMITTING, detail="POST")
    await store.transition(
        failed.id, JobState.REJECTED, detail="[@click=app.quit]", error_code="[red]Code", error_message=MARKUP_ERROR
    )
    return [done.id, failed.id]


def test_the_cli_prints_markup_from_prompts_files_and_the_server_as_typed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from qwentui.cli import main as cli_main
    from qwentui.core.store import Store

    monkeypatch.setenv("QWENTUI_HOME", str(tmp_path / "home"))
    db = tmp_path / "jobs.db"

    async def seed() -> list[int]:
        async with await Store.open(db) as store:
            return await _seed_markup_jobs(store)

    done_id, failed_id = asyncio.run(seed())
    assert cli_main(["--db", str(db), "jobs"]) == 0
    listing = capsys.readouterr().out
    assert MARKUP_PROMPT[:50] in listing
    assert cli_main(["--db", str(db), "show", str(done_id)]) == 0
    shown = capsys.readouterr().out
    assert MARKUP_PROMPT in shown and MARKUP_FILE in shown and "[@click=app.quit]q[/]" in shown
    assert cli_main(["--db", str(db), "show", str(failed_id)]) == 0
    shown = capsys.readouterr().out
    assert MARKUP_ERROR in shown and "[red]Code" in shown
    assert cli_main(["--db", str(db), "show", str(failed_id), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["error_message"] == MARKUP_ERROR


def test_the_cli_does_not_pass_terminal_control_sequences_through(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from qwentui.cli import main as cli_main
    from qwentui.core.states import JobState
    from qwentui.core.store import Store

    monkeypatch.setenv("QWENTUI_HOME", str(tmp_path / "home"))
    db = tmp_path / "jobs.db"
    nasty = "a cat \x1b[2J\x1b]0;pwned\x07 \x9b31m"

    async def seed() -> int:
        async with await Store.open(db) as store:
            job = await store.add_job({"mode": "t2i", "prompt": nasty}, mode="t2i", model="wan2.6-t2i", prompt=nasty)
            await store.transition(job.id, JobState.SUBMITTING, detail="POST")
            await store.transition(job.id, JobState.REJECTED, detail="x", error_message=nasty)
            return int(job.id)

    job_id = asyncio.run(seed())
    for argv in (["jobs"], ["show", str(job_id)]):
        assert cli_main(["--db", str(db), *argv]) == 0
        out = capsys.readouterr().out
        assert "\x1b" not in out and "\x07" not in out and "\x9b" not in out, repr(out)


async def _markup_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any, list[int]]:
    """The TUI on a database of jobs full of markup (the engine is not started: nothing moves by itself)."""
    from qwentui.core.config import Paths
    from qwentui.core.download import make_download_client
    from qwentui.core.engine import Engine, EngineConfig
    from qwentui.core.store import Store
    from qwentui.runtime import Context
    from qwentui.sim import SimConfig, create_app
    from qwentui.tui.app import QwenApp
    from qwentui.tui.image_backend import HALFBLOCK

    monkeypatch.setenv("QWENTUI_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("QWENTUI_IMAGE_RENDERER", "halfblock")
    transport = httpx.ASGITransport(app=create_app(SimConfig(seed=1)))
    client = DashScopeClient(ApiKey(KEY, "test"), "http://sim.local/api/v1", transport=transport)
    paths = Paths(
        db=tmp_path / "jobs.db", output=tmp_path / "out", drop=tmp_path / "drop", settings=tmp_path / "settings.toml"
    )
    store = await Store.open(paths.db)
    ids = await _seed_markup_jobs(store)
    engine = Engine(
        store, client, EngineConfig(output_dir=paths.output), download_http=make_download_client(transport=transport)
    )
    context = Context(paths, store, client, engine, demo=False, endpoint="simulator [@click=app.quit]q[/]")
    return QwenApp(context=context, backend=HALFBLOCK), context, ids


def _plain(widget: Any) -> str:
    rendered = widget.render()
    return str(getattr(rendered, "plain", rendered))


def _live_actions(screen: Any) -> list[str]:
    """Every rendered cell of `screen` that carries a click action or a hyperlink which came from untrusted
    text (the text of our injected links, or their targets), as `widget: text -> action`."""
    found = []
    for widget in screen.query("*"):
        if not widget.display or not widget.size.area:
            continue
        for y in range(widget.size.height):
            for segment in widget.render_line(y):
                style = segment.style
                if style is None:
                    continue
                action = (style.meta or {}).get("@click")
                if (action and ("quit" in str(action) or "click me" in segment.text)) or (
                    style.link and "evil" in style.link
                ):
                    found.append(f"{type(widget).__name__}: {segment.text!r} -> {action or style.link}")
    return found


async def _click_along(pilot: Any, widget: Any, lines: int = 1, width: int = 8, step: int = 2) -> None:
    """Click along the start of the first lines of `widget`: had the untrusted text been read as markup, its
    `@click` link ("click me", "quit") would be there, and a click on it would run `app.quit`."""
    region = widget.region
    for y in range(min(region.height, lines)):
        for x in range(0, min(region.width, width), step):
            await pilot.click(offset=(region.x + x, region.y + y))
    await pilot.pause()


async def test_the_tui_shows_markup_as_text_and_runs_none_of_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from textual.widgets import DataTable, Static

    from qwentui.core.submitter import Pause
    from qwentui.tui.screens.details import DetailsScreen
    from qwentui.tui.screens.main import MainScreen

    app, context, (done_id, failed_id) = await _markup_app(tmp_path, monkeypatch)

    def alive() -> bool:
        return app.is_running and app.return_code is None

    try:
        async with app.run_test(size=(160, 48)) as pilot:
            await poll_until(
                lambda: isinstance(app.screen, MainScreen) and done_id in app.screen.table.jobs,
                timeout=60,
                what="the job in the table",
                nap=pilot.pause,
            )
            screen = app.screen
            assert isinstance(screen, MainScreen)
            table = screen.table
            # the table: the prompt cell holds the typed text, brackets and all; clicks along its row run nothing
            cells = [str(getattr(c, "plain", c)) for c in table.get_row(str(done_id))]
            assert any(MARKUP_PROMPT in c for c in cells), cells
            row_y = table.region.y + 1 + table.get_row_index(str(done_id))
            for x in range(0, table.region.width, 16):
                await pilot.click(offset=(table.region.x + x, row_y))
            assert alive(), "a click on a prompt in the table ran an action"
            assert _live_actions(screen) == []
            # the preview of each job: prompt, error, request and caption are literal and inert
            for job_id, expected in ((done_id, MARKUP_PROMPT), (failed_id, MARKUP_ERROR)):
                assert table.select_job(job_id)
                await poll_until(
                    lambda: expected in " ".join(_plain(w) for w in screen.preview.query(Static)),  # noqa: B023
                    timeout=60,
                    what=f"{expected!r} in the preview",
                    nap=pilot.pause,
                )
                # the error is shown in the prompt box
                for name in ("#preview-prompt", "#preview-caption", "#preview-request"):
                    await _click_along(pilot, screen.preview.query_one(name, Static))
                assert alive(), "a click on untrusted text in the preview ran an action"
                assert _live_actions(screen) == []
            # an engine pause whose reason came from a server message, in the status bar
            context.engine.pause = Pause(f"API key rejected: {MARKUP_ERROR}", 1e12, everything=True)
            engine_part = screen.query_one("#status-engine", Static)
            await poll_until(  # the status bar refreshes its engine part every second
                lambda: "[@click=app.quit]quit[/]" in _plain(engine_part),
                timeout=60,
                what="the pause reason in the status bar",
                nap=pilot.pause,
            )
            await _click_along(pilot, engine_part, width=40, step=4)
            assert alive(), "a click on the pause reason ran an action"
            assert _live_actions(screen) == []
            context.engine.pause = None
            # the details of the job with the markup file name and event details
            await app.push_screen(DetailsScreen(context.store, done_id))

            def details_shown() -> bool:
                text = " ".join(_plain(w) for w in app.screen.query(Static))
                return bool(app.screen.query("#details-events")) and MARKUP_PROMPT in text and MARKUP_FILE in text

            await poll_until(details_shown, timeout=60, what="the details with the prompt and file", nap=pilot.pause)
            details = app.screen
            events = details.query_one("#details-events", DataTable)
            await poll_until(
                lambda: any(
                    "[@click=app.quit]q[/]" in str(getattr(c, "plain", c))
                    for r in range(events.row_count)
                    for c in events.get_row_at(r)
                ),
                timeout=60,
                what="the event with markup in the details",
                nap=pilot.pause,
            )
            for widget in [*details.query(Static), events]:
                if "[" in _plain(widget) or widget is events:
                    await _click_along(pilot, widget, lines=2)
            assert alive(), "a click on untrusted text in the details ran an action"
            assert _live_actions(details) == []
            svg = app.export_screenshot()
            assert "[@click=app.quit]" in svg.replace("&#160;", " ")
    finally:
        await context.client.aclose()
        await context.store.close()


async def test_the_click_check_would_catch_a_live_link() -> None:
    """The control for the test above: the same clicks on a widget that does interpret markup quit the app."""
    from textual.app import App, ComposeResult
    from textual.widgets import Static

    class Live(App[None]):
        def compose(self) -> ComposeResult:
            yield Static(LIVE_LINK)  # markup on: a real action link

    app = Live()
    async with app.run_test(size=(40, 5)) as pilot:
        assert _live_actions(app.screen), "the scan sees a live link"
        await _click_along(pilot, app.query_one(Static))
        await pilot.pause()
        quit_by_click = not app.is_running
    assert quit_by_click
