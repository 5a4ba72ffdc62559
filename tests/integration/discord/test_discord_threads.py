"""Follow-up questions on Discord: a reply to readout's answer, or a mention in a thread where
readout answered, is read with the conversation so far: from memory, or after a restart from
the reply chain or the thread's history on the stand-in; and answered as a reply."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bot.service import AnswerService
from tests.support.discord import RunningBot
from tests.support.fake_discord import APP_ID, CHANNEL_ID, THREAD_ID, Call, FakeDiscord

pytestmark = pytest.mark.integration

TAIWAN = "What did Xi say about Taiwan?"
FOLLOW_UP = "And what did Biden say about it?"


def answers_in(fake: FakeDiscord, channel: str) -> list[Call]:
    return [c for c in fake.calls_to("POST", rf"/channels/{channel}/messages") if c.embeds]


def posted(fake: FakeDiscord, call: Call) -> dict[str, Any]:
    """The message the stand-in made of a post (with its id)."""
    return next(m for m in fake.messages.values() if m.get("embeds") == call.embeds)


async def restart(bot: RunningBot, start: Callable[..., Any], service: AnswerService) -> None:
    await bot.app.client.close()
    await bot.task
    await start(service)


async def test_a_reply_to_an_answer_is_read_with_the_chain_after_a_restart(
    start_bot: Callable[..., Any],
    make_service: Callable[..., AnswerService],
    fake_discord: FakeDiscord,
) -> None:
    fake = fake_discord
    bot = await start_bot(make_service())
    await fake.message(f"<@{APP_ID}> {TAIWAN}")
    [first] = await fake.wait_for(lambda: answers_in(fake, CHANNEL_ID))
    answer = posted(fake, first)
    assert "first red line" in first.embeds[0]["description"]

    await restart(bot, start_bot, make_service())  # nothing remembered now
    follow_up = await fake.message(f"<@{APP_ID}> {FOLLOW_UP}", reply_to=answer)
    await fake.wait_for(lambda: len(answers_in(fake, CHANNEL_ID)) == 2)
    second = answers_in(fake, CHANNEL_ID)[1]
    description = second.embeds[0]["description"]
    assert description.startswith("(read as: What did Biden say about Taiwan?)")
    assert "peace and stability" in description
    assert str(second.body["message_reference"]["message_id"]) == follow_up["id"]
    # the chain was walked back: the answer came with the reply, the question it answered
    # was fetched
    assert fake.calls_to("GET", rf"/channels/{CHANNEL_ID}/messages/\d+")

    # a mention that replies to nothing stands alone
    await fake.message(f"<@{APP_ID}> {FOLLOW_UP}")
    await fake.wait_for(lambda: len(answers_in(fake, CHANNEL_ID)) == 3)
    assert "read as" not in answers_in(fake, CHANNEL_ID)[2].embeds[0]["description"]


async def test_a_mention_in_a_thread_is_read_with_the_thread(
    start_bot: Callable[..., Any],
    make_service: Callable[..., AnswerService],
    fake_discord: FakeDiscord,
) -> None:
    fake = fake_discord
    bot = await start_bot(make_service())
    await fake.message(f"<@{APP_ID}> What did Biden say about TikTok?", channel_id=THREAD_ID)
    await fake.wait_for(lambda: answers_in(fake, THREAD_ID))
    await fake.message(f"<@{APP_ID}> Who owns it?", channel_id=THREAD_ID)
    await fake.wait_for(lambda: len(answers_in(fake, THREAD_ID)) == 2)
    remembered = answers_in(fake, THREAD_ID)[1].embeds[0]["description"]
    assert remembered.startswith("(read as: Who owns TikTok?)") and "ByteDance" in remembered

    await restart(bot, start_bot, make_service())
    await fake.message(f"<@{APP_ID}> Who owns it?", channel_id=THREAD_ID)
    await fake.wait_for(lambda: len(answers_in(fake, THREAD_ID)) == 3)
    read_back = answers_in(fake, THREAD_ID)[2].embeds[0]["description"]
    assert read_back.startswith("(read as: Who owns TikTok?)")
    # read back twice: by the first question (nothing yet) and after the restart, not between
    reads = fake.calls_to("GET", rf"/channels/{THREAD_ID}/messages")
    assert len(reads) == 2 and all(read.query["limit"] == "100" for read in reads)
