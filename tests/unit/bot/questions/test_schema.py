"""The question log's schema: WAL, versions, migrations (each in one transaction), refusing a
newer log, and the v2 step that gives a direct message one name on every platform."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from bot.questions.log import QuestionLog
from bot.questions.schema import (
    MIGRATIONS,
    SCHEMA_VERSION,
    QuestionLogError,
    connect,
    migrate,
)


def rows(path: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as db:
        return db.execute(sql, args).fetchall()


def test_wal_mode_and_a_versioned_schema(qlog: QuestionLog, db_path: Path) -> None:
    assert rows(db_path, "PRAGMA journal_mode") == [("wal",)]
    assert rows(db_path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]


def test_migrations_run_in_order_and_keep_the_data(db_path: Path) -> None:
    steps: list[tuple[str, ...]] = [("CREATE TABLE t (a INTEGER)", "INSERT INTO t VALUES (1)")]
    db_path.parent.mkdir(parents=True)
    connection = sqlite3.connect(db_path, isolation_level=None)
    assert migrate(connection, steps) == 1
    steps.append(("ALTER TABLE t ADD COLUMN b TEXT DEFAULT 'new'",))
    assert migrate(connection, steps) == 2
    assert migrate(connection, steps) == 2  # nothing left to do
    assert connection.execute("SELECT a, b FROM t").fetchall() == [(1, "new")]
    assert connection.execute("PRAGMA user_version").fetchone() == (2,)
    connection.close()


def test_a_failed_migration_leaves_the_previous_version(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    connection = sqlite3.connect(db_path, isolation_level=None)
    migrate(connection, [("CREATE TABLE t (a INTEGER)",)])
    broken = [("CREATE TABLE t (a INTEGER)",), ("CREATE TABLE u (a)", "NOT SQL AT ALL")]
    with pytest.raises(sqlite3.OperationalError):
        migrate(connection, broken)
    assert connection.execute("PRAGMA user_version").fetchone() == (1,)
    assert connection.execute("SELECT name FROM sqlite_master WHERE name = 'u'").fetchall() == []
    connection.close()


def test_a_log_from_a_newer_readout_is_refused(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    with sqlite3.connect(db_path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(QuestionLogError, match="newer readout"):
        connect(db_path)


def test_slack_dm_rows_written_as_im_become_dm(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    connection = sqlite3.connect(db_path, isolation_level=None)
    assert migrate(connection, MIGRATIONS[:1]) == 1  # a log written before the DM fix
    insert = (
        "INSERT INTO questions (asked_at, platform, user_hash, channel_kind, question, outcome, "
        "latency_ms) VALUES (1, ?, 'h', ?, 'q', 'answered', 1)"
    )
    for platform, kind in [("slack", "im"), ("discord", "dm"), ("slack", "channel")]:
        connection.execute(insert, (platform, kind))
    connection.close()
    connect(db_path).close()  # opening it migrates
    assert rows(db_path, "SELECT platform, channel_kind FROM questions ORDER BY id") == [
        ("slack", "dm"),
        ("discord", "dm"),
        ("slack", "channel"),
    ]
    assert rows(db_path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]


def test_a_v2_log_gains_the_post_tables_and_keeps_its_questions(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    connection = sqlite3.connect(db_path, isolation_level=None)
    assert migrate(connection, MIGRATIONS[:2]) == 2  # a log written before posts were kept
    connection.execute(
        "INSERT INTO questions (asked_at, platform, user_hash, channel_kind, question, outcome, "
        "latency_ms, answer_id) VALUES (1, 'slack', 'h', 'channel', 'q', 'answered', 1, 'a1')"
    )
    connection.close()
    connect(db_path).close()  # opening it migrates
    assert rows(db_path, "SELECT answer_id FROM questions") == [("a1",)]
    tables = {name for (name,) in rows(db_path, "SELECT name FROM sqlite_master")}
    assert {"posts", "post_citations", "post_updates"} <= tables
    assert rows(db_path, "SELECT count(*) FROM posts") == [(0,)]
