"""The config loader under hostile input: any config.toml either loads into valid Settings or
is refused with one `config error ...` line (ConfigError, exit 3 in the CLI), never a
traceback, and a path setting is only ever taken from a string."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memory.config import MemorySettings
from memory.errors import ConfigError
from tasks.settings import WorkerSettings
from tui.settings import AppSettings as Settings
from tui.settings import UISettings, load_settings

PATH_FIELDS = ("home", "model_cache")


def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return {"inf": "inf", "-inf": "-inf", "nan": "nan"}.get(repr(v), repr(v))
    if isinstance(v, str):
        return json.dumps(v)  # a TOML basic string (or a TOML syntax error: also fair game)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(x)}" for k, x in v.items()) + "}"


scalars = st.one_of(
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["", " ", "~", "$HOME/x", "a\nb", "/tmp/x\x00", "default", "0", "-1"]),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=2)
    ),
    max_leaves=6,
)
top = [n for n in Settings.model_fields if n not in ("memory", "worker", "ui")] + ["modle", "x"]
sections = {
    "memory": list(MemorySettings.model_fields) + ["bogus"],
    "worker": list(WorkerSettings.model_fields),
    "ui": list(UISettings.model_fields),
}
documents = st.tuples(
    st.dictionaries(st.sampled_from(top), values, max_size=4),
    st.dictionaries(
        st.sampled_from(list(sections)),
        st.just(None),
        max_size=3,
    ).flatmap(
        lambda secs: st.fixed_dictionaries(
            {s: st.dictionaries(st.sampled_from(sections[s]), values, max_size=3) for s in secs}
        )
    ),
)


def render(top_fields: dict, section_fields: dict) -> str:
    out = [f"{k} = {toml_value(v)}" for k, v in top_fields.items()]
    for sec, fields in section_fields.items():
        out.append(f"[{sec}]")
        out += [f"{k} = {toml_value(v)}" for k, v in fields.items()]
    return "\n".join(out) + "\n"


@pytest.fixture
def file_config(monkeypatch, tmp_path) -> Path:
    """Settings come from the config file alone (the test environment sets some by env)."""
    for var in list(os.environ):
        if var.startswith("MEMCHAT_") and var not in ("MEMCHAT_CONFIG", "MEMCHAT_SHARED"):
            monkeypatch.delenv(var)
    return Path(os.environ["MEMCHAT_CONFIG"])


def _load_or_refuse(cfg: Path, text: str, top_fields: dict) -> None:
    cfg.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        s = load_settings()
    except ConfigError as e:
        msg = str(e)
        assert msg.startswith(f"config error in {cfg}") and "\n" not in msg, msg
        return
    for name in PATH_FIELDS:
        if name in top_fields:  # accepted only from a non-empty string without control chars
            raw = top_fields[name]
            assert isinstance(raw, str) and raw.strip(), raw
            assert isinstance(getattr(s, name), Path)


def test_fuzzed_config_files_load_or_are_one_clear_line(file_config):
    @settings(
        max_examples=150,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(documents)
    def run(doc) -> None:
        top_fields, section_fields = doc
        _load_or_refuse(file_config, render(top_fields, section_fields), top_fields)

    run()


def test_fuzzed_config_bytes_are_refused_in_one_line(file_config):
    @settings(
        max_examples=60,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(st.binary(max_size=80))
    def run(raw: bytes) -> None:
        file_config.write_bytes(raw)
        try:
            load_settings()
        except ConfigError as e:
            assert "\n" not in str(e)

    run()


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        ("home = 123", "got 123 (a number)"),
        ("home = true", "got true (a boolean)"),
        ('home = ["a", "b"]', "got ['a', 'b'] (a list)"),
        ("home = 1.5e3", "got 1500.0 (a number)"),
        ("model_cache = false", "got false (a boolean)"),
        ('home = ""', "the folder path is empty"),
        ('home = "/tmp/a\\nb"', "contains a control character"),
    ],
)
def test_a_path_setting_must_be_a_string(file_config, line, shown):
    file_config.write_text(f"\n{line}\n")
    with pytest.raises(ConfigError) as info:
        load_settings()
    field = line.split(" ")[0]
    assert f"{file_config} line 2: {field}: " in str(info.value)
    assert shown in str(info.value)
