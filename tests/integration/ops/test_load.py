"""Load: 200 signed Slack `/ask` requests and 100 Discord `/ask` interactions, 50 in flight at a
time, against the real model and index and the local stand-ins, with the question log on.

Each simulated person sends a question and waits for its answer before the next one takes its
slot (50 people asking at once, closed loop). Every request must be acknowledged within the
platforms' 3 s, every question answered exactly once, nothing logged at ERROR (nor a warning from
readout), and every question in the log. Throughput and latency are reported, not asserted:
they depend on the machine and whatever else it runs.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bot.questions.log import QuestionLog
from bot.slack_app import listener_tasks
from retrieval.engine import Engine
from tests.support.fake_discord import APP_ID
from tests.support.ops import (
    ACK_SECONDS,
    QUESTIONS,
    WAIT,
    CountingDiscord,
    CountingSlack,
    LoadReport,
    errors_logged,
    logged,
    logging_service,
    slack_settings_for,
)
from tests.support.slack import all_text, http_endpoint, running_app

pytestmark = pytest.mark.integration

SLACK_REQUESTS = 200
DISCORD_INTERACTIONS = 100
IN_FLIGHT = 50


@pytest.fixture
def fake_discord(counting_discord: CountingDiscord) -> CountingDiscord:
    """start_bot (from the Discord suite) connects to the counting stand-in."""
    return counting_discord


async def test_slack_200_signed_asks_50_at_a_time(
    article_engine: Engine,
    counting_slack: CountingSlack,
    ops_log: QuestionLog,
    question_log_path: Path,
    caplog: pytest.LogCaptureFixture,
    report_load: Callable[[LoadReport], None],
) -> None:
    fake = counting_slack
    acks: list[float] = []
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    slots = asyncio.Semaphore(IN_FLIGHT)

    async with (
        logging_service(article_engine, ops_log) as service,
        running_app(slack_settings_for(fake), service) as app,
        http_endpoint(app, fake) as slack,
    ):

        async def person(n: int) -> None:
            async with slots:
                key = f"load-{n}"
                answered = fake.arrival(key)
                sent = time.monotonic()
                delivery = await slack.command(
                    "/ask", QUESTIONS[n % len(QUESTIONS)], key=key, user=f"U{n:06d}"
                )
                statuses[delivery.status] += 1
                acks.append(delivery.seconds)
                await asyncio.wait_for(answered.wait(), WAIT)
                latencies.append(time.monotonic() - sent)

        started = time.monotonic()
        await asyncio.gather(*(person(n) for n in range(SLACK_REQUESTS)))
        seconds = time.monotonic() - started
        assert await listener_tasks(app).wait_idle(WAIT)  # nothing still on its way

    report_load(LoadReport("slack /ask", SLACK_REQUESTS, seconds, latencies, acks))
    assert statuses == {200: SLACK_REQUESTS}
    assert max(acks) < ACK_SECONDS
    assert fake.response_counts() == {f"load-{n}": 1 for n in range(SLACK_REQUESTS)}
    assert {post.body["response_type"] for post in fake.responses} == {"in_channel"}
    first_red_line = [post for post in fake.responses if "first red line" in all_text(post.body)]
    assert len(first_red_line) >= SLACK_REQUESTS // len(QUESTIONS)  # real answers, not notices
    assert errors_logged(caplog) == []

    assert ops_log.flush()
    rows = logged(question_log_path)
    assert len(rows) == SLACK_REQUESTS
    assert {row["platform"] for row in rows} == {"slack"}
    assert {row["outcome"] for row in rows} <= {"answered", "abstained"}
    assert len({row["user_hash"] for row in rows}) == SLACK_REQUESTS
    assert Counter(row["question"] for row in rows) == Counter(
        QUESTIONS[n % len(QUESTIONS)] for n in range(SLACK_REQUESTS)
    )


async def test_discord_100_interactions_50_at_a_time(
    article_engine: Engine,
    counting_discord: CountingDiscord,
    start_bot: Callable[..., Any],  # noqa: F811 - the imported fixture
    ops_log: QuestionLog,
    question_log_path: Path,
    caplog: pytest.LogCaptureFixture,
    report_load: Callable[[LoadReport], None],
) -> None:
    fake = counting_discord
    slots = asyncio.Semaphore(IN_FLIGHT)
    dispatched: dict[str, float] = {}
    latencies: list[float] = []

    async with logging_service(article_engine, ops_log) as service:
        await start_bot(service)

        async def person(n: int) -> None:
            async with slots:
                sent = time.monotonic()
                interaction = await fake.slash(
                    "ask",
                    {"question": QUESTIONS[n % len(QUESTIONS)]},
                    user_id=f"93000000000{n:07d}",
                )
                dispatched[interaction["id"]] = sent
                await asyncio.wait_for(fake.follow_up_of(interaction["token"]).wait(), WAIT)
                latencies.append(time.monotonic() - sent)

        started = time.monotonic()
        await asyncio.gather(*(person(n) for n in range(DISCORD_INTERACTIONS)))
        seconds = time.monotonic() - started

    callbacks = fake.calls_to("POST", r"/interactions/\d+/[^/]+/callback")
    acks = {
        call.path.split("/")[2]: call.at - dispatched[call.path.split("/")[2]] for call in callbacks
    }
    report_load(
        LoadReport("discord /ask", DISCORD_INTERACTIONS, seconds, latencies, list(acks.values()))
    )
    assert len(callbacks) == DISCORD_INTERACTIONS and set(acks) == set(dispatched)
    assert all(call.body["type"] == 5 for call in callbacks)  # deferred ("thinking…")
    assert max(acks.values()) < ACK_SECONDS
    followups = fake.calls_to("POST", rf"/webhooks/{APP_ID}/[^/]+")
    per_token = Counter(re.sub(rf"^/webhooks/{APP_ID}/", "", call.path) for call in followups)
    assert sorted(per_token.values()) == [1] * DISCORD_INTERACTIONS
    assert all(call.embeds for call in followups)  # answers, not apologies or notices
    assert not fake.unhandled
    assert errors_logged(caplog) == []

    assert ops_log.flush()
    rows = logged(question_log_path)
    assert len(rows) == DISCORD_INTERACTIONS
    assert {(row["platform"], row["channel_kind"]) for row in rows} == {("discord", "channel")}
    assert len({row["user_hash"] for row in rows}) == DISCORD_INTERACTIONS
