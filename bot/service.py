"""The platform-neutral bot core that the Slack and Discord adapters share.

It owns everything about *answering in a chat* that is not about a platform:

* cleaning what people type (Unicode NFKC; control, zero-width and bidi-override characters
  dropped), refusing empty or over-long questions before anything is searched;
* a per-user token bucket ("slow down, try again in N s" instead of silence);
* de-duplicating deliveries (Slack and Discord both redeliver what they think failed);
* running the synchronous engine off the event loop, in its own worker pool and under a
  timeout, so a slow answer never blocks acknowledgements or the Discord heartbeat;
* remembering recent answers for the "Show sources" and feedback buttons;
* telling an optional :class:`QuestionSink` (the question log) about every question that
  reached the engine, and how it went.

Adapters turn a platform event into a call here and a :class:`Reply` into platform messages
with pure render functions. Nothing here imports a platform SDK.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
import unicodedata
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar

from index.errors import QuestionError, ReadoutError, StoreUnavailable
from retrieval.answer import Answer, Citation
from retrieval.engine import Engine

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

USAGE = (
    "Ask me about the documents, e.g. `/ask What did Xi say about Taiwan?`\n"
    "• `/ask <question>`: a cited answer\n"
    "• `/quote <speaker>`: every statement attributed to someone\n"
    "• `/source <N or doc:N>`: one paragraph in full"
)
TOO_LONG = f"That question is too long: please keep it under {MAX_CHAT_QUESTION_CHARS} characters."
UNAVAILABLE = "Search is unavailable right now. Please try again in a minute."
TIMED_OUT = "That took too long to answer. Please try again in a moment."
FAILED = "Sorry, something went wrong while answering. The error has been logged."
EXPIRED = "That answer is too old to show its sources; please ask again."


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

    @property
    def is_public(self) -> bool:
        """Answers go to the channel; usage, errors and rate-limit notices to the asker only."""
        return self.kind in {ReplyKind.ANSWER, ReplyKind.QUOTES, ReplyKind.SOURCE}


@dataclass(frozen=True, slots=True)
class Asker:
    """Who asked, where: enough to rate-limit and to log without raw ids."""

    platform: str
    user_id: str
    channel_kind: str = "channel"


class FeedbackSink(Protocol):
    """Where 👍/👎 votes go (issue 7 stores them; by default they are logged)."""

    def record(self, answer_id: str, asker: Asker, vote: int) -> None: ...


class QuestionSink(Protocol):
    """Where questions that reached the engine are recorded (``bot.question_log``): the
    reply says how it went (an answer or abstention, with its id; or unavailable, or failed).
    Called on the event loop, so it must not block."""

    def record_question(
        self, asker: Asker, question: str, reply: Reply, latency: float
    ) -> None: ...


class LoggingFeedback:
    """Feedback that is only logged (ids and the vote; never user text)."""

    def record(self, answer_id: str, asker: Asker, vote: int) -> None:
        log.info("feedback %+d on answer %s via %s", vote, answer_id, asker.platform)


def clean_question(text: str) -> str:
    """NFKC-normalise, drop control/format characters (zero-width, bidi overrides), collapse
    whitespace. What is left is what gets searched."""
    normalized = unicodedata.normalize("NFKC", text)
    kept = []
    for char in normalized:
        category = unicodedata.category(char)
        if char in "\t\n\r" or category == "Zs":
            kept.append(" ")
        elif category in {"Cc", "Cf", "Co", "Cs", "Cn"}:
            continue  # controls, zero-width and bidi formatting, private use, unassigned
        else:
            kept.append(char)
    return " ".join("".join(kept).split())


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


class QuestionLogSink(QuestionSink, FeedbackSink, Protocol):
    """A log that records both questions and votes (``bot.question_log.QuestionLog``)."""


class AnswerService:
    """Answers questions for chat adapters: cleaned, rate-limited, de-duplicated, off-loop."""

    def __init__(
        self,
        engine: Engine,
        *,
        rate_limit: int = 5,
        rate_window: float = 30.0,
        timeout: float = 20.0,
        workers: int = DEFAULT_WORKERS,
        feedback: FeedbackSink | None = None,
        clock: Callable[[], float] = time.monotonic,
        batch_window: float = BATCH_WINDOW_SECONDS,
        question_log: QuestionSink | None = None,
    ) -> None:
        self.engine = engine
        self._limiter = RateLimiter(rate_limit, rate_window, clock=clock)
        self._deduper = DeliveryDeduper(clock=clock)
        self._timeout = timeout
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="readout-answer")
        self._feedback = feedback or LoggingFeedback()
        self._question_log = question_log
        self._recent: OrderedDict[str, Answer] = OrderedDict()
        self._batch_window = batch_window
        self._batchers: dict[asyncio.AbstractEventLoop, _QuestionBatcher] = {}

    @classmethod
    def from_settings(
        cls, settings: Settings, engine: Engine, *, question_log: QuestionLogSink | None = None
    ) -> AnswerService:
        """The service a chat adapter runs: limits from settings, questions and votes logged
        to ``question_log`` when one is given."""
        return cls(
            engine,
            rate_limit=settings.rate_limit,
            rate_window=settings.rate_window,
            timeout=settings.answer_timeout,
            feedback=question_log,
            question_log=question_log,
        )

    async def start(self) -> None:
        """Load the model and the index before the first question (off the event loop).

        No answer timeout here: a cold start may take longer than any one answer should, and a
        missing model or index raises its ReadoutError for the entry point to report.
        """
        await asyncio.get_running_loop().run_in_executor(self._pool, self._warm_up)

    def _warm_up(self) -> None:
        load = getattr(self.engine.embedder, "load", None)
        if callable(load):
            load()
        self.engine.snapshot()

    def close(self) -> None:
        for batcher in self._batchers.values():
            batcher.close()
        self._batchers.clear()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def first_delivery(self, delivery_id: str | None) -> bool:
        """False when this delivery id was already handled in the last ten minutes."""
        return delivery_id is None or self._deduper.first_time(delivery_id)

    async def ask(self, asker: Asker, text: str, *, delivery_id: str | None = None) -> Reply:
        """A reply for a question typed in a chat."""
        if not self.first_delivery(delivery_id):
            return Reply(ReplyKind.DUPLICATE, "")
        question = clean_question(text)
        if not question or question.lower() in {"help", "?"}:
            return Reply(ReplyKind.USAGE, USAGE)
        if len(question) > MAX_CHAT_QUESTION_CHARS:
            return Reply(ReplyKind.TOO_LONG, TOO_LONG)
        limited = self._rate_limited(asker)
        if limited:
            return limited
        started = time.perf_counter()
        try:
            answer = await self._guarded(self._batcher().ask(question))
        except _Refused as refused:
            self._log_question(asker, question, refused.reply, time.perf_counter() - started)
            return refused.reply
        answer_id = self._remember(answer)
        latency = time.perf_counter() - started
        log.info(
            "answered on %s in %.0f ms (abstained=%s, citations=%d, answer=%s)",
            asker.platform, latency * 1000, answer.abstained, len(answer.citations), answer_id,
        )  # fmt: skip
        reply = Reply(ReplyKind.ANSWER, answer.text, answer, answer_id)
        self._log_question(asker, question, reply, latency)
        return reply

    async def quotes(self, asker: Asker, speaker: str) -> Reply:
        """Statements attributed to ``speaker`` (the first few, cited)."""
        speaker = clean_question(speaker)
        if not speaker:
            return Reply(ReplyKind.USAGE, "Name a speaker, e.g. `/quote xi`.")
        if len(speaker) > MAX_CHAT_QUESTION_CHARS:
            return Reply(ReplyKind.TOO_LONG, TOO_LONG)
        limited = self._rate_limited(asker)
        if limited:
            return limited
        try:
            citations = await self._run(self.engine.quotes, speaker)
        except _Refused as refused:
            return refused.reply
        question = f"Statements attributed to {speaker}"
        if not citations:
            answer = Answer(question, f"I found no statements attributed to {speaker}.", True)
        else:
            shown = tuple(citations[:MAX_QUOTES_SHOWN])
            answer = Answer(question, " ".join(f"{c.quote} [{c.n}]" for c in shown), False, shown)
        return Reply(ReplyKind.QUOTES, answer.text, answer, self._remember(answer))

    async def source(self, asker: Asker, ref: str) -> Reply:
        """One paragraph in full, for ``/source N`` or ``/source doc:N``."""
        ref = clean_question(ref)
        if not ref:
            return Reply(
                ReplyKind.USAGE, "Give a paragraph number, e.g. `/source 12` or `/source doc:12`."
            )
        limited = self._rate_limited(asker)
        if limited:
            return limited
        try:
            document, paragraph = await self._run(self.engine.paragraph, ref)
        except _Refused as refused:
            return refused.reply
        citation = Citation(
            n=1,
            doc=document.doc_id,
            title=document.title,
            paragraph=paragraph.number,
            sentence=0,
            quote=paragraph.text,
            score=1.0,
            url=document.url,
            context=paragraph.text,
            reason="requested paragraph",
        )
        answer = Answer(f"Source {ref}", f"{paragraph.text} [1]", False, (citation,))
        return Reply(ReplyKind.SOURCE, answer.text, answer, self._remember(answer))

    def recent_answer(self, answer_id: str) -> Answer | None:
        """A recent answer, for "Show sources"; None once it has aged out."""
        return self._recent.get(answer_id)

    def record_feedback(self, answer_id: str, asker: Asker, vote: int) -> bool:
        """Record 👍 (+1) / 👎 (-1) for an answer; False if the answer is unknown."""
        if vote not in {1, -1} or answer_id not in self._recent:
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
            batcher = _QuestionBatcher(self.engine, self._pool, window=self._batch_window)
            self._batchers[loop] = batcher
        return batcher

    async def _run(self, function: Callable[..., _T], *args: object) -> _T:
        loop = asyncio.get_running_loop()
        return await self._guarded(loop.run_in_executor(self._pool, function, *args))

    async def _guarded(self, work: Awaitable[_T]) -> _T:
        """Await ``work`` under the answer timeout, turning failures into replies."""
        try:
            return await asyncio.wait_for(work, self._timeout)
        except TimeoutError:
            log.warning("answer timed out after %.1f s", self._timeout)
            raise _Refused(Reply(ReplyKind.UNAVAILABLE, TIMED_OUT)) from None
        except QuestionError as exc:
            raise _Refused(Reply(ReplyKind.USAGE, str(exc))) from None
        except StoreUnavailable:
            log.warning("store unavailable while answering")
            raise _Refused(Reply(ReplyKind.UNAVAILABLE, UNAVAILABLE)) from None
        except ReadoutError as exc:
            log.error("cannot answer: %s", exc)
            raise _Refused(Reply(ReplyKind.UNAVAILABLE, UNAVAILABLE)) from None
        except Exception:
            log.exception("answering failed")
            raise _Refused(Reply(ReplyKind.FAILED, FAILED)) from None

    def _remember(self, answer: Answer) -> str:
        answer_id = uuid.uuid4().hex[:16]
        self._recent[answer_id] = answer
        while len(self._recent) > RECENT_ANSWERS:
            self._recent.popitem(last=False)
        return answer_id


_LOGGED_KINDS = frozenset({ReplyKind.ANSWER, ReplyKind.UNAVAILABLE, ReplyKind.FAILED})


class _QuestionBatcher:
    """Answers questions that arrive together with one ``Engine.ask_many`` call.

    Encoding dominates the cost of an answer and encoding eight questions costs little more
    than one, so a single consumer collects whatever arrives within ``window`` seconds (and
    everything that queued while the previous batch was being answered), then answers the
    batch in the worker pool. A lone question waits only ``window``.
    """

    def __init__(
        self,
        engine: Engine,
        pool: ThreadPoolExecutor,
        *,
        window: float,
        max_batch: int = MAX_BATCH,
    ) -> None:
        self._engine = engine
        self._pool = pool
        self._window = window
        self._max_batch = max_batch
        self._queue: asyncio.Queue[tuple[str, asyncio.Future[Answer]]] = asyncio.Queue()
        self._consumer: asyncio.Task[None] | None = None

    async def ask(self, question: str) -> Answer:
        if self._consumer is None or self._consumer.done():
            self._consumer = asyncio.create_task(self._consume(), name="readout-batcher")
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        # A caller that timed out no longer awaits its future: mark a late exception as seen
        # so asyncio doesn't log it as "never retrieved".
        future.add_done_callback(_mark_retrieved)
        await self._queue.put((question, future))
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

    async def _answer(self, batch: list[tuple[str, asyncio.Future[Answer]]]) -> None:
        questions = [question for question, _ in batch]
        try:
            results = await asyncio.get_running_loop().run_in_executor(
                self._pool, self._engine.ask_many, questions
            )
        except Exception as exc:  # the store or model failed: every waiter gets the error
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)


def _mark_retrieved(future: asyncio.Future[Answer]) -> None:
    if not future.cancelled():
        future.exception()


class _Refused(Exception):
    """Internal: carries the reply for a question that could not be answered."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.kind.value)
        self.reply = reply
