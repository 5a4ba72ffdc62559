"""Abuse: one person flooding is slowed down while others are answered; hostile or empty input
comes back inert (no pings, no live links, no invisible characters) and what is empty after
clean-up is never searched. Real model and index, the real Slack and Discord apps, the
stand-ins, the question log on."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from bot.questions.log import QuestionLog
from bot.service import TOO_LONG, USAGE
from bot.slack_app import listener_tasks
from index.errors import QuestionError
from retrieval.answer import Answer
from retrieval.conversation import Turn
from retrieval.engine import Engine
from tests.support.fake_discord import APP_ID, DM_CHANNEL_ID, Call
from tests.support.fakes import EngineWrapper
from tests.support.ops import (
    WAIT,
    CountingDiscord,
    CountingSlack,
    errors_logged,
    logged,
    logging_service,
    slack_settings_for,
)
from tests.support.slack import (
    SlackHttp,
    all_text,
    blocks_of,
    http_endpoint,
    running_app,
)

pytestmark = pytest.mark.integration

TAIWAN = "What did Xi say about Taiwan?"
ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"
BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
INVISIBLE = set(ZERO_WIDTH + BIDI)
LINK = "[click me](https://evil.example/phish)"
FENCE = "```\nrm -rf / # a code fence\n```"


class SearchedEngine(EngineWrapper):
    """The real engine, remembering every question it was asked to search."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.searched: list[str] = []

    def ask_many(
        self, questions: Sequence[str], histories: Sequence[Sequence[Turn]] | None = None
    ) -> list[Answer | QuestionError]:
        self.searched.extend(questions)
        return self.engine.ask_many(questions, histories)


@pytest.fixture
def fake_discord(counting_discord: CountingDiscord) -> CountingDiscord:
    return counting_discord


# -- flooding ------------------------------------------------------------------------------


async def test_one_user_sending_20_questions_in_5_s_is_slowed_down_another_is_answered(
    article_engine: Engine,
    counting_slack: CountingSlack,
    ops_log: QuestionLog,
    question_log_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = counting_slack
    engine = SearchedEngine(article_engine)
    async with (
        logging_service(engine, ops_log) as service,  # READOUT_RATE_LIMIT's default: 5 per 30 s
        running_app(slack_settings_for(fake), service) as app,
        http_endpoint(app, fake) as slack,
    ):
        started = time.monotonic()
        flood = []
        for n in range(20):
            flood.append(await slack.command("/ask", TAIWAN, key=f"flood-{n}", user="U0FLOOD"))
            if n == 10:  # someone else asks in the middle of the flood
                await slack.command("/ask", TAIWAN, key="calm", user="U0CALM")
            await asyncio.sleep(0.2)  # the flood's pace: 20 questions in about 4 s
        flooded_for = time.monotonic() - started
        await asyncio.wait_for(
            asyncio.gather(
                *(fake.arrival(k).wait() for k in [f"flood-{n}" for n in range(20)] + ["calm"])
            ),
            WAIT,
        )
        assert await listener_tasks(app).wait_idle(WAIT)

    assert flooded_for < 5.0 and {d.status for d in flood} == {200}
    replies = [fake.responses_to(f"flood-{n}") for n in range(20)]
    assert all(len(r) == 1 for r in replies)
    answers = [r[0] for r in replies if r[0]["response_type"] == "in_channel"]
    notices = [r[0] for r in replies if r[0]["response_type"] == "ephemeral"]
    assert len(answers) == 5 and len(notices) == 15
    assert all(n["text"].startswith("Slow down a little: try again in ") for n in notices)
    [calm] = fake.responses_to("calm")
    assert calm["response_type"] == "in_channel" and "first red line" in all_text(calm)
    assert engine.searched == [TAIWAN] * 6  # the 15 refused were never searched
    assert errors_logged(caplog) == []
    assert ops_log.flush()
    assert len(logged(question_log_path)) == 6


# -- hostile and empty input ---------------------------------------------------------------

# (what is typed, what the engine searches: None when nothing may be searched)
SLACK_INPUTS: list[tuple[str, str | None]] = [
    (ZERO_WIDTH, None),
    (BIDI, None),
    ("a" * 50_000, None),
    ("<!here>", None),
    (f"<!here> <!channel> <!everyone> <@U0BOSS> {TAIWAN}", TAIWAN),
    (f"@everyone @here {TAIWAN}", f"@everyone @here {TAIWAN}"),
    (f"\u202e{TAIWAN[:10]}\u200b{TAIWAN[10:]}\u202c", TAIWAN),
    (f"{LINK} {TAIWAN}", f"{LINK} {TAIWAN}"),
    (f"{FENCE} {TAIWAN}", f"{' '.join(FENCE.split())} {TAIWAN}"),
]


def slack_texts(message: dict[str, Any]) -> list[str]:
    """Every string Slack would render from a message: its text and each mrkdwn element."""
    texts = [message.get("text") or ""]
    for block in blocks_of(message):
        parts = [block.get("text")] + list(block.get("elements") or [])
        texts += [p["text"] for p in parts if isinstance(p, dict) and p.get("type") == "mrkdwn"]
    return texts


def assert_inert_in_slack(message: dict[str, Any]) -> None:
    for block in blocks_of(message):
        parts = [block.get("text")] + list(block.get("elements") or [])
        for part in parts:
            if isinstance(part, dict) and part.get("type") == "mrkdwn":
                assert part["verbatim"] is True  # no auto-linking, no parsed @here or #channel
    for text in slack_texts(message):
        # Slack's control sequences (<!here>, <@U…>, <https://…|label>) need a literal "<"
        assert "<" not in text, text
        assert not INVISIBLE & set(text)


async def test_hostile_slack_input_comes_back_inert_and_empty_input_is_never_searched(
    article_engine: Engine,
    counting_slack: CountingSlack,
    ops_log: QuestionLog,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = counting_slack
    engine = SearchedEngine(article_engine)
    async with (
        logging_service(engine, ops_log) as service,
        running_app(slack_settings_for(fake), service) as app,
        http_endpoint(app, fake) as slack,
    ):
        await ask_each(slack, [text for text, _ in SLACK_INPUTS])
        await asyncio.wait_for(
            asyncio.gather(*(fake.arrival(f"in-{n}").wait() for n in range(len(SLACK_INPUTS)))),
            WAIT,
        )
        assert await listener_tasks(app).wait_idle(WAIT)

    assert sorted(engine.searched) == sorted(s for _, s in SLACK_INPUTS if s is not None)
    for n, (typed, searched) in enumerate(SLACK_INPUTS):
        [reply] = fake.responses_to(f"in-{n}")
        assert_inert_in_slack(reply)
        if searched is None:
            assert reply["response_type"] == "ephemeral"
            expected = TOO_LONG if len(typed) > 1000 else USAGE
            assert reply["text"] == expected.replace("<", "&lt;").replace(">", "&gt;")
        else:
            assert reply["response_type"] == "in_channel"
            question_line = slack_texts(reply)[1]
            assert question_line == f"*Q:* {searched}".replace(">", "&gt;").replace("<", "&lt;")
    assert errors_logged(caplog) == []


async def ask_each(slack: SlackHttp, texts: Sequence[str]) -> None:
    for n, text in enumerate(texts):
        delivery = await slack.command("/ask", text, key=f"in-{n}", user=f"U0INPUT{n}")
        assert delivery.status == 200


DISCORD_SLASH: list[tuple[str, str | None]] = [
    (ZERO_WIDTH, None),
    (BIDI, None),
    (f"@everyone @here <@{APP_ID}> {TAIWAN}", f"@everyone @here <@{APP_ID}> {TAIWAN}"),
    (f"\u202e{TAIWAN}\u202c\u200b", TAIWAN),
    (f"{LINK} {TAIWAN}", f"{LINK} {TAIWAN}"),
    (f"{FENCE} {TAIWAN}", f"{' '.join(FENCE.split())} {TAIWAN}"),
]


def assert_inert_in_discord(call: Call) -> None:
    body = call.body
    assert body["allowed_mentions"]["parse"] == []  # nothing in it can ping anyone
    assert not body["allowed_mentions"].get("replied_user")
    text = json.dumps(body, ensure_ascii=False)
    assert not INVISIBLE & set(text)
    for embed in body.get("embeds") or []:
        rendered = " ".join(
            [embed.get("title", ""), embed.get("description", "")]
            + [f["value"] for f in embed.get("fields", [])]
        )
        # escaped, so a masked link shows its target, and a fence fences nothing
        assert not re.search(r"(?<!\\)\[click me\]\(", rendered)
        assert not re.search(r"(?<!\\)`", rendered)


async def test_hostile_discord_input_comes_back_inert_and_empty_input_is_never_searched(
    article_engine: Engine,
    counting_discord: CountingDiscord,
    start_bot: Callable[..., Any],  # noqa: F811 - the imported fixture
    ops_log: QuestionLog,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = counting_discord
    engine = SearchedEngine(article_engine)
    async with logging_service(engine, ops_log) as service:
        await start_bot(service)
        tokens = []
        for n, (typed, _) in enumerate(DISCORD_SLASH):
            interaction = await fake.slash("ask", {"question": typed}, user_id=f"9400000{n:04d}")
            tokens.append(interaction["token"])
        await asyncio.wait_for(asyncio.gather(*(fake.follow_up_of(t).wait() for t in tokens)), WAIT)
        # 50,000 characters arrive as a DM (Discord's own /ask refuses over 500 characters)
        await fake.message("x" * 50_000, dm=True, mentions_bot=False, user_id="9400000999")
        await fake.wait_for(
            lambda: fake.calls_to("POST", rf"/channels/{DM_CHANNEL_ID}/messages"), WAIT
        )

    assert sorted(engine.searched) == sorted(s for _, s in DISCORD_SLASH if s is not None)
    for token, (_, searched) in zip(tokens, DISCORD_SLASH, strict=True):
        [reply] = fake.calls_to("POST", rf"/webhooks/{APP_ID}/{token}")
        assert_inert_in_discord(reply)
        if searched is None:
            assert reply.body["content"] == USAGE and reply.body["flags"] == 64  # ephemeral
        else:
            assert reply.embeds
    titles = [
        fake.calls_to("POST", rf"/webhooks/{APP_ID}/{token}")[0].embeds[0]["title"]
        for token in tokens[2:]
    ]
    assert titles[0].startswith("@everyone @here <@")  # shown as typed, pinging nobody
    assert titles[1] == TAIWAN  # invisible characters gone
    assert titles[2].startswith(r"\[click me](https://evil.example/phish)")  # a link as text
    assert titles[3].startswith(r"\`\`\` rm -rf")  # an escaped fence
    [too_long] = fake.calls_to("POST", rf"/channels/{DM_CHANNEL_ID}/messages")
    assert too_long.body["content"] == TOO_LONG
    assert_inert_in_discord(too_long)
    assert errors_logged(caplog) == []
