"""The `readout` entry point: known errors as one line, unexpected ones too (the traceback goes
to the log, never to the screen), and the command table's names."""

from __future__ import annotations

import logging

import pytest
from click.testing import CliRunner

from bot import cli, commands
from index.errors import StoreUnavailable


def _explode(*args: object, **kwargs: object) -> None:
    raise RuntimeError("secret internals: /srv/readout/token=abc")


def test_an_unexpected_error_is_one_line_and_its_traceback_is_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(cli.runtime, "build", _explode)
    with caplog.at_level(logging.DEBUG, logger="bot.cli"):
        result = CliRunner().invoke(cli.main, ["index", "--demo"])
    assert result.exit_code == 1
    assert result.output == (
        "error: an unexpected RuntimeError stopped readout (a bug; run with "
        "READOUT_LOG_LEVEL=DEBUG to log its traceback).\n"
    )
    assert "Traceback" not in result.output and "secret" not in result.output
    [record] = [r for r in caplog.records if r.name == "bot.cli"]
    assert record.exc_info is not None and "secret internals" in str(record.exc_info[1])


def test_a_known_error_keeps_its_message(monkeypatch: pytest.MonkeyPatch) -> None:
    def down(*args: object, **kwargs: object) -> None:
        raise StoreUnavailable("search is unavailable right now.")

    monkeypatch.setattr(cli.runtime, "build", down)
    result = CliRunner().invoke(cli.main, ["index", "--demo"])
    assert (result.exit_code, result.output) == (1, "error: search is unavailable right now.\n")


def test_every_command_of_the_table_is_a_cli_command_and_old_names_still_work() -> None:
    names = set(cli.main.list_commands(click_context()))
    assert {c.name for c in commands.COMMANDS} - {"help"} <= names
    for old, new in (("quotes", "quote"), ("show", "source")):
        found = cli.main.get_command(click_context(), old)
        assert found is not None and found.name == new


def click_context() -> cli.click.Context:
    return cli.click.Context(cli.main)
