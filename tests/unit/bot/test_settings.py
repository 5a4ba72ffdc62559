from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import DEFAULT_SLACK_API_URL, Settings
from index.errors import ConfigError


def test_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.store == Path(".readout")
    assert settings.slack_api_url == DEFAULT_SLACK_API_URL
    assert (settings.rate_limit, settings.rate_window) == (5, 30.0)


def test_secrets_never_appear_in_repr() -> None:
    settings = Settings.from_env(
        {
            "SLACK_BOT_TOKEN": "xoxb-secret",
            "DISCORD_TOKEN": "dtoken",
            "READOUT_BUTTON_SECRET": " button-key ",
        }
    )
    assert "xoxb-secret" not in repr(settings)
    assert "dtoken" not in repr(settings)
    assert "button-key" not in repr(settings)
    assert settings.slack_bot_token == "xoxb-secret"
    assert settings.button_secret == "button-key"


def test_all_bad_values_are_listed_together() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"READOUT_RATE_LIMIT": "lots", "READOUT_ANSWER_TIMEOUT": "-1"})
    assert "READOUT_RATE_LIMIT" in str(caught.value)
    assert "READOUT_ANSWER_TIMEOUT" in str(caught.value)


def test_require_lists_every_missing_secret() -> None:
    settings = Settings.from_env({"SLACK_BOT_TOKEN": "x"})
    with pytest.raises(ConfigError, match="SLACK_APP_TOKEN, SLACK_SIGNING_SECRET"):
        settings.require("slack_bot_token", "slack_app_token", "slack_signing_secret")


def test_chroma_url_must_be_http() -> None:
    with pytest.raises(ConfigError, match="READOUT_CHROMA_URL"):
        Settings.from_env({"READOUT_CHROMA_URL": "localhost:8000"})


def test_embedder_defaults_to_onnx_and_is_checked() -> None:
    assert Settings.from_env({}).embedder == "onnx"
    chosen = Settings.from_env({"READOUT_EMBEDDER": "Sentence-Transformers"})
    assert chosen.embedder == "sentence-transformers"
    with pytest.raises(ConfigError, match="READOUT_EMBEDDER must be one of"):
        Settings.from_env({"READOUT_EMBEDDER": "torch"})
