"""Payloads real Discord sends that readout once mishandled (issue 13, section 4): the real
discord.py client over loopback, against the local gateway and REST stand-in."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

import pytest

from bot.discord_app.buttons import UNSUPPORTED_BUTTON
from bot.discord_app.gateway import FIRST_RECONNECT_DELAY
from bot.discord_app.slash import STALE_COMMANDS
from bot.service import USAGE, AnswerService
from tests.support.discord import TOKEN, RunningBot
from tests.support.fake_discord import (
    APP_ID,
    BOT_USER,
    CHANNEL_ID,
    EPHEMERAL,
    Call,
    FakeDiscord,
    guild,
)

pytestmark = pytest.mark.integration

MESSAGE = 4  # CHANNEL_MESSAGE_WITH_SOURCE
RECONNECT_WITHIN = FIRST_RECONNECT_DELAY + 10.0


def callbacks(fake: FakeDiscord, interaction: dict[str, Any]) -> list[Call]:
    return fake.calls_to("POST", rf"/interactions/{interaction['id']}/[^/]+/callback")


def followups(fake: FakeDiscord, interaction: dict[str, Any]) -> list[Call]:
    return fake.calls_to("POST", rf"/webhooks/{APP_ID}/{re.escape(interaction['token'])}")


def old_answer(custom_id: str) -> dict[str, Any]:
    """A message an older readout posted, with a button in a format readout no longer uses."""
    button = {"type": 2, "style": 2, "label": "Show sources", "custom_id": custom_id}
    return {
        "id": "940000000000000077",
        "channel_id": CHANNEL_ID,
        "author": BOT_USER,
        "content": "",
        "timestamp": "2024-04-02T12:00:01.000000+00:00",
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": [],
        "mention_roles": [],
        "attachments": [],
        "embeds": [],
        "components": [{"type": 1, "components": [button]}],
        "pinned": False,
        "type": 0,
        "flags": 0,
    }


@pytest.mark.parametrize(
    "custom_id",
    [
        "sources:0123abcd",  # an id from before the "readout:" prefix
        "readout:sources:not-hex",  # readout's prefix, but no answer id in it
        "readout:feedback:up:0123abcd",
        "someone-else's-button",
    ],
)
async def test_a_button_readout_no_longer_has_gets_a_private_notice(
    bot: RunningBot, fake_discord: FakeDiscord, custom_id: str
) -> None:
    fake = fake_discord
    click = await fake.click(custom_id, old_answer(custom_id))

    [notice] = await fake.wait_for(lambda: callbacks(fake, click))
    assert notice.body["type"] == MESSAGE
    assert notice.body["data"]["flags"] == EPHEMERAL
    assert notice.body["data"]["content"] == UNSUPPORTED_BUTTON
    assert followups(fake, click) == []


@pytest.mark.parametrize(
    ("command", "option"), [("quote", "speaker"), ("source", "n"), ("ask", "question")]
)
async def test_help_on_every_command_shows_usage_only_to_the_asker(
    bot: RunningBot, fake_discord: FakeDiscord, command: str, option: str
) -> None:
    fake = fake_discord
    interaction = await fake.slash(command, {option: "help"})

    # deferred first (thinking, private), then the usage as a private follow-up
    [usage] = await fake.wait_for(lambda: followups(fake, interaction))
    assert usage.body["content"] == USAGE
    assert usage.body["flags"] & EPHEMERAL


# -- stale slash commands (registered by an older readout, never re-synced) -----------------


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("ask", {}),  # registered before /ask had its question option
        ("quotes", {"speaker": "xi"}),  # a command readout no longer has
    ],
)
async def test_a_stale_slash_command_says_the_commands_need_resyncing(
    bot: RunningBot,
    fake_discord: FakeDiscord,
    caplog: pytest.LogCaptureFixture,
    name: str,
    options: dict[str, Any],
) -> None:
    fake = fake_discord
    caplog.set_level(logging.DEBUG)
    first = await fake.slash(name, options)
    [notice] = await fake.wait_for(lambda: callbacks(fake, first))
    assert notice.body["type"] == MESSAGE
    assert notice.body["data"]["flags"] == EPHEMERAL
    assert notice.body["data"]["content"] == STALE_COMMANDS.format(command=name)
    assert "readout serve discord --sync" in notice.body["data"]["content"]

    second = await fake.slash(name, options)  # the next user gets the same notice...
    await fake.wait_for(lambda: callbacks(fake, second))
    # ...but the operator is told once, at WARNING, in one line without a traceback
    stale = [r for r in caplog.records if r.name.startswith("bot.") and "--sync" in r.getMessage()]
    assert [r.levelno for r in stale] == [logging.WARNING]
    assert f"/{name}" in stale[0].getMessage() and stale[0].exc_info is None
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert followups(fake, first) == []

    # the current commands still work
    interaction = await fake.slash("ask", {"question": "What did Xi say about Taiwan?"})
    [answer] = await fake.wait_for(lambda: [c for c in followups(fake, interaction) if c.embeds])
    assert "Taiwan" in answer.embeds[0]["description"]


# -- a gateway event discord.py cannot read --------------------------------------------------


async def send_unreadable(event: str, fake: FakeDiscord) -> None:
    """What discord.py raises on: a dispatch without a field Discord always sends, or a frame
    that is not JSON at all."""
    if event == "MESSAGE_CREATE":
        payload = fake.message_payload(f"<@{APP_ID}> What did Xi say about Taiwan?")
        del payload["author"]
        await fake.dispatch(event, payload)
    elif event == "GUILD_CREATE":
        payload = guild()
        del payload["id"]
        await fake.dispatch(event, payload)
    else:
        await fake.send_raw('{"op": 0, "t": "MESSAGE_CREATE", "s": 99, "d": {"id": ')


@pytest.mark.parametrize(
    ("event", "shards"),
    [
        ("MESSAGE_CREATE", None),
        ("GUILD_CREATE", None),
        ("gateway message", None),
        ("MESSAGE_CREATE", 1),  # the sharded client reads the gateway in its own loop
    ],
)
async def test_an_unreadable_gateway_event_is_logged_and_the_bot_reconnects_and_answers(
    start_bot: Callable[..., Any],
    make_service: Callable[..., AnswerService],
    fake_discord: FakeDiscord,
    caplog: pytest.LogCaptureFixture,
    event: str,
    shards: int | None,
) -> None:
    fake = fake_discord
    running = await start_bot(make_service(), shards=shards)
    caplog.set_level(logging.DEBUG)
    connections = len(fake.connections)
    await send_unreadable(event, fake)

    await fake.wait_for(lambda: len(fake.connections) > connections, timeout=RECONNECT_WITHIN)
    assert not running.task.done(), "the bot stopped"
    logged = [r for r in caplog.records if r.name.startswith("bot.") and event in r.getMessage()]
    assert [r.levelno for r in logged] == [logging.WARNING]
    assert "\n" not in logged[0].getMessage() and logged[0].exc_info is None
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert TOKEN not in caplog.text

    interaction = await fake.slash("ask", {"question": "What did Xi say about Taiwan?"})
    [answer] = await fake.wait_for(lambda: [c for c in followups(fake, interaction) if c.embeds])
    assert "Taiwan" in answer.embeds[0]["description"]
