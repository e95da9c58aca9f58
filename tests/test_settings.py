"""Settings per layer, composed at the top: each layer's class reads its own keys and ignores
the layers' above; the app's composition refuses what no layer knows."""

from __future__ import annotations

import pytest

from assistant.settings import AssistantSettings, settings_for
from memory import config
from memory.errors import ConfigError
from memory.store import MemoryStore
from tasks.settings import TaskSettings
from tui.settings import AppSettings, describe_fields, load_settings

CONFIG = """
model = "openai/gpt-4o-mini"
system_prompt = "Be brief."

[memory]
recall_limit = 3

[worker]
workers = 4

[ui]
theme = "nord"
"""


@pytest.fixture
def cfg(tmp_path, monkeypatch):
    path = tmp_path / "config.toml"
    monkeypatch.setenv("MEMCHAT_CONFIG", str(path))
    return path


def test_each_layer_reads_its_own_keys_and_the_top_composes_them(cfg):
    cfg.write_text(CONFIG)
    mem = config.load_settings()
    assert mem.memory.recall_limit == 3
    assert not hasattr(mem, "model") and not hasattr(mem, "worker") and not hasattr(mem, "ui")
    app = load_settings()
    assert isinstance(app, TaskSettings) and isinstance(app, AssistantSettings)
    assert (app.model, app.system_prompt) == ("openai/gpt-4o-mini", "Be brief.")
    assert (app.memory.recall_limit, app.worker.workers, app.ui.theme) == (3, 4, "nord")
    names = {name for name, _, _ in describe_fields()}
    assert {"model", "memory.recall_limit", "worker.workers", "ui.keymap", "home"} <= names


def test_only_the_composition_refuses_an_unknown_key(cfg):
    cfg.write_text('modle = "typo"\n')
    config.load_settings()  # memory cannot know every layer's keys
    with pytest.raises(ConfigError) as e:
        load_settings()
    assert "modle" in str(e.value) and "unknown setting" in str(e.value)


def test_the_assistant_reads_its_settings_from_a_store_opened_with_memory_s_only(cfg, redis_url):
    cfg.write_text(CONFIG)
    with MemoryStore(config.load_settings(), start_redis=False) as s:
        assert settings_for(s).system_prompt == "Be brief."
    with MemoryStore(load_settings(), start_redis=False) as s:
        assert isinstance(s.settings, AppSettings) and settings_for(s) is s.settings
        assert s.for_profile("work").settings.ui.theme == "nord"


@pytest.mark.parametrize(
    "toml, fragment",
    [
        (
            "[memory]\nrecent_turns = -5\n",
            "memory.recent_turns: Input should be greater than or equal to 2",
        ),
        (
            "[memory]\ntoken_budget = 1000000000000\n",
            "memory.token_budget: Input should be less than or equal",
        ),
        ("[worker]\nworkers = 0\n", "worker.workers: Input should be greater than or equal to 1"),
        ('profile = "../../etc"\n', "profile: profile names are"),
    ],
)
def test_absurd_config_values_are_refused(tmp_path, monkeypatch, toml, fragment):
    cfg = tmp_path / "absurd.toml"
    cfg.write_text(toml)
    monkeypatch.setenv("MEMCHAT_CONFIG", str(cfg))
    with pytest.raises(ConfigError) as e:
        load_settings()
    assert fragment in str(e.value) and str(cfg) in str(e.value)
