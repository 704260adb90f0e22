"""Many requests from one file: text (one prompt per line), CSV or JSONL, templates and seed sweeps.

Every line is turned into requests and validated before anything is queued; a problem names its line and
field, and one bad line refuses the whole batch (all or nothing). Templates: `{subject}` in any text field takes
each value of `--var subject=cat,dog`; a line with several variables makes a job for every combination (their
product); `{{` and `}}` are literal braces. A seed sweep (`--seeds 1..8`) repeats every job once per seed.

Front ends (the CLI's `qwentui batch`, later the composer) parse here; nothing in this module sends anything.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qwentui.core.catalog import SEED_MAX
from qwentui.core.errors import QwentuiError
from qwentui.core.requests import GenerationRequest, InvalidRequest, validate

FORMATS = ("txt", "csv", "jsonl")
INT_FIELDS = frozenset({"n", "seed", "duration", "max_images"})
BOOL_FIELDS = frozenset({"audio", "prompt_extend", "watermark", "enable_sequential", "thinking_mode"})
JSON_FIELDS = frozenset({"media", "vace", "bbox_list", "color_palette"})
LIST_FIELDS = frozenset({"images", "reference_urls", "ref_images_url"})  # CSV: values separated by "|"
MAX_SEEDS = 10_000
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class LineProblem:
    line: int  # 0: not about a line (an option)
    field: str
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        return f"{where}{self.field}: {self.message}"


class BatchError(QwentuiError):
    """The batch cannot be queued; `problems` lists every reason, each with its line and field."""

    def __init__(self, problems: Sequence[LineProblem], source: str = "the batch") -> None:
        self.problems = list(problems)
        shown = "; ".join(str(p) for p in self.problems[:3])
        more = f" (and {len(self.problems) - 3} more)" if len(self.problems) > 3 else ""
        super().__init__(f"{source}: {shown}{more}; nothing was queued")


@dataclass(frozen=True)
class BatchJob:
    line: int
    request: GenerationRequest
    values: Mapping[str, str] = field(default_factory=dict)  # the template values this job used


@dataclass(frozen=True)
class Row:
    """One line of the file as request fields (before templates)."""

    line: int
    fields: dict[str, Any]


def parse_vars(specs: Sequence[str]) -> dict[str, list[str]]:
    """`["subject=cat,dog", "style=ink"]` -> {"subject": ["cat", "dog"], "style": ["ink"]}."""
    out: dict[str, list[str]] = {}
    problems = []
    for spec in specs:
        name, sep, raw = spec.partition("=")
        name = name.strip()
        values = [v.strip() for v in raw.split(",") if v.strip()]
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) or not values:
            problems.append(LineProblem(0, "--var", f"{spec!r} must look like NAME=value1,value2"))
        elif name in out:
            problems.append(LineProblem(0, "--var", f"{name} is given twice; list all its values in one --var"))
        else:
            out[name] = values
    if problems:
        raise BatchError(problems, "the options")
    return out


def parse_seeds(spec: str) -> list[int]:
    """`1..8` (inclusive), `1,5,9`, or one number -> the seeds, each within 0..2147483647."""
    seeds: list[int] = []
    try:
        for part in spec.split(","):
            part = part.strip()
            if ".." in part:
                lo, hi = (int(x) for x in part.split("..", 1))
                if hi < lo:
                    raise ValueError
                if hi - lo + 1 > MAX_SEEDS:
                    raise BatchError([LineProblem(0, "--seeds", f"{spec!r} is more than {MAX_SEEDS} seeds")])
                seeds.extend(range(lo, hi + 1))
            else:
                seeds.append(int(part))
    except ValueError:
        raise BatchError(
            [LineProblem(0, "--seeds", f"{spec!r} must be a range like 1..8 or a list like 1,5,9")], "the options"
        ) from None
    bad = [s for s in seeds if not 0 <= s <= SEED_MAX]
    if bad:
        raise BatchError([LineProblem(0, "--seeds", f"{bad[0]} is outside 0..{SEED_MAX}")], "the options")
    return list(dict.fromkeys(seeds))


def detect_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    return "txt"


def read_rows(text: str, fmt: str) -> tuple[list[Row], list[LineProblem]]:
    """The file's lines as request fields, and the problems of the lines that cannot be read (left out)."""
    if fmt == "txt":
        rows = [
            Row(n, {"prompt": line.strip()})
            for n, line in enumerate(text.splitlines(), start=1)
            if line.strip() and not line.lstrip().startswith("#")
        ]
        return rows, []
    if fmt == "jsonl":
        return _jsonl_rows(text)
    if fmt == "csv":
        return _csv_rows(text)
    raise BatchError([LineProblem(0, "--format", f"{fmt!r} is not one of {', '.join(FORMATS)}")], "the options")


def _jsonl_rows(text: str) -> tuple[list[Row], list[LineProblem]]:
    rows: list[Row] = []
    problems: list[LineProblem] = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(LineProblem(n, "json", f"not valid JSON: {exc.msg} at column {exc.colno}"))
            continue
        if not isinstance(data, dict):
            problems.append(LineProblem(n, "json", 'must be an object of request fields, e.g. {"prompt": "a cat"}'))
            continue
        rows.append(Row(n, data))
    return rows, problems


def _csv_rows(text: str) -> tuple[list[Row], list[LineProblem]]:
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        return [], []
    names = [h.strip() for h in header]
    if not any(names):
        raise BatchError([LineProblem(1, "header", "the first line must name the columns (prompt, model, ...)")])
    blank = [i + 1 for i, name in enumerate(names) if not name]
    if blank:
        raise BatchError([LineProblem(1, "header", f"column {blank[0]} has no name")])
    rows: list[Row] = []
    problems: list[LineProblem] = []
    start = reader.line_num + 1
    for cells in reader:
        n, start = start, reader.line_num + 1
        if not any(c.strip() for c in cells):
            continue
        if len(cells) > len(names):
            problems.append(LineProblem(n, "columns", f"{len(cells)} cells but the header names {len(names)}"))
            continue
        fields: dict[str, Any] = {}
        bad = False
        for name, cell in zip(names, cells, strict=False):
            if not cell.strip():
                continue
            try:
                fields[name] = _cell(name, cell.strip())
            except ValueError as exc:
                problems.append(LineProblem(n, name, str(exc)))
                bad = True
        if not bad:
            rows.append(Row(n, fields))
    return rows, problems


def _cell(name: str, value: str) -> Any:
    """A CSV cell as the request field's type."""
    if name in INT_FIELDS:
        try:
            return int(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a whole number") from None
    if name in BOOL_FIELDS:
        lowered = value.lower()
        if lowered in ("true", "yes", "on", "1"):
            return True
        if lowered in ("false", "no", "off", "0"):
            return False
        raise ValueError(f"{value!r} is not true or false")
    if name in JSON_FIELDS:
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not valid JSON: {exc.msg}") from None
    if name in LIST_FIELDS:
        return [part.strip() for part in value.split("|") if part.strip()]
    return value


def _names(value: Any) -> Iterator[str]:
    """The template variables a field value uses."""
    if isinstance(value, str):
        for m in _PLACEHOLDER.finditer(value):
            if m.group(1):
                yield m.group(1)
    elif isinstance(value, list):
        for item in value:
            yield from _names(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _names(item)


def _fill(value: Any, values: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return _PLACEHOLDER.sub(lambda m: values[m.group(1)] if m.group(1) else m.group(0)[0], value)
    if isinstance(value, list):
        return [_fill(item, values) for item in value]
    if isinstance(value, dict):
        return {k: _fill(item, values) for k, item in value.items()}
    return value


def expand(
    rows: Sequence[Row],
    *,
    defaults: Mapping[str, Any] | None = None,
    variables: Mapping[str, Sequence[str]] | None = None,
    seeds: Sequence[int] = (),
    check_files: bool = True,
    problems: Sequence[LineProblem] = (),
) -> list[BatchJob]:
    """Every job of the batch, validated. Raises BatchError listing every problem (line and field), those
    given (lines that could not be read) first."""
    variables = variables or {}
    problems = list(problems)
    jobs: list[BatchJob] = []
    used: set[str] = set()
    verdicts: dict[str, list[Any]] = {}  # the same fields twice (a seed sweep) are validated once
    for row in rows:
        merged = {**(defaults or {}), **row.fields}
        wanted: dict[str, None] = {}
        missing = [
            LineProblem(row.line, key, f"{{{name}}} has no values: give --var {name}=a,b")
            for key, value in merged.items()
            for name in _names(value)
            if name not in variables
        ]
        if missing:
            problems += missing
            continue
        for value in merged.values():
            wanted.update(dict.fromkeys(_names(value)))
        used.update(wanted)
        combos = itertools.product(*(variables[name] for name in wanted)) if wanted else [()]
        for combo in combos:
            values = dict(zip(wanted, combo, strict=True))
            data = _fill(merged, values) if values else dict(merged)
            sweep: list[int | None] = list(seeds) or [None]
            for seed in sweep:
                if seed is not None:
                    data = {**data, "seed": seed}
                try:
                    request = GenerationRequest.from_dict(data)
                except InvalidRequest as exc:
                    problems += [LineProblem(row.line, p.field, p.message) for p in exc.problems]
                    break
                except (TypeError, ValueError) as exc:
                    problems.append(LineProblem(row.line, "request", str(exc)))
                    break
                # a seed sweep validates once per request: the seeds themselves were checked by parse_seeds
                swept = {k: v for k, v in data.items() if k != "seed"} if seed is not None else data
                key = json.dumps(swept, sort_keys=True, default=str)
                if key not in verdicts:
                    verdicts[key] = list(validate(request, check_files=check_files))
                if verdicts[key]:
                    problems += [LineProblem(row.line, p.field, p.message) for p in verdicts[key]]
                    break
                jobs.append(BatchJob(row.line, request, values))
            else:
                continue
            break  # one report per line is enough: its other combinations share the problem
    unused = [name for name in variables if name not in used]
    if unused and not problems:
        problems += [LineProblem(0, "--var", f"no line uses {{{name}}}") for name in unused]
    if problems:
        raise BatchError(sorted(problems, key=lambda p: p.line))
    return jobs


def load(
    path: Path,
    fmt: str | None = None,
    *,
    defaults: Mapping[str, Any] | None = None,
    variables: Mapping[str, Sequence[str]] | None = None,
    seeds: Sequence[int] = (),
    check_files: bool = True,
) -> list[BatchJob]:
    """Read, expand and validate a batch file (BatchError / QwentuiError with a clear message)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise QwentuiError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise QwentuiError(f"cannot read {path}: {exc.strerror or exc}") from None
    rows, problems = read_rows(text, fmt or detect_format(path))
    if not rows and not problems:
        raise QwentuiError(f"{path} has no jobs (empty, or only comments)")
    return expand(rows, defaults=defaults, variables=variables, seeds=seeds, check_files=check_files, problems=problems)
