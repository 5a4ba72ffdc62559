"""The question log's schema: its tables, the migrations between versions, and connecting.

The schema is versioned with ``PRAGMA user_version``: ``MIGRATIONS[n]`` takes version ``n`` to
``n + 1``, and opening a database applies whatever is missing, each step in one transaction;
a database written by a newer readout is refused rather than guessed at.

    questions  when (UTC epoch seconds), platform, a salted hash of the user id (never the
               id itself), channel kind (channel, dm, terminal), the question as searched,
               the outcome (answered, abstained, unavailable, failed), latency, index
               version, the answer's id; for a follow-up (v4; else NULL) how it was read and
               the question before it, as understood
    citations  the doc and paragraph each cited sentence came from
    feedback   one vote (+1/-1) per user per answer id; voting again replaces it
    meta       the salt, when ``READOUT_QUESTION_LOG_SALT`` does not provide one
    posts      each answer the bot posted where it can edit it later: platform, channel and
               message (Slack's ts, Discord's message id), when, the question it answers (as
               searched) and the index version of the answer the message shows now
    post_citations  per post, each paragraph it cites (``doc:N``) and a hash of its text
    post_updates    one row per (post, index version) checked against it: a claim, so one
               replica edits the message, then how it went (updated, abstained, failed)
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from index.errors import ReadoutError

BUSY_TIMEOUT_SECONDS = 2.0

# MIGRATIONS[n] takes the schema from version n to n + 1. Append; never edit a released step.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE questions (
            id            INTEGER PRIMARY KEY,
            asked_at      REAL    NOT NULL,
            platform      TEXT    NOT NULL,
            user_hash     TEXT    NOT NULL,
            channel_kind  TEXT    NOT NULL,
            question      TEXT    NOT NULL,
            outcome       TEXT    NOT NULL,
            abstained     INTEGER,
            latency_ms    REAL    NOT NULL,
            index_version INTEGER,
            answer_id     TEXT    UNIQUE
        )""",
        "CREATE INDEX questions_by_time ON questions (asked_at)",
        """CREATE TABLE citations (
            question_id INTEGER NOT NULL REFERENCES questions (id) ON DELETE CASCADE,
            n           INTEGER NOT NULL,
            doc         TEXT    NOT NULL,
            paragraph   INTEGER NOT NULL,
            PRIMARY KEY (question_id, n)
        )""",
        """CREATE TABLE feedback (
            answer_id TEXT    NOT NULL,
            user_hash TEXT    NOT NULL,
            vote      INTEGER NOT NULL CHECK (vote IN (-1, 1)),
            voted_at  REAL    NOT NULL,
            PRIMARY KEY (answer_id, user_hash)
        )""",
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    ),
    # v2: one word for a direct message on every platform (Slack's rows said "im").
    ("UPDATE questions SET channel_kind = 'dm' WHERE channel_kind = 'im'",),
    # v3: answers that follow their sources (bot.updates): where each answer was posted, what
    # it cited, and which index versions were checked against it. Additive: three new tables.
    (
        """CREATE TABLE posts (
            id            INTEGER PRIMARY KEY,
            answer_id     TEXT    NOT NULL,
            platform      TEXT    NOT NULL,
            channel       TEXT    NOT NULL,
            message       TEXT    NOT NULL,
            posted_at     REAL    NOT NULL,
            question      TEXT    NOT NULL,
            index_version INTEGER NOT NULL,
            UNIQUE (platform, channel, message)
        )""",
        "CREATE INDEX posts_by_time ON posts (posted_at)",
        """CREATE TABLE post_citations (
            post_id   INTEGER NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
            paragraph TEXT    NOT NULL,
            text_hash TEXT    NOT NULL,
            PRIMARY KEY (post_id, paragraph)
        )""",
        """CREATE TABLE post_updates (
            post_id       INTEGER NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
            index_version INTEGER NOT NULL,
            claimed_at    REAL    NOT NULL,
            outcome       TEXT    NOT NULL,
            PRIMARY KEY (post_id, index_version)
        )""",
    ),
    # v4: how a follow-up was read (NULL when read as typed) and the question before it, so a
    # button can rebuild the answer on any replica from the answer id alone (bot.buttons).
    (
        "ALTER TABLE questions ADD COLUMN understood_as TEXT",
        "ALTER TABLE questions ADD COLUMN follows TEXT",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)


class QuestionLogError(ReadoutError):
    """The question log cannot be opened or read (the message says why and what to do)."""


def connect(path: Path, *, busy_timeout: float = BUSY_TIMEOUT_SECONDS) -> sqlite3.Connection:
    """A connection to the log at ``path`` (created, in WAL mode, migrated to this schema).

    Autocommit mode: callers open their own transactions."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise QuestionLogError(f"cannot create {path.parent} ({exc.strerror})") from None
    connection = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = NORMAL")  # WAL stays consistent; it's a log
        connection.execute("PRAGMA foreign_keys = ON")
        migrate(connection)
    except sqlite3.DatabaseError as exc:
        connection.close()
        raise QuestionLogError(f"the question log {path} cannot be used ({exc})") from None
    except BaseException:
        connection.close()
        raise
    return connection


def migrate(
    connection: sqlite3.Connection, migrations: Sequence[Sequence[str]] = MIGRATIONS
) -> int:
    """Bring the schema up to ``len(migrations)``, one transaction per step; the version
    reached. Safe when several processes open the same new database at once."""
    target = len(migrations)
    version = _user_version(connection)
    if version > target:
        raise QuestionLogError(
            f"the question log was written by a newer readout (schema v{version}; this one "
            f"knows up to v{target}). Upgrade readout, or point READOUT_QUESTION_LOG at another "
            "file."
        )
    while version < target:
        with transaction(connection):
            version = _user_version(connection)  # another process may have migrated meanwhile
            if version < target:
                for statement in migrations[version]:
                    connection.execute(statement)
                version += 1
                connection.execute(f"PRAGMA user_version = {version:d}")
    return version


@contextmanager
def transaction(connection: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` (take the write lock now, waiting up to the busy timeout) …
    ``COMMIT``, or ``ROLLBACK`` on any error."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield connection
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


def _user_version(connection: sqlite3.Connection) -> int:
    return int(connection.execute("PRAGMA user_version").fetchone()[0])
