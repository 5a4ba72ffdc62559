"""The Slack adapter's pure parts: turning Slack markup into a question, and the manifest."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.settings import Settings
from bot.slack_app import create_web_client, question_text

MANIFEST = Path(__file__).resolve().parents[4] / "slack-manifest.yml"


@pytest.mark.parametrize(
    ("text", "question"),
    [
        ("<@UREADOUT> what did Xi say?", "what did Xi say?"),
        ("<@UREADOUT|readout> ask <@U123> and <!here>", "ask and"),
        ("<!subteam^S1|@team> hi", "hi"),
        ("in <#C123|general> see <https://example.com|the site>", "in #general see the site"),
        ("see <https://example.com>", "see https://example.com"),
        ("<!date^1392734382^{date}|Feb 18, 2014> meeting", "Feb 18, 2014 meeting"),
        ("&lt;!channel&gt; Tom &amp; Jerry &amp;lt;", "<!channel> Tom & Jerry &lt;"),
    ],
)
def test_slack_markup_becomes_the_text_a_person_typed(text: str, question: str) -> None:
    assert question_text(text) == question


@pytest.mark.parametrize("base", ["https://slack-gov.com/api", "https://slack-gov.com/api/"])
def test_the_web_api_base_url_always_ends_with_a_slash(base: str) -> None:
    client = create_web_client(Settings.from_env({"READOUT_SLACK_API_URL": base}))
    assert client.base_url == "https://slack-gov.com/api/"


def test_the_manifest_asks_for_the_minimal_scopes_commands_and_events() -> None:
    manifest = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))

    commands = [c["command"] for c in manifest["features"]["slash_commands"]]
    assert commands == ["/ask", "/quote", "/source"]
    assert manifest["oauth_config"]["scopes"]["bot"] == [
        "commands",
        "app_mentions:read",
        "chat:write",
        "im:history",
        "channels:history",
        "groups:history",
    ]
    settings = manifest["settings"]
    assert settings["event_subscriptions"]["bot_events"] == ["app_mention", "message.im"]
    assert settings["interactivity"]["is_enabled"] is True
    assert settings["socket_mode_enabled"] is True
    assert manifest["features"]["app_home"]["messages_tab_enabled"] is True  # DMs need it
