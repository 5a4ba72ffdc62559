"""Slack edits under rate limits and on messages that are not the bot's, and "Ask again" (the
button on an answer whose cited text changed and no longer answers it): on Slack the question is
the button's value; on Discord the message is edited to say so, then the question is found from
the clicked message in the question log. Answered anew with the real model and index."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from bot.discord_app.buttons import ASK_AGAIN_ID
from bot.discord_app.editor import DiscordEditor
from bot.questions.log import QuestionLog
from bot.service import EXPIRED, AnswerService
from bot.settings import Settings
from bot.slack_app.app import create_web_client
from bot.slack_app.buttons import button_signer
from bot.slack_app.editor import SlackEditor
from bot.slack_app.render import ASK_AGAIN
from bot.updates import EditRefused, Post, Update
from retrieval.answer import Answer, Citation
from retrieval.engine import Engine
from tests.support.fake_discord import APP_ID, CHANNEL_ID, EPHEMERAL, FakeDiscord
from tests.support.slack import QUESTION, FakeSlack, SlackHttp, all_text

pytestmark = pytest.mark.integration


async def test_slack_ask_again_answers_the_question_in_the_messages_thread(
    slack_http: SlackHttp, fake_slack: FakeSlack
) -> None:
    delivery = await slack_http.action(ASK_AGAIN, QUESTION, key="again")
    assert delivery.status == 200
    await fake_slack.wait_for(lambda: fake_slack.posts())
    [post] = fake_slack.posts()
    assert post.args["channel"] == "C0GENERAL"
    assert post.args["thread_ts"] == "1700000000.000001"  # the clicked message's thread
    assert "¶12" in all_text(post.args) and "first red line" in all_text(post.args)


async def test_discord_ask_again_finds_the_question_of_the_clicked_message(
    tmp_path: Path,
    article_engine: Engine,
    fake_discord: FakeDiscord,
    start_bot: Callable[..., Any],
) -> None:
    path = tmp_path / "questions.sqlite3"
    with QuestionLog(path) as log:
        service = AnswerService(article_engine, question_log=log, feedback=log, posts=log)
        try:
            bot = await start_bot(service, question_log=path, follow_days=0.0)
            await fake_discord.message(f"<@{APP_ID}> {QUESTION}")
            [answer] = await fake_discord.wait_for(
                lambda: [m for m in fake_discord.messages.values() if m["embeds"]]
            )
            while not (log.flush() and kept(path)):
                await asyncio.sleep(0.05)

            # a re-index changed ¶12 and the question now abstains: the message says so
            post = Post(1, "a1", "discord", CHANNEL_ID, answer["id"], 0.0, QUESTION, 1, ())
            outdated = Update(post, Answer.not_covered(QUESTION, 2), "a2", "2026-11-30")
            await DiscordEditor(bot.app).edit(outdated)
            edited = fake_discord.messages[answer["id"]]
            [row] = edited["components"]
            assert [b["custom_id"] for b in row["components"]] == [ASK_AGAIN_ID]
            assert "changed on 2026-11-30" in edited["embeds"][0]["description"]
            await fake_discord.click(ASK_AGAIN_ID, edited)
            followup = await fake_discord.wait_for(
                lambda: fake_discord.calls_to("POST", r"/webhooks/\d+/[^/]+")
            )
            unknown = {**answer, "id": "940000000000009999"}  # a message the log never kept
            await fake_discord.click(ASK_AGAIN_ID, unknown)
            notice = await fake_discord.wait_for(
                lambda: [
                    c
                    for c in fake_discord.calls_to("POST", r"/interactions/\d+/[^/]+/callback")
                    if (c.body.get("data") or {}).get("content") == EXPIRED
                ]
            )
        finally:
            service.close()
    assert "first red line" in str(followup[0].body["embeds"])
    assert notice[0].body["data"]["flags"] & EPHEMERAL
    assert answer["channel_id"] == CHANNEL_ID


def kept(path: Path) -> bool:
    with closing(sqlite3.connect(path)) as connection:
        return bool(connection.execute("SELECT count(*) FROM posts").fetchone()[0])


async def test_slack_edits_wait_out_a_429_and_never_touch_a_message_the_bot_did_not_post(
    slack_settings: Settings, fake_slack: FakeSlack
) -> None:
    client = create_web_client(slack_settings)
    posted = await client.chat_postMessage(channel="C0GENERAL", text="an answer")
    editor = SlackEditor(client, button_signer(slack_settings))
    fake_slack.fail_next("chat.update", 429, retry_after=1)
    cited = Answer.quoting(QUESTION, [Citation(1, "d", "T", 12, 1, "New text.", 0.9)], 2)
    post = Post(1, "a1", "slack", "C0GENERAL", str(posted["ts"]), 0.0, QUESTION, 1, ())
    await editor.edit(Update(post, cited, "a2", "2026-11-30"))
    first, second = fake_slack.posts("chat.update")
    assert second.at - first.at >= 1.0  # Slack's Retry-After, waited out by slack_sdk
    assert "New text." in all_text(second.args)

    someone_elses = Post(2, "a3", "slack", "C0GENERAL", "1600000000.000001", 0.0, QUESTION, 1, ())
    with pytest.raises(EditRefused, match="^message_not_found$"):
        await editor.edit(Update(someone_elses, cited, "a4", "2026-11-30"))
