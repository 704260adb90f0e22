"""Key discovery, .env handling, ApiKey masking, Coding Plan warning, base URLs and data paths."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest

from qwentui.core.config import (
    KEY_VARS,
    MISSING_KEY_HELP,
    REGION_ALIASES,
    REGIONS,
    ApiKey,
    ConfigError,
    Paths,
    base_url_from_env,
    coding_plan_warning,
    config_dir,
    data_dir,
    find_api_key,
    read_env,
    resolve_base_url,
)
from qwentui.core.errors import MissingKey, QwentuiError

KEY = "sk-0123456789abcdef0123456789abcdef"
OTHER = "sk-fedcba9876543210fedcba9876543210"


@pytest.fixture
def empty_dir(tmp_path: Path) -> Path:
    d = tmp_path / "cwd"
    d.mkdir()
    return d


def write_env(folder: Path, text: str) -> Path:
    path = folder / ".env"
    path.write_text(text)
    return path


# ---- key discovery ----------------------------------------------------------------------------------------


def test_key_vars_order() -> None:
    assert KEY_VARS == ("QWEN_API_KEY", "DASHSCOPE_API_KEY")


def test_qwen_key_wins_over_dashscope(empty_dir: Path) -> None:
    key = find_api_key({"QWEN_API_KEY": KEY, "DASHSCOPE_API_KEY": OTHER}, empty_dir)
    assert key.reveal() == KEY
    assert key.source == "QWEN_API_KEY"


def test_dashscope_key_when_qwen_missing_or_blank(empty_dir: Path) -> None:
    for env in (
        {"DASHSCOPE_API_KEY": OTHER},
        {"QWEN_API_KEY": "", "DASHSCOPE_API_KEY": OTHER},
        {"QWEN_API_KEY": "   ", "DASHSCOPE_API_KEY": OTHER},
    ):
        key = find_api_key(env, empty_dir)
        assert key.reveal() == OTHER
        assert key.source == "DASHSCOPE_API_KEY"


def test_key_is_stripped(empty_dir: Path) -> None:
    assert find_api_key({"QWEN_API_KEY": f"  {KEY}\n"}, empty_dir).reveal() == KEY


def test_dotenv_in_cwd_is_read(empty_dir: Path) -> None:
    write_env(empty_dir, f"# my keys\nDASHSCOPE_API_KEY='{KEY}'\nQWEN_REGION=intl\n")
    key = find_api_key({}, empty_dir)
    assert key.reveal() == KEY
    assert key.source == "DASHSCOPE_API_KEY in .env"


def test_environment_wins_over_dotenv(empty_dir: Path) -> None:
    write_env(empty_dir, f"QWEN_API_KEY={OTHER}\n")
    key = find_api_key({"QWEN_API_KEY": KEY}, empty_dir)
    assert key.reveal() == KEY
    assert key.source == "QWEN_API_KEY"


def test_dotenv_qwen_beats_environment_dashscope(empty_dir: Path) -> None:
    """QWEN_API_KEY comes first whichever source holds it; the env wins only for the same variable."""
    write_env(empty_dir, f"QWEN_API_KEY={KEY}\n")
    key = find_api_key({"DASHSCOPE_API_KEY": OTHER}, empty_dir)
    assert key.reveal() == KEY
    assert key.source == "QWEN_API_KEY in .env"


def test_uses_process_environment_and_cwd_by_default(monkeypatch: pytest.MonkeyPatch, empty_dir: Path) -> None:
    monkeypatch.chdir(empty_dir)
    for var in KEY_VARS:
        monkeypatch.delenv(var, raising=False)
    write_env(empty_dir, f"DASHSCOPE_API_KEY={OTHER}\n")
    assert find_api_key().reveal() == OTHER
    monkeypatch.setenv("DASHSCOPE_API_KEY", KEY)
    key = find_api_key()
    assert (key.reveal(), key.source) == (KEY, "DASHSCOPE_API_KEY")


def test_read_env_does_not_touch_os_environ(empty_dir: Path) -> None:
    write_env(empty_dir, "QWENTUI_TEST_ONLY_VAR=1\n")
    values = read_env({}, empty_dir)
    assert values == {"QWENTUI_TEST_ONLY_VAR": "1"}
    assert "QWENTUI_TEST_ONLY_VAR" not in os.environ


def test_unreadable_dotenv_is_ignored(empty_dir: Path) -> None:
    (empty_dir / ".env").write_bytes(b"QWEN_API_KEY=\xff\xfe\x00bad\n")
    assert read_env({"A": "1"}, empty_dir) == {"A": "1"}
    with pytest.raises(MissingKey):
        find_api_key({}, empty_dir)
    assert find_api_key({"DASHSCOPE_API_KEY": KEY}, empty_dir).reveal() == KEY


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads any file")
def test_dotenv_without_permission_is_ignored(empty_dir: Path) -> None:
    path = write_env(empty_dir, f"QWEN_API_KEY={KEY}\n")
    path.chmod(0)
    try:
        with pytest.raises(MissingKey):
            find_api_key({}, empty_dir)
    finally:
        path.chmod(0o600)


def test_dotenv_directory_is_ignored(empty_dir: Path) -> None:
    (empty_dir / ".env").mkdir()
    assert read_env({}, empty_dir) == {}


def test_dotenv_odd_lines(empty_dir: Path) -> None:
    write_env(empty_dir, 'JUSTANAME\n=novalue\nexport QWEN_API_KEY="' + KEY + '"  # comment\n')
    assert find_api_key({}, empty_dir).reveal() == KEY


def test_missing_key_message(empty_dir: Path) -> None:
    with pytest.raises(MissingKey) as info:
        find_api_key({"QWEN_API_KEY": "", "OTHER": KEY}, empty_dir)
    text = str(info.value)
    assert text == MISSING_KEY_HELP
    assert "QWEN_API_KEY" in text and "DASHSCOPE_API_KEY" in text
    assert "--demo" in text
    assert ".env" in text
    assert KEY not in text
    assert isinstance(info.value, QwentuiError)


# ---- ApiKey never shows itself ----------------------------------------------------------------------------


def test_api_key_is_masked_everywhere() -> None:
    key = ApiKey(KEY, "QWEN_API_KEY")
    shown = [
        repr(key),
        str(key),
        f"{key}",
        f"{key!r}",
        f"{key!s}",
        "%s" % key,  # noqa: UP031
        "%r" % key,  # noqa: UP031
        "{}".format(key),  # noqa: UP032
        repr([key]),
        repr({"k": key}),
        str((key,)),
    ]
    for text in shown:
        assert KEY not in text
        assert "0123456789" not in text
    assert "QWEN_API_KEY" in repr(key)
    assert "hidden" in str(key)


def test_api_key_reveal_equality_and_no_dict() -> None:
    a, b, c = ApiKey(KEY, "x"), ApiKey(KEY, "y"), ApiKey(OTHER, "x")
    assert a.reveal() == KEY
    assert a == b and hash(a) == hash(b)
    assert a != c
    assert a != KEY
    assert not hasattr(a, "__dict__")


def test_api_key_exception_text_is_masked() -> None:
    key = ApiKey(KEY, "env")
    err = RuntimeError(f"failed with {key}")
    assert KEY not in str(err) and KEY not in repr(err)


def test_api_key_survives_pickle_still_masked() -> None:
    key = ApiKey(KEY, "env")
    clone = pickle.loads(pickle.dumps(key))
    assert clone == key
    assert KEY not in repr(clone)


# ---- Coding Plan keys -------------------------------------------------------------------------------------


def test_coding_plan_warning() -> None:
    sp = ApiKey("sk-sp-0123456789abcdef", "QWEN_API_KEY")
    assert sp.is_coding_plan
    warning = coding_plan_warning(sp)
    assert warning is not None
    assert "Coding Plan" in warning and "sk-sp-" in warning
    assert "sk-sp-0123456789abcdef" not in warning
    normal = ApiKey(KEY, "QWEN_API_KEY")
    assert not normal.is_coding_plan
    assert coding_plan_warning(normal) is None


def test_coding_plan_key_is_still_found(empty_dir: Path) -> None:
    """The scripts only warn (docs/protocol.md §2); the key is returned."""
    key = find_api_key({"QWEN_API_KEY": "sk-sp-abcdefabcdef"}, empty_dir)
    assert key.is_coding_plan


# ---- base URLs --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("region", "expected"),
    [
        (None, "https://dashscope-intl.aliyuncs.com/api/v1"),
        ("", "https://dashscope-intl.aliyuncs.com/api/v1"),
        ("ap-southeast-1", "https://dashscope-intl.aliyuncs.com/api/v1"),
        ("cn-beijing", "https://dashscope.aliyuncs.com/api/v1"),
        ("us-east-1", "https://dashscope-us.aliyuncs.com/api/v1"),
        ("Singapore", "https://dashscope-intl.aliyuncs.com/api/v1"),
        (" intl ", "https://dashscope-intl.aliyuncs.com/api/v1"),
        ("SG", "https://dashscope-intl.aliyuncs.com/api/v1"),
        ("beijing", "https://dashscope.aliyuncs.com/api/v1"),
        ("china", "https://dashscope.aliyuncs.com/api/v1"),
        ("CN", "https://dashscope.aliyuncs.com/api/v1"),
        ("virginia", "https://dashscope-us.aliyuncs.com/api/v1"),
        ("us", "https://dashscope-us.aliyuncs.com/api/v1"),
    ],
)
def test_regions_and_aliases(region: str | None, expected: str) -> None:
    assert resolve_base_url(region) == expected


def test_every_alias_resolves() -> None:
    for alias, region in REGION_ALIASES.items():
        assert resolve_base_url(alias) == REGIONS[region] + "/api/v1"


def test_unknown_region() -> None:
    with pytest.raises(ConfigError) as info:
        resolve_base_url("eu-central-1")
    text = str(info.value)
    assert "'eu-central-1'" in text
    for name in (*REGIONS, *REGION_ALIASES):
        assert name in text
    assert "QWEN_BASE_URL" in text


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8765", "http://127.0.0.1:8765/api/v1"),
        ("http://127.0.0.1:8765/", "http://127.0.0.1:8765/api/v1"),
        ("http://127.0.0.1:8765/api/v1", "http://127.0.0.1:8765/api/v1"),
        ("http://127.0.0.1:8765/api/v1/", "http://127.0.0.1:8765/api/v1"),
        ("https://ws1.ap-southeast-1.maas.aliyuncs.com/api/v1", "https://ws1.ap-southeast-1.maas.aliyuncs.com/api/v1"),
        ("  https://dashscope.aliyuncs.com  ", "https://dashscope.aliyuncs.com/api/v1"),
        ("https://proxy.example/dash/", "https://proxy.example/dash/api/v1"),
        ("HTTP://localhost:1", "http://localhost:1/api/v1"),
    ],
)
def test_explicit_base_urls(url: str, expected: str) -> None:
    assert resolve_base_url(None, url) == expected


def test_explicit_url_wins_over_region() -> None:
    assert resolve_base_url("cn-beijing", "http://127.0.0.1:9") == "http://127.0.0.1:9/api/v1"
    assert resolve_base_url("nowhere", "http://127.0.0.1:9") == "http://127.0.0.1:9/api/v1"


@pytest.mark.parametrize(
    "url",
    ["ftp://host/api/v1", "127.0.0.1:8765", "localhost", "https://", "file:///tmp/x", "//host/api/v1", "ws://host"],
)
def test_bad_base_urls(url: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_base_url(None, url)
    assert repr(url) in str(info.value)
    assert "https://host[:port]" in str(info.value)


def test_base_url_from_env_and_dotenv(empty_dir: Path) -> None:
    assert base_url_from_env({}, empty_dir) == "https://dashscope-intl.aliyuncs.com/api/v1"
    assert base_url_from_env({"QWEN_REGION": "cn-beijing"}, empty_dir) == "https://dashscope.aliyuncs.com/api/v1"
    write_env(empty_dir, "QWEN_BASE_URL=http://127.0.0.1:8765\n")
    assert base_url_from_env({}, empty_dir) == "http://127.0.0.1:8765/api/v1"
    assert base_url_from_env({"QWEN_BASE_URL": "http://10.0.0.1:1/api/v1"}, empty_dir) == "http://10.0.0.1:1/api/v1"
    assert base_url_from_env({"QWEN_BASE_URL": ""}, empty_dir) == "https://dashscope-intl.aliyuncs.com/api/v1"


# ---- paths ------------------------------------------------------------------------------------------------


def test_paths_under_qwentui_home(tmp_path: Path) -> None:
    paths = Paths.from_env({"QWENTUI_HOME": str(tmp_path)})
    assert paths == Paths(
        db=tmp_path / "jobs.db", output=tmp_path / "output", drop=tmp_path / "drop", settings=tmp_path / "settings.toml"
    )
    assert data_dir({"QWENTUI_HOME": str(tmp_path)}) == tmp_path
    assert config_dir({"QWENTUI_HOME": str(tmp_path)}) == tmp_path


def test_paths_each_override(tmp_path: Path) -> None:
    env = {
        "QWENTUI_HOME": str(tmp_path / "home"),
        "QWENTUI_DB": str(tmp_path / "x.db"),
        "QWENTUI_OUTPUT": str(tmp_path / "out"),
        "QWENTUI_DROP": str(tmp_path / "in"),
        "QWENTUI_SETTINGS": str(tmp_path / "s.toml"),
    }
    paths = Paths.from_env(env)
    assert paths == Paths(
        db=tmp_path / "x.db", output=tmp_path / "out", drop=tmp_path / "in", settings=tmp_path / "s.toml"
    )


def test_paths_explicit_arguments_win(tmp_path: Path) -> None:
    paths = Paths.from_env(
        {"QWENTUI_DB": "/nope.db", "QWENTUI_OUTPUT": "/nope"}, db=tmp_path / "a.db", output=tmp_path / "o"
    )
    assert (paths.db, paths.output) == (tmp_path / "a.db", tmp_path / "o")


def test_paths_expand_user(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    paths = Paths.from_env({"QWENTUI_HOME": "~/qt", "QWENTUI_DROP": "~/drop"})
    assert paths.db == tmp_path / "qt" / "jobs.db"
    assert paths.drop == tmp_path / "drop"
    assert paths.settings == tmp_path / "qt" / "settings.toml"


def test_paths_defaults_are_platform_dirs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    paths = Paths.from_env({})
    assert paths.db.name == "jobs.db"
    assert "qwentui" in paths.db.parts
    assert paths.settings.name == "settings.toml"
    assert "qwentui" in paths.settings.parts


def test_paths_from_process_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("QWENTUI_HOME", str(tmp_path))
    for var in ("QWENTUI_DB", "QWENTUI_OUTPUT", "QWENTUI_DROP", "QWENTUI_SETTINGS"):
        monkeypatch.delenv(var, raising=False)
    assert Paths.from_env().db == tmp_path / "jobs.db"
