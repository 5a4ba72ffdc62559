"""Answers that follow their sources, end to end: the real model and index, the real slack-bolt
app and discord.py client over loopback to the Slack and Discord stand-ins, and a real re-index
of the article with ¶12 (Xi's "first red line" on Taiwan) changed."""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import shutil
import sqlite3
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager, closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot import runtime
from bot.discord_app.editor import DiscordEditor
from bot.questions.log import QuestionLog
from bot.service import AnswerService
from bot.settings import Settings
from bot.slack_app import listener_tasks
from bot.slack_app.buttons import button_signer
from bot.slack_app.editor import SlackEditor
from bot.updates import FollowReport, SourceFollower
from index.corpus import BUNDLED_CORPUS_DIR
from index.embedder import OnnxEmbedder
from index.store import ChromaStore
from retrieval.engine import Engine
from tests.support.discord import TOKEN as DISCORD_TOKEN
from tests.support.discord import RunningBot
from tests.support.fake_discord import APP_ID, CHANNEL_ID, FakeDiscord
from tests.support.processes import STARTUP, readout
from tests.support.slack import (
    BOT_TOKEN,
    QUESTION,
    SIGNING_SECRET,
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
    discord_follows: float = 0.0,
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
        # the tests run their own passes (world.follower); the bot's own watcher only when asked
        discord_bot = await start_bot(
            service,
            question_log=log.path,
            follow_days=7.0 if discord_follows else 0.0,
            follow_interval=discord_follows or 30.0,
        )
        yield World(
            store_dir,
            log,
            service,
            slack,
            SlackEditor(app.client, button_signer(slack_settings)),
            discord_bot,
            real_embedder,
        )
        await listener_tasks(app).wait_idle(30)


async def ask_both(world: World, fake_slack: FakeSlack, fake_discord: FakeDiscord) -> Asked:
    """Ask QUESTION by mentioning the bot on both platforms; the two answers' messages."""
    ts = new_ts()
    await world.slack.event(mention(QUESTION, ts=ts), event_id=f"Ev{ts}")
    await fake_slack.wait_for(lambda: fake_slack.posts())
    await fake_discord.message(f"<@{APP_ID}> {QUESTION}")
    await fake_discord.wait_for(lambda: bot_messages(fake_discord))
    # kept once the adapters have the platform's reply (just after the stand-in sent it)
    await wait_until(lambda: world.log.flush() and posts_in(world.log.path) == 2)
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
    report = await asyncio.to_thread(runtime.build, settings, [docs], embedder=world.embedder)
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
            # recorded just after the platform answered the edit
            await wait_until(lambda: len(updates_in_log(world)) == 2)
            await wait_until(lambda: {o for _, o in updates_in_log(world)} == {"updated"})
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


async def test_the_discord_bot_notices_the_new_index_version_by_itself(
    tmp_path: Path,
    article_store_dir: Path,
    real_embedder: OnnxEmbedder,
    slack_settings: Settings,
    fake_slack: FakeSlack,
    fake_discord: FakeDiscord,
    start_bot: Callable[..., Any],
) -> None:
    async with bot_world(
        tmp_path,
        article_store_dir,
        real_embedder,
        slack_settings,
        fake_slack,
        start_bot,
        discord_follows=0.05,  # READOUT_FOLLOW_INTERVAL, started with the bot (setup_hook)
    ) as world:
        asked = await ask_both(world, fake_slack, fake_discord)
        version = await reindex(world, tmp_path, RED_LINE, CHANGED_RED_LINE)
        [edit] = await fake_discord.wait_for(lambda: discord_edits(fake_discord))
        await wait_until(lambda: updates_in_log(world) == [(version, "updated")])
    assert edit.path == f"/channels/{CHANNEL_ID}/messages/{asked.discord}"
    assert "very first and most important red line" in str(edit.body["embeds"])
    assert not fake_slack.posts("chat.update")  # the Discord bot edits Discord messages only


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
    assert first.updated + second.updated == 2
    assert again == FollowReport(version)
    assert len(fake_slack.posts("chat.update")) == 1
    assert len(discord_edits(fake_discord)) == 1


async def test_readout_index_notify_in_another_process_updates_the_running_bots_answers(
    tmp_path: Path,
    article_store_dir: Path,
    article_engine: Engine,
    fake_slack: FakeSlack,
    fake_discord: FakeDiscord,
    start_bot: Callable[..., Any],
) -> None:
    """The Slack bot runs as `readout serve slack` (its own process), a Discord bot beside it
    shares the question log, and `readout index --notify` re-indexes in a third process: the
    answers on both platforms are edited once, by the process that published the index (the
    running bots' own checks are tested above)."""
    store_dir, log_path = tmp_path / "store", tmp_path / "questions.sqlite3"
    shutil.copytree(article_store_dir, store_dir)
    env = {
        **os.environ,
        "READOUT_STORE": str(store_dir),
        "READOUT_QUESTION_LOG": str(log_path),
        "READOUT_SLACK_API_URL": fake_slack.api_url,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "READOUT_LOG_LEVEL": "INFO",
        # the bot's own checks are tested elsewhere: here only `index --notify` may edit
        "READOUT_FOLLOW_INTERVAL": "3600",
    }
    with QuestionLog(log_path) as log:
        service = AnswerService(article_engine, question_log=log, feedback=log, posts=log)
        try:
            await start_bot(service, follow_days=0.0)
            await fake_discord.message(f"<@{APP_ID}> {QUESTION}")
            [discord_answer] = await fake_discord.wait_for(lambda: bot_messages(fake_discord))
            await wait_until(lambda: log.flush() and posts_in(log_path) == 1)
        finally:
            service.close()

    args = ("serve", "slack", "--http", "--host", "127.0.0.1", "--port", "0")
    async with readout(env, *args) as server:
        url = (await server.wait_for_line(r"(http://127\.0\.0\.1:\d+/slack/events)")).group(1)
        async with aiohttp.ClientSession() as session:
            slack = SlackHttp(url, session, fake_slack)
            ts = new_ts()
            await slack.event(mention(QUESTION, ts=ts), event_id=f"Ev{ts}")
            await fake_slack.wait_for(lambda: fake_slack.posts())
        [slack_key] = fake_slack.messages
        await wait_until(lambda: posts_in(log_path) == 2)  # the bot's writer thread kept it

        docs = tmp_path / "docs"
        docs.mkdir()
        text = ARTICLE.read_text(encoding="utf-8").replace(RED_LINE, CHANGED_RED_LINE)
        (docs / ARTICLE.name).write_text(text, encoding="utf-8")
        notify_env = {
            **env,
            "DISCORD_TOKEN": DISCORD_TOKEN,
            "READOUT_DISCORD_API_URL": fake_discord.api_url,
            "READOUT_DISCORD_GATEWAY_URL": fake_discord.gateway_url,
        }
        indexing = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "index",
            str(docs),
            "--notify",
            env=notify_env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(indexing.communicate(), STARTUP)
        assert await server.stop() == 0

    output, errors, served = out.decode(), err.decode(), "".join(server.stderr)
    assert indexing.returncode == 0, errors
    assert "in slack and discord: 2 updated, 0 marked outdated, 0 failed (of 2 " in output
    assert errors.count("updated slack message") == errors.count("updated discord message") == 1
    [update] = fake_slack.posts("chat.update")
    assert (update.args["channel"], update.args["ts"]) == slack_key
    assert update.token == BOT_TOKEN
    assert "very first and most important red line" in all_text(update.args)
    [edit] = discord_edits(fake_discord)
    assert edit.path == f"/channels/{CHANNEL_ID}/messages/{discord_answer['id']}"
    assert "very first and most important red line" in str(edit.body["embeds"])
    everything = errors + output + served
    assert "Traceback" not in everything
    assert BOT_TOKEN not in everything and DISCORD_TOKEN not in everything


def posts_in(path: Path) -> int:
    with closing(sqlite3.connect(path)) as connection:
        return int(connection.execute("SELECT count(*) FROM posts").fetchone()[0])


async def wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    """Poll ``condition`` (a file another process writes) until it holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.05)
