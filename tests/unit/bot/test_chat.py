"""The terminal chat: the command table's names, the same service as every surface, and no
traceback ever shown."""

from __future__ import annotations

from collections.abc import Iterator

import click
import pytest
from click.testing import CliRunner

from bot.chat import HELP, SORRY, respond, run_chat
from bot.local import LocalAnswers
from bot.service import AnswerService
from index.errors import StoreUnavailable
from tests.support.fakes import FakeEngine


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture
def answers(engine: FakeEngine) -> Iterator[LocalAnswers]:
    with LocalAnswers(AnswerService(engine, batch_window=0), platform="chat") as local:
        yield local


def test_a_line_is_a_question_and_gets_a_cited_answer(
    answers: LocalAnswers, engine: FakeEngine
) -> None:
    shown = respond(answers, "What did Xi say?")
    assert shown.startswith("A quoted sentence. [1]\n\nSources:\n  [1] T ¶1 (d:1) · score 0.50")
    assert respond(answers, "/ask  What  did Xi say?").startswith("A quoted sentence. [1]")
    assert engine.asked == ["What did Xi say?", "What did Xi say?"]


def test_quote_and_source_and_their_older_names(answers: LocalAnswers) -> None:
    quoted = respond(answers, "/quote xi")
    assert quoted == respond(answers, "/quotes xi")
    assert quoted.startswith("[1] A quoted sentence.\n    — T, ¶1 (d:1)")
    source = respond(answers, "/source 1")
    assert source == respond(answers, "/show 1") == "T · d:¶1\n\nA whole paragraph."


def test_help_lists_the_same_commands_as_the_bots(answers: LocalAnswers) -> None:
    assert respond(answers, "/help") == HELP
    for name in ("/ask", "/quote", "/source", "/help", "/quit"):
        assert f"`{name}" in HELP
    unknown = respond(answers, "/frobnicate now")
    assert unknown.startswith("Unknown command '/frobnicate'.") and unknown.endswith(HELP)


def test_errors_are_one_friendly_line(answers: LocalAnswers, engine: FakeEngine) -> None:
    assert respond(answers, "/quote") == "Sorry: Name a speaker, e.g. `/quote xi`."
    engine.error = StoreUnavailable("search is unavailable right now.")
    assert respond(answers, "Anyone there?") == "Sorry: search is unavailable right now."
    engine.error = RuntimeError("secret internals")
    assert respond(answers, "Anyone there?") == SORRY


def test_the_session_reads_until_quit(answers: LocalAnswers) -> None:
    @click.command()
    def session() -> None:
        run_chat(answers)

    result = CliRunner().invoke(session, input="What did Xi say?\n\n/quit\nnot reached\n")
    assert result.exit_code == 0
    assert "A quoted sentence. [1]" in result.output
    assert "not reached" not in result.output


def test_each_question_is_read_with_the_session_so_far_until_new(
    answers: LocalAnswers, engine: FakeEngine
) -> None:
    from bot.chat import NEW_CONVERSATION
    from bot.conversations import ConversationMemory
    from retrieval.conversation import Turn

    memory = ConversationMemory()
    respond(answers, "Who owns TikTok?", conversation=memory)
    respond(answers, "Who runs it?", conversation=memory)
    assert respond(answers, "/new", conversation=memory) == NEW_CONVERSATION
    respond(answers, "Who runs it?", conversation=memory)
    first_turn = Turn("Who owns TikTok?", "A quoted sentence.")
    # No history, then the first turn, then (after /new) none again: the same service path.
    assert engine.histories == [None, [(first_turn,)], None]
