"""Payloads real Slack sends that readout once mishandled (issue 13, section 4): the real bolt
AsyncApp over signed loopback HTTP, against the local Slack stand-in."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import pytest
from slack_bolt.async_app import AsyncApp

from bot.service import USAGE
from bot.slack_app import listener_tasks
from bot.slack_app.render import escape
from tests.support.slack import (
    APP_ID,
    QUESTION,
    TEAM,
    WAIT,
    FakeSlack,
    SlackHttp,
    all_text,
    direct_message,
    new_ts,
)

pytestmark = pytest.mark.integration

RED_LINE = "first red line"
SCREENSHOT = {
    "id": "F0SCREEN",
    "name": "screenshot.png",
    "mimetype": "image/png",
    "filetype": "png",
    "url_private": "https://files.slack.com/files-pri/T0/F0SCREEN/screenshot.png",
}


@pytest.mark.parametrize(
    "extra",
    [
        {"subtype": "file_share", "files": [SCREENSHOT], "upload": False},
        {"subtype": "thread_broadcast", "thread_ts": "1700000000.000100", "root": {}},
    ],
    ids=["file_share", "thread_broadcast"],
)
async def test_a_dm_a_person_typed_with_a_subtype_is_answered(
    slack_http: SlackHttp, slack_app: AsyncApp, fake_slack: FakeSlack, extra: dict[str, Any]
) -> None:
    delivery = await slack_http.event(
        direct_message(QUESTION, ts=new_ts(), **extra), event_id=f"Ev-{extra['subtype']}"
    )

    assert delivery.status == 200
    await fake_slack.wait_for(lambda: fake_slack.posts())
    [post] = fake_slack.posts()
    assert post.args["channel"] == "D0ASKER" and RED_LINE in all_text(post.args)
    assert post.args.get("thread_ts") == extra.get("thread_ts")


@pytest.mark.parametrize(
    "extra",
    [
        {"subtype": "message_deleted", "deleted_ts": "1700000000.000100"},
        {"subtype": "message_changed", "message": {"text": QUESTION}},
        {"subtype": "bot_message", "bot_id": "BOTHER"},
        {"subtype": "file_share", "bot_id": "BOTHER", "files": [SCREENSHOT]},
        {"subtype": "channel_join"},
    ],
    ids=["deleted", "changed", "bot", "bot-file_share", "join"],
)
async def test_other_subtypes_and_bot_file_shares_stay_unanswered(
    slack_http: SlackHttp, slack_app: AsyncApp, fake_slack: FakeSlack, extra: dict[str, Any]
) -> None:
    delivery = await slack_http.event(
        direct_message(QUESTION, ts=new_ts(), **extra), event_id="Ev-ignored"
    )

    assert delivery.status == 200
    assert await listener_tasks(slack_app).wait_idle(WAIT)
    assert fake_slack.posts() == [] and fake_slack.posts("chat.postEphemeral") == []


def _event_callback(event: dict[str, Any]) -> dict[str, Any]:
    return {
        "token": "deprecated-verification-token",
        "team_id": TEAM,
        "api_app_id": APP_ID,
        "event": event,
        "type": "event_callback",
        "event_id": f"Ev-{event['type']}",
        "event_time": int(time.time()),
    }


UNHANDLED_EVENTS = {
    # Slack sends this one without any subscription, outside an event_callback
    "app_rate_limited": {
        "token": "deprecated-verification-token",
        "type": "app_rate_limited",
        "team_id": TEAM,
        "minute_rate_limited": 1518467820,
        "api_app_id": APP_ID,
    },
    "app_home_opened": _event_callback(
        {"type": "app_home_opened", "user": "U0ASKER", "channel": "D0ASKER", "tab": "home"}
    ),
    "tokens_revoked": _event_callback(
        {"type": "tokens_revoked", "tokens": {"oauth": ["U0ASKER"], "bot": ["U0BOT"]}}
    ),
    "app_uninstalled": _event_callback({"type": "app_uninstalled"}),
    "reaction_added": _event_callback(
        {
            "type": "reaction_added",
            "user": "U0ASKER",
            "reaction": "thumbsup",
            "item": {"type": "message", "channel": "C0GENERAL", "ts": "1700000000.000100"},
            "event_ts": "1700000000.000200",
        }
    ),
}


@pytest.mark.parametrize("payload", UNHANDLED_EVENTS.values(), ids=UNHANDLED_EVENTS.keys())
async def test_events_no_listener_handles_are_acknowledged_and_logged_at_debug(
    slack_http: SlackHttp,
    slack_app: AsyncApp,
    fake_slack: FakeSlack,
    caplog: pytest.LogCaptureFixture,
    payload: dict[str, Any],
) -> None:
    caplog.set_level(logging.DEBUG, logger="bot")
    delivery = await slack_http.post(json.dumps(payload).encode(), "application/json")

    assert delivery.status == 200  # anything else and Slack may disable the subscription
    assert await listener_tasks(slack_app).wait_idle(WAIT)
    assert fake_slack.posts() == [] and fake_slack.responses == []
    ignored = [r for r in caplog.records if r.name.startswith("bot.") and "unhandled" in r.message]
    assert [r.levelno for r in ignored] == [logging.DEBUG]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_a_button_with_an_unknown_action_id_is_acknowledged(
    slack_http: SlackHttp,
    slack_app: AsyncApp,
    fake_slack: FakeSlack,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="bot")
    delivery = await slack_http.action("readout_retired_button", "a1", key="retired")

    assert delivery.status == 200  # a 404 shows the clicker a warning triangle
    assert await listener_tasks(slack_app).wait_idle(WAIT)
    assert fake_slack.posts() == []
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.parametrize("command", ["/quote", "/source", "/ask"])
@pytest.mark.parametrize("text", ["help", "HELP", " help "])
async def test_help_on_every_command_shows_usage_only_to_the_asker(
    slack_http: SlackHttp, fake_slack: FakeSlack, command: str, text: str
) -> None:
    delivery = await slack_http.command(command, text, key="help")

    assert delivery.status == 200
    await fake_slack.wait_for(lambda: fake_slack.responses_to("help"))
    [usage] = fake_slack.responses_to("help")
    assert usage["response_type"] == "ephemeral"
    assert usage["text"] == escape(USAGE)
