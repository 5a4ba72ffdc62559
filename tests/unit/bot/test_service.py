from __future__ import annotations

import asyncio
import dataclasses
import threading
from pathlib import Path
from typing import Any

import pytest

from bot.buttons import AnswerRef
from bot.conversations import Thread
from bot.questions.log import LoggedAnswer
from bot.service import (
    EXPIRED,
    FAILED,
    INDEX_CHANGED,
    MAX_CHAT_QUESTION_CHARS,
    TIMED_OUT,
    UNAVAILABLE,
    AnswerEngine,
    AnswerService,
    Asker,
    DeliveryDeduper,
    RateLimiter,
    ReplyKind,
)
from index.errors import IndexMissing, StoreUnavailable
from retrieval.answer import Answer
from retrieval.conversation import Turn
from retrieval.engine import normalize_question
from tests.support.fakes import FakeEngine

ASKER = Asker("test", "U1")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_service(engine: AnswerEngine, **kwargs: Any) -> AnswerService:
    return AnswerService(engine, **kwargs)


def test_normalize_question_strips_invisible_and_control_characters() -> None:
    dirty = "\u202eWhat\u200b did\u0000 Xi\u2066 say\tabout\n Ｔａｉｗａｎ?\u200d"
    assert normalize_question(dirty) == "What did Xi say about Taiwan?"
    assert normalize_question("\u200b\u200c\u200d\u2060\ufeff") == ""


def test_rate_limiter_refills_over_time() -> None:
    clock = FakeClock()
    limiter = RateLimiter(2, 10.0, clock=clock)
    assert limiter.acquire("u") == 0.0
    assert limiter.acquire("u") == 0.0
    assert limiter.acquire("u") == pytest.approx(5.0)
    assert limiter.acquire("other") == 0.0
    clock.now += 5.0
    assert limiter.acquire("u") == 0.0


def test_deduper_forgets_after_ttl() -> None:
    clock = FakeClock()
    deduper = DeliveryDeduper(600, clock=clock)
    assert deduper.first_time("ev1")
    assert not deduper.first_time("ev1")
    clock.now += 601
    assert deduper.first_time("ev1")


async def test_empty_and_help_give_usage_without_searching() -> None:
    engine = FakeEngine()
    service = make_service(engine)
    for text in ("", "   ", "\u200b\u200b", "help"):
        reply = await service.ask(ASKER, text)
        assert reply.kind is ReplyKind.USAGE and not reply.is_public
    assert engine.asked == []


async def test_too_long_is_refused_without_searching() -> None:
    engine = FakeEngine()
    reply = await make_service(engine).ask(ASKER, "x" * (MAX_CHAT_QUESTION_CHARS + 1))
    assert reply.kind is ReplyKind.TOO_LONG
    assert engine.asked == []


async def test_answer_is_public_and_remembered_for_buttons() -> None:
    service = make_service(FakeEngine())
    reply = await service.ask(ASKER, "  What did Xi say?  ")
    assert reply.kind is ReplyKind.ANSWER and reply.is_public
    assert service.recent_answer(reply.answer_id) is reply.answer
    assert service.record_feedback(reply.answer_id, ASKER, 1)
    # an answer another replica gave, or this one before a restart: the vote still counts
    assert service.record_feedback("0ld0ld", ASKER, 1)
    assert not service.record_feedback(reply.answer_id, ASKER, 5)


class Records:
    def __init__(self, **known: tuple[str, int]) -> None:
        self.known = known

    def find_answer(self, answer_id: str) -> LoggedAnswer | None:
        found = self.known.get(answer_id)
        return LoggedAnswer(*found) if found else None


async def test_sources_reuse_a_remembered_answer_without_searching_again() -> None:
    engine = FakeEngine()
    service = make_service(engine)
    reply = await service.ask(ASKER, "What did Xi say?")
    shown = await service.sources(ASKER, AnswerRef(reply.answer_id, 0, "What did Xi say?"))
    assert shown.kind is ReplyKind.SOURCE and shown.answer is reply.answer
    assert engine.asked == ["What did Xi say?"]


async def test_sources_of_an_answer_this_process_never_gave_are_rebuilt() -> None:
    engine = FakeEngine()
    service = make_service(engine, records=Records(ab=("Who owns TikTok?", 3)))
    # the question the button carries
    shown = await service.sources(ASKER, AnswerRef("cd", 0, "What did Biden say?"))
    assert shown.kind is ReplyKind.SOURCE and shown.answer is not None and shown.text == ""
    # the question log's, when the button had no room for it
    logged = await service.sources(ASKER, AnswerRef("ab", 3))
    assert logged.answer is not None and logged.answer.question == "Who owns TikTok?"
    # what the clicked message shows, when the log has nothing either
    seen = await service.sources(ASKER, AnswerRef("ef", 0), seen_as="What about Taiwan?")
    assert seen.answer is not None and seen.answer.question == "What about Taiwan?"
    assert engine.asked == ["What did Biden say?", "Who owns TikTok?", "What about Taiwan?"]
    # nothing to go on, or a listing no longer remembered: ask again
    assert (await service.sources(ASKER, AnswerRef("ef", 0))).text == EXPIRED
    listing = AnswerRef("ef", 0, asked=False)
    assert (await service.sources(ASKER, listing, seen_as="xi")).text == EXPIRED
    assert len(engine.asked) == 3


async def test_duplicate_delivery_is_answered_once() -> None:
    engine = FakeEngine()
    service = make_service(engine)
    first = await service.ask(ASKER, "q", delivery_id="Ev1")
    second = await service.ask(ASKER, "q", delivery_id="Ev1")
    assert first.kind is ReplyKind.ANSWER
    assert second.kind is ReplyKind.DUPLICATE
    assert engine.asked == ["q"]


async def test_rate_limit_is_per_user_with_a_wait_time() -> None:
    clock = FakeClock()
    service = make_service(FakeEngine(), rate_limit=2, rate_window=30, clock=clock)
    assert (await service.ask(ASKER, "a")).kind is ReplyKind.ANSWER
    assert (await service.ask(ASKER, "b")).kind is ReplyKind.ANSWER
    limited = await service.ask(ASKER, "c")
    assert limited.kind is ReplyKind.RATE_LIMITED
    assert limited.text == "Slow down a little: try again in 15 s."
    assert (await service.ask(Asker("test", "U2"), "d")).kind is ReplyKind.ANSWER


async def test_store_down_is_a_friendly_unavailable() -> None:
    service = make_service(FakeEngine(error=StoreUnavailable("server at http://x down")))
    reply = await service.ask(ASKER, "q")
    assert (reply.kind, reply.text) == (ReplyKind.UNAVAILABLE, UNAVAILABLE)


async def test_unexpected_error_is_logged_never_shown(caplog: pytest.LogCaptureFixture) -> None:
    service = make_service(FakeEngine(error=RuntimeError("secret internals")))
    reply = await service.ask(ASKER, "q")
    assert (reply.kind, reply.text) == (ReplyKind.FAILED, FAILED)
    assert "secret internals" not in reply.text
    assert "answering failed" in caplog.text


async def test_slow_answer_times_out_without_blocking_the_loop() -> None:
    gate = threading.Event()
    service = make_service(FakeEngine(gate=gate), timeout=0.2)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    reply = await service.ask(ASKER, "q")
    gate.set()
    task.cancel()
    assert (reply.kind, reply.text) == (ReplyKind.UNAVAILABLE, TIMED_OUT)
    assert ticks >= 5  # the event loop kept running while the answer was stuck
    service.close()


async def test_concurrent_questions_are_answered_in_one_batch() -> None:
    engine = FakeEngine()
    service = make_service(engine, rate_limit=100)
    replies = await asyncio.gather(
        *(service.ask(Asker("test", f"U{i}"), f"question {i}") for i in range(8))
    )
    assert [r.kind for r in replies] == [ReplyKind.ANSWER] * 8
    assert [r.answer.question for r in replies if r.answer] == [f"question {i}" for i in range(8)]
    assert engine.batches == [8]
    service.close()


async def test_warm_up_errors_reach_the_entry_point_unwrapped() -> None:
    missing = IndexMissing("no index has been built yet. Run `readout index` first.")
    service = make_service(FakeEngine(warm_up_error=missing))
    with pytest.raises(IndexMissing):
        await service.start()
    service.close()


async def test_no_cli_wording_reaches_a_chat_user(tmp_path: Path) -> None:
    from index.corpus import load_documents
    from retrieval.engine import Engine
    from tests.support.fakes import FakeEmbedder, FakeStore

    (tmp_path / "notes.md").write_text("Ada said the garden needs water.\n", encoding="utf-8")
    documents, _ = load_documents([tmp_path / "notes.md"])
    embedder = FakeEmbedder()
    engine = Engine(FakeStore(documents, embedder.encode, model_id=embedder.model_id), embedder)
    service = make_service(engine, rate_limit=100)
    replies = [
        await service.quote(ASKER, "?!"),  # no name in it: the engine refuses
        await service.quote(ASKER, "nobody"),
        await service.source(ASKER, "twelve"),
        await service.source(ASKER, "notes:9"),
        await service.quote(ASKER, ""),
        await service.source(ASKER, ""),
    ]
    service.close()
    assert [r.kind for r in replies] == [
        ReplyKind.USAGE,
        ReplyKind.QUOTES,
        ReplyKind.USAGE,
        ReplyKind.USAGE,
        ReplyKind.USAGE,
        ReplyKind.USAGE,
    ]
    assert replies[1].text == "I found no statements attributed to nobody. Speakers found: Ada."
    for reply in replies:
        assert "readout " not in reply.text, reply.text  # no `readout quotes xi` in Slack


class VersionedEngine(FakeEngine):
    """Answers from index version ``version`` (the tests move it, as a re-index would)."""

    def __init__(self, version: int) -> None:
        super().__init__()
        self.version = version

    def ask_many(self, questions: Any, histories: Any = None) -> Any:
        answers = super().ask_many(questions, histories)
        return [
            dataclasses.replace(a, index_version=self.version) if isinstance(a, Answer) else a
            for a in answers
        ]


async def test_sources_after_a_re_index_say_they_are_the_current_indexs() -> None:
    engine = VersionedEngine(4)
    service = make_service(engine)
    same = await service.sources(ASKER, AnswerRef("ab", 4, "What did Xi say?"))
    assert same.answer is not None and same.text == ""
    moved = await service.sources(ASKER, AnswerRef("cd", 3, "What did Xi say?"))
    assert moved.answer is not None and moved.text == INDEX_CHANGED


async def test_a_thread_is_read_back_from_the_platform_when_nothing_is_remembered() -> None:
    engine = FakeEngine()
    service = make_service(engine)
    reads: list[str] = []

    async def earlier() -> list[AnswerRef]:
        reads.append("read")
        return [AnswerRef("a1", 0, "What did Biden say about TikTok?")]

    thread = Thread("slack:C1:1.0", earlier)
    reply = await service.ask(ASKER, "Who owns it?", thread=thread)
    # the earlier answer's question was answered again to recover its turn, then the new one
    # was asked with it as history
    assert engine.asked == ["What did Biden say about TikTok?", "Who owns it?"]
    assert engine.histories[-1] == [
        (Turn("What did Biden say about TikTok?", "A quoted sentence."),)
    ]
    assert [t.question for t in reply.conversation] == [
        "What did Biden say about TikTok?",
        "Who owns it?",
    ]
    await service.ask(ASKER, "And Xi?", thread=thread)  # remembered now: not read again
    assert reads == ["read"] and len(engine.histories[-1][0]) == 2


async def test_a_thread_that_cannot_be_read_back_is_answered_alone() -> None:
    engine = FakeEngine()
    service = make_service(engine)

    async def broken() -> list[AnswerRef]:
        raise ConnectionError("platform down")

    reply = await service.ask(ASKER, "Who owns it?", thread=Thread("k", broken))
    assert reply.kind is ReplyKind.ANSWER and engine.histories == [None]
