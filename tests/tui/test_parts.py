"""The TUI's pure parts: form values <-> requests, settings and keymap, notifications, column fitting, the
renderer choice, half-block drawing, presentation of a job."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from rich.text import Text

from qwentui.core.catalog import CATALOG, Mode, lookup
from qwentui.core.requests import GenerationRequest, Problem
from qwentui.core.states import JobState
from qwentui.core.store import Job
from qwentui.tui import image_backend, keymap
from qwentui.tui.notifier import MAX_SINGLE, Notifier
from qwentui.tui.presentation import elapsed_text, human_duration, progress, prompt_text, short_duration, state_text
from qwentui.tui.request_form import field_of, from_request, image_slots, to_request
from qwentui.tui.settings import load_settings
from qwentui.tui.widgets.image_view import _half_blocks, fit_picture
from qwentui.tui.widgets.job_table import COLUMNS, MIN_PROMPT, fit_columns


def job(**fields: object) -> Job:
    base = dict(
        id=1,
        created_at=1000.0,
        updated_at=1000.0,
        mode=Mode.T2I,
        model="wan2.6-t2i",
        prompt="p",
        request={},
        wire_json=None,
        body_hash=None,
        client_token="t",
        state=JobState.QUEUED,
        task_id=None,
        request_id=None,
        submitted_at=None,
        finished_at=None,
        attempts=0,
        poll_count=0,
        next_check_at=None,
        expected_seconds=None,
        results_json=None,
        results_expire_at=None,
        error_code=None,
        error_message=None,
        usage_json=None,
        image_count=0,
        video_seconds=0.0,
        source="tui",
        source_path=None,
        parent_id=None,
        output_dir=None,
        priority=0,
        deleted=False,
    )
    base.update(fields)
    names = Job.__dataclass_fields__  # the store's record may grow fields; fill only what it has
    return Job(**{k: v for k, v in base.items() if k in names})  # type: ignore[arg-type]


# ---- the composer's form ------------------------------------------------------------------------------------


@pytest.mark.parametrize("row", CATALOG, ids=[f"{r.model}-{r.mode.value}" for r in CATALOG])
def test_every_catalog_row_round_trips_through_the_form(row: object) -> None:
    from qwentui.core.catalog import ModelMode

    assert isinstance(row, ModelMode)
    request = GenerationRequest(
        mode=row.mode,
        model=row.model,
        prompt="hello",
        seed=42,
        images=["https://example.com/a.png"] * len(image_slots(row, "image_reference"))
        if row.mode is Mode.VACE
        else ["https://example.com/a.png"] * row.images.min_count,
        function="image_reference" if row.mode is Mode.VACE else None,
    )
    values = from_request(request)
    again, problems = to_request(row.mode, row.model, values, row)
    assert problems == []
    assert again.to_dict() == request.to_dict()


def test_form_types_and_hidden_fields() -> None:
    row = lookup("wan2.6-t2i", Mode.T2I)
    request, problems = to_request(
        Mode.T2I,
        row.model,
        {"prompt": "x", "seed": "12x", "duration": "5", "prompt_extend": False, "watermark": True},
        row,
    )
    assert problems == [Problem("seed", "'12x' is not a whole number")]
    assert request.duration is None  # a t2i model takes no duration: a stale value is not sent
    assert request.prompt_extend is False and request.watermark is True
    vace = lookup("wan2.1-vace-plus", Mode.VACE)
    request, problems = to_request(
        Mode.VACE,
        vace.model,
        {"function": "video_repainting", "vace_video_url": "https://e.com/v.mp4", "vace_strength": "lots"},
        vace,
    )
    assert problems == [Problem("strength", "'lots' is not a number")]
    assert request.vace == {"video_url": "https://e.com/v.mp4"}


def test_problems_point_at_the_filled_image_slot() -> None:
    assert field_of(Problem("images[2]", "bad"), [1, 3]) == "image_3"
    assert field_of(Problem("images", "missing"), []) == "image_1"
    assert field_of(Problem("video_url", "required"), []) == "vace_video_url"
    assert image_slots(lookup("wan2.2-kf2v-flash", Mode.KF2V)) == ["first frame", "last frame"]


# ---- settings and keymap ----------------------------------------------------------------------------------


def test_settings_file(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text(
        '[tui]\nimage_renderer = "none"\nbell = true\n[keys]\ncancel-job = "x, ctrl+x"\n'
        'oops = "z"\nretry-job = 3\n[drop]\nsomething = "else"\n',
        encoding="utf-8",
    )
    settings = load_settings(path, env={})
    assert settings.image_renderer == "none" and settings.bell is True
    assert settings.keymap == {"cancel-job": "x,ctrl+x"}
    assert len(settings.problems) == 2  # the unknown id and the non-string keys, each reported
    assert load_settings(path, env={"QWENTUI_IMAGE_RENDERER": "halfblock"}).image_renderer == "halfblock"
    path.write_text("[tui\n", encoding="utf-8")
    broken = load_settings(path, env={})
    assert broken.image_renderer == "auto" and broken.problems  # a broken file: defaults and a message
    assert load_settings(tmp_path / "missing.toml", env={}).problems == ()


def test_every_binding_has_a_unique_id() -> None:
    ids = [spec.id for group in keymap.KEYS.values() for spec in group]
    assert len(ids) == len(set(ids))
    assert all(b.id for group in keymap.KEYS for b in keymap.bindings(group))  # type: ignore[union-attr]


# ---- renderer choice and drawing --------------------------------------------------------------------------


def test_renderer_choice_never_probes_outside_a_terminal() -> None:
    assert image_backend.choose("none") is image_backend.NONE
    assert image_backend.choose("halfblock") is image_backend.HALFBLOCK
    assert image_backend.choose("auto", env={"TERM": "xterm"}) is image_backend.HALFBLOCK  # pytest: not a tty


def test_half_blocks_fit_and_centre_the_picture() -> None:
    picture = Image.new("RGB", (200, 100), (255, 0, 0))
    lines = _half_blocks(fit_picture(picture, 40, 20))
    assert len(lines) == 20
    assert all(line.cell_length == 40 for line in lines)
    drawn = [line for line in lines if "▀" in line.text]
    assert len(drawn) == 10  # 40 columns wide -> 20 pixel rows -> 10 cell rows, centred vertically
    assert _half_blocks(fit_picture(None, 40, 20)) == []


# ---- presentation -----------------------------------------------------------------------------------------


def test_presentation_of_a_job() -> None:
    running = job(state=JobState.RUNNING, submitted_at=1000.0)
    assert elapsed_text(running, 1012.0, 40.0) == "0:12/~0:40"
    assert progress(running, 1012.0, 40.0) == pytest.approx(0.3)
    assert progress(running, 5000.0, 40.0) == 0.95  # an estimate never claims "finished"
    assert elapsed_text(job(), 1012.0, 40.0) == "—"
    assert short_duration(59) == "59s" and short_duration(3600 * 30) == "1d"
    assert state_text(JobState.NEEDS_USER).plain == "! needs you"
    markup = prompt_text("a [red]fox[/red]\nline two")
    assert isinstance(markup, Text) and markup.plain == "a [red]fox[/red] line two" and not markup.spans


def test_column_fitting() -> None:
    wide, prompt = fit_columns(200, 1)
    assert wide == COLUMNS and prompt >= MIN_PROMPT
    narrow, prompt = fit_columns(50, 1)
    assert [c.key for c in narrow] == ["state", "prompt"] and prompt >= MIN_PROMPT // 2


# ---- notifications ----------------------------------------------------------------------------------------


def test_notifications_once_each_and_summarised_in_bursts() -> None:
    notifier = Notifier(since=100.0)
    done = job(id=1, state=JobState.DONE, updated_at=150.0, prompt="fox")
    old = job(id=2, state=JobState.DONE, updated_at=50.0)  # history from before the start
    notes = notifier.notes([done, old])
    assert [n.message for n in notes] == ["Job 1 finished — fox"]
    assert notifier.notes([done]) == []  # once
    failed = job(id=3, state=JobState.FAILED, updated_at=160.0, error_message="[b]boom[/b]")
    assert notifier.notes([failed])[0].severity == "error"
    burst = [job(id=10 + i, state=JobState.DONE, updated_at=170.0) for i in range(MAX_SINGLE + 1)]
    [summary] = notifier.notes(burst)
    assert summary.message == f"{MAX_SINGLE + 1} jobs: {MAX_SINGLE + 1} finished"


def test_a_finished_job_without_a_prompt_says_what_it_was() -> None:
    notifier = Notifier(since=0.0)
    [note] = notifier.notes([job(id=15, state=JobState.DONE, updated_at=1.0, prompt="", mode=Mode.I2V, model="m")])
    assert note.message == "Job 15 finished (i2v, m)"
    [note] = notifier.notes([job(id=16, state=JobState.DONE, updated_at=1.0, prompt="  ")])
    assert not note.message.rstrip().endswith("—")


def test_waits_read_as_human_durations() -> None:
    from qwentui.tui.widgets.status_bar import EngineStatus, engine_text

    assert [human_duration(s) for s in (0, 45, 3589, 3600 + 125, 2 * 86400 + 3 * 3600)] == [
        "0s",
        "45s",
        "59m 49s",
        "1h 02m",
        "2d 3h",
    ]
    paused = engine_text(EngineStatus(leader=True, pause_reason="the account is out of quota", pause_left=3589.2))
    assert paused.plain.startswith("⏸ paused 59m 49s: ")


# ---- the composer's fields: one set of widgets, shown per catalog row -------------------------------------


@pytest.mark.parametrize("row", CATALOG, ids=[f"{r.model}-{r.mode.value}" for r in CATALOG])
def test_every_field_a_row_shows_is_one_the_form_has_and_to_request_reads(row: object) -> None:
    from qwentui.core.catalog import VACE_FUNCTIONS, ModelMode
    from qwentui.tui.request_form import FORM_FIELDS, field_specs

    assert isinstance(row, ModelMode)
    for function in VACE_FUNCTIONS if row.mode is Mode.VACE else (None,):
        specs = field_specs(row, function)
        assert set(specs) <= set(FORM_FIELDS)  # the form is built once with every field: nothing is mounted later
        assert list(specs) == [k for k in FORM_FIELDS if k in specs]  # in the form's order
        for key, spec in specs.items():
            if FORM_FIELDS[key] == "select":
                assert spec.options and spec.placeholder, key
        values = {key: "" for key in specs} | {"prompt": "p"}
        request, problems = to_request(row.mode, row.model, values, row)
        assert problems == [] and request.prompt == "p"


# ---- the composer's Wan 2.7 fields, its estimate and its several prompts ------------------------------------


def test_wan27_requests_round_trip_through_the_form() -> None:
    """Media slots, aspect ratio, image sets, thinking mode, palettes and region boxes: form -> request -> form."""
    requests = [
        GenerationRequest(
            mode=Mode.I2V,
            model="wan2.7-i2v",
            prompt="go on",
            resolution="720P",
            duration=4,
            media=[
                {"type": "first_clip", "url": "/clips/a.mp4"},
                {"type": "last_frame", "url": "https://example.com/end.png"},
            ],
        ),
        GenerationRequest(mode=Mode.T2V, model="wan2.7-t2v", prompt="rain", ratio="9:16", resolution="720P"),
        GenerationRequest(
            mode=Mode.T2I,
            model="wan2.7-image-pro",
            prompt="a poster",
            size="4K",
            thinking_mode=False,
            color_palette=[
                {"hex": "#C2D1E6", "ratio": "40.00%"},
                {"hex": "#2B3A55", "ratio": "35.00%"},
                {"hex": "#F2A541", "ratio": "25.00%"},
            ],
        ),
        GenerationRequest(mode=Mode.T2I, model="wan2.7-image", prompt="a story", enable_sequential=True, n=8),
        GenerationRequest(
            mode=Mode.EDIT,
            model="wan2.7-image-pro",
            prompt="swap the hats",
            images=["https://example.com/a.png", "https://example.com/b.png"],
            bbox_list=[[], [[10, 10, 300, 200], [0, 0, 5, 5]]],
        ),
    ]
    for request in requests:
        row = request.row
        values = from_request(request)
        again, problems = to_request(row.mode, row.model, values, row)
        assert problems == [], request
        assert again.to_dict() == request.to_dict()


def test_wan27_form_text_fields_and_what_an_image_set_hides() -> None:
    from qwentui.tui.request_form import field_specs, parse_boxes, parse_palette

    edit = lookup("wan2.7-image-pro", Mode.EDIT)
    values = {"prompt": "p", "image_1": "https://e.com/a.png", "image_2": "https://e.com/b.png"}
    request, problems = to_request(Mode.EDIT, edit.model, values | {"bbox_list": "| 1,2,30,40"}, edit)
    assert problems == [] and request.bbox_list == [[], [[1, 2, 30, 40]]]  # image 1 left out: no regions
    assert parse_boxes("1,2,3", 1)[1] == "'1,2,3' must be x1,y1,x2,y2 in whole pixels (no spaces inside a box)"
    assert parse_palette("#C2D1E6 forty")[1] == "'#C2D1E6 forty' must be a colour and its share, like '#C2D1E6 40%'"
    _, problems = to_request(Mode.EDIT, edit.model, values | {"color_palette": "#C2D1E6"}, edit)
    assert [p.field for p in problems] == ["color_palette"]
    # an image set: n goes to 12, and what cannot act on a set (palette, boxes, thinking mode) is not offered
    t2i = lookup("wan2.7-image-pro", Mode.T2I)
    single, sets = field_specs(t2i), field_specs(t2i, sets=True)
    assert {"thinking_mode", "color_palette"} <= set(single) and not {"thinking_mode", "color_palette"} & set(sets)
    assert single["n"].options[-1] == ("4", "4") and sets["n"].options[-1] == ("12", "12")
    assert ("4K", "4K") in single["size"].options and ("4K", "4K") not in sets["size"].options
    assert "bbox_list" in field_specs(edit) and "bbox_list" not in field_specs(edit, sets=True)
    i2v = field_specs(lookup("wan2.7-i2v", Mode.I2V))
    assert [i2v[k].label for k in i2v if k.startswith("media_")] == [
        "first frame",
        "first clip",
        "last frame",
        "driving audio",
    ]
    assert "image_1" not in i2v and "size" not in i2v
    t2v = field_specs(lookup("wan2.7-t2v", Mode.T2V))
    assert "ratio" in t2v and "resolution" in t2v and "size" not in t2v
    assert field_of(Problem("media[2] (last frame)", "bad"), [], ["first_clip", "last_frame"]) == "media_last_frame"
    assert field_of(Problem("media", "needs a first frame"), [], []) == "media_first_frame"


def test_several_prompts_expand_with_batchfile_templates() -> None:
    from qwentui.tui.request_form import to_batch

    row = lookup("wan2.6-t2i", Mode.T2I)
    form = {"prompt": "a {subject}\n\na {subject} in snow\nthe {subject} sleeps", "variables": "subject=cat,dog"}
    requests, problems = to_batch(Mode.T2I, row.model, form | {"n": "2"}, row)
    assert problems == []
    assert [r.prompt for r in requests] == [
        "a cat",
        "a dog",
        "a cat in snow",
        "a dog in snow",
        "the cat sleeps",
        "the dog sleeps",
    ]
    assert {r.n for r in requests} == {2}  # the form's other fields go with every line
    _, problems = to_batch(Mode.T2I, row.model, {"prompt": "a {subject}"}, row)
    assert problems == [Problem("prompt", "line 1: {subject} has no values: list its values in variables: subject=a,b")]
    _, problems = to_batch(Mode.T2I, row.model, {"prompt": "ok\n" + "x" * 3000}, row)
    assert problems == [Problem("prompt", "line 2: is 3000 characters; wan2.6-t2i takes at most 2100")]
    _, problems = to_batch(Mode.T2I, row.model, {"prompt": "a", "variables": "subject"}, row)
    assert problems == [Problem("variables", "'subject' must look like NAME=value1,value2")]


def test_cost_line_says_the_price_date_and_when_none_is_known() -> None:
    from dataclasses import replace
    from datetime import date

    from qwentui.core.pricing import Pricing, shipped_table
    from qwentui.tui.screens.composer import cost_text

    table = shipped_table()
    request = GenerationRequest(
        mode=Mode.I2V, model="wan2.7-i2v", duration=5, media=[{"type": "first_frame", "url": "u"}]
    )
    fresh = replace(table, today=table.as_of)
    assert cost_text(Pricing(fresh).estimate(request)) == (
        f"est. 0.75 USD · 5 s x 0.15 USD/s (wan2.7-i2v 1080P) · prices as of {table.as_of}"
    )
    stale = Pricing(replace(table, today=date(2099, 1, 1))).estimate(request)
    assert cost_text(stale).endswith("(older than 90 days: check them)")
    unknown = Pricing(replace(table, prices=())).estimate(request)
    assert cost_text(unknown) == "est.: no price known for wan2.7-i2v 1080P in ap-southeast-1"


@pytest.mark.parametrize("gone", ["#preview-caption", "#preview-media"])
async def test_a_media_worker_ends_quietly_when_the_pane_is_taken_down_under_it(gone: str) -> None:
    """While the app quits, the pane's parts go one by one (the caption may go before the media): a media
    worker that meets a missing part then has nothing to show anything in, and ends without an error (a failed
    worker would fail the app as it quits)."""
    from textual.app import App, ComposeResult
    from textual.widget import Widget
    from textual.widgets import Static

    from qwentui.tui.image_backend import HALFBLOCK
    from qwentui.tui.widgets.preview import PreviewPane

    class One(App[None]):
        def compose(self) -> ComposeResult:
            yield PreviewPane(HALFBLOCK, id="preview")

    async def shows_a_picture() -> None:
        pane.query_one("#preview-media", Widget)
        pane.query_one("#preview-caption", Static).update("image 1/1")

    app = One()
    async with app.run_test() as pilot:
        pane = app.query_one(PreviewPane)
        await pane.query_one(gone).remove()
        pane._media_work(shows_a_picture)
        await pane.workers.wait_for_complete()
        await pilot.pause()
        assert app._exception is None
