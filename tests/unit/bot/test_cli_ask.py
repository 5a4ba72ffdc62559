"""`readout ask --json` stdin lines: plain questions, or JSON objects naming a conversation."""

from __future__ import annotations

import pytest

from bot.cli import BAD_JSON_LINE, parse_stdin_line
from index.errors import QuestionError


def test_plain_lines_are_questions_as_today() -> None:
    assert parse_stdin_line("What did Xi say about Taiwan?\n") == (
        "What did Xi say about Taiwan?\n",
        "",
    )


def test_a_json_object_names_its_conversation() -> None:
    assert parse_stdin_line('{"question": "Who owns it?", "conversation": "t1"}') == (
        "Who owns it?",
        "t1",
    )
    assert parse_stdin_line('{"question": "Who owns it?", "conversation": 7}') == (
        "Who owns it?",
        "7",
    )
    assert parse_stdin_line('  {"question": "Who owns TikTok?"}') == ("Who owns TikTok?", "")


@pytest.mark.parametrize(
    "line",
    [
        '{"question": "unterminated',
        '{"conversation": "t1"}',
        '{"question": 42}',
        '{"question": "q?", "conversation": ["t1"]}',
        '{"question": "q?", "conversation": true}',
    ],
)
def test_a_bad_object_is_refused_with_a_fixed_message(line: str) -> None:
    with pytest.raises(QuestionError) as refused:
        parse_stdin_line(line)
    assert str(refused.value) == BAD_JSON_LINE
