"""The Slack adapter in Socket Mode: bolt's AsyncSocketModeHandler gets its websocket URL from
the stand-in's ``apps.connections.open``, then receives envelopes over a real local websocket;
the real model and index answer."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp

from bot.slack_app import listener_tasks
from bot.slack_app.render import SHOW_SOURCES
from tests.support.slack import (
    APP_TOKEN,
    QUESTION,
    WAIT,
    FakeSlack,
    action_payload,
    all_text,
    button_value_of,
    command_payload,
    event_payload,
    mention,
    new_ts,
    socket_mode,
)

pytestmark = pytest.mark.integration

ACK_SECONDS = 3.0


@pytest.fixture
async def connected(
    slack_app: AsyncApp, fake_slack: FakeSlack
) -> AsyncIterator[AsyncSocketModeHandler]:
    async with socket_mode(slack_app, fake_slack) as handler:
        yield handler


async def send(fake: FakeSlack, kind: str, payload: dict[str, Any], **kw: Any) -> float:
    """Push an envelope; the seconds until the app acknowledged it."""
    started = time.monotonic()
    envelope_id = await fake.send_envelope(kind, payload, **kw)
    await fake.wait_for(lambda: any(a.get("envelope_id") == envelope_id for a in fake.acks))
    return time.monotonic() - started


def cites_paragraph_12(message: dict[str, Any]) -> bool:
    return "¶12 · " in all_text(message) and "first red line" in all_text(message)


async def test_connects_with_the_app_token_from_apps_connections_open(
    connected: AsyncSocketModeHandler, fake_slack: FakeSlack
) -> None:
    [opened] = fake_slack.posts("apps.connections.open")
    assert opened.token == APP_TOKEN
    assert len(fake_slack.sockets) == 1


async def test_slash_command_envelope_is_acked_then_answered(
    connected: AsyncSocketModeHandler, fake_slack: FakeSlack
) -> None:
    payload = command_payload(
        "/ask", QUESTION, fake_slack.response_url("ask"), "U0ASKER", "C0GENERAL"
    )

    assert await send(fake_slack, "slash_commands", payload) < ACK_SECONDS
    await fake_slack.wait_for(lambda: fake_slack.responses_to("ask"))
    [answer] = fake_slack.responses_to("ask")
    assert answer["response_type"] == "in_channel" and cites_paragraph_12(answer)


async def test_mention_envelope_is_acked_then_answered_in_thread_once_despite_a_retry(
    connected: AsyncSocketModeHandler, slack_app: AsyncApp, fake_slack: FakeSlack
) -> None:
    ts = new_ts()
    payload = event_payload(mention(QUESTION, ts=ts), "Ev-socket")

    assert await send(fake_slack, "events_api", payload) < ACK_SECONDS
    assert await send(fake_slack, "events_api", payload, retry_attempt=1) < ACK_SECONDS
    await fake_slack.wait_for(lambda: fake_slack.posts())
    assert await listener_tasks(slack_app).wait_idle(WAIT)
    [post] = fake_slack.posts()
    assert post.args["thread_ts"] == ts and cites_paragraph_12(post.args)


async def test_interactive_envelope_shows_sources(
    connected: AsyncSocketModeHandler, fake_slack: FakeSlack
) -> None:
    payload = command_payload(
        "/ask", QUESTION, fake_slack.response_url("ask"), "U0ASKER", "C0GENERAL"
    )
    await fake_slack.send_envelope("slash_commands", payload)
    await fake_slack.wait_for(lambda: fake_slack.responses_to("ask"))
    value = button_value_of(fake_slack.responses_to("ask")[0])

    click = action_payload(SHOW_SOURCES, value, fake_slack.response_url("sources"), "U0ASKER")
    assert await send(fake_slack, "interactive", click) < ACK_SECONDS
    await fake_slack.wait_for(lambda: fake_slack.responses_to("sources"))
    [sources] = fake_slack.responses_to("sources")
    assert sources["response_type"] == "ephemeral" and "score" in all_text(sources)
