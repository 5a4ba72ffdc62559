"""Payloads real Discord sends that readout once mishandled (issue 13, section 4): the real
discord.py client over loopback, against the local gateway and REST stand-in."""

from __future__ import annotations

import re
from typing import Any

import pytest

from bot.discord_app.app import UNSUPPORTED_BUTTON
from bot.service import USAGE
from tests.support.discord import RunningBot
from tests.support.fake_discord import APP_ID, BOT_USER, CHANNEL_ID, EPHEMERAL, Call, FakeDiscord

pytestmark = pytest.mark.integration

MESSAGE = 4  # CHANNEL_MESSAGE_WITH_SOURCE


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
