"""Fixtures for the operations suite: load, faults, abuse and secrets, on loopback only.

Everything runs with DEBUG logging, and after every test :func:`no_secrets_anywhere` checks
that no token, signing secret or log salt reached a log line or the question log. The Slack
and Discord stand-ins are the ones from issues 3 and 4, each extended here with per-request
bookkeeping (:class:`CountingSlack`, :class:`CountingDiscord`) so that hundreds of waiters
each wake on their own event instead of re-scanning every request on every request.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot.questions.log import QuestionLog
from bot.service import AnswerService
from bot.settings import Settings
from tests.support.discord import TOKEN as DISCORD_TOKEN
from tests.support.fake_discord import Call, FakeDiscord
from tests.support.slack import (
    APP_TOKEN,
    BOT_TOKEN,
    SIGNING_SECRET,
    FakeSlack,
)

LOG_SALT = "ops-test-log-salt-never-logged-5d1c"
SECRETS = (BOT_TOKEN, APP_TOKEN, SIGNING_SECRET, DISCORD_TOKEN, LOG_SALT)
ACK_SECONDS = 3.0  # Slack's and Discord's deadline for an acknowledgement
UNAVAILABLE_SECONDS = 5.0  # the bound for hearing "search is unavailable"
WAIT = 120.0  # upper bound for a whole wave of answers on a busy 2-core machine
# A mix the documents answer and questions they don't (abstentions are answers too).
QUESTIONS = (
    "What did Xi say about Taiwan?",
    "What did Biden say about TikTok?",
    "How long was the call?",
    "Who will travel to China?",
    "Which global conflicts were among the topics?",
    "What did the two leaders agree on about artificial intelligence?",
    "What did China say about export controls?",
    "When did Biden and Xi last meet?",
    "What is the capital of Australia?",
    "Who won the football match yesterday?",
    "What did Xi say about the South China Sea?",
    "What did Biden say about fentanyl?",
)


@pytest.fixture(autouse=True)
def no_secrets_anywhere(
    caplog: pytest.LogCaptureFixture, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """DEBUG logging for the whole test (set before any app exists: bolt copies the level it
    starts with); afterwards no secret in any log line or in any question log it wrote."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))  # never the real home
    caplog.set_level(logging.DEBUG)
    yield
    lines = [record.getMessage() for record in caplog.records]
    lines += [record.exc_text or "" for record in caplog.records]
    leaked = [secret for secret in SECRETS if any(secret in line for line in lines)]
    assert not leaked, f"secrets in the logs: {leaked}"
    for path in tmp_path.rglob("*.sqlite3*"):
        data = path.read_bytes()
        assert not [s for s in SECRETS if s.encode() in data], f"a secret in {path}"


def errors_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    """ERROR and worse from anyone, and warnings from readout itself."""
    return [
        f"{r.name}: {r.getMessage()}"
        for r in caplog.records
        if r.levelno >= logging.ERROR or (r.levelno >= logging.WARNING and r.name.startswith("bot"))
    ]


@pytest.fixture
def question_log_path(tmp_path: Path) -> Path:
    return tmp_path / "log" / "questions.sqlite3"


@pytest.fixture
def ops_log(question_log_path: Path) -> Iterator[QuestionLog]:
    with QuestionLog(question_log_path, salt=LOG_SALT) as opened:
        yield opened


def logged(path: Path) -> list[dict[str, Any]]:
    """Every row of the question log, oldest first."""
    import sqlite3

    with sqlite3.connect(path) as db:
        db.row_factory = sqlite3.Row
        return [dict(row) for row in db.execute("SELECT * FROM questions ORDER BY id")]


@asynccontextmanager
async def logging_service(
    engine: Any, qlog: QuestionLog, **options: Any
) -> AsyncIterator[AnswerService]:
    """The answer service as ``readout serve`` builds it: settings' limits, the log wired in."""
    defaults = Settings()
    service = AnswerService(
        engine,
        rate_limit=options.pop("rate_limit", defaults.rate_limit),
        rate_window=options.pop("rate_window", defaults.rate_window),
        timeout=options.pop("timeout", defaults.answer_timeout),
        feedback=qlog,
        question_log=qlog,
        **options,
    )
    try:
        await service.start()
        yield service
    finally:
        service.close()


# -- measuring -----------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1]


@dataclass
class LoadReport:
    name: str
    questions: int
    seconds: float
    latencies: list[float]
    acks: list[float]

    def line(self) -> str:
        return (
            f"{self.name}: {self.questions} questions in {self.seconds:.1f} s = "
            f"{self.questions / self.seconds:.1f} answers/s; answer latency "
            f"p50 {percentile(self.latencies, 50) * 1000:.0f} ms, "
            f"p95 {percentile(self.latencies, 95) * 1000:.0f} ms; "
            f"ack max {max(self.acks) * 1000:.0f} ms"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "questions": self.questions,
            "seconds": round(self.seconds, 2),
            "answers_per_second": round(self.questions / self.seconds, 2),
            "p50_ms": round(percentile(self.latencies, 50) * 1000, 1),
            "p95_ms": round(percentile(self.latencies, 95) * 1000, 1),
            "ack_max_ms": round(max(self.acks) * 1000, 1),
        }


_REPORTS: list[str] = []


@pytest.fixture
def report_load(request: pytest.FixtureRequest) -> Any:
    """Record a load result (or a fault run's counts): printed in the terminal summary, and
    appended as one JSON line to ``$READOUT_LOAD_REPORT`` when that is set."""

    def report(result: LoadReport | dict[str, Any]) -> None:
        if isinstance(result, LoadReport):
            line, record = result.line(), result.to_json()
        else:
            line, record = ", ".join(f"{k}: {v}" for k, v in result.items()), result
        _REPORTS.append(line)
        print(line)
        request.node.user_properties.append(("load", record))
        target = os.environ.get("READOUT_LOAD_REPORT")
        if target:
            with open(target, "a", encoding="utf-8") as out:
                out.write(json.dumps(record) + "\n")

    return report


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _REPORTS:
        terminalreporter.section("readout load")
        for line in _REPORTS:
            terminalreporter.write_line(line)


# -- the stand-ins, with bookkeeping -------------------------------------------------------


@dataclass
class CountingSlack(FakeSlack):
    """The Slack stand-in, plus: when each response_url got its first post (an event per key),
    and which ``chat.postMessage`` calls succeeded (after injected 429s and 500s)."""

    delivered: list[dict[str, Any]] = field(default_factory=list)
    arrived: dict[str, asyncio.Event] = field(default_factory=dict)

    def arrival(self, key: str) -> asyncio.Event:
        return self.arrived.setdefault(key, asyncio.Event())

    def response_counts(self) -> Counter[str]:
        return Counter(post.key for post in self.responses)

    async def _respond(self, request: web.Request) -> web.Response:
        response = await super()._respond(request)
        self.arrival(request.match_info["key"]).set()
        return response

    async def _api(self, request: web.Request) -> web.Response:
        response = await super()._api(request)
        if request.match_info["method"] == "chat.postMessage" and response.status == 200:
            body = await request.json()  # aiohttp keeps the body it already read
            await self._record(body, self.delivered)  # and wakes wait_for()
        return response


@dataclass
class CountingDiscord(FakeDiscord):
    """The Discord stand-in, plus an event per interaction token, set by its first follow-up."""

    followed_up: dict[str, asyncio.Event] = field(default_factory=dict)

    def follow_up_of(self, token: str) -> asyncio.Event:
        return self.followed_up.setdefault(token, asyncio.Event())

    async def _followup(self, call: Call, app: str, tok: str) -> web.Response:
        response = await super()._followup(call, app, tok)
        self.follow_up_of(tok).set()
        return response


@pytest.fixture
async def counting_slack() -> AsyncIterator[CountingSlack]:
    fake = CountingSlack()
    await fake.start()
    yield fake
    await fake.close()


@pytest.fixture
async def counting_discord() -> AsyncIterator[CountingDiscord]:
    fake = CountingDiscord(token=DISCORD_TOKEN)
    await fake.start()
    yield fake
    await fake.close()


def slack_settings_for(fake: FakeSlack) -> Settings:
    return Settings.from_env(
        {
            "READOUT_SLACK_API_URL": fake.api_url,
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_APP_TOKEN": APP_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        }
    )


async def wait_all(events: Sequence[asyncio.Event], timeout: float = WAIT) -> None:
    await asyncio.wait_for(asyncio.gather(*(event.wait() for event in events)), timeout)


def elapsed_since(started: float) -> float:
    return time.monotonic() - started
