"""Two replicas of one deployment: separate `readout serve` processes over one store and one
question log, behind Slack's and Discord's stand-ins. A question answered by one replica has
its "Show sources" and 👍/👎 clicked on the other, and again after the first was restarted;
an altered button value is refused on both platforms."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.service import INVALID_BUTTON
from bot.slack_app.render import FEEDBACK_DOWN, FEEDBACK_UP, SHOW_SOURCES, escape
from tests.support.discord import TOKEN
from tests.support.discord import fake_discord as fake_discord  # a fixture
from tests.support.fake_discord import APP_ID, EPHEMERAL, USER_ID, FakeDiscord
from tests.support.processes import Server, readout
from tests.support.slack import (
    APP_TOKEN,
    BOT_TOKEN,
    SIGNING_SECRET,
    WAIT,
    FakeSlack,
    SlackHttp,
    all_text,
    answer_id_of,
    blocks_of,
    button_value_of,
    iter_texts,
)
from tests.support.slack import fake_slack as fake_slack  # a fixture

pytestmark = pytest.mark.integration

TAIWAN = "What did Xi say about Taiwan?"
RED_LINE = "first red line"


@pytest.fixture
def shared_env(tmp_path: Path, article_store_dir: Path) -> dict[str, str]:
    """One store and one question log for every replica (as on a shared volume)."""
    store = tmp_path / "store"
    shutil.copytree(article_store_dir, store)
    return {
        **os.environ,
        "READOUT_STORE": str(store),
        "READOUT_QUESTION_LOG": str(tmp_path / "shared" / "questions.sqlite3"),
        "READOUT_LOG_LEVEL": "INFO",
    }


def votes(env: dict[str, str]) -> list[tuple[str, int]]:
    with sqlite3.connect(env["READOUT_QUESTION_LOG"]) as db:
        return list(db.execute("SELECT answer_id, vote FROM feedback ORDER BY voted_at"))


async def poll_until(condition: Callable[[], bool], timeout: float = WAIT) -> None:
    """Wait for another process's write to the question log (no event to wait on there)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            pytest.fail("the question log never showed it")
        await asyncio.sleep(0.05)


def logged_answers(env: dict[str, str]) -> set[str]:
    with sqlite3.connect(env["READOUT_QUESTION_LOG"]) as db:
        return {row[0] for row in db.execute("SELECT answer_id FROM questions")}


# -- Slack ---------------------------------------------------------------------------------


@asynccontextmanager
async def slack_replica(
    env: dict[str, str], fake: FakeSlack, session: aiohttp.ClientSession
) -> AsyncIterator[tuple[Server, SlackHttp]]:
    args = ("serve", "slack", "--http", "--host", "127.0.0.1", "--port", "0")
    async with readout(env, *args) as server:
        match = await server.wait_for_line(r"(http://127\.0\.0\.1:\d+/slack/events)")
        yield server, SlackHttp(match.group(1), session, fake)


async def test_slack_buttons_work_on_another_replica_and_after_a_restart(
    shared_env: dict[str, str], fake_slack: FakeSlack
) -> None:
    fake = fake_slack
    env = {
        **shared_env,
        "READOUT_SLACK_API_URL": fake.api_url,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_APP_TOKEN": APP_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
    }
    async with (
        aiohttp.ClientSession() as session,
        AsyncExitStack() as replicas,
    ):
        first, one = await replicas.enter_async_context(slack_replica(env, fake, session))
        other, two = await replicas.enter_async_context(slack_replica(env, fake, session))

        await one.command("/ask", TAIWAN, key="ask")
        await fake.wait_for(lambda: fake.responses_to("ask"))
        answer = fake.responses_to("ask")[0]
        value, answer_id = button_value_of(answer), answer_id_of(answer)

        # the other replica never saw the answer: it rebuilds the sources, records the vote
        await two.action(SHOW_SOURCES, value, key="sources")
        await two.action(FEEDBACK_UP, value, key="up")
        await fake.wait_for(lambda: fake.responses_to("sources") and fake.responses_to("up"))
        [sources] = fake.responses_to("sources")
        texts = "\n".join(iter_texts(blocks_of(sources)))
        assert sources["response_type"] == "ephemeral"
        assert "¶12" in texts and RED_LINE in texts and re.search(r"score [01]\.\d\d", texts)
        await poll_until(lambda: votes(env) == [(answer_id, 1)])

        # altered: another answer id under the same MAC
        forged = value.replace(answer_id, answer_id[::-1])
        await two.action(SHOW_SOURCES, forged, key="forged")
        await fake.wait_for(lambda: fake.responses_to("forged"))
        [refused] = fake.responses_to("forged")
        assert refused["text"] == escape(INVALID_BUTTON) and refused["response_type"] == "ephemeral"
        assert "r1:" not in "".join(other.stderr)  # logged without the value

        # the first replica restarts (its memory is gone) and gets the next clicks
        assert await first.stop() == 0
        _, again = await replicas.enter_async_context(slack_replica(env, fake, session))
        await again.action(SHOW_SOURCES, value, key="after-restart")
        await again.action(FEEDBACK_DOWN, value, key="changed-mind")
        await fake.wait_for(
            lambda: fake.responses_to("after-restart") and fake.responses_to("changed-mind")
        )
        assert RED_LINE in all_text(fake.responses_to("after-restart")[0])
        await poll_until(lambda: votes(env) == [(answer_id, -1)])  # the vote replaced


# -- Discord -------------------------------------------------------------------------------


@asynccontextmanager
async def discord_replica(env: dict[str, str], fake: FakeDiscord) -> AsyncIterator[Server]:
    async with readout(env, "serve", "discord") as server:
        await server.wait_for_line(r"connected to Discord as user")
        yield server


def callbacks(fake: FakeDiscord, interaction: dict[str, Any]) -> list[Any]:
    return fake.calls_to("POST", rf"/interactions/{interaction['id']}/[^/]+/callback")


def followups(fake: FakeDiscord, interaction: dict[str, Any]) -> list[Any]:
    return fake.calls_to("POST", rf"/webhooks/{APP_ID}/{re.escape(interaction['token'])}")


async def test_discord_buttons_work_on_another_replica_and_after_a_restart(
    shared_env: dict[str, str],
    fake_discord: FakeDiscord,
) -> None:
    fake = fake_discord
    env = {
        **shared_env,
        "DISCORD_TOKEN": TOKEN,
        "READOUT_DISCORD_API_URL": fake.api_url,
        "READOUT_DISCORD_GATEWAY_URL": fake.gateway_url,
    }
    async with AsyncExitStack() as replicas:
        first = await replicas.enter_async_context(discord_replica(env, fake))
        other = await replicas.enter_async_context(discord_replica(env, fake))

        asked = await fake.slash("ask", {"question": TAIWAN}, connection=0)
        [post] = await fake.wait_for(lambda: [c for c in followups(fake, asked) if c.embeds])
        message = next(m for m in fake.messages.values() if m["embeds"] == post.embeds)
        ids = [b["custom_id"] for row in post.body["components"] for b in row["components"]]
        sources_id, up_id, down_id = ids
        answer_id = sources_id.split(":")[2]

        # on the other replica; the message's embeds are left out, so the question can only
        # come from the shared question log (written in the background: a person takes longer
        # to click than that)
        await poll_until(lambda: answer_id in logged_answers(env))
        bare = {**message, "embeds": []}
        shown = await fake.click(sources_id, bare, connection=1)
        [rebuilt] = await fake.wait_for(lambda: followups(fake, shown))
        assert rebuilt.body["flags"] & EPHEMERAL
        assert rebuilt.embeds[0]["title"] == "[1] ¶12 · Xi Biden Call"
        assert RED_LINE in rebuilt.embeds[0]["description"]
        up = await fake.click(up_id, message, connection=1)
        await fake.wait_for(lambda: callbacks(fake, up))
        await poll_until(lambda: votes(env) == [(answer_id, 1)])

        altered = sources_id.replace(answer_id, answer_id[::-1])
        button = {"type": 2, "style": 2, "label": "Show sources", "custom_id": altered}
        forged = await fake.click(
            altered, {**message, "components": [{"type": 1, "components": [button]}]}, connection=1
        )
        [refused] = await fake.wait_for(lambda: callbacks(fake, forged))
        assert refused.body["data"]["content"] == INVALID_BUTTON
        assert refused.body["data"]["flags"] == EPHEMERAL
        assert altered.split(":")[-1] not in "".join(other.stderr)  # no MAC in the log

        # the first replica restarts; the restarted one connects last
        assert await first.stop() == 0
        await replicas.enter_async_context(discord_replica(env, fake))
        again = await fake.click(sources_id, message, connection=-1)
        [after] = await fake.wait_for(lambda: followups(fake, again))
        assert after.embeds[0]["title"] == "[1] ¶12 · Xi Biden Call"
        down = await fake.click(down_id, message, connection=-1, user_id=USER_ID)
        await fake.wait_for(lambda: callbacks(fake, down))
        await poll_until(lambda: votes(env) == [(answer_id, -1)])
