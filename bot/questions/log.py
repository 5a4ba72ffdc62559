"""The question log: what people ask, how it went, and their 👍/👎, in one SQLite file.

Operators need to know what is asked, what goes unanswered and whether answers help, so every
question that reaches the engine, from any surface, is recorded (``READOUT_QUESTION_LOG``, see
``bot.settings``; the tables are in :mod:`bot.questions.schema`).

Writing never holds up an answer: :class:`QuestionLog` hashes the user id, puts the record on a
queue and returns; one background thread writes whatever has queued in one transaction. If the
database is locked for longer than ``busy_timeout`` or the disk is full, the thread logs a
warning and drops those records; the people asking never notice.

Answers the bot posted are kept too, with where (platform, channel, message) and a hash of each
paragraph they cite (:meth:`QuestionLog.record_post`), for ``bot.updates``.

The database runs in WAL mode, so ``readout stats`` reads while a bot writes. Questions and
votes older than ``READOUT_QUESTION_LOG_DAYS`` are deleted when the log opens and hourly after
that.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import queue
import secrets
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.questions.schema import (
    BUSY_TIMEOUT_SECONDS,
    QuestionLogError,
    connect,
    transaction,
)
from bot.service import Asker, Reply, ReplyKind
from bot.settings import DEFAULT_QUESTION_LOG_DAYS, Settings
from index.corpus import paragraph_hash
from retrieval.answer import Answer

log = logging.getLogger(__name__)

MAX_PENDING = 10_000
WRITE_BATCH = 500
PRUNE_EVERY_SECONDS = 3600.0
CLOSE_TIMEOUT_SECONDS = 10.0
SECONDS_PER_DAY = 86_400.0

ANSWERED = "answered"
ABSTAINED = "abstained"
UNAVAILABLE = "unavailable"
FAILED = "failed"
OUTCOMES = (ANSWERED, ABSTAINED, UNAVAILABLE, FAILED)


@dataclass(frozen=True, slots=True)
class LoggedQuestion:
    """One row of ``questions`` (and its citations), as queued for the writer."""

    asked_at: float
    platform: str
    user_hash: str
    channel_kind: str
    question: str
    outcome: str
    latency_ms: float
    abstained: bool | None = None
    index_version: int | None = None
    answer_id: str | None = None
    understood_as: str | None = None
    follows: str | None = None
    citations: tuple[tuple[int, str, int], ...] = ()  # (n, doc, paragraph)


@dataclass(frozen=True, slots=True)
class LoggedAnswer:
    """What the log knows of an answer id: the question as understood, its index version, and
    for a follow-up the words as typed and the question before it (as understood)."""

    question: str
    index_version: int
    typed: str = ""
    follows: str = ""


@dataclass(frozen=True, slots=True)
class LoggedPost:
    """Where an answer was posted, and a hash of each paragraph it cites (``bot.updates``)."""

    answer_id: str
    platform: str
    channel: str
    message: str
    posted_at: float
    question: str
    index_version: int
    cited: tuple[tuple[str, str], ...]  # (paragraph id "doc:N", text hash)


@dataclass(frozen=True, slots=True)
class Vote:
    answer_id: str
    user_hash: str
    vote: int
    voted_at: float


@dataclass(frozen=True, slots=True)
class _Flush:
    done: threading.Event


_STOP = object()


class QuestionLog:
    """Records questions and votes in the SQLite file at ``path`` from a background thread.

    Implements the service's ``QuestionSink`` and ``FeedbackSink``. Every ``record_*`` method
    returns at once and never raises; :meth:`close` writes what is still queued.
    """

    def __init__(
        self,
        path: Path,
        *,
        salt: str = "",
        retention_days: float = DEFAULT_QUESTION_LOG_DAYS,
        busy_timeout: float = BUSY_TIMEOUT_SECONDS,
        max_pending: int = MAX_PENDING,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self._retention = retention_days * SECONDS_PER_DAY
        self._busy_timeout = busy_timeout
        self._clock = clock
        with closing(connect(path, busy_timeout=busy_timeout)) as connection:
            self._key = (salt or _stored_salt(connection)).encode()
            try:
                self._prune(connection)
            except sqlite3.OperationalError as exc:  # locked by another writer: prune later
                log.warning("question log: pruning %s failed (%s)", path, exc)
        self._last_prune = clock()
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max_pending)
        self._dropped = 0
        self._closed = False
        self._writer = threading.Thread(
            target=self._write_forever, name="readout-question-log", daemon=True
        )
        self._writer.start()

    @classmethod
    def from_settings(cls, settings: Settings) -> QuestionLog:
        return cls(
            settings.question_log_path,
            salt=settings.question_log_salt,
            retention_days=settings.question_log_days,
        )

    def __enter__(self) -> QuestionLog:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- recording (any thread, never blocks) ----------------------------------------------

    def user_hash(self, asker: Asker) -> str:
        """The salted hash standing for ``asker``'s user id (per platform) in the log."""
        message = f"{asker.platform}:{asker.user_id}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()[:32]

    def record_question(self, asker: Asker, question: str, reply: Reply, latency: float) -> None:
        """A question the chat service searched, with the reply it got (``QuestionSink``)."""
        if reply.kind is ReplyKind.ANSWER and reply.answer is not None:
            self.record_answer(
                asker, reply.answer, latency, answer_id=reply.answer_id, follows=reply.follows
            )
        else:
            outcome = UNAVAILABLE if reply.kind is ReplyKind.UNAVAILABLE else FAILED
            self.record_unanswered(asker, question, outcome, latency)

    def record_answer(
        self,
        asker: Asker,
        answer: Answer,
        latency: float,
        *,
        answer_id: str = "",
        follows: str = "",
    ) -> None:
        """An answer or abstention, with what it cited (``follows``: the question before a
        follow-up, as understood)."""
        self._put_question(
            asker,
            answer.question,
            ABSTAINED if answer.abstained else ANSWERED,
            latency,
            abstained=answer.abstained,
            index_version=answer.index_version or None,
            answer_id=answer_id or uuid.uuid4().hex[:16],
            understood_as=answer.understood_as or None,
            follows=(follows or None) if answer.understood_as else None,
            citations=tuple((c.n, c.doc, c.paragraph) for c in answer.citations),
        )

    def record_unanswered(self, asker: Asker, question: str, outcome: str, latency: float) -> None:
        """A question that got no answer: the store was unavailable, or answering failed."""
        self._put_question(asker, question, outcome, latency)

    def _put_question(
        self, asker: Asker, question: str, outcome: str, latency: float, **answered: Any
    ) -> None:
        """Queue one ``questions`` row; ``answered`` holds the columns only an answer has."""
        self._put(
            LoggedQuestion(
                asked_at=self._clock() - latency,
                platform=asker.platform,
                user_hash=self.user_hash(asker),
                channel_kind=asker.channel_kind,
                question=question,
                outcome=outcome,
                latency_ms=latency * 1000,
                **answered,
            )
        )

    def record_post(
        self, answer: Answer, answer_id: str, platform: str, channel: str, message: str
    ) -> None:
        """An answer the bot posted as ``message`` in ``channel`` (``PostSink``): kept so the
        message can be updated when a re-index changes what it cites (``bot.updates``)."""
        self._put(
            LoggedPost(
                answer_id=answer_id,
                platform=platform,
                channel=channel,
                message=message,
                posted_at=self._clock(),
                question=answer.understood_as or answer.question,
                index_version=answer.index_version,
                cited=cited_hashes(answer),
            )
        )

    def record(self, answer_id: str, asker: Asker, vote: int) -> None:
        """👍 (+1) or 👎 (-1) on an answer (``FeedbackSink``); a later vote replaces it."""
        self._put(Vote(answer_id, self.user_hash(asker), vote, self._clock()))

    # -- reading back (blocking: run it off the event loop) ------------------------------

    def find_answer(self, answer_id: str) -> LoggedAnswer | None:
        """The question (as understood) and index version an answer id was recorded with, for
        a button clicked on another replica or after a restart; None if unknown or unreadable."""
        try:
            with closing(connect(self.path, busy_timeout=self._busy_timeout)) as connection:
                row = connection.execute(
                    "SELECT question, understood_as, follows, index_version FROM questions "
                    "WHERE answer_id = ?",
                    (answer_id,),
                ).fetchone()
        except (sqlite3.Error, QuestionLogError) as exc:
            log.warning("question log: cannot look up an answer in %s (%s)", self.path, exc)
            return None
        if row is None:
            return None
        question, understood_as, follows, version = row
        if understood_as and follows:
            return LoggedAnswer(understood_as, int(version or 0), question, follows)
        return LoggedAnswer(understood_as or question, int(version or 0))

    def _put(self, item: LoggedQuestion | Vote | LoggedPost) -> None:
        if self._closed:
            log.warning("question log is closed: a record was not written")
            return
        try:
            self._queue.put_nowait(item)
        except queue.Full:  # the writer is stuck (a disk that hangs): drop, never wait
            self._dropped += 1
            if self._dropped == 1 or self._dropped % 1000 == 0:
                log.warning("question log is behind: %d records dropped", self._dropped)

    # -- lifecycle ---------------------------------------------------------------------------

    def flush(self, timeout: float = CLOSE_TIMEOUT_SECONDS) -> bool:
        """Wait until everything recorded so far is written (or has failed); False on timeout.

        Blocks: for entry points and tests, not for the event loop."""
        done = threading.Event()
        try:
            self._queue.put(_Flush(done), timeout=timeout)
        except queue.Full:
            return False
        return done.wait(timeout)

    def close(self, timeout: float = CLOSE_TIMEOUT_SECONDS) -> None:
        """Write what is queued (waiting at most ``timeout`` seconds), then stop the writer."""
        if self._closed:
            return
        self._closed = True
        try:
            self._queue.put(_STOP, timeout=timeout)
        except queue.Full:
            log.warning("question log: could not stop the writer in %.0f s", timeout)
            return
        self._writer.join(timeout)
        if self._writer.is_alive():
            log.warning("question log: unwritten records after %.0f s at shutdown", timeout)

    # -- the writer thread -----------------------------------------------------------------

    def _write_forever(self) -> None:
        connection: sqlite3.Connection | None = None
        stopping = False
        while not stopping:
            batch = [self._queue.get()]
            while len(batch) < WRITE_BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            records = [
                item for item in batch if isinstance(item, LoggedQuestion | Vote | LoggedPost)
            ]
            if records:
                connection = self._write(connection, records)
            if connection is not None and self._clock() - self._last_prune > PRUNE_EVERY_SECONDS:
                self._last_prune = self._clock()
                try:
                    self._prune(connection)
                except sqlite3.Error as exc:
                    log.warning("question log: pruning %s failed (%s)", self.path, exc)
            for item in batch:
                if isinstance(item, _Flush):
                    item.done.set()
                stopping = stopping or item is _STOP
        if connection is not None:
            connection.close()

    def _write(
        self,
        connection: sqlite3.Connection | None,
        records: list[LoggedQuestion | Vote | LoggedPost],
    ) -> sqlite3.Connection | None:
        """Write ``records`` in one transaction; on failure warn, drop them, and keep going."""
        try:
            if connection is None:
                connection = connect(self.path, busy_timeout=self._busy_timeout)
            with transaction(connection):
                for record in records:
                    _insert(connection, record)
        except (sqlite3.Error, QuestionLogError) as exc:
            # "database is locked" past the busy timeout, "database or disk is full", a
            # vanished file: the answers went out regardless; say so and move on.
            log.warning(
                "question log: %d records not written to %s (%s)", len(records), self.path, exc
            )
            if connection is not None:
                with suppress(sqlite3.Error):
                    connection.close()  # after an I/O error, start the next batch afresh
            return None
        return connection

    def _prune(self, connection: sqlite3.Connection) -> None:
        """Delete questions and votes older than the retention period."""
        cutoff = self._clock() - self._retention
        with transaction(connection):
            questions = connection.execute("DELETE FROM questions WHERE asked_at < ?", (cutoff,))
            votes = connection.execute("DELETE FROM feedback WHERE voted_at < ?", (cutoff,))
            connection.execute("DELETE FROM posts WHERE posted_at < ?", (cutoff,))
        if questions.rowcount or votes.rowcount:
            log.info(
                "question log: deleted %d questions and %d votes past retention",
                questions.rowcount,
                votes.rowcount,
            )


def _insert(connection: sqlite3.Connection, record: LoggedQuestion | Vote | LoggedPost) -> None:
    if isinstance(record, LoggedPost):
        save_post(connection, record)
        return
    if isinstance(record, Vote):
        connection.execute(
            "INSERT INTO feedback (answer_id, user_hash, vote, voted_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (answer_id, user_hash) DO UPDATE "
            "SET vote = excluded.vote, voted_at = excluded.voted_at",
            (record.answer_id, record.user_hash, record.vote, record.voted_at),
        )
        return
    cursor = connection.execute(
        "INSERT INTO questions (asked_at, platform, user_hash, channel_kind, question, outcome, "
        "abstained, latency_ms, index_version, answer_id, understood_as, follows) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            record.asked_at,
            record.platform,
            record.user_hash,
            record.channel_kind,
            record.question,
            record.outcome,
            None if record.abstained is None else int(record.abstained),
            record.latency_ms,
            record.index_version,
            record.answer_id,
            record.understood_as,
            record.follows,
        ),
    )
    connection.executemany(
        "INSERT INTO citations (question_id, n, doc, paragraph) VALUES (?, ?, ?, ?)",
        [(cursor.lastrowid, n, doc, paragraph) for n, doc, paragraph in record.citations],
    )


def cited_hashes(answer: Answer) -> tuple[tuple[str, str], ...]:
    """Each paragraph ``answer`` cites (``doc:N``, once) with the hash of its text."""
    cited = {f"{c.doc}:{c.paragraph}": paragraph_hash(c.context) for c in answer.citations}
    return tuple(cited.items())


def save_post(connection: sqlite3.Connection, post: LoggedPost) -> int:
    """Insert ``post`` (or replace what was kept for the same message) and its citations;
    the row id. Call inside a transaction."""
    row = connection.execute(
        "INSERT INTO posts (answer_id, platform, channel, message, posted_at, question, "
        "index_version) VALUES (?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (platform, channel, message) DO UPDATE SET answer_id = excluded.answer_id, "
        "question = excluded.question, index_version = excluded.index_version "
        "RETURNING id",
        (
            post.answer_id,
            post.platform,
            post.channel,
            post.message,
            post.posted_at,
            post.question,
            post.index_version,
        ),
    ).fetchone()
    post_id = int(row[0])
    connection.execute("DELETE FROM post_citations WHERE post_id = ?", (post_id,))
    connection.executemany(
        "INSERT INTO post_citations (post_id, paragraph, text_hash) VALUES (?, ?, ?)",
        [(post_id, paragraph, text_hash) for paragraph, text_hash in post.cited],
    )
    return post_id


def posted_question(path: Path, platform: str, channel: str, message: str) -> str | None:
    """The question the answer posted as ``message`` answers, if the log at ``path`` kept it
    (for "Ask again"). Blocking; None when there is no log or no such post."""
    if not path.exists():
        return None
    try:
        with closing(connect(path)) as connection:
            found = connection.execute(
                "SELECT question FROM posts WHERE platform = ? AND channel = ? AND message = ?",
                (platform, channel, message),
            ).fetchone()
    except (sqlite3.Error, QuestionLogError) as exc:
        log.warning("question log: cannot read %s (%s)", path, exc)
        return None
    return str(found[0]) if found else None


def _stored_salt(connection: sqlite3.Connection) -> str:
    """The salt kept in the database, made on first use (the first of racing processes wins)."""
    select = "SELECT value FROM meta WHERE key = 'salt'"
    found = connection.execute(select).fetchone()
    if found is None:  # reading needs no write lock; only the very first open writes
        connection.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('salt', ?)", (secrets.token_hex(32),)
        )
        found = connection.execute(select).fetchone()
    return str(found[0])


@contextmanager
def question_log(settings: Settings, *, enabled: bool = True) -> Iterator[QuestionLog | None]:
    """The question log for an entry point, closed (and flushed) on the way out.

    Yields None when disabled, or when the database cannot be opened: a warning says so and
    readout answers anyway, unlogged."""
    # The default log lives in the index folder: where there is none (a mistyped --store),
    # nothing will be answered, and nothing is created to log it.
    beside_missing_store = (
        settings.question_log is None and not settings.chroma_url and not settings.store.exists()
    )
    if not enabled or beside_missing_store:
        yield None
        return
    try:
        opened: QuestionLog | None = QuestionLog.from_settings(settings)
    except (QuestionLogError, sqlite3.Error) as exc:
        log.warning("questions will not be logged: %s", exc)
        opened = None
    try:
        yield opened
    finally:
        if opened is not None:
            opened.close()
