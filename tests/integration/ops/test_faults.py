"""Faults under load: the Chroma server (server mode) stops mid-run and starts again; Slack
answers some `chat.postMessage` calls with 429 + Retry-After and some with 500.

Nothing may crash, no question may be answered twice or lost, and the question log must hold
every question with how it went.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.questions.log import QuestionLog
from bot.service import UNAVAILABLE
from bot.slack_app import listener_tasks
from index.build import build_index
from index.corpus import BUNDLED_CORPUS_DIR
from index.embedder import OnnxEmbedder
from index.lock import NoLock
from index.store import ChromaStore
from retrieval.engine import Engine
from tests.support.chroma import ChromaServer
from tests.support.ops import (
    ACK_SECONDS,
    QUESTIONS,
    UNAVAILABLE_SECONDS,
    WAIT,
    CountingSlack,
    errors_logged,
    logged,
    logging_service,
    slack_settings_for,
)
from tests.support.slack import (
    all_text,
    http_endpoint,
    mention,
    new_ts,
    running_app,
)

pytestmark = pytest.mark.integration

PEOPLE = 4  # asking at once, each pausing THINK seconds between questions
THINK = 0.3
ENOUGH = 12  # answers before the outage, refusals during it, answers after it


@dataclass(frozen=True)
class Asked:
    key: str
    sent: float
    replied: float
    ack: float


@pytest.fixture
def article_server(tmp_path: Path, real_embedder: OnnxEmbedder) -> Iterator[ChromaServer]:
    """A real `chroma run` holding the bundled article's index; stopped after the test."""
    server = ChromaServer(tmp_path / "chroma-data", tmp_path / "chroma.log")
    server.start()
    try:
        store = ChromaStore.open_remote(server.url, timeout=60)
        try:
            build_index([BUNDLED_CORPUS_DIR], embedder=real_embedder, store=store, lock=NoLock())
        finally:
            store.close()
        yield server
    finally:
        server.stop()


async def test_a_chroma_outage_mid_load_gets_one_clear_refusal_each_then_answers_resume(
    article_server: ChromaServer,
    real_embedder: OnnxEmbedder,
    counting_slack: CountingSlack,
    ops_log: QuestionLog,
    question_log_path: Path,
    caplog: pytest.LogCaptureFixture,
    report_load: Callable[[dict[str, object]], None],
) -> None:
    fake = counting_slack
    settings = slack_settings_for(fake)
    assert settings.chroma_timeout < UNAVAILABLE_SECONDS  # a hung server is refused in time
    store = ChromaStore.open_remote(article_server.url, timeout=settings.chroma_timeout)
    engine = Engine(store, real_embedder)
    asked: list[Asked] = []
    progress = asyncio.Condition()
    stop_asking = asyncio.Event()

    def reply_of(item: Asked) -> dict[str, object]:
        [post] = [post.body for post in fake.responses if post.key == item.key]
        return post

    def answered(item: Asked) -> bool:
        return reply_of(item)["response_type"] == "in_channel"

    def refused(item: Asked) -> bool:
        body = reply_of(item)
        return body["response_type"] == "ephemeral" and body["text"] == UNAVAILABLE

    async def until(condition: Callable[[], bool]) -> None:
        async with progress:
            await asyncio.wait_for(progress.wait_for(condition), WAIT)

    try:
        async with (
            logging_service(engine, ops_log) as service,
            running_app(settings, service) as app,
            http_endpoint(app, fake) as slack,
        ):

            async def person(p: int) -> None:
                n = 0
                while not stop_asking.is_set():
                    key, n = f"p{p}-{n}", n + 1
                    sent = time.monotonic()
                    delivery = await slack.command(
                        "/ask", QUESTIONS[n % len(QUESTIONS)], key=key, user=f"U{p}X{n:05d}"
                    )
                    assert delivery.status == 200
                    await asyncio.wait_for(fake.arrival(key).wait(), WAIT)
                    async with progress:
                        asked.append(Asked(key, sent, time.monotonic(), delivery.seconds))
                        progress.notify_all()
                    await asyncio.sleep(THINK)  # the load's pace, not a synchronisation

            people = [asyncio.create_task(person(p)) for p in range(PEOPLE)]
            await until(lambda: sum(map(answered, asked)) >= ENOUGH)

            await asyncio.to_thread(article_server.stop)  # SIGTERM: the server goes away
            down = time.monotonic()
            await until(lambda: sum(a.sent > down and refused(a) for a in asked) >= ENOUGH)

            restarting = time.monotonic()
            await asyncio.to_thread(article_server.start)  # same folder, same port
            up = time.monotonic()
            await until(lambda: sum(a.sent > up for a in asked) >= ENOUGH)

            stop_asking.set()
            await asyncio.gather(*people)
            assert await listener_tasks(app).wait_idle(WAIT)
    finally:
        store.close()

    # one reply per question, never two; every reply an answer or the clear refusal
    assert fake.response_counts() == {item.key: 1 for item in asked}
    assert all(answered(item) or refused(item) for item in asked)
    assert max(item.ack for item in asked) < ACK_SECONDS
    during = [item for item in asked if item.sent > down and item.replied < restarting]
    assert len(during) >= ENOUGH and all(refused(item) for item in during)
    assert max(item.replied - item.sent for item in during) < UNAVAILABLE_SECONDS
    after = [item for item in asked if item.sent > up]
    report_load(
        {
            "chroma outage": f"{len(asked)} questions",
            "answered": sum(map(answered, asked)),
            "refused while down": sum(map(refused, asked)),
            "slowest refusal": f"{max(i.replied - i.sent for i in during) * 1000:.0f} ms",
            "down for": f"{up - down:.1f} s",
        }
    )
    assert len(after) >= ENOUGH and all(answered(item) for item in after)
    assert any("¶" in all_text(reply_of(item)) for item in after)  # cited, not just abstaining

    # nothing crashed: no errors, only readout's own "store unavailable" warnings
    assert errors_logged(caplog) == ["bot.service: store unavailable while answering"] * sum(
        map(refused, asked)
    )

    assert ops_log.flush()
    rows = logged(question_log_path)
    assert len(rows) == len(asked)
    outcomes = Counter(row["outcome"] for row in rows)
    assert outcomes["unavailable"] == sum(map(refused, asked))
    assert outcomes["answered"] + outcomes["abstained"] == sum(map(answered, asked))


async def test_slack_429s_and_500s_on_post_message_still_deliver_each_answer_once(
    article_engine: Engine,
    counting_slack: CountingSlack,
    ops_log: QuestionLog,
    question_log_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = counting_slack
    mentions = 8
    for status in (429, 500, 429, 500):
        fake.fail_next("chat.postMessage", status, retry_after=1)

    async with (
        logging_service(article_engine, ops_log) as service,
        running_app(slack_settings_for(fake), service) as app,
        http_endpoint(app, fake) as slack,
    ):
        threads = [new_ts() for _ in range(mentions)]
        deliveries = await asyncio.gather(
            *(
                slack.event(mention(QUESTIONS[n], ts=ts, user=f"U0MENTION{n}"), event_id=f"Ev{ts}")
                for n, ts in enumerate(threads)
            )
        )
        assert {d.status for d in deliveries} == {200}
        assert max(d.seconds for d in deliveries) < ACK_SECONDS
        await fake.wait_for(lambda: len(fake.delivered) >= mentions)
        assert await listener_tasks(app).wait_idle(WAIT)

    assert Counter(body["thread_ts"] for body in fake.delivered) == Counter(threads)
    attempts = fake.posts("chat.postMessage")
    assert len(attempts) == mentions + 4  # each failure was retried once, and only once
    assert errors_logged(caplog) == []  # not even "Slack API call failed"
    assert ops_log.flush()
    assert len(logged(question_log_path)) == mentions
