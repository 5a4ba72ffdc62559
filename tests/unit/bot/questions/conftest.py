"""Fixtures for the question log's tests: a database path and an open log."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.questions.log import QuestionLog


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "logs" / "questions.sqlite3"


@pytest.fixture
def qlog(db_path: Path) -> Iterator[QuestionLog]:
    with QuestionLog(db_path) as opened:
        yield opened
