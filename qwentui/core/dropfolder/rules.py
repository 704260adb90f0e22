"""Drop-folder rules: which folder feeds which mode, model, prompt and parameters, read from settings.toml.

A rule is one watched folder. Rules come from `[[drop.rules]]` in the settings file; with none there, two
defaults are used: `<drop>/animate/` (image to video, wan2.6-i2v-flash) and `<drop>/edit/` (wan2.6-image
edit). Every rule is checked when it is loaded (mode, model, parameters, folder), so a typo is reported at
start-up with the rule's name instead of failing each dropped file later.

First + last frame (kf2v) rules take a *pair* of files named `NAME_first.<ext>` and `NAME_last.<ext>`; the
pair is submitted once both halves are complete. (Suffixes were chosen over `NAME.1.png` because they say
which frame is which, and a half on its own is easy to spot in the folder.)

Wan 2.7 (`wan2.7-i2v`) takes its frames as `media[]` instead of `images`: an i2v rule with that model sends the
dropped file as the first frame, and a kf2v rule with that model (mode = "kf2v", model = "wan2.7-i2v") sends
the pair as first + last frame, in one i2v request (`rule_request` builds either shape).

    [drop]
    root = "~/Pictures/qwentui"  # default: the `drop` folder in the data folder (env QWENTUI_DROP)
    quiet = 1.0            # seconds a file must stay unchanged before it is taken
    rescan = 60            # full rescan every N seconds (missed events, network mounts)
    poll = 0               # > 0: poll every N seconds instead of OS events (NFS, SMB, Docker volumes)

    [[drop.rules]]
    name = "animate"
    folder = "animate"     # relative to the drop folder, or an absolute path
    mode = "i2v"
    model = "wan2.6-i2v-flash"
    prompt = "slow push-in, the scene comes alive"
    outputs = "link"       # link | copy | none: results placed beside the original in done/
    enabled = true
    parameters = { duration = 5, resolution = "720P" }
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, cast

from qwentui.core.catalog import DEFAULT_MODEL, ImageRule, Mode, ModelMode, UnknownModel, lookup
from qwentui.core.errors import QwentuiError
from qwentui.core.requests import GenerationRequest, validate

DROP_MODES = (Mode.I2V, Mode.EDIT, Mode.I2I, Mode.KF2V)
OUTPUTS = ("link", "copy", "none")
Outputs = Literal["link", "copy", "none"]
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# Fields a rule cannot set in `parameters`: the rule itself decides them (images are the dropped files).
RESERVED = frozenset({"mode", "images", "media", "model", "prompt"})
FRAME_TYPES = ("first_frame", "last_frame")  # media[] types of a dropped file, or of a pair's two halves
PARAMETER_FIELDS = frozenset(f.name for f in fields(GenerationRequest)) - RESERVED - {"vace", "function"}

DEFAULT_I2V_PROMPT = "The scene comes to life with gentle, natural motion and a slow camera push-in."
DEFAULT_EDIT_PROMPT = (
    "Improve this photo: balance the lighting and colours and sharpen the details, "
    "keeping the content and composition unchanged."
)


class RuleError(QwentuiError):
    """A drop-folder rule in the settings file cannot be used; the message names the rule and the fix."""


@dataclass(frozen=True)
class Rule:
    name: str
    folder: Path
    mode: Mode
    model: str
    prompt: str = ""
    parameters: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    outputs: Outputs = "link"
    enabled: bool = True

    @property
    def images_per_job(self) -> int:
        return 2 if self.mode is Mode.KF2V else 1

    @property
    def media_row(self) -> ModelMode | None:
        """The catalog row when this rule's files go as `media[]` frames (wan2.7-i2v), else None."""
        return media_row(self.model) if self.mode in (Mode.I2V, Mode.KF2V) else None


def media_row(model: str) -> ModelMode | None:
    """The i2v row of a model that takes its frames as `media[]` (first and last frame), or None."""
    try:
        row = lookup(model, Mode.I2V)
    except UnknownModel:
        return None
    return row if all(row.media_slot(kind) is not None for kind in FRAME_TYPES) else None


def frame_rule(rule: Rule) -> ImageRule:
    """The limits a dropped image must meet for this rule's model (a media model's: its first frame's)."""
    row = rule.media_row
    if row is not None:
        slot = row.media_slot(FRAME_TYPES[0])
        assert slot is not None and slot.image is not None
        return slot.image
    return lookup(rule.model, rule.mode).images


def rule_request(
    rule: Rule, images: list[str], *, prompt: str, params: Mapping[str, Any], model: str | None = None
) -> GenerationRequest:
    """The request for these dropped files: `images`, or for a media model (wan2.7-i2v) `media[]` frames,
    the first file the first frame and a pair's second the last frame, sent as i2v."""
    model = model or rule.model
    if rule.mode in (Mode.I2V, Mode.KF2V) and media_row(model) is not None:
        media = [{"type": kind, "url": url} for kind, url in zip(FRAME_TYPES, images, strict=False)]
        return GenerationRequest(mode=Mode.I2V, model=model, prompt=prompt, media=media, **dict(params))
    return GenerationRequest(mode=rule.mode, model=model, prompt=prompt, images=list(images), **dict(params))


@dataclass(frozen=True)
class DropSettings:
    root: Path
    rules: list[Rule]
    quiet: float = 1.0
    rescan: float = 60.0
    poll: float = 0.0  # 0 = OS events; > 0 = poll every `poll` seconds


def default_rules(root: Path) -> list[Rule]:
    return [
        Rule("animate", root / "animate", Mode.I2V, "wan2.6-i2v-flash", DEFAULT_I2V_PROMPT),
        Rule("edit", root / "edit", Mode.EDIT, "wan2.6-image", DEFAULT_EDIT_PROMPT),
    ]


def load_settings(settings_file: Path, root: Path) -> DropSettings:
    """The `[drop]` table of the settings file (defaults when the file or the table is missing)."""
    data: dict[str, Any] = {}
    if settings_file.is_file():
        try:
            data = tomllib.loads(settings_file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise RuleError(f"cannot read {settings_file}: {exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise RuleError(f"{settings_file} is not valid TOML: {exc}") from None
    drop = data.get("drop", {})
    if not isinstance(drop, dict):
        raise RuleError(f"{settings_file}: [drop] must be a table")
    where = f"{settings_file}: [drop]"
    unknown = sorted(set(drop) - {"root", "quiet", "rescan", "poll", "rules"})
    if unknown:
        raise RuleError(
            f"{where}: unknown key(s) {', '.join(unknown)}; [drop] has root, quiet, rescan, poll, and [[drop.rules]]"
        )
    if "root" in drop:
        root = _path(drop["root"], root, f"{where} root")
    raw_rules = drop.get("rules")
    if raw_rules is None:
        rules = default_rules(root)
    elif not isinstance(raw_rules, list):
        raise RuleError(f"{where} rules must be written as [[drop.rules]] tables")
    else:
        rules = parse_rules(raw_rules, root, str(settings_file))
    return DropSettings(
        root,
        rules,
        quiet=_seconds(drop, "quiet", 1.0, where),
        rescan=_seconds(drop, "rescan", 60.0, where),
        poll=_seconds(drop, "poll", 0.0, where),
    )


def parse_rules(raw: list[Any], root: Path, source: str = "settings") -> list[Rule]:
    rules: list[Rule] = []
    for i, item in enumerate(raw, start=1):
        label = f"{source}: drop.rules[{i}]"
        if not isinstance(item, dict):
            raise RuleError(f"{label} must be a table")
        if isinstance(item.get("name"), str):
            label += f" ({item['name']!r})"
        rules.append(parse_rule(item, root, label))
    _check_unique(rules, source)
    return rules


def parse_rule(item: Mapping[str, Any], root: Path, label: str = "rule") -> Rule:
    unknown = sorted(set(item) - {"name", "folder", "mode", "model", "prompt", "parameters", "outputs", "enabled"})
    if unknown:
        raise RuleError(
            f"{label}: unknown key(s) {', '.join(unknown)}; a rule has name, folder, mode, model, "
            "prompt, parameters, outputs, enabled"
        )
    name = item.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise RuleError(f"{label}: name must be letters, digits, '.', '_' or '-' (it names the folder too)")
    mode = _mode(item.get("mode"), label)
    model = item.get("model") or None
    if model is not None and not isinstance(model, str):
        raise RuleError(f"{label}: model must be a string")
    try:
        row = lookup(model, mode) if model else None
    except UnknownModel as exc:
        # first + last frame through media[]: a kf2v pair rule may name a media model (wan2.7-i2v)
        row = media_row(model) if model and mode is Mode.KF2V else None
        if row is None:
            raise RuleError(f"{label}: {exc}") from None
    prompt = item.get("prompt", "")
    if not isinstance(prompt, str):
        raise RuleError(f"{label}: prompt must be a string")
    outputs = item.get("outputs", "link")
    if outputs not in OUTPUTS:
        raise RuleError(f"{label}: outputs must be one of {', '.join(OUTPUTS)} (got {outputs!r})")
    enabled = item.get("enabled", True)
    if not isinstance(enabled, bool):
        raise RuleError(f"{label}: enabled must be true or false")
    params = item.get("parameters", {})
    if not isinstance(params, dict):
        raise RuleError(f"{label}: parameters must be a table, e.g. parameters = {{ duration = 5 }}")
    folder = _path(item.get("folder", name), root, f"{label} folder")
    rule = Rule(
        name,
        folder,
        mode,
        row.model if row else model or DEFAULT_MODEL[mode],
        prompt,
        dict(params),
        cast(Outputs, outputs),
        enabled,
    )
    problems = check_parameters(rule)
    if problems:
        raise RuleError(f"{label}: " + "; ".join(problems))
    return rule


def check_parameters(rule: Rule, params: Mapping[str, Any] | None = None, prompt: str | None = None) -> list[str]:
    """Why `params` (the rule's by default) cannot be sent with this rule's model; empty when they can.

    Image files are stood in for by placeholders: the dropped files are checked on their own when they arrive.
    An empty prompt is not a problem here, because a sidecar may bring one.
    """
    params = rule.parameters if params is None else params
    bad = sorted(set(params) - PARAMETER_FIELDS)
    if bad:
        allowed = ", ".join(sorted(PARAMETER_FIELDS - {"max_images"}))
        return [f"{k} is not a parameter (use one of: {allowed})" for k in bad]
    text = rule.prompt if prompt is None else prompt
    placeholders = [f"oss://placeholder/{i}.png" for i in range(rule.images_per_job)]
    try:
        req = rule_request(rule, placeholders, prompt=text or "placeholder", params=params)
    except (TypeError, ValueError) as exc:
        return [str(exc)]
    return [str(p) for p in validate(req, check_files=False)]


def _mode(value: Any, label: str) -> Mode:
    names = ", ".join(m.value for m in DROP_MODES)
    try:
        mode = Mode(value)
    except ValueError:
        raise RuleError(f"{label}: mode must be one of {names} (got {value!r})") from None
    if mode not in DROP_MODES:
        raise RuleError(f"{label}: mode {mode.value} takes no dropped image; use one of {names}")
    return mode


def _path(value: Any, root: Path, label: str) -> Path:
    if not isinstance(value, str) or not value.strip():
        raise RuleError(f"{label} must be a folder path")
    path = Path(value).expanduser()
    return path if path.is_absolute() else root / path


def _seconds(table: Mapping[str, Any], key: str, default: float, where: str) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise RuleError(f"{where} {key} must be a number of seconds >= 0 (got {value!r})")
    return float(value)


def _check_unique(rules: list[Rule], source: str) -> None:
    names: set[str] = set()
    folders: dict[Path, str] = {}
    for rule in rules:
        if rule.name in names:
            raise RuleError(f"{source}: two drop rules are named {rule.name!r}; names must be unique")
        names.add(rule.name)
        key = rule.folder.resolve()
        if key in folders:
            raise RuleError(
                f"{source}: drop rules {folders[key]!r} and {rule.name!r} watch the same folder {rule.folder}"
            )
        folders[key] = rule.name
