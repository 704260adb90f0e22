"""Where qwentui talks to and with what key: regions, base URLs, key discovery, data folders.

Key discovery follows the skill scripts: `QWEN_API_KEY`, then `DASHSCOPE_API_KEY`, from the environment or from
`./.env` (python-dotenv; the environment always wins). The key itself is kept in an `ApiKey` whose repr and
str never show it, so it cannot leak through a log line, a traceback or an f-string by accident.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from dotenv import dotenv_values
from platformdirs import user_config_dir, user_data_dir

from qwentui.core.errors import MissingKey, QwentuiError

APP_NAME = "qwentui"

REGIONS: dict[str, str] = {
    "ap-southeast-1": "https://dashscope-intl.aliyuncs.com",
    "cn-beijing": "https://dashscope.aliyuncs.com",
    "us-east-1": "https://dashscope-us.aliyuncs.com",
}
REGION_ALIASES = {
    "singapore": "ap-southeast-1",
    "intl": "ap-southeast-1",
    "sg": "ap-southeast-1",
    "beijing": "cn-beijing",
    "cn": "cn-beijing",
    "china": "cn-beijing",
    "virginia": "us-east-1",
    "us": "us-east-1",
}
DEFAULT_REGION = "ap-southeast-1"
KEY_VARS = ("QWEN_API_KEY", "DASHSCOPE_API_KEY")

MISSING_KEY_HELP = (
    "no API key found: set QWEN_API_KEY or DASHSCOPE_API_KEY in the environment, or put "
    "DASHSCOPE_API_KEY=sk-... in a .env file in this folder (create a key in the QwenCloud / Model Studio "
    "console). To try qwentui without a key, run `qwentui --demo`."
)


class ApiKey:
    """An API key that never shows itself: str() and repr() are masked; `.reveal()` is for the auth header."""

    __slots__ = ("_value", "source")

    def __init__(self, value: str, source: str) -> None:
        self._value = value
        self.source = source

    def reveal(self) -> str:
        return self._value

    @property
    def is_coding_plan(self) -> bool:
        return self._value.startswith("sk-sp-")

    def __repr__(self) -> str:
        return f"ApiKey(<hidden>, source={self.source!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ApiKey) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def read_env(env: Mapping[str, str] | None = None, cwd: Path | None = None) -> dict[str, str]:
    """The environment merged over `./.env` (existing variables are never overridden by the file)."""
    merged: dict[str, str] = {}
    dotenv = (cwd or Path.cwd()) / ".env"
    if dotenv.is_file():
        try:
            merged.update({k: v for k, v in dotenv_values(dotenv).items() if v is not None})
        except (OSError, UnicodeDecodeError):
            pass  # an unreadable .env is the same as none; the missing-key message says what to do
    merged.update(os.environ if env is None else env)
    return merged


def find_api_key(env: Mapping[str, str] | None = None, cwd: Path | None = None) -> ApiKey:
    """The API key, or MissingKey with a message that says how to set one."""
    values = read_env(env, cwd)
    for var in KEY_VARS:
        value = (values.get(var) or "").strip()
        if value:
            source = var if (env if env is not None else os.environ).get(var) else f"{var} in .env"
            return ApiKey(value, source)
    raise MissingKey(MISSING_KEY_HELP)


def coding_plan_warning(key: ApiKey) -> str | None:
    if key.is_coding_plan:
        return (
            "warning: this is a Coding Plan key (sk-sp-...); Coding Plan keys cannot call the image and "
            "video APIs. Use a pay-as-you-go Model Studio key."
        )
    return None


class ConfigError(QwentuiError):
    """A setting has a value we cannot use."""


def resolve_base_url(region: str | None = None, base_url: str | None = None) -> str:
    """The native API root (ending in /api/v1) for an explicit URL or a region name.

    An explicit URL with no path gets `/api/v1` appended (as the skill scripts do with QWEN_BASE_URL); a URL
    whose path already ends in /api/v1 is used as it is.
    """
    if base_url:
        parts = urlsplit(base_url.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"base URL {base_url!r} must look like https://host[:port]")
        path = parts.path.rstrip("/")
        if not path.endswith("/api/v1"):
            path = path + "/api/v1" if path and path != "/" else "/api/v1"
        return f"{parts.scheme}://{parts.netloc}{path}"
    name = (region or DEFAULT_REGION).strip().lower()
    name = REGION_ALIASES.get(name, name)
    if name not in REGIONS:
        known = ", ".join([*REGIONS, *REGION_ALIASES])
        raise ConfigError(f"unknown region {region!r}; use one of: {known}, or set QWEN_BASE_URL")
    return REGIONS[name] + "/api/v1"


def base_url_from_env(env: Mapping[str, str] | None = None, cwd: Path | None = None) -> str:
    values = read_env(env, cwd)
    return resolve_base_url(values.get("QWEN_REGION") or None, values.get("QWEN_BASE_URL") or None)


def private_dir(path: Path) -> Path:
    """Create `path` and any missing parents readable by the user only (mkdir's `mode` skips the parents)."""
    missing = []
    probe = path
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:
            pass
    return path


def write_private(path: Path, text: str, partial: str = ".part") -> None:
    """Write a file readable by the user only (0600), whole or not at all: to the name plus `partial`, synced,
    then renamed."""
    temporary = path.with_name(path.name + partial)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)


def data_dir(env: Mapping[str, str] | None = None) -> Path:
    values = os.environ if env is None else env
    return Path(values.get("QWENTUI_HOME") or user_data_dir(APP_NAME, appauthor=False)).expanduser()


def config_dir(env: Mapping[str, str] | None = None) -> Path:
    values = os.environ if env is None else env
    home = values.get("QWENTUI_HOME")
    return Path(home).expanduser() if home else Path(user_config_dir(APP_NAME, appauthor=False))


@dataclass(frozen=True)
class Paths:
    """Where the database, the outputs and the drop folders live."""

    db: Path
    output: Path
    drop: Path
    settings: Path

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, db: Path | None = None, output: Path | None = None
    ) -> Paths:
        values = os.environ if env is None else env
        home = data_dir(values)
        return cls(
            db=db or Path(values.get("QWENTUI_DB") or home / "jobs.db").expanduser(),
            output=output or Path(values.get("QWENTUI_OUTPUT") or home / "output").expanduser(),
            drop=Path(values.get("QWENTUI_DROP") or home / "drop").expanduser(),
            settings=Path(values.get("QWENTUI_SETTINGS") or config_dir(values) / "settings.toml").expanduser(),
        )
