"""`readout serve slack` refuses to start without what it needs, before loading anything."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

from bot import runtime
from bot.cli import main


@pytest.fixture(autouse=True)
def no_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the index must not be opened")

    monkeypatch.setattr(runtime, "open_engine", refuse)


@pytest.mark.parametrize(
    ("args", "env", "missing"),
    [
        ([], {}, "SLACK_BOT_TOKEN, SLACK_APP_TOKEN"),
        ([], {"SLACK_BOT_TOKEN": "xoxb-secret"}, "SLACK_APP_TOKEN"),
        (["--http"], {}, "SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET"),
        (["--http"], {"SLACK_APP_TOKEN": "xapp-secret"}, "SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET"),
    ],
    ids=["socket-none", "socket-no-app-token", "http-none", "http-app-token-is-not-enough"],
)
def test_missing_settings_are_listed_in_one_error_with_exit_2(
    monkeypatch: pytest.MonkeyPatch, args: list[str], env: dict[str, str], missing: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    result = CliRunner().invoke(main, ["serve", "slack", *args])

    assert result.exit_code == 2
    assert result.output.strip() == f"error: missing settings: {missing}"
    assert "secret" not in result.output


def test_host_and_port_need_http(monkeypatch: pytest.MonkeyPatch) -> None:
    result = CliRunner().invoke(main, ["serve", "slack", "--port", "8080"])
    assert result.exit_code == 2
    assert "--host and --port only apply with --http" in result.output


def test_help_names_both_modes_and_their_settings() -> None:
    result = CliRunner().invoke(main, ["serve", "slack", "--help"])
    assert result.exit_code == 0
    for word in (
        "--http",
        "--host",
        "--port",
        "SLACK_APP_TOKEN",
        "SLACK_SIGNING_SECRET",
        "/healthz",
    ):
        assert word in result.output


def test_the_cli_does_not_import_slack_bolt_until_serving_slack() -> None:
    code = "import sys, bot.cli; print(sorted(m for m in sys.modules if m.startswith('slack')))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
