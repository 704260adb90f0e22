"""Sidecar files: per-image overrides of a rule, dropped next to the image.

`cat.txt` beside `cat.png` is the prompt for that image (UTF-8 text, replacing the rule's prompt).
`cat.json` holds any request parameters (`{"duration": 10, "seed": 7, "negative_prompt": "..."}`, also
`prompt` and `model`), flat or under a `"parameters"` key; they are merged over the rule's. When both give a
prompt, the .txt wins: it is the more specific file. A kf2v pair `x_first.png` + `x_last.png` uses `x.txt`
and `x.json`. Sidecars move with their image (into `.processing/`, then `done/` or `failed/`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qwentui.core.dropfolder.rules import PARAMETER_FIELDS, Rule, rule_request
from qwentui.core.requests import GenerationRequest

MAX_SIDECAR_BYTES = 64 * 1024
SIDECAR_SUFFIXES = (".txt", ".json")


class SidecarError(ValueError):
    """A sidecar cannot be used; the message is one sentence for `failed/<name>.reason.txt`."""


@dataclass
class Overrides:
    prompt: str | None = None
    model: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)


def sidecar_paths(folder: Path, stem: str) -> list[Path]:
    return [folder / f"{stem}{suffix}" for suffix in SIDECAR_SUFFIXES]


def read_overrides(paths: list[Path]) -> Overrides:
    """The overrides in the existing sidecars among `paths` (SidecarError when one is unusable)."""
    out = Overrides()
    text_prompt: str | None = None
    for path in paths:
        if not path.is_file():
            continue
        raw = _read(path)
        if path.suffix.lower() == ".txt":
            text_prompt = raw.strip()
        else:
            _merge_json(out, raw, path.name)
    if text_prompt:
        out.prompt = text_prompt
    return out


def build_request(rule: Rule, images: list[str], overrides: Overrides) -> GenerationRequest:
    params = {**rule.parameters, **overrides.parameters}
    prompt = overrides.prompt if overrides.prompt is not None else rule.prompt
    return rule_request(rule, list(images), prompt=prompt, params=params, model=overrides.model)


def _read(path: Path) -> str:
    try:
        size = path.stat().st_size
        if size > MAX_SIDECAR_BYTES:
            raise SidecarError(
                f"the sidecar {path.name} is {size // 1024} KB; at most {MAX_SIDECAR_BYTES // 1024} KB is read"
            )
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise SidecarError(f"the sidecar {path.name} is not UTF-8 text") from None
    except OSError as exc:
        raise SidecarError(f"the sidecar {path.name} cannot be read ({exc.strerror or exc})") from None


def _merge_json(out: Overrides, raw: str, name: str) -> None:
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise SidecarError(f"the sidecar {name} is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise SidecarError(f'the sidecar {name} must hold a JSON object such as {{"duration": 5}}')
    nested = data.pop("parameters", {})
    if not isinstance(nested, dict):
        raise SidecarError(f'"parameters" in the sidecar {name} must be an object')
    data.update(nested)
    prompt = data.pop("prompt", None)
    model = data.pop("model", None)
    if prompt is not None and not isinstance(prompt, str):
        raise SidecarError(f'"prompt" in the sidecar {name} must be a string')
    if model is not None and not isinstance(model, str):
        raise SidecarError(f'"model" in the sidecar {name} must be a string')
    unknown = sorted(set(data) - PARAMETER_FIELDS)
    if unknown:
        raise SidecarError(
            f"the sidecar {name} has unknown key(s) {', '.join(unknown)}; use "
            f"{', '.join(sorted(PARAMETER_FIELDS | {'prompt', 'model'}))}"
        )
    out.prompt = prompt if prompt is not None else out.prompt
    out.model = model or out.model
    out.parameters.update(data)
