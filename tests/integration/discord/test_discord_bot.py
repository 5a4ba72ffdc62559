"""readout's Discord bot end to end: the real discord.py client, the real model and index, real
loopback sockets, and a local stand-in for Discord's gateway and REST API."""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from bot.discord_app import create_app, run
from bot.discord_app.render import (
    CONTENT_LIMIT,
    DESCRIPTION_LIMIT,
    EMBEDS_PER_MESSAGE,
    FIELD_NAME_LIMIT,
    FIELD_VALUE_LIMIT,
    FIELDS_PER_EMBED,
    FOOTER_LIMIT,
    MESSAGE_EMBED_CHARS,
    TITLE_LIMIT,
)
from bot.service import INVALID_BUTTON, USAGE, AnswerService, Asker
from retrieval.answer import Answer, Citation
from retrieval.conversation import Turn
from retrieval.engine import Engine
from tests.support.discord import TOKEN, RunningBot, bot_settings
from tests.support.fake_discord import (
    APP_ID,
    CHANNEL_ID,
    DM_CHANNEL_ID,
    EPHEMERAL,
    GUILD_ID,
    USER_ID,
    Call,
    FakeDiscord,
)
from tests.support.fakes import EngineWrapper, RecordingFeedback

pytestmark = pytest.mark.integration

QUESTION = "what did Xi say about Taiwan?"
DEFERRED = 5  # DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE: Discord's "readout is thinking…"
MESSAGE = 4  # CHANNEL_MESSAGE_WITH_SOURCE
ACK_WINDOW = 3.0  # Discord drops an interaction not acknowledged within 3 s
MESSAGE_CONTENT_INTENT = 1 << 15


# -- helpers -------------------------------------------------------------------------------


def callbacks(fake: FakeDiscord, interaction: dict[str, Any]) -> list[Call]:
    return fake.calls_to("POST", rf"/interactions/{interaction['id']}/[^/]+/callback")


def followups(fake: FakeDiscord, interaction: dict[str, Any]) -> list[Call]:
    return fake.calls_to("POST", rf"/webhooks/{APP_ID}/{re.escape(interaction['token'])}")


def channel_posts(fake: FakeDiscord, channel_id: str) -> list[Call]:
    return fake.calls_to("POST", rf"/channels/{channel_id}/messages")


def answer_posts(calls: list[Call]) -> list[Call]:
    return [call for call in calls if call.embeds]


def field_names(calls: list[Call]) -> list[str]:
    return [
        field["name"]
        for call in calls
        for embed in call.embeds
        for field in embed.get("fields", [])
    ]


def custom_ids(call: Call) -> list[str]:
    return [
        button["custom_id"]
        for row in call.body.get("components", [])
        for button in row["components"]
        if "custom_id" in button
    ]


def message_of(fake: FakeDiscord, call: Call) -> dict[str, Any]:
    """The message the stand-in created for ``call`` (what a later click refers to)."""
    return next(
        m
        for m in fake.messages.values()
        if m["embeds"] == call.body.get("embeds")
        and m["components"] == call.body.get("components", [])
    )


def embed_chars(embed: dict[str, Any]) -> int:
    return (
        len(embed.get("title", ""))
        + len(embed.get("description", ""))
        + sum(len(f["name"]) + len(f["value"]) for f in embed.get("fields", []))
        + len(embed.get("footer", {}).get("text", ""))
        + len(embed.get("author", {}).get("name", ""))
    )


def assert_within_discord_limits(body: dict[str, Any]) -> None:
    assert len(body.get("content") or "") <= CONTENT_LIMIT
    embeds = body.get("embeds") or []
    assert len(embeds) <= EMBEDS_PER_MESSAGE
    assert sum(embed_chars(embed) for embed in embeds) <= MESSAGE_EMBED_CHARS
    for embed in embeds:
        assert len(embed.get("title", "")) <= TITLE_LIMIT
        assert len(embed.get("description", "")) <= DESCRIPTION_LIMIT
        assert len(embed.get("footer", {}).get("text", "")) <= FOOTER_LIMIT
        assert len(embed.get("fields", [])) <= FIELDS_PER_EMBED
        for field in embed.get("fields", []):
            assert 0 < len(field["name"]) <= FIELD_NAME_LIMIT
            assert 0 < len(field["value"]) <= FIELD_VALUE_LIMIT


def assert_pings_nobody(body: dict[str, Any]) -> None:
    mentions = body["allowed_mentions"]
    assert mentions["parse"] == []
    assert not mentions.get("users") and not mentions.get("roles")
    assert not mentions.get("replied_user")


class SlowEngine(EngineWrapper):
    """The real engine, made deliberately slow: each question blocks its worker thread."""

    def __init__(self, engine: Engine, seconds: float) -> None:
        super().__init__(engine)
        self._seconds = seconds

    def ask(self, question: str, history: Sequence[Turn] = ()) -> Answer:
        time.sleep(self._seconds)  # blocking on purpose: it must not block the event loop
        return self.engine.ask(question, history)


class LongAnswerEngine(EngineWrapper):
    """Answers with every paragraph of the real article, each cited: far over every limit."""

    URL = "https://example.com/news/xi_biden_(call)"

    def ask(self, question: str, history: Sequence[Turn] = ()) -> Answer:
        paragraphs = self.engine.snapshot().paragraphs[:40]
        citations = tuple(
            Citation(
                n=n,
                doc=p.doc_id,
                title="Xi *and* Biden _call_ " + "x" * 300,  # too long for a field name
                paragraph=p.number,
                sentence=0,
                quote=(p.text + " ") * 3,  # long quotes: several must split across fields
                score=0.5,
                url=self.URL,
                context=(p.text + " ") * 20,
                reason="test",
            )
            for n, p in enumerate(paragraphs, start=1)
        )
        return Answer.quoting(question, citations)


async def ask_and_wait(
    fake: FakeDiscord, question: str = QUESTION, **options: Any
) -> tuple[dict[str, Any], list[Call]]:
    interaction = await fake.slash("ask", {"question": question}, **options)
    posts = await fake.wait_for(lambda: answer_posts(followups(fake, interaction)))
    return interaction, posts


# -- slash commands ------------------------------------------------------------------------


async def test_ask_defers_within_3_s_then_follows_up_citing_paragraph_12(
    bot: RunningBot, fake_discord: FakeDiscord
) -> None:
    fake = fake_discord
    interaction = await fake.slash("ask", {"question": QUESTION})
    dispatched = fake.sent[-1].at

    [callback] = await fake.wait_for(lambda: callbacks(fake, interaction))
    assert callback.body == {"type": DEFERRED}
    assert callback.query.get("with_response") == "1"
    assert callback.at - dispatched < ACK_WINDOW

    [post] = await fake.wait_for(lambda: answer_posts(followups(fake, interaction)))
    assert post.at >= callback.at
    [embed] = post.embeds
    assert embed["title"] == QUESTION
    assert "first red line" in embed["description"] and embed["description"].endswith("[1]")
    [field] = embed["fields"]
    assert field["name"] == "[1] ¶12 · Xi Biden Call"
    assert "first red line" in field["value"]
    assert embed["footer"]["text"] == "readout · quoting Xi Biden Call"
    ids = custom_ids(post)
    assert [i.rsplit(":", 3)[0] for i in ids] == [
        "readout:sources",
        "readout:vote:up",
        "readout:vote:down",
    ]
    assert_pings_nobody(post.body)
    assert_within_discord_limits(post.body)

    # commands are registered only on request (--sync), never on every start
    assert not fake.calls_to("PUT", r"/applications/.*")
    # default intents: no privileged message content (nor members/presences)
    [identify] = fake.identifies
    assert identify["intents"] & MESSAGE_CONTENT_INTENT == 0
    assert identify["intents"] & ((1 << 1) | (1 << 8)) == 0
    assert fake.heartbeats, "the client heartbeats"
    assert "client_id=900000000000000001" in bot.announced[0]
    assert bot.announced[1].startswith("Connected to Discord as readout in 1 servers")
    assert not fake.unhandled


async def test_quote_source_and_help(bot: RunningBot, fake_discord: FakeDiscord) -> None:
    fake = fake_discord
    quote = await fake.slash("quote", {"speaker": "xi"})
    source = await fake.slash("source", {"n": "12"})
    help_ = await fake.slash("help")

    [quotes] = await fake.wait_for(lambda: answer_posts(followups(fake, quote)))
    assert quotes.embeds[0]["title"] == "Statements attributed to xi"
    assert all("·" in name for name in field_names([quotes]))
    [paragraph] = await fake.wait_for(lambda: answer_posts(followups(fake, source)))
    assert paragraph.embeds[0]["title"] == "Source 12"
    assert field_names([paragraph]) == ["[1] ¶12 · Xi Biden Call"]
    [shown] = await fake.wait_for(lambda: callbacks(fake, help_))
    assert shown.body["type"] == MESSAGE
    assert shown.body["data"]["flags"] == EPHEMERAL
    assert shown.body["data"]["content"] == USAGE


async def test_abstention_says_plainly_the_documents_do_not_cover_it(
    bot: RunningBot, fake_discord: FakeDiscord
) -> None:
    _, [post] = await ask_and_wait(fake_discord, "What is the boiling point of tungsten?")
    [embed] = post.embeds
    assert "documents don't cover" in embed["description"]
    assert "fields" not in embed or not embed["fields"]
    assert "quoting Xi Biden Call" in embed["footer"]["text"]
    # nothing to show sources for, but feedback is still welcome
    assert [i.rsplit(":", 3)[0] for i in custom_ids(post)] == [
        "readout:vote:up",
        "readout:vote:down",
    ]


async def test_a_notice_goes_to_the_asker_alone(
    start_bot: Callable[..., Any],
    make_service: Callable[..., AnswerService],
    fake_discord: FakeDiscord,
) -> None:
    fake = fake_discord
    await start_bot(make_service(rate_limit=1, rate_window=60))
    await ask_and_wait(fake)
    second = await fake.slash("ask", {"question": QUESTION})
    [notice] = await fake.wait_for(lambda: followups(fake, second))
    assert notice.body["content"].startswith("Slow down a little")
    assert notice.body["flags"] == EPHEMERAL
    # the public "thinking…" placeholder was removed before the private notice
    [deleted] = fake.calls_to("DELETE", rf"/webhooks/{APP_ID}/{second['token']}/messages/@original")
    assert deleted.at <= notice.at
    assert_pings_nobody(notice.body)


# -- mentions and DMs ----------------------------------------------------------------------


async def test_a_mention_is_answered_in_reply_and_a_dm_in_the_dm(
    bot: RunningBot, fake_discord: FakeDiscord
) -> None:
    fake = fake_discord
    await fake.message(QUESTION, mentions_bot=False)  # not addressed to the bot
    await fake.message(
        f"@everyone {QUESTION}", mentions_bot=False
    )  # @everyone is not a mention of us
    mention = await fake.message(f"<@{APP_ID}> {QUESTION}")

    [reply] = await fake.wait_for(lambda: answer_posts(channel_posts(fake, CHANNEL_ID)))
    assert str(reply.body["message_reference"]["message_id"]) == mention["id"]
    assert reply.body["message_reference"]["fail_if_not_exists"] is False
    assert field_names([reply]) == ["[1] ¶12 · Xi Biden Call"]
    assert reply.embeds[0]["title"] == QUESTION  # the mention itself is not part of the question
    assert_pings_nobody(reply.body)

    dm = await fake.message(QUESTION, dm=True)
    [dm_reply] = await fake.wait_for(lambda: answer_posts(channel_posts(fake, DM_CHANNEL_ID)))
    assert str(dm_reply.body["message_reference"]["message_id"]) == dm["id"]
    assert field_names([dm_reply]) == ["[1] ¶12 · Xi Biden Call"]

    # a slash command in a DM (no guild) is answered too
    in_dm = await fake.slash("ask", {"question": QUESTION}, guild=False)
    [dm_followup] = await fake.wait_for(lambda: answer_posts(followups(fake, in_dm)))
    assert field_names([dm_followup]) == ["[1] ¶12 · Xi Biden Call"]

    # the two messages not addressed to the bot were ignored (they came first, in order)
    assert len(channel_posts(fake, CHANNEL_ID)) == 1
    assert fake.calls_to("POST", rf"/channels/{CHANNEL_ID}/typing")


# -- heartbeat and concurrency -------------------------------------------------------------


async def test_a_slow_answer_still_defers_in_time_and_the_heartbeat_keeps_going(
    start_bot: Callable[..., Any],
    make_service: Callable[..., AnswerService],
    fake_discord: FakeDiscord,
    article_engine: Engine,
) -> None:
    fake = fake_discord
    fake.heartbeat_interval_ms = 500
    await start_bot(make_service(SlowEngine(article_engine, 5.0)))

    interaction = await fake.slash("ask", {"question": QUESTION})
    dispatched = fake.sent[-1].at
    [callback] = await fake.wait_for(lambda: callbacks(fake, interaction))
    assert callback.at - dispatched < ACK_WINDOW
    [post] = await fake.wait_for(lambda: answer_posts(followups(fake, interaction)), timeout=30)
    assert post.at - dispatched >= 5.0
    assert field_names([post]) == ["[1] ¶12 · Xi Biden Call"]

    during = [beat for beat in fake.heartbeats if callback.at <= beat <= post.at]
    assert len(during) >= 7, f"only {len(during)} heartbeats in {post.at - callback.at:.1f} s"
    beats = [callback.at, *during, post.at]
    assert max(b - a for a, b in zip(beats, beats[1:], strict=False)) < 1.5
    assert len(fake.identifies) == 1, "the gateway connection never dropped"


async def test_ten_concurrent_interactions_are_each_answered_once(
    start_bot: Callable[..., Any],
    make_service: Callable[..., AnswerService],
    fake_discord: FakeDiscord,
) -> None:
    fake = fake_discord
    await start_bot(make_service())
    questions = [
        QUESTION,
        "What did Biden say about fentanyl?",
        "What did the leaders discuss about artificial intelligence?",
        "What was said about North Korea?",
        "When did Xi and Biden last meet in person?",
        "What did Xi say about the South China Sea?",
        "Were human rights discussed?",
        "What did the White House say about the call?",
        "What is the first red line?",
        "Who will visit China?",
    ]
    interactions = []
    for n, question in enumerate(questions):
        interactions.append(
            await fake.slash("ask", {"question": question}, user_id=f"95000000000000000{n}")
        )
        if n == 0:  # Discord may deliver an event twice (e.g. after a resume)
            await fake.dispatch("INTERACTION_CREATE", interactions[0])

    await fake.wait_for(
        lambda: all(answer_posts(followups(fake, i)) for i in interactions), timeout=60
    )
    for interaction in interactions:
        assert [c.body["type"] for c in callbacks(fake, interaction)] == [DEFERRED]
        assert len(followups(fake, interaction)) == 1
    [first] = answer_posts(followups(fake, interactions[0]))
    assert field_names([first]) == ["[1] ¶12 · Xi Biden Call"]


# -- safety and limits ---------------------------------------------------------------------


async def test_everyone_and_other_pings_in_a_question_ping_nobody(
    bot: RunningBot, fake_discord: FakeDiscord
) -> None:
    fake = fake_discord
    question = f"@everyone @here <@{USER_ID}> <@&{GUILD_ID}> **{QUESTION}**"
    interaction, [post] = await ask_and_wait(fake, question)
    await fake.message(f"<@{APP_ID}> {question}")
    [reply] = await fake.wait_for(lambda: answer_posts(channel_posts(fake, CHANNEL_ID)))

    message_payloads = [
        c.body
        for c in fake.calls
        if c.method in {"POST", "PATCH"} and "/callback" not in c.path and "/typing" not in c.path
    ]
    assert len(message_payloads) == 2
    for body in message_payloads:
        assert_pings_nobody(body)
    # Markdown from the asker is shown, not applied
    assert post.embeds[0]["title"].endswith(r"\*\*")


async def test_a_long_answer_is_split_within_discord_limits(
    start_bot: Callable[..., Any],
    make_service: Callable[..., AnswerService],
    fake_discord: FakeDiscord,
    article_engine: Engine,
) -> None:
    fake = fake_discord
    await start_bot(make_service(LongAnswerEngine(article_engine)))
    interaction = await fake.slash("ask", {"question": QUESTION})
    expected = LongAnswerEngine(article_engine).ask(QUESTION)
    n = len(expected.citations)

    def whole_answer() -> list[Call] | None:
        posts = followups(fake, interaction)
        return posts if posts and custom_ids(posts[-1]) else None  # buttons come last

    posts = await fake.wait_for(whole_answer)
    assert len(posts) >= 2
    for post in posts:
        assert_within_discord_limits(post.body)
    headings = [name for name in field_names(posts) if not name.endswith("(continued)")]
    assert [int(name[1 : name.index("]")]) for name in headings] == list(range(1, n + 1))
    description = " ".join(e.get("description", "") for p in posts for e in p.embeds)
    assert all(f"[{i}]" in description for i in range(1, n + 1))
    links = [
        f["value"]
        for p in posts
        for e in p.embeds
        for f in e.get("fields", [])
        if "](" in f["value"]
    ]
    assert len(links) == n and all("%28call%29" in link for link in links)  # parentheses encoded
    assert all(not custom_ids(post) for post in posts[:-1])  # buttons once, under the answer

    # "Show sources" on the long answer is split the same way, and stays ephemeral
    sources_id = custom_ids(posts[-1])[0]
    click = await fake.click(sources_id, message_of(fake, posts[-1]))

    def sources_shown() -> list[dict[str, Any]] | None:
        bodies = [c.body["data"] for c in callbacks(fake, click)]
        bodies += [c.body for c in followups(fake, click)]
        titled = [e for body in bodies for e in body.get("embeds", []) if e.get("title")]
        return bodies if len(titled) == n else None  # one titled embed per citation

    bodies = await fake.wait_for(sources_shown)
    assert len(bodies) >= 2
    for body in bodies:
        assert body["flags"] == EPHEMERAL
        assert_within_discord_limits(body)


# -- buttons -------------------------------------------------------------------------------


async def test_show_sources_and_feedback_buttons(
    start_bot: Callable[..., Any],
    make_service: Callable[..., AnswerService],
    fake_discord: FakeDiscord,
    feedback: RecordingFeedback,
    article_engine: Engine,
) -> None:
    fake = fake_discord
    running = await start_bot(make_service())
    _, [post] = await ask_and_wait(fake)
    sources_id, up_id, down_id = custom_ids(post)
    answer_id = sources_id.split(":")[2]  # readout:sources:<answer id>:<version>:<mac>
    message = message_of(fake, post)

    click = await fake.click(sources_id, message)
    [shown] = await fake.wait_for(lambda: callbacks(fake, click))
    assert shown.body["type"] == MESSAGE and shown.body["data"]["flags"] == EPHEMERAL
    [embed] = shown.body["data"]["embeds"]
    cited = article_engine.ask(QUESTION).citations[0]
    assert embed["title"] == "[1] ¶12 · Xi Biden Call"
    assert embed["description"].replace("**", "") == cited.context  # the full paragraph
    assert f"**{cited.quote}**" in embed["description"]  # the quoted sentence stands out
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields["Score"] == f"{cited.score:.2f}"
    assert fields["Why chosen"] and fields["Why chosen"] != "—"

    up = await fake.click(up_id, message)
    down = await fake.click(down_id, message, user_id="930000000000000002")
    [thanks] = await fake.wait_for(lambda: callbacks(fake, up))
    await fake.wait_for(lambda: callbacks(fake, down))
    assert thanks.body["type"] == MESSAGE
    assert thanks.body["data"]["content"] == "Thanks for the feedback."
    assert thanks.body["data"]["flags"] == EPHEMERAL
    assert feedback.votes == [
        (answer_id, Asker("discord", USER_ID, "channel"), 1),
        (answer_id, Asker("discord", "930000000000000002", "channel"), -1),
    ]

    # After a restart the buttons still work: their ids carry a signed reference to the
    # answer, and the sources are rebuilt from the question the message shows (this bot has
    # no question log); a vote on the older answer is recorded too.
    await running.app.client.close()
    await running.task
    await start_bot(make_service())
    again = await fake.click(sources_id, message)
    await fake.wait_for(lambda: followups(fake, again))
    [rebuilt] = followups(fake, again)
    assert rebuilt.body["flags"] & EPHEMERAL
    assert rebuilt.body["embeds"][0]["title"] == "[1] ¶12 · Xi Biden Call"
    late = await fake.click(down_id, message)
    await fake.wait_for(lambda: callbacks(fake, late))
    assert feedback.votes[-1] == (answer_id, Asker("discord", USER_ID, "channel"), -1)
    # an altered id is refused, privately (Discord delivers a click only for a button the
    # message has, so the message carries the altered id)
    altered = sources_id[:-2] + ("xx" if not sources_id.endswith("xx") else "yy")
    button = {"type": 2, "style": 2, "label": "Show sources", "custom_id": altered}
    forged_message = {**message, "components": [{"type": 1, "components": [button]}]}
    forged = await fake.click(altered, forged_message)
    [refused] = await fake.wait_for(lambda: callbacks(fake, forged))
    assert refused.body["data"]["content"] == INVALID_BUTTON
    assert refused.body["data"]["flags"] == EPHEMERAL


# -- registration, sharding, secrets -------------------------------------------------------


async def test_sync_registers_the_commands_globally_or_in_one_guild(
    start_bot: Callable[..., Any],
    make_service: Callable[..., AnswerService],
    fake_discord: FakeDiscord,
) -> None:
    fake = fake_discord
    running = await start_bot(make_service(), sync=True)
    [registration] = fake.calls_to("PUT", rf"/applications/{APP_ID}/commands")
    commands = {command["name"]: command for command in registration.body}
    assert set(commands) == {"ask", "quote", "source", "help"}
    [question] = commands["ask"]["options"]
    assert question["name"] == "question" and question["required"] is True
    assert (question["min_length"], question["max_length"]) == (1, 500)
    assert commands["source"]["options"][0]["name"] == "n"
    assert commands["quote"]["options"][0]["name"] == "speaker"
    assert "options" not in commands["help"] or not commands["help"]["options"]
    assert any("Registered 4 slash commands globally" in line for line in running.announced)
    await running.app.client.close()
    await running.task

    running = await start_bot(make_service(), sync=True, discord_guild=GUILD_ID)
    [in_guild] = fake.calls_to("PUT", rf"/applications/{APP_ID}/guilds/{GUILD_ID}/commands")
    assert {command["name"] for command in in_guild.body} == {"ask", "quote", "source", "help"}
    assert any(f"in guild {GUILD_ID}" in line for line in running.announced)
    _, [post] = await ask_and_wait(fake)
    assert field_names([post]) == ["[1] ¶12 · Xi Biden Call"]


async def test_the_sharded_client_asks_discord_for_the_shard_count_and_answers(
    start_bot: Callable[..., Any],
    make_service: Callable[..., AnswerService],
    fake_discord: FakeDiscord,
) -> None:
    fake = fake_discord
    await start_bot(make_service(), shards="auto")
    assert fake.calls_to("GET", r"/gateway/bot")
    [identify] = fake.identifies
    assert identify["shard"] == [0, 1]
    _, [post] = await ask_and_wait(fake)
    assert field_names([post]) == ["[1] ¶12 · Xi Biden Call"]


async def test_the_token_is_used_but_never_logged(
    start_bot: Callable[..., Any],
    make_service: Callable[..., AnswerService],
    fake_discord: FakeDiscord,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    fake = fake_discord
    running = await start_bot(make_service())
    await ask_and_wait(fake)
    await fake.message(f"<@{APP_ID}> {QUESTION}")
    await fake.wait_for(lambda: answer_posts(channel_posts(fake, CHANNEL_ID)))
    assert fake.identifies[0]["token"] == TOKEN
    assert fake.calls_to("GET", "/users/@me")[0].authorization == f"Bot {TOKEN}"
    assert caplog.records, "debug logging was captured"
    assert TOKEN not in caplog.text
    assert all(TOKEN not in line for line in running.announced)
    assert TOKEN not in repr(running.app.client.http.__dict__.get("_HTTPClient__session"))


async def test_a_failure_while_answering_is_not_echoed(
    start_bot: Callable[..., Any],
    make_service: Callable[..., AnswerService],
    fake_discord: FakeDiscord,
    article_engine: Engine,
) -> None:
    class BrokenEngine(EngineWrapper):
        def ask(self, question: str, history: Sequence[Turn] = ()) -> Answer:
            raise RuntimeError(f"secret internals of {question}")

    fake = fake_discord
    await start_bot(make_service(BrokenEngine(article_engine)))
    interaction = await fake.slash("ask", {"question": QUESTION})
    [notice] = await fake.wait_for(lambda: followups(fake, interaction))
    assert notice.body["content"].startswith("Sorry, something went wrong")
    assert "secret internals" not in str(fake.calls)
    assert notice.body["flags"] == EPHEMERAL


async def test_stopping_while_starting_is_not_a_failure(
    make_service: Callable[..., AnswerService], fake_discord: FakeDiscord, article_engine: Engine
) -> None:
    loading = threading.Event()
    release = threading.Event()

    class GatedEngine(EngineWrapper):
        def warm_up(self) -> None:  # the start-up load, held until released
            loading.set()
            release.wait(timeout=30)
            self.engine.warm_up()

    settings = bot_settings(fake_discord)
    app = create_app(settings, make_service(GatedEngine(article_engine)))
    task = asyncio.create_task(run(app, announce=lambda line: None))
    try:
        await asyncio.wait_for(asyncio.to_thread(loading.wait, 30), 30)
        await app.client.close()  # what SIGTERM does
    finally:
        release.set()
    await asyncio.wait_for(task, 30)  # returns quietly: no error, no traceback
    assert not fake_discord.identifies
