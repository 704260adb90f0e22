"""Batch files: text, CSV and JSONL lines become validated requests; templates multiply, seeds sweep; one bad
line refuses the whole batch and names its line and field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qwentui.core.batchfile import BatchError, load, parse_seeds, parse_vars
from qwentui.core.catalog import Mode
from qwentui.core.errors import QwentuiError


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_text_one_prompt_per_line_with_comments_and_blank_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "p.txt", "# my prompts\na red fox\n\n   \nan owl at night  \n")
    jobs = load(path, defaults={"model": "wan2.2-t2i-flash", "n": 2})
    assert [(j.line, j.request.prompt) for j in jobs] == [(2, "a red fox"), (5, "an owl at night")]
    assert all(j.request.model == "wan2.2-t2i-flash" and j.request.n == 2 for j in jobs)


def test_csv_columns_are_request_fields_with_their_types(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "b.csv",
        "prompt,model,n,seed,size,prompt_extend,images\n"
        "a red fox,wan2.6-t2i,2,7,1280*1280,false,\n"
        '"a cat, sitting",qwen-image-edit-plus,,,,,https://x/a.png|https://x/b.png\n'
        ",,,,,,\n",
    )
    fox, cat = load(path)
    assert (fox.line, fox.request.n, fox.request.seed, fox.request.prompt_extend) == (2, 2, 7, False)
    assert (
        cat.line == 3 and cat.request.mode is Mode.EDIT and cat.request.images == ["https://x/a.png", "https://x/b.png"]
    )
    assert cat.request.prompt == "a cat, sitting"


def test_jsonl_takes_what_submit_json_takes(tmp_path: Path) -> None:
    lines = [
        {"prompt": "it moves", "img_url": "https://example.com/a.png", "duration": 5},  # a skill script's keys
        {"prompt": "a lighthouse", "model": "wan2.6-t2v", "size": "1920*1080"},
    ]
    path = write(tmp_path, "b.jsonl", "\n".join(json.dumps(x) for x in lines) + "\n\n")
    moving, lighthouse = load(path)
    assert moving.request.mode is Mode.I2V and moving.request.images == ["https://example.com/a.png"]
    assert lighthouse.request.mode is Mode.T2V and lighthouse.line == 2


def test_templates_make_every_combination(tmp_path: Path) -> None:
    path = write(tmp_path, "t.txt", "a {subject} in {style} style {{literally}}\na plain {subject}\nno variables\n")
    jobs = load(path, variables=parse_vars(["subject=cat, dog", "style=ink,oil,pixel"]))
    first = [j.request.prompt for j in jobs if j.line == 1]
    assert len(first) == 6 and "a dog in pixel style {literally}" in first
    assert [j.request.prompt for j in jobs if j.line == 2] == ["a plain cat", "a plain dog"]
    assert [j.request.prompt for j in jobs if j.line == 3] == ["no variables"]
    assert dict(jobs[0].values) == {"subject": "cat", "style": "ink"}


def test_a_variable_with_no_values_or_used_by_no_line_refuses(tmp_path: Path) -> None:
    path = write(tmp_path, "t.txt", "a {subject}\na {mood} sky\n")
    with pytest.raises(BatchError) as info:
        load(path, variables=parse_vars(["subject=cat"]))
    (problem,) = info.value.problems
    assert (problem.line, problem.field) == (2, "prompt") and "--var mood=" in problem.message
    with pytest.raises(BatchError, match="no line uses \\{colour\\}"):
        load(path, variables=parse_vars(["subject=cat", "mood=grey", "colour=red"]))
    with pytest.raises(BatchError, match="NAME=value1,value2"):
        parse_vars(["subject"])


def test_seed_sweeps(tmp_path: Path) -> None:
    assert parse_seeds("1..8") == [1, 2, 3, 4, 5, 6, 7, 8]
    assert parse_seeds("3, 1,3") == [3, 1]
    for bad in ("8..1", "x", "1..", "-1", "2147483648"):
        with pytest.raises(BatchError):
            parse_seeds(bad)
    path = write(tmp_path, "s.txt", "a {subject}\n")
    jobs = load(path, variables=parse_vars(["subject=cat,dog"]), seeds=parse_seeds("1..8"))
    assert len(jobs) == 16
    assert sorted(j.request.seed or 0 for j in jobs if j.request.prompt == "a dog") == list(range(1, 9))


def test_one_bad_line_refuses_the_whole_batch_and_names_line_and_field(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "b.csv",
        "prompt,size,n\nfine,1280*1280,1\nalso fine,,2\ntoo small,10*10,1\nfine again,,\nbad count,,x\n",
    )
    with pytest.raises(BatchError) as info:
        load(path)
    problems = [(p.line, p.field) for p in info.value.problems]
    assert problems == [(4, "size"), (6, "n")]
    assert "line 4: size:" in str(info.value) and "nothing was queued" in str(info.value)


@pytest.mark.parametrize(
    ("name", "text", "line", "field"),
    [
        ("b.jsonl", '{"prompt": "ok"}\n{"prompt": "broken"\n', 2, "json"),
        ("b.jsonl", '{"prompt": "ok"}\n["a list"]\n', 2, "json"),
        ("b.jsonl", '{"prompt": "ok"}\n{"prompt": "x", "colour": "red"}\n', 2, "colour"),
        ("b.jsonl", '{"prompt": "ok", "model": "wan9"}\n', 1, "model"),
        ("b.csv", "prompt,n\nok,1\nx,1,extra\n", 3, "columns"),
        ("b.csv", "prompt,audio\nok,maybe\n", 2, "audio"),
        ("b.txt", "ok\n" + "x" * 5000 + "\n", 2, "prompt"),
    ],
)
def test_bad_lines_of_every_format(tmp_path: Path, name: str, text: str, line: int, field: str) -> None:
    with pytest.raises(BatchError) as info:
        load(write(tmp_path, name, text))
    assert (info.value.problems[0].line, info.value.problems[0].field) == (line, field)


def test_unreadable_or_empty_files(tmp_path: Path) -> None:
    with pytest.raises(QwentuiError, match="cannot read"):
        load(tmp_path / "missing.txt")
    with pytest.raises(QwentuiError, match="no jobs"):
        load(write(tmp_path, "e.txt", "# only a comment\n"))
    (tmp_path / "bin.txt").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(QwentuiError, match="not UTF-8"):
        load(tmp_path / "bin.txt")
    with pytest.raises(BatchError, match="header"):
        load(write(tmp_path, "h.csv", "prompt,,n\na,,1\n"))
