"""The Slack adapter over HTTP: the real bolt AsyncApp, the real model and index, signed requests
over loopback, and a local stand-in for Slack's Web API and response_urls."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from slack_bolt.async_app import AsyncApp

from bot.questions.log import QuestionLog
from bot.service import FAILED, INVALID_BUTTON, USAGE, AnswerService
from bot.settings import Settings
from bot.slack_app import listener_tasks
from bot.slack_app.buttons import THANKS
from bot.slack_app.render import (
    FEEDBACK_DOWN,
    FEEDBACK_UP,
    MAX_BLOCKS,
    SECTION_LIMIT,
    SHOW_SOURCES,
    escape,
)
from index.errors import QuestionError
from retrieval.answer import Answer, Citation
from retrieval.conversation import Turn
from retrieval.engine import Engine
from tests.support.fakes import EngineWrapper, FakeEngine
from tests.support.slack import (
    APP_TOKEN,
    BOT_TOKEN,
    QUESTION,
    SIGNING_SECRET,
    WAIT,
    FakeSlack,
    RecordingFeedback,
    SlackHttp,
    all_text,
    answer_id_of,
    blocks_of,
    button_value_of,
    command_payload,
    direct_message,
    http_endpoint,
    iter_texts,
    mention,
    new_ts,
    running_app,
    running_service,
    socket_mode,
)

pytestmark = pytest.mark.integration

ACK_SECONDS = 3.0  # Slack's deadline for an acknowledgement
RED_LINE = "first red line"


def cites_paragraph_12(message: dict[str, Any]) -> bool:
    contexts = [t for b in blocks_of(message) if b["type"] == "context" for t in iter_texts([b])]
    return any("¶12 · " in text for text in contexts) and RED_LINE in all_text(message)


async def test_ask_is_acked_fast_then_answered_in_channel_citing_paragraph_12(
    slack_http: SlackHttp, fake_slack: FakeSlack
) -> None:
    delivery = await slack_http.command("/ask", QUESTION, key="ask")

    assert delivery.status == 200 and delivery.seconds < ACK_SECONDS
    assert delivery.body == ""  # a bare ack: the answer follows on the response_url
    await fake_slack.wait_for(lambda: fake_slack.responses_to("ask"))
    [answer] = fake_slack.responses_to("ask")
    assert answer["response_type"] == "in_channel"
    assert cites_paragraph_12(answer)
    section = next(b for b in blocks_of(answer) if b["type"] == "section")
    assert RED_LINE in section["text"]["text"] and section["text"]["text"].endswith("[1]")
    buttons = next(b for b in blocks_of(answer) if b["type"] == "actions")["elements"]
    assert [b["action_id"] for b in buttons] == [SHOW_SOURCES, FEEDBACK_UP, FEEDBACK_DOWN]


@pytest.mark.parametrize("text", ["", "help", "   "])
async def test_empty_ask_and_help_show_usage_only_to_the_asker(
    slack_http: SlackHttp, fake_slack: FakeSlack, text: str
) -> None:
    delivery = await slack_http.command("/ask", text, key="usage")

    assert delivery.status == 200 and delivery.seconds < ACK_SECONDS
    await fake_slack.wait_for(lambda: fake_slack.responses_to("usage"))
    [usage] = fake_slack.responses_to("usage")
    assert usage["response_type"] == "ephemeral"
    assert usage["text"] == escape(USAGE)  # "<question>" shows as typed, never as markup


async def test_quote_and_source_answer_in_channel(
    slack_http: SlackHttp, fake_slack: FakeSlack
) -> None:
    await slack_http.command("/quote", "xi", key="quote")
    await slack_http.command("/source", "12", key="source")

    await fake_slack.wait_for(
        lambda: fake_slack.responses_to("quote") and fake_slack.responses_to("source")
    )
    [quotes] = fake_slack.responses_to("quote")
    [source] = fake_slack.responses_to("source")
    assert quotes["response_type"] == source["response_type"] == "in_channel"
    assert "Statements attributed to xi" in all_text(quotes) and "[1]" in all_text(quotes)
    assert cites_paragraph_12(source)


async def test_mention_is_answered_in_its_thread(
    slack_http: SlackHttp, fake_slack: FakeSlack
) -> None:
    ts = new_ts()
    delivery = await slack_http.event(mention(QUESTION, ts=ts), event_id="Ev-mention")

    assert delivery.status == 200 and delivery.seconds < ACK_SECONDS
    await fake_slack.wait_for(lambda: fake_slack.posts())
    [post] = fake_slack.posts()
    assert post.args["channel"] == "C0GENERAL" and post.args["thread_ts"] == ts
    assert post.token == BOT_TOKEN
    assert cites_paragraph_12(post.args)


async def test_mention_inside_a_thread_answers_in_that_thread(
    slack_http: SlackHttp, fake_slack: FakeSlack
) -> None:
    parent = new_ts()
    await slack_http.event(mention(QUESTION, ts=new_ts(), thread_ts=parent), event_id="Ev-thread")

    await fake_slack.wait_for(lambda: fake_slack.posts())
    assert fake_slack.posts()[0].args["thread_ts"] == parent


async def test_direct_message_is_answered_in_the_dm(
    slack_http: SlackHttp, fake_slack: FakeSlack
) -> None:
    delivery = await slack_http.event(direct_message(QUESTION, ts=new_ts()), event_id="Ev-dm")

    assert delivery.status == 200 and delivery.seconds < ACK_SECONDS
    await fake_slack.wait_for(lambda: fake_slack.posts())
    [post] = fake_slack.posts()
    assert post.args["channel"] == "D0ASKER" and "thread_ts" not in post.args
    assert cites_paragraph_12(post.args)


async def test_messages_from_bots_and_message_edits_are_ignored(
    slack_http: SlackHttp, slack_app: AsyncApp, fake_slack: FakeSlack
) -> None:
    deliveries = [
        await slack_http.event(
            direct_message(QUESTION, ts=new_ts(), bot_id="BOTHER"), event_id="Ev-b1"
        ),
        await slack_http.event(
            mention(QUESTION, ts=new_ts(), bot_id="BOTHER", bot_profile={"id": "BOTHER"}),
            event_id="Ev-b2",
        ),
        await slack_http.event(
            direct_message(QUESTION, ts=new_ts(), subtype="message_changed"), event_id="Ev-b3"
        ),
        # a message in a channel (if someone subscribes to message.channels) is not a question
        await slack_http.event(
            direct_message(QUESTION, ts=new_ts(), channel="C0GENERAL", channel_type="channel"),
            event_id="Ev-b4",
        ),
    ]

    assert all(d.status == 200 for d in deliveries)
    assert await listener_tasks(slack_app).wait_idle(WAIT)
    assert fake_slack.posts() == [] and fake_slack.posts("chat.postEphemeral") == []


@pytest.mark.parametrize(
    ("secret", "age"),
    [("not-the-signing-secret", 0), (SIGNING_SECRET, 301)],
    ids=["forged-signature", "301-second-old-timestamp"],
)
async def test_forged_or_stale_requests_get_401_and_nothing_is_posted(
    slack_http: SlackHttp, slack_app: AsyncApp, fake_slack: FakeSlack, secret: str, age: int
) -> None:
    stamp = int(time.time()) - age
    command = await slack_http.command(
        "/ask", QUESTION, key="forged", secret=secret, timestamp=stamp
    )
    body = json.dumps({"type": "event_callback", "event": mention(QUESTION, ts=new_ts())}).encode()
    event = await slack_http.post(body, "application/json", secret=secret, timestamp=stamp)

    assert command.status == event.status == 401
    assert await listener_tasks(slack_app).wait_idle(WAIT)
    assert fake_slack.responses == [] and fake_slack.posts() == []


async def test_a_redelivered_event_is_answered_exactly_once(
    slack_http: SlackHttp, slack_app: AsyncApp, fake_slack: FakeSlack
) -> None:
    event = mention(QUESTION, ts=new_ts())
    first = await slack_http.event(event, event_id="Ev-once")
    retry = await slack_http.event(event, event_id="Ev-once", retry_num=1)
    # the same DM can arrive as both message.im and app_mention: still one answer
    dm = direct_message(QUESTION, ts=new_ts())
    as_im = await slack_http.event(dm, event_id="Ev-im")
    as_mention = await slack_http.event({**dm, "type": "app_mention"}, event_id="Ev-im-mention")

    assert {first.status, retry.status, as_im.status, as_mention.status} == {200}
    assert await listener_tasks(slack_app).wait_idle(WAIT)
    assert sorted(p.args["channel"] for p in fake_slack.posts()) == ["C0GENERAL", "D0ASKER"]


class GatedEngine(EngineWrapper):
    """The real engine, made deliberately slow: every batch waits for ``gate``."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.gate = threading.Event()
        self.started = 0

    def ask_many(
        self, questions: Sequence[str], histories: Sequence[Sequence[Turn]] | None = None
    ) -> list[Answer | QuestionError]:
        self._wait()
        return self.engine.ask_many(questions, histories)

    def _wait(self) -> None:
        self.started += 1
        if not self.gate.wait(WAIT):
            raise TimeoutError("the test never opened the gate")


async def test_eight_simultaneous_asks_are_all_acked_promptly_then_all_answered(
    article_engine: Engine, slack_settings: Settings, fake_slack: FakeSlack
) -> None:
    slow = GatedEngine(article_engine)
    async with (
        running_service(slow, timeout=WAIT) as service,
        running_app(slack_settings, service) as app,
        http_endpoint(app, fake_slack) as slack,
    ):
        deliveries = await asyncio.gather(
            *(slack.command("/ask", QUESTION, key=f"busy{n}", user=f"U{n}") for n in range(8))
        )

        assert [d.status for d in deliveries] == [200] * 8
        assert max(d.seconds for d in deliveries) < ACK_SECONDS
        assert fake_slack.responses == []  # every ack went out while every answer was still blocked
        slow.gate.set()
        await fake_slack.wait_for(lambda: len(fake_slack.responses) == 8)
        assert await listener_tasks(app).wait_idle(WAIT)
    assert sorted(p.key for p in fake_slack.responses) == sorted(f"busy{n}" for n in range(8))
    assert all(cites_paragraph_12(p.body) for p in fake_slack.responses)


async def test_broadcasts_and_mentions_in_questions_come_back_inert(
    slack_http: SlackHttp, fake_slack: FakeSlack
) -> None:
    # Slack sends mentions and broadcasts as markup, and what people type literally as entities
    await slack_http.command("/ask", f"<!channel> <@U0VICTIM> {QUESTION}", key="markup")
    await slack_http.command("/ask", f"&lt;!channel&gt; {QUESTION}", key="typed")
    await slack_http.command("/quote", "&lt;!here&gt; &amp; &lt;@U0VICTIM&gt;", key="quote")
    await slack_http.event(
        mention(f"<!everyone> &lt;!here&gt; {QUESTION}", ts=new_ts()), event_id="Ev"
    )

    keys = ("markup", "typed", "quote")
    await fake_slack.wait_for(
        lambda: all(fake_slack.responses_to(key) for key in keys) and fake_slack.posts()
    )
    markup, typed, quote = (fake_slack.responses_to(key)[0] for key in keys)
    posted = fake_slack.posts()[0].args
    for message in (markup, typed, quote, posted):
        assert "<!" not in all_text(message) and "<@" not in all_text(message)
    assert "U0VICTIM" not in all_text(markup)  # markup is not part of the question
    assert f"*Q:* &lt;!channel&gt; {QUESTION}" in all_text(typed)  # typed text shown as typed
    assert "attributed to &lt;!here&gt; &amp; &lt;@U0VICTIM&gt;" in all_text(quote)
    assert f"&lt;!here&gt; {QUESTION}" in all_text(posted)
    assert all(cites_paragraph_12(m) for m in (markup, typed, posted))


class HugeEngine(FakeEngine):
    """Answers everything with an absurdly long, 60-citation answer."""

    def ask_many(
        self, questions: Sequence[str], histories: Sequence[Sequence[Turn]] | None = None
    ) -> list[Answer | QuestionError]:
        citations = [
            Citation(
                n,
                "doc",
                f"Title <{n}>",
                n,
                0,
                f"Sentence {n} " + "word " * 200,
                0.5,
                context="c " * 3000,
            )
            for n in range(1, 61)
        ]
        return [Answer.quoting(question, citations) for question in questions]


async def test_a_huge_answer_is_split_within_slacks_block_limits(
    slack_settings: Settings, fake_slack: FakeSlack
) -> None:
    async with (
        running_service(HugeEngine()) as service,
        running_app(slack_settings, service) as app,
        http_endpoint(app, fake_slack) as slack,
    ):
        await slack.command("/ask", QUESTION, key="huge")
        await fake_slack.wait_for(lambda: fake_slack.responses_to("huge"))
        assert await listener_tasks(app).wait_idle(WAIT)
        messages = fake_slack.responses_to("huge")
        await slack.action(SHOW_SOURCES, button_value_of(messages[-1]), key="huge-sources")
        await fake_slack.wait_for(lambda: fake_slack.responses_to("huge-sources"))
        assert await listener_tasks(app).wait_idle(WAIT)
        sources = fake_slack.responses_to("huge-sources")

    assert 1 < len(messages) <= 5 and 1 < len(sources) <= 5
    for message in messages + sources:
        assert 0 < len(blocks_of(message)) <= MAX_BLOCKS
        assert all(len(text) <= SECTION_LIMIT for text in iter_texts(blocks_of(message)))
    contexts = [b for m in messages for b in blocks_of(m) if b["type"] == "context"]
    assert len(contexts) == 1 + 60  # the question, then one per citation: nothing dropped
    assert blocks_of(messages[-1])[-1]["type"] == "actions"
    assert all(m["response_type"] == "in_channel" for m in messages)


async def test_a_429_with_retry_after_is_retried(
    slack_http: SlackHttp, fake_slack: FakeSlack
) -> None:
    fake_slack.fail_next("chat.postMessage", status=429, retry_after=1)

    await slack_http.event(mention(QUESTION, ts=new_ts()), event_id="Ev-429")

    await fake_slack.wait_for(lambda: len(fake_slack.posts()) == 2, timeout=WAIT)
    limited, retried = fake_slack.posts()
    assert retried.at - limited.at >= 1.0  # Retry-After was honoured
    assert retried.args == limited.args and cites_paragraph_12(retried.args)


async def test_show_sources_and_feedback_buttons(
    slack_http: SlackHttp, fake_slack: FakeSlack, feedback: RecordingFeedback, slack_app: AsyncApp
) -> None:
    await slack_http.command("/ask", QUESTION, key="ask")
    await fake_slack.wait_for(lambda: fake_slack.responses_to("ask"))
    value = button_value_of(fake_slack.responses_to("ask")[0])
    answer_id = answer_id_of(fake_slack.responses_to("ask")[0])

    shown = await slack_http.action(SHOW_SOURCES, value, key="sources")
    up = await slack_http.action(FEEDBACK_UP, value, key="up", user="U0FAN")
    down = await slack_http.action(FEEDBACK_DOWN, value, key="down", user="U0CRITIC")
    # a bare answer id, as buttons carried before they were signed
    stale = await slack_http.action(FEEDBACK_UP, answer_id, key="stale")

    assert all(d.status == 200 and d.seconds < ACK_SECONDS for d in (shown, up, down, stale))
    assert await listener_tasks(slack_app).wait_idle(WAIT)
    [sources] = fake_slack.responses_to("sources")
    assert sources["response_type"] == "ephemeral" and sources["replace_original"] is False
    texts = "\n".join(iter_texts(blocks_of(sources)))
    # The score is the fitted probability that the passage answers (retrieval/policy.py).
    assert "¶12" in texts and re.search(r"score [01]\.\d\d", texts) and "_Why:_" in texts
    # the whole paragraph, not just the quoted sentence
    paragraph = fake_slack.responses_to("ask")[0]
    assert len(texts) > len(all_text(paragraph).split(RED_LINE)[0]) and RED_LINE in texts
    assert [(v[0], v[1].user_id, v[2]) for v in feedback.votes] == [
        (answer_id, "U0FAN", 1),
        (answer_id, "U0CRITIC", -1),
    ]
    for key in ("up", "down"):
        [thanks] = fake_slack.responses_to(key)
        assert thanks["text"] == escape(THANKS) and thanks["response_type"] == "ephemeral"
    [refused] = fake_slack.responses_to("stale")
    assert refused["text"] == escape(INVALID_BUTTON) and refused["response_type"] == "ephemeral"
    assert len(feedback.votes) == 2


async def test_rate_limit_notices_are_ephemeral(
    article_engine: Engine, slack_settings: Settings, fake_slack: FakeSlack
) -> None:
    async with (
        running_service(article_engine, rate_limit=1, rate_window=600) as service,
        running_app(slack_settings, service) as app,
        http_endpoint(app, fake_slack) as slack,
    ):
        await slack.command("/ask", QUESTION, key="first")
        await fake_slack.wait_for(lambda: fake_slack.responses_to("first"))
        await slack.command("/ask", QUESTION, key="second")
        await slack.event(mention(QUESTION, ts=new_ts()), event_id="Ev-limited")
        await fake_slack.wait_for(
            lambda: fake_slack.responses_to("second") and fake_slack.posts("chat.postEphemeral")
        )
        assert await listener_tasks(app).wait_idle(WAIT)

    [notice] = fake_slack.responses_to("second")
    assert notice["response_type"] == "ephemeral" and notice["text"].startswith("Slow down")
    [ephemeral] = fake_slack.posts("chat.postEphemeral")
    assert ephemeral.args["user"] == "U0ASKER" and ephemeral.args["text"].startswith("Slow down")
    assert fake_slack.posts() == []  # nothing public for a notice


def broken_engine() -> FakeEngine:
    """Fails the way a bug would, with text that must never reach Slack."""
    return FakeEngine(error=RuntimeError("internal detail: /srv/readout/secret.db is locked"))


async def test_a_failure_gets_a_generic_apology_never_the_exception(
    slack_settings: Settings, fake_slack: FakeSlack
) -> None:
    async with (
        running_service(broken_engine()) as service,
        running_app(slack_settings, service) as app,
        http_endpoint(app, fake_slack) as slack,
    ):
        await slack.command("/ask", QUESTION, key="broken")
        await slack.event(mention(QUESTION, ts=new_ts()), event_id="Ev-broken")
        await fake_slack.wait_for(
            lambda: fake_slack.responses_to("broken") and fake_slack.posts("chat.postEphemeral")
        )
        assert await listener_tasks(app).wait_idle(WAIT)

    [apology] = fake_slack.responses_to("broken")
    assert apology["text"] == escape(FAILED) and apology["response_type"] == "ephemeral"
    [ephemeral] = fake_slack.posts("chat.postEphemeral")
    assert ephemeral.args["text"] == escape(FAILED)
    assert "secret.db" not in all_text(apology) + all_text(ephemeral.args)
    assert fake_slack.posts() == []


async def test_url_verification_answers_slacks_challenge(slack_http: SlackHttp) -> None:
    # what Slack sends when someone enters the Request URL for HTTP mode
    body = json.dumps({"type": "url_verification", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3g"})
    delivery = await slack_http.post(body.encode(), "application/json")
    assert delivery.status == 200
    assert json.loads(delivery.body) == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3g"}


async def test_health_check(slack_http: SlackHttp) -> None:
    async with slack_http.session.get(
        slack_http.url.replace("/slack/events", "/healthz")
    ) as response:
        assert response.status == 200
        assert await response.json() == {"ok": True}


async def test_tokens_and_secrets_never_reach_the_logs_even_at_debug(
    service: AnswerService,
    slack_settings: Settings,
    fake_slack: FakeSlack,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # before the app exists: bolt copies the level it starts with
    fake_slack.fail_next("chat.postMessage", status=500)
    async with running_app(slack_settings, service) as app:
        async with http_endpoint(app, fake_slack) as slack:
            await slack.command("/ask", QUESTION, key="logged")
            await slack.event(mention(QUESTION, ts=new_ts()), event_id="Ev-logged")
            await slack.command("/ask", QUESTION, key="forged", secret="wrong")
            await fake_slack.wait_for(lambda: fake_slack.responses_to("logged"))
        async with socket_mode(app, fake_slack):
            payload = command_payload("/ask", QUESTION, fake_slack.response_url("ws"), "U1", "C1")
            await fake_slack.send_envelope("slash_commands", payload)
            await fake_slack.wait_for(lambda: fake_slack.responses_to("ws"))
        assert await listener_tasks(app).wait_idle(WAIT)

    logged = "\n".join(record.getMessage() for record in caplog.records)
    loggers = {record.name.split(".")[0] for record in caplog.records}
    assert {"slack_bolt", "slack_sdk", "bot"} <= loggers  # DEBUG logging really was on
    assert "Authorization" in logged  # slack_sdk logged request headers (redacted)...
    for secret in (BOT_TOKEN, APP_TOKEN, SIGNING_SECRET):
        assert secret not in logged  # ...and no token or secret anywhere


async def test_a_dm_is_logged_with_the_same_word_as_on_discord(
    article_engine: Engine, slack_settings: Settings, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    with QuestionLog(tmp_path / "questions.sqlite3") as questions:
        async with (
            running_service(article_engine, question_log=questions) as service,
            running_app(slack_settings, service) as app,
            http_endpoint(app, fake_slack) as slack,
        ):
            delivery = await slack.event(direct_message(QUESTION, ts=new_ts()), event_id="Ev-dm")
            assert delivery.status == 200
            assert await listener_tasks(app).wait_idle(WAIT)
        assert questions.flush()
    with sqlite3.connect(tmp_path / "questions.sqlite3") as db:
        rows = db.execute("SELECT platform, channel_kind, outcome FROM questions").fetchall()
    assert rows == [("slack", "dm", "answered")]  # Slack calls it "im"; the log says "dm"
