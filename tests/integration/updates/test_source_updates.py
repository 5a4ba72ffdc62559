"""Answers that follow their sources, end to end: the real model and index, the real slack-bolt
app and discord.py client over loopback to the Slack and Discord stand-ins, and a real re-index
of the article with ¶12 (Xi's "first red line" on Taiwan) changed."""

from __future__ import annotations

import asyncio
import itertools
import logging
import shutil
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager, closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot import runtime
from bot.discord_app.app import DiscordEditor
from bot.questions.log import QuestionLog
from bot.service import AnswerService
from bot.settings import Settings
from bot.slack_app import listener_tasks
from bot.slack_app.app import SlackEditor
from bot.updates import FollowReport, SourceFollower
from index.corpus import BUNDLED_CORPUS_DIR
from index.embedder import OnnxEmbedder
from index.store import ChromaStore
from retrieval.engine import Engine
from tests.support.discord import RunningBot
from tests.support.fake_discord import APP_ID, CHANNEL_ID, FakeDiscord
from tests.support.slack import (
    QUESTION,
    FakeSlack,
    SlackHttp,
    all_text,
    http_endpoint,
    mention,
    new_ts,
    running_app,
)

pytestmark = pytest.mark.integration

ARTICLE = BUNDLED_CORPUS_DIR / "xi-biden-call.txt"
RED_LINE = "Xi called the issue the “first red line” in the relationship"
CHANGED_RED_LINE = "Xi called the issue the “very first and most important red line” of all"
LAST_WORDS = "the readout said."  # ¶12 ends so too; the article's last paragraph is changed below
_docs = itertools.count()


@dataclass
class World:
    """One bot process's parts, over its own copy of the article's index."""

    store_dir: Path
    log: QuestionLog
    service: AnswerService
    slack: SlackHttp
    slack_editor: SlackEditor
    discord: RunningBot
    embedder: OnnxEmbedder

    def follower(self, **options: Any) -> SourceFollower:
        return SourceFollower(
            self.log.path,
            self.service,
            [self.slack_editor, DiscordEditor(self.discord.app)],
            **{"days": 7.0, "pace": 0.0, **options},
        )


@asynccontextmanager
async def bot_world(
    tmp_path: Path,
    article_store_dir: Path,
    real_embedder: OnnxEmbedder,
    slack_settings: Settings,
    fake_slack: FakeSlack,
    start_bot: Callable[..., Any],
    *,
    log_clock: Callable[[], float] = time.time,
) -> AsyncIterator[World]:
    store_dir = tmp_path / "store"
    shutil.copytree(article_store_dir, store_dir)
    engine = Engine(ChromaStore.open_local(store_dir), real_embedder)
    async with AsyncExitStack() as stack:
        log = stack.enter_context(QuestionLog(tmp_path / "questions.sqlite3", clock=log_clock))
        service = AnswerService(engine, question_log=log, feedback=log, posts=log)
        stack.callback(service.close)
        await service.start()
        app = await stack.enter_async_context(running_app(slack_settings, service))
        slack = await stack.enter_async_context(http_endpoint(app, fake_slack))
        # the test runs its own passes (world.follower): the bot's watcher stays off
        discord_bot = await start_bot(service, follow_days=0.0)
        yield World(
            store_dir, log, service, slack, SlackEditor(app.client), discord_bot, real_embedder
        )
        await listener_tasks(app).wait_idle(30)


async def ask_both(world: World, fake_slack: FakeSlack, fake_discord: FakeDiscord) -> Asked:
    """Ask QUESTION by mentioning the bot on both platforms; the two answers' messages."""
    ts = new_ts()
    await world.slack.event(mention(QUESTION, ts=ts), event_id=f"Ev{ts}")
    await fake_slack.wait_for(lambda: fake_slack.posts())
    await fake_discord.message(f"<@{APP_ID}> {QUESTION}")
    await fake_discord.wait_for(lambda: bot_messages(fake_discord))
    assert world.log.flush()
    [(slack_key, posted)] = fake_slack.messages.items()
    assert "first red line" in all_text(posted)
    [discord_message] = bot_messages(fake_discord)
    return Asked(slack_key, discord_message["id"])


@dataclass(frozen=True)
class Asked:
    slack: tuple[str, str]  # channel, ts
    discord: str  # message id


def bot_messages(fake: FakeDiscord) -> list[dict[str, Any]]:
    return [m for m in fake.messages.values() if m["embeds"] and m["channel_id"] == CHANNEL_ID]


def discord_edits(fake: FakeDiscord) -> list[Any]:
    return fake.calls_to("PATCH", r"/channels/\d+/messages/\d+")


async def reindex(world: World, tmp_path: Path, old: str, new: str) -> int:
    """Re-index the article from a copy with ``old`` replaced by ``new``; the new version."""
    text = ARTICLE.read_text(encoding="utf-8")
    assert text.count(old) >= 1
    docs = tmp_path / f"docs-{next(_docs)}"
    docs.mkdir()
    (docs / ARTICLE.name).write_text(text.replace(old, new), encoding="utf-8")
    settings = Settings(store=world.store_dir)
    report = await asyncio.to_thread(
        runtime.build, settings, [docs], embedder=world.embedder
    )
    assert report.changed
    return report.version


def last_paragraph_change() -> tuple[str, str]:
    """A change to the article's last paragraph, which the answer does not cite."""
    last = ARTICLE.read_text(encoding="utf-8").strip().splitlines()[-1]
    assert RED_LINE not in last
    return last, last.replace(" ", "  ", 1) + " (Corrected.)"


def updates_in_log(world: World) -> list[tuple[int, str]]:
    with closing(sqlite3.connect(world.log.path)) as connection:
        return connection.execute("SELECT index_version, outcome FROM post_updates").fetchall()


async def test_a_running_bot_updates_both_answers_in_place_when_the_cited_paragraph_changes(
    tmp_path: Path,
    article_store_dir: Path,
    real_embedder: OnnxEmbedder,
    slack_settings: Settings,
    fake_slack: FakeSlack,
    fake_discord: FakeDiscord,
    start_bot: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="bot.updates")
    async with bot_world(
        tmp_path, article_store_dir, real_embedder, slack_settings, fake_slack, start_bot
    ) as world:
        asked = await ask_both(world, fake_slack, fake_discord)
        watching = asyncio.create_task(world.follower().watch(interval=0.05))
        try:
            version = await reindex(world, tmp_path, RED_LINE, CHANGED_RED_LINE)
            await fake_slack.wait_for(lambda: fake_slack.posts("chat.update"))
            await fake_discord.wait_for(lambda: discord_edits(fake_discord))
            await asyncio.sleep(0.3)  # a few more checks of the same version: nothing more
        finally:
            watching.cancel()

    [update] = fake_slack.posts("chat.update")
    assert (update.args["channel"], update.args["ts"]) == asked.slack
    shown = all_text(update.args)
    assert "updated: the cited text changed on " in shown
    assert "very first and most important red line" in shown and "¶12" in shown
    assert "“first red line”" not in shown

    [edit] = discord_edits(fake_discord)
    assert edit.path == f"/channels/{CHANNEL_ID}/messages/{asked.discord}"
    assert edit.body["content"].startswith("*updated: the cited text changed on ")
    assert "very first and most important red line" in str(edit.body["embeds"])
    assert edit.body["components"]  # the answer's buttons, for the new answer

    assert sorted(updates_in_log(world)) == [(version, "updated"), (version, "updated")]
    assert sum("updated slack message" in r.message for r in caplog.records) == 1
    assert sum("updated discord message" in r.message for r in caplog.records) == 1


async def test_a_reindex_that_leaves_the_cited_text_alone_edits_nothing(
    tmp_path: Path,
    article_store_dir: Path,
    real_embedder: OnnxEmbedder,
    slack_settings: Settings,
    fake_slack: FakeSlack,
    fake_discord: FakeDiscord,
    start_bot: Callable[..., Any],
) -> None:
    async with bot_world(
        tmp_path, article_store_dir, real_embedder, slack_settings, fake_slack, start_bot
    ) as world:
        await ask_both(world, fake_slack, fake_discord)
        version = await reindex(world, tmp_path, *last_paragraph_change())
        report = await world.follower().follow()
    assert report == FollowReport(version, checked=2)
    assert not fake_slack.posts("chat.update") and not discord_edits(fake_discord)


async def test_answers_older_than_follow_days_are_left_alone_and_two_replicas_edit_once(
    tmp_path: Path,
    article_store_dir: Path,
    real_embedder: OnnxEmbedder,
    slack_settings: Settings,
    fake_slack: FakeSlack,
    fake_discord: FakeDiscord,
    start_bot: Callable[..., Any],
) -> None:
    async with bot_world(
        tmp_path, article_store_dir, real_embedder, slack_settings, fake_slack, start_bot
    ) as world:
        await ask_both(world, fake_slack, fake_discord)
        version = await reindex(world, tmp_path, RED_LINE, CHANGED_RED_LINE)

        eight_days_later = time.time() + 8 * 86_400
        old = await world.follower(clock=lambda: eight_days_later).follow()
        assert old == FollowReport(version)  # nothing recent enough to check
        assert not fake_slack.posts("chat.update") and not discord_edits(fake_discord)

        # two replicas notice the same version at once: each message is edited once
        first, second = await asyncio.gather(world.follower().follow(), world.follower().follow())
        again = await world.follower().follow()  # and not again for the same version
    assert first.edited + second.edited == 2
    assert first.elsewhere + second.elsewhere + first.checked + second.checked >= 2
    assert again == FollowReport(version)
    assert len(fake_slack.posts("chat.update")) == 1
    assert len(discord_edits(fake_discord)) == 1
