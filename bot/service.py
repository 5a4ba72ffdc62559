"""The platform-neutral core every surface asks: the one ask path.

It owns everything about *answering* that is not about a platform:

* the question, normalised once (:func:`retrieval.engine.normalize_question`) before it is
  searched or logged; empty or over-long questions refused before anything is searched;
* a per-user token bucket ("slow down, try again in N s" instead of silence);
* de-duplicating deliveries (Slack and Discord both redeliver what they think failed);
* running the synchronous engine off the event loop, in its own worker pool and under a
  timeout, so a slow answer never blocks acknowledgements or the Discord heartbeat;
* the "Show sources" and feedback buttons, whose signed values (:mod:`bot.buttons`) say which
  answer they are under: votes are recorded against that answer id whatever its age, and
  sources are rebuilt from the recorded question on whichever process handles the click (a
  recent answer of this process is reused as it is);
* keeping where each answer was posted (:meth:`AnswerService.posted`, to an optional
  :class:`PostSink`), and answering again for :mod:`bot.updates` when a re-index changes what
  an answer cited;
* telling an optional :class:`QuestionSink` (the question log) about every question that
  reached the engine, and how it went;
* what the adapters need to know about the index (its titles) and about health, so no
  adapter reaches into the engine or the store.

Two layers of methods: :meth:`AnswerService.answer`, :meth:`~AnswerService.find_quotes` and
:meth:`~AnswerService.find_source` return an ``Answer`` or raise from the error tree (what the
CLI and the terminal chat use, through :class:`bot.local.LocalAnswers`); :meth:`~AnswerService.
ask`, :meth:`~AnswerService.quote` and :meth:`~AnswerService.source` wrap them for chat, turning
every failure into a :class:`Reply` fit to show. Nothing here imports a platform SDK.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from bot import commands
from bot.buttons import AnswerRef
from bot.conversations import DEFAULT_MAX_TURNS, ConversationMemory, Thread
from bot.settings import (
    DEFAULT_ANSWER_TIMEOUT_SECONDS,
    DEFAULT_RATE_LIMIT,
    DEFAULT_RATE_WINDOW_SECONDS,
)
from index.errors import AnswerTimeout, QuestionError, ReadoutError, StoreUnavailable
from retrieval.answer import Answer
from retrieval.conversation import Turn
from retrieval.engine import ParagraphHashes, normalize_question, validate_question

if TYPE_CHECKING:
    from bot.settings import Settings

log = logging.getLogger(__name__)
_T = TypeVar("_T")

MAX_CHAT_QUESTION_CHARS = 500
DEDUPE_SECONDS = 600.0
RECENT_ANSWERS = 2000
DEFAULT_WORKERS = 4
# How long the first of several concurrent questions waits for others to share its batch.
BATCH_WINDOW_SECONDS = 0.002
MAX_BATCH = 32
MAX_QUOTES_SHOWN = 10

# Where a question was asked: the question log's ``channel_kind`` vocabulary, on every platform.
CHANNEL = "channel"
DM = "dm"
TERMINAL = "terminal"

USAGE = commands.usage("/")
TOO_LONG = f"That question is too long: please keep it under {MAX_CHAT_QUESTION_CHARS} characters."
UNAVAILABLE = "Search is unavailable right now. Please try again in a minute."
TIMED_OUT = "That took too long to answer. Please try again in a moment."
FAILED = "Sorry, something went wrong while answering. The error has been logged."
EXPIRED = "That answer is too old to show its sources; please ask again."
INVALID_BUTTON = "This button is no longer valid. Please ask again."
INDEX_CHANGED = (
    "The documents have been re-indexed since this answer: these are the sources as of the "
    "current index."
)
NO_SPEAKER = f"Name a speaker, e.g. `{commands.example(commands.QUOTE)}`."
NO_SOURCE = (
    "Give a paragraph number, e.g. "
    f"`{commands.example(commands.SOURCE)}` or `/{commands.SOURCE.name} doc:12`."
)


class ReplyKind(enum.Enum):
    ANSWER = "answer"
    QUOTES = "quotes"
    SOURCE = "source"
    USAGE = "usage"
    TOO_LONG = "too_long"
    RATE_LIMITED = "rate_limited"
    DUPLICATE = "duplicate"
    UNAVAILABLE = "unavailable"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Reply:
    """What to tell the person: an answer (public) or a notice (shown only to them)."""

    kind: ReplyKind
    text: str
    answer: Answer | None = None
    answer_id: str = ""
    retry_after: float = 0.0
    # The conversation with this answer as its latest turn (for a question asked in a Thread).
    conversation: tuple[Turn, ...] = ()
    # For a follow-up: the question before it, as understood (what rebuilding it needs).
    follows: str = ""

    @property
    def is_public(self) -> bool:
        """Answers go to the channel; usage, errors and rate-limit notices to the asker only."""
        return self.kind in {ReplyKind.ANSWER, ReplyKind.QUOTES, ReplyKind.SOURCE}


@dataclass(frozen=True, slots=True)
class Asker:
    """Who asked, where: enough to rate-limit and to log without raw ids."""

    platform: str
    user_id: str
    channel_kind: str = CHANNEL  # CHANNEL, DM or TERMINAL


class FeedbackSink(Protocol):
    """Where 👍/👎 votes go (issue 7 stores them; by default they are logged)."""

    def record(self, answer_id: str, asker: Asker, vote: int) -> None: ...


class RecordedAnswer(Protocol):
    """What the question log kept of an answer (``bot.questions.log.LoggedAnswer``)."""

    @property
    def question(self) -> str: ...  # as understood: the rewrite, for a follow-up
    @property
    def index_version(self) -> int: ...
    @property
    def typed(self) -> str: ...  # a follow-up's words as typed, else ""
    @property
    def follows(self) -> str: ...  # the question before a follow-up, as understood, else ""


class AnswerRecords(Protocol):
    """Finds a recorded answer by id (the question log). Blocking: called off the loop."""

    def find_answer(self, answer_id: str) -> RecordedAnswer | None: ...


class QuestionSink(Protocol):
    """Where questions that reached the engine are recorded (``bot.questions.log``): the
    reply says how it went (an answer or abstention, with its id; or unavailable, or failed).
    Called on the event loop, so it must not block."""

    def record_question(
        self, asker: Asker, question: str, reply: Reply, latency: float
    ) -> None: ...


class PostSink(Protocol):
    """Where posted answers are kept (``bot.questions.log``), so ``bot.updates`` can find and
    edit the message when a re-index changes what the answer cited. Must not block."""

    def record_post(
        self, answer: Answer, answer_id: str, platform: str, channel: str, message: str
    ) -> None: ...


class AnswerEngine(Protocol):
    """What the service needs from the engine (``retrieval.engine.Engine`` provides it)."""

    def ask_many(
        self, questions: Sequence[str], histories: Sequence[Sequence[Turn]] | None = None
    ) -> list[Answer | QuestionError]: ...
    def turn(self, answer: Answer) -> Turn: ...
    def quotes(self, speaker: str, *, limit: int = ...) -> Answer: ...
    def source(self, ref: str) -> Answer: ...
    def warm_up(self) -> None: ...
    def titles(self) -> tuple[str, ...]: ...
    def paragraph_hashes(self) -> ParagraphHashes: ...


HealthCheck = Callable[[], "tuple[bool, dict[str, Any]]"]
"""A blocking readiness check: ok, and the report (``bot.health.check_health``'s)."""


class LoggingFeedback:
    """Feedback that is only logged (ids and the vote; never user text)."""

    def record(self, answer_id: str, asker: Asker, vote: int) -> None:
        log.info("feedback %+d on answer %s via %s", vote, answer_id, asker.platform)


class RateLimiter:
    """A token bucket per user: ``limit`` questions per ``window`` seconds, refilled smoothly."""

    def __init__(
        self, limit: int, window: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._capacity = float(limit)
        self._rate = limit / window
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}

    def acquire(self, key: str) -> float:
        """Take one token: 0.0 if allowed, else the seconds until one is available."""
        now = self._clock()
        tokens, updated = self._buckets.get(key, (self._capacity, now))
        tokens = min(self._capacity, tokens + (now - updated) * self._rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            return 0.0
        self._buckets[key] = (tokens, now)
        if len(self._buckets) > 10_000:
            self._forget_full(now)
        return (1.0 - tokens) / self._rate

    def _forget_full(self, now: float) -> None:
        for key, (tokens, updated) in list(self._buckets.items()):
            if tokens + (now - updated) * self._rate >= self._capacity:
                del self._buckets[key]


class DeliveryDeduper:
    """Remembers delivery ids for ``ttl`` seconds so a redelivered event is answered once."""

    def __init__(
        self, ttl: float = DEDUPE_SECONDS, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._ttl = ttl
        self._clock = clock
        self._seen: OrderedDict[str, float] = OrderedDict()

    def first_time(self, delivery_id: str) -> bool:
        """True the first time an id is seen within the window, False for repeats."""
        now = self._clock()
        while self._seen and next(iter(self._seen.values())) < now - self._ttl:
            self._seen.popitem(last=False)
        if delivery_id in self._seen:
            return False
        self._seen[delivery_id] = now
        return True


class QuestionLogSink(QuestionSink, FeedbackSink, PostSink, AnswerRecords, Protocol):
    """A log that records questions, votes and posted answers, and finds answers again
    (``bot.questions.log.QuestionLog``)."""


class AnswerService:
    """Answers questions for every surface: normalised, logged, off-loop, under a timeout;
    for chat also rate-limited and de-duplicated."""

    def __init__(
        self,
        engine: AnswerEngine,
        *,
        rate_limit: int = DEFAULT_RATE_LIMIT,
        rate_window: float = DEFAULT_RATE_WINDOW_SECONDS,
        timeout: float = DEFAULT_ANSWER_TIMEOUT_SECONDS,
        workers: int = DEFAULT_WORKERS,
        feedback: FeedbackSink | None = None,
        clock: Callable[[], float] = time.monotonic,
        batch_window: float = BATCH_WINDOW_SECONDS,
        question_log: QuestionSink | None = None,
        health: HealthCheck | None = None,
        records: AnswerRecords | None = None,
        conversations: ConversationMemory | None = None,
        posts: PostSink | None = None,
    ) -> None:
        self._engine = engine
        self._posts = posts
        self._limiter = RateLimiter(rate_limit, rate_window, clock=clock)
        self._deduper = DeliveryDeduper(clock=clock)
        self._timeout = timeout
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="readout-answer")
        self._feedback = feedback or LoggingFeedback()
        self._question_log = question_log
        self._health = health
        self._records = records
        self._recent: OrderedDict[str, Answer] = OrderedDict()
        self.conversations = conversations or ConversationMemory()
        self._batch_window = batch_window
        self._batchers: dict[asyncio.AbstractEventLoop, _QuestionBatcher] = {}

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        engine: AnswerEngine,
        *,
        question_log: QuestionLogSink | None = None,
        health: HealthCheck | None = None,
    ) -> AnswerService:
        """The service an entry point runs: limits from settings, questions and votes logged
        to ``question_log`` when one is given."""
        return cls(
            engine,
            rate_limit=settings.rate_limit,
            rate_window=settings.rate_window,
            timeout=settings.answer_timeout,
            feedback=question_log,
            question_log=question_log,
            health=health,
            records=question_log,
            posts=question_log,
        )

    async def start(self) -> None:
        """Load the model and the index before the first question (off the event loop).

        No answer timeout here: a cold start may take longer than any one answer should, and a
        missing model or index raises its ReadoutError for the entry point to report.
        """
        await asyncio.get_running_loop().run_in_executor(self._pool, self._engine.warm_up)

    async def titles(self) -> tuple[str, ...]:
        """The indexed documents' titles (read off the event loop)."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._engine.titles)

    async def health(self) -> tuple[bool, dict[str, Any]]:
        """The readiness check (``readout health``'s), off the event loop; without one
        configured, only that the process is up."""
        if self._health is None:
            return True, {"ok": True}
        return await asyncio.to_thread(self._health)

    def close(self) -> None:
        for batcher in self._batchers.values():
            batcher.close()
        self._batchers.clear()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def first_delivery(self, delivery_id: str | None) -> bool:
        """False when this delivery id was already handled in the last ten minutes."""
        return delivery_id is None or self._deduper.first_time(delivery_id)

    # -- the ask path: an Answer, or an error from the tree ----------------------------------

    async def answer(
        self, asker: Asker, text: str, history: Sequence[Turn] = ()
    ) -> tuple[Answer, str]:
        """The answer to ``text`` (read with the conversation's ``history``, oldest turn first)
        and its id, logged; raises QuestionError for bad input (not logged), AnswerTimeout,
        StoreUnavailable or another error once it is logged."""
        return await self._answer(asker, validate_question(text), tuple(history))

    async def turn(self, answer: Answer) -> Turn:
        """What a conversation keeps of ``answer`` for the questions after it."""
        return await self._run(lambda: self._engine.turn(answer))

    async def find_quotes(self, speaker: str, *, limit: int = MAX_QUOTES_SHOWN) -> Answer:
        """Statements attributed to ``speaker`` (the first ``limit``, cited)."""
        speaker = normalize_question(speaker)
        if not speaker:
            raise QuestionError(NO_SPEAKER)
        return await self._run(lambda: self._engine.quotes(speaker, limit=limit))

    async def find_source(self, ref: str) -> Answer:
        """One paragraph in full, for ``N`` or ``doc:N``."""
        ref = normalize_question(ref)
        if not ref:
            raise QuestionError(NO_SOURCE)
        return await self._run(lambda: self._engine.source(ref))

    async def _answer(
        self, asker: Asker, question: str, history: tuple[Turn, ...] = ()
    ) -> tuple[Answer, str]:
        started = time.perf_counter()
        try:
            answer = await self._within_timeout(self._batcher().ask(question, history))
        except QuestionError:
            raise
        except ReadoutError:  # the store, the model or the timeout: unavailable right now
            reply = Reply(ReplyKind.UNAVAILABLE, UNAVAILABLE)
            self._log_question(asker, question, reply, time.perf_counter() - started)
            raise
        except Exception:
            reply = Reply(ReplyKind.FAILED, FAILED)
            self._log_question(asker, question, reply, time.perf_counter() - started)
            raise
        answer_id = self._remember(answer)
        follows = history[-1].question if history and answer.understood_as else ""
        latency = time.perf_counter() - started
        log.info(
            "answered on %s in %.0f ms (abstained=%s, citations=%d, answer=%s)",
            asker.platform,
            latency * 1000,
            answer.abstained,
            len(answer.citations),
            answer_id,
        )
        reply = Reply(ReplyKind.ANSWER, answer.text, answer, answer_id, follows=follows)
        self._log_question(asker, question, reply, latency)
        return answer, answer_id

    # -- chat: every outcome is a Reply ------------------------------------------------------

    async def ask(
        self,
        asker: Asker,
        text: str,
        *,
        delivery_id: str | None = None,
        thread: Thread | None = None,
    ) -> Reply:
        """A reply for a question typed in a chat; in a ``thread``, read with the conversation
        so far (remembered, else rebuilt from the thread's history) and then remembered."""
        if not self.first_delivery(delivery_id):
            return Reply(ReplyKind.DUPLICATE, "")
        question = normalize_question(text)
        if not question or _asks_for_help(question):
            return Reply(ReplyKind.USAGE, USAGE)
        if len(question) > MAX_CHAT_QUESTION_CHARS:
            return Reply(ReplyKind.TOO_LONG, TOO_LONG)
        limited = self._rate_limited(asker)
        if limited:
            return limited
        try:
            history = await self._history(thread) if thread is not None else ()
            answer, answer_id = await self._answer(asker, question, history)
            conversation: tuple[Turn, ...] = ()
            if thread is not None:
                conversation = (*history, await self.turn(answer))
                self.conversations.keep(thread.key, conversation)
        except Exception as exc:
            return _refusal(exc)
        follows = history[-1].question if history and answer.understood_as else ""
        return Reply(
            ReplyKind.ANSWER,
            answer.text,
            answer,
            answer_id,
            conversation=conversation,
            follows=follows,
        )

    def continue_conversation(self, key: str, reply: Reply) -> None:
        """Remember ``reply``'s conversation under another ``key`` too (a Discord reply chain
        continues from the answer message readout just posted)."""
        if reply.conversation:
            self.conversations.keep(key, reply.conversation)

    async def _history(self, thread: Thread) -> tuple[Turn, ...]:
        """The thread's turns: remembered, else rebuilt from readout's earlier answers in the
        platform's history (after a restart, or on another replica). Each is re-answered as
        it was understood (it stands on its own), in one batch, to recover what it quoted."""
        remembered = self.conversations.history(thread.key)
        if remembered or thread.earlier is None:
            return remembered
        try:
            refs = list(await thread.earlier())[-DEFAULT_MAX_TURNS:]
            refs = [await self._completed(ref) for ref in refs]
            answers = await self._within_timeout(
                asyncio.gather(*(self._rebuild(ref) for ref in refs if ref.question))
            )
            turns = tuple([await self.turn(answer) for answer in answers])
        except Exception as exc:  # the platform's history is a fallback: never fail the question
            log.warning(
                "could not rebuild conversation %s from its history (%s)",
                thread.key,
                type(exc).__name__,
            )
            log.debug("reading conversation %s back failed", thread.key, exc_info=True)
            return ()
        if not turns:
            return ()
        log.info("rebuilt %d turns of conversation %s from its history", len(turns), thread.key)
        self.conversations.keep(thread.key, turns)
        return turns

    async def quote(self, asker: Asker, speaker: str) -> Reply:
        """Statements attributed to ``speaker`` (the first few, cited)."""
        if len(speaker) > MAX_CHAT_QUESTION_CHARS:
            return Reply(ReplyKind.TOO_LONG, TOO_LONG)
        if _asks_for_help(speaker):
            return Reply(ReplyKind.USAGE, USAGE)
        if not normalize_question(speaker):
            return Reply(ReplyKind.USAGE, NO_SPEAKER)
        return await self._chat_reply(asker, ReplyKind.QUOTES, self.find_quotes(speaker))

    async def source(self, asker: Asker, ref: str) -> Reply:
        """One paragraph in full, for ``/source N`` or ``/source doc:N``."""
        if _asks_for_help(ref):
            return Reply(ReplyKind.USAGE, USAGE)
        if not normalize_question(ref):
            return Reply(ReplyKind.USAGE, NO_SOURCE)
        return await self._chat_reply(asker, ReplyKind.SOURCE, self.find_source(ref))

    async def _chat_reply(self, asker: Asker, kind: ReplyKind, finding: Awaitable[Answer]) -> Reply:
        limited = self._rate_limited(asker)
        if limited:
            _close(finding)
            return limited
        try:
            answer = await finding
        except Exception as exc:
            return _refusal(exc)
        return Reply(kind, answer.text, answer, self._remember(answer))

    # -- answers that follow their sources (bot.updates) -----------------------------------

    def posted(self, reply: Reply, platform: str, channel: str, message: str) -> None:
        """The adapter posted ``reply`` as ``message`` in ``channel``: keep where, if it is an
        answer that cites something (what a re-index could change)."""
        answer = reply.answer
        if (
            self._posts is None
            or reply.kind is not ReplyKind.ANSWER
            or answer is None
            or not answer.citations
            or not reply.answer_id
        ):
            return
        try:
            self._posts.record_post(answer, reply.answer_id, platform, channel, message)
        except Exception:  # a broken log must not break the chat
            log.exception("recording where an answer was posted failed")

    @property
    def follows_posts(self) -> bool:
        """Whether posted answers are kept (a question log is open), so they can follow their
        sources."""
        return self._posts is not None

    async def paragraph_hashes(self) -> ParagraphHashes:
        """The live index version and its paragraphs' text hashes (re-read when it moved)."""
        return await self._run(self._engine.paragraph_hashes)

    async def reanswer(self, question: str) -> tuple[Answer, str]:
        """``question`` answered again from the live index, for an update of a posted answer:
        remembered for its buttons, but neither rate-limited nor logged (nobody asked)."""
        answer = await self._within_timeout(self._batcher().ask(validate_question(question)))
        return answer, self._remember(answer)

    def recent_answer(self, answer_id: str) -> Answer | None:
        """An answer this process gave recently; None once it has aged out (or if another
        process gave it)."""
        return self._recent.get(answer_id)

    async def sources(self, asker: Asker, ref: AnswerRef, *, seen_as: str = "") -> Reply:
        """ "Show sources" for the answer a (verified) button is under, on any process.

        The question is the button's own, else the question log's, else ``seen_as`` (what the
        adapter read from the clicked message). The answer is this process's own when it is
        still remembered, else the recorded question answered again against the current
        index; when the index has changed since, the reply's text says so. Not logged as a
        question (it was logged when asked), but rate-limited like one: it costs as much."""
        answer = self._recent.get(ref.answer_id)
        if answer is not None:
            return Reply(ReplyKind.SOURCE, "", answer, ref.answer_id)
        if not ref.asked:  # a /quote or /source listing: nothing to ask again
            return Reply(ReplyKind.USAGE, EXPIRED)
        ref = await self._completed(ref)
        if not ref.question and normalize_question(seen_as):
            ref = replace(ref, question=normalize_question(seen_as))
        if not ref.question:
            log.info("no question found for answer %s: cannot rebuild its sources", ref.answer_id)
            return Reply(ReplyKind.USAGE, EXPIRED)
        limited = self._rate_limited(asker)
        if limited:
            return limited
        try:
            answer = await self._within_timeout(self._rebuild(ref))
        except Exception as exc:
            return _refusal(exc)
        version = ref.index_version
        moved = bool(version and answer.index_version and answer.index_version != version)
        log.info("rebuilt the sources of answer %s (index changed: %s)", ref.answer_id, moved)
        return Reply(ReplyKind.SOURCE, INDEX_CHANGED if moved else "", answer, ref.answer_id)

    async def _completed(self, ref: AnswerRef) -> AnswerRef:
        """``ref`` with what the question log recorded for its answer id (the question, and
        for a follow-up the words typed and the question before), unless it carries that
        already. (Platforms show only the question; a local SQLite read is cheap.)"""
        if (ref.typed and ref.follows) or self._records is None:
            return ref
        records = self._records
        try:
            found = await asyncio.to_thread(records.find_answer, ref.answer_id)
        except Exception:  # a broken log must not break the click or the question
            log.exception("looking up answer %s failed", ref.answer_id)
            return ref
        if found is None:
            return ref
        return replace(
            ref,
            index_version=found.index_version or ref.index_version,
            question=found.question,
            typed=found.typed,
            follows=found.follows,
        )

    async def _rebuild(self, ref: AnswerRef) -> Answer:
        """The answer ``ref`` is for, asked again. A follow-up is asked as typed after the
        question before it, so that it is read, and its repeat left out, as it was then; if
        that no longer reads the same (an older referent), its rewrite is asked alone."""
        batcher = self._batcher()
        if ref.typed and ref.follows:
            before = await batcher.ask(validate_question(ref.follows))
            turn = await asyncio.get_running_loop().run_in_executor(
                self._pool, self._engine.turn, before
            )
            again = await batcher.ask(validate_question(ref.typed), (turn,))
            if again.understood_as == ref.question:
                return again
        return await batcher.ask(validate_question(ref.question))

    def record_feedback(self, answer_id: str, asker: Asker, vote: int) -> bool:
        """Record 👍 (+1) / 👎 (-1) for an answer id (from a verified button: any age, any
        process); False for anything but ±1."""
        if vote not in {1, -1}:
            return False
        try:
            self._feedback.record(answer_id, asker, vote)
        except Exception:  # a broken sink must not break the chat
            log.exception("recording feedback failed")
        return True

    # -- internals -------------------------------------------------------------------------

    def _log_question(self, asker: Asker, question: str, reply: Reply, latency: float) -> None:
        # Only questions that were searched (or failed while being searched): usage notices,
        # over-long text and rate-limited repeats never reached the engine.
        if self._question_log is None or reply.kind not in _LOGGED_KINDS:
            return
        try:
            self._question_log.record_question(asker, question, reply, latency)
        except Exception:  # a broken log must not break the chat
            log.exception("recording the question failed")

    def _rate_limited(self, asker: Asker) -> Reply | None:
        wait = self._limiter.acquire(f"{asker.platform}:{asker.user_id}")
        if wait <= 0:
            return None
        seconds = max(1, round(wait + 0.499))
        return Reply(
            ReplyKind.RATE_LIMITED,
            f"Slow down a little: try again in {seconds} s.",
            retry_after=float(seconds),
        )

    def _batcher(self) -> _QuestionBatcher:
        # One batcher per event loop: its queue and consumer task belong to that loop.
        loop = asyncio.get_running_loop()
        batcher = self._batchers.get(loop)
        if batcher is None:
            batcher = _QuestionBatcher(self._engine, self._pool, window=self._batch_window)
            self._batchers[loop] = batcher
        return batcher

    async def _run(self, function: Callable[[], _T]) -> _T:
        loop = asyncio.get_running_loop()
        return await self._within_timeout(loop.run_in_executor(self._pool, function))

    async def _within_timeout(self, work: Awaitable[_T]) -> _T:
        try:
            return await asyncio.wait_for(work, self._timeout)
        except TimeoutError:
            log.warning("answer timed out after %.1f s", self._timeout)
            raise AnswerTimeout(
                f"answering took longer than {self._timeout:g} s (READOUT_ANSWER_TIMEOUT)."
            ) from None

    def _remember(self, answer: Answer) -> str:
        answer_id = uuid.uuid4().hex[:16]
        self._recent[answer_id] = answer
        while len(self._recent) > RECENT_ANSWERS:
            self._recent.popitem(last=False)
        return answer_id


_LOGGED_KINDS = frozenset({ReplyKind.ANSWER, ReplyKind.UNAVAILABLE, ReplyKind.FAILED})


def _asks_for_help(text: str) -> bool:
    """``help`` (or ``?``) as a command's whole argument means usage, on every command: nobody
    means a speaker called "help" or a paragraph called "?"."""
    return normalize_question(text).lower() in {"help", "?"}


def _refusal(exc: BaseException) -> Reply:
    """What a person is told when answering failed; never the text of an unknown error."""
    if isinstance(exc, QuestionError):
        return Reply(ReplyKind.USAGE, str(exc))  # written to be shown, on any surface
    if isinstance(exc, AnswerTimeout):
        return Reply(ReplyKind.UNAVAILABLE, TIMED_OUT)
    if isinstance(exc, StoreUnavailable):
        log.warning("store unavailable while answering")
        return Reply(ReplyKind.UNAVAILABLE, UNAVAILABLE)
    if isinstance(exc, ReadoutError):
        log.error("cannot answer: %s", exc)
        return Reply(ReplyKind.UNAVAILABLE, UNAVAILABLE)
    log.error("answering failed", exc_info=exc)
    return Reply(ReplyKind.FAILED, FAILED)


def _close(awaitable: Awaitable[object]) -> None:
    """Discard a coroutine that will not be awaited (without "never awaited" warnings)."""
    if asyncio.iscoroutine(awaitable):
        awaitable.close()


_Pending = tuple[str, tuple[Turn, ...], "asyncio.Future[Answer]"]


class _QuestionBatcher:
    """Answers questions that arrive together with one ``Engine.ask_many`` call.

    Encoding dominates the cost of an answer and encoding eight questions costs little more
    than one, so a single consumer collects whatever arrives within ``window`` seconds (and
    everything that queued while the previous batch was being answered), then answers the
    batch in the worker pool. A lone question waits only ``window``.
    """

    def __init__(
        self,
        engine: AnswerEngine,
        pool: ThreadPoolExecutor,
        *,
        window: float,
        max_batch: int = MAX_BATCH,
    ) -> None:
        self._engine = engine
        self._pool = pool
        self._window = window
        self._max_batch = max_batch
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._consumer: asyncio.Task[None] | None = None

    async def ask(self, question: str, history: tuple[Turn, ...] = ()) -> Answer:
        if self._consumer is None or self._consumer.done():
            self._consumer = asyncio.create_task(self._consume(), name="readout-batcher")
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        # A caller that timed out no longer awaits its future: mark a late exception as seen
        # so asyncio doesn't log it as "never retrieved".
        future.add_done_callback(_mark_retrieved)
        await self._queue.put((question, history, future))
        # shield: a caller that times out must not cancel the batch the others wait on.
        return await asyncio.shield(future)

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.cancel()

    async def _consume(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            deadline = loop.time() + self._window
            while len(batch) < self._max_batch:
                if not self._queue.empty():
                    batch.append(self._queue.get_nowait())
                    continue
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self._queue.get(), remaining))
                except TimeoutError:
                    break
            await self._answer(batch)

    async def _answer(self, batch: list[_Pending]) -> None:
        questions = [question for question, _, _ in batch]
        # Histories only when some question has one: a batch of standalone questions is
        # answered exactly as before conversations existed.
        histories = [history for _, history, _ in batch] if any(h for _, h, _ in batch) else None
        try:
            results = await asyncio.get_running_loop().run_in_executor(
                self._pool, self._engine.ask_many, questions, histories
            )
        except Exception as exc:  # the store or model failed: every waiter gets the error
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, _, future), result in zip(batch, results, strict=True):
            if future.done():
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)


def _mark_retrieved(future: asyncio.Future[Answer]) -> None:
    if not future.cancelled():
        future.exception()
