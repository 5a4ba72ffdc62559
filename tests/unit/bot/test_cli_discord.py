"""`readout serve discord` refuses to start without what it needs, before loading anything."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from bot import runtime
from bot.cli import main


@pytest.fixture(autouse=True)
def no_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the index must not be opened")

    monkeypatch.setattr(runtime, "open_engine", refuse)


def test_a_missing_token_is_a_clear_error_with_exit_2() -> None:
    result = CliRunner().invoke(main, ["serve", "discord"])
    assert result.exit_code == 2
    assert "error: missing settings: DISCORD_TOKEN" in result.output


def test_a_bad_shard_count_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", "a-token")
    result = CliRunner().invoke(main, ["serve", "discord", "--shards", "lots"])
    assert result.exit_code == 2
    assert "--shards must be 'auto' or a positive number" in result.output
    assert "a-token" not in result.output


def test_help_names_the_options() -> None:
    result = CliRunner().invoke(main, ["serve", "discord", "--help"])
    assert result.exit_code == 0
    assert "--sync" in result.output and "--shards" in result.output
    assert "DISCORD_TOKEN" in result.output
