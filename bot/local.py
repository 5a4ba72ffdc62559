"""The synchronous façade the CLI and the terminal chat ask through.

Both run the same :class:`bot.service.AnswerService` as the chat bots (the same normalising,
logging, batching and timeout), on an event loop of their own, so a question typed at a
terminal takes the one ask path every surface takes. Errors come back as the error tree's
exceptions, for the entry point to print.
"""

from __future__ import annotations

import asyncio
import getpass
from collections.abc import Sequence

from bot.service import TERMINAL, AnswerService, Asker
from retrieval.answer import Answer
from retrieval.conversation import Turn
from retrieval.engine import MAX_QUOTES


def local_user() -> str:
    """Who is at the terminal (for ``readout ask`` and ``chat``); hashed like every id."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name, e.g. a container's arbitrary uid
        return ""


class LocalAnswers:
    """``ask``, ``quote`` and ``source`` as plain calls, for one person at a terminal."""

    def __init__(self, service: AnswerService, *, platform: str) -> None:
        self._service = service
        self._asker = Asker(platform, local_user(), TERMINAL)
        self._runner = asyncio.Runner()

    def __enter__(self) -> LocalAnswers:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def start(self) -> None:
        """Load the model and the index now (no answer timeout: a cold start may be slow)."""
        self._runner.run(self._service.start())

    def ask(self, question: str, history: Sequence[Turn] = ()) -> Answer:
        """A cited answer, or an abstention, read with the conversation's ``history``; the
        question is logged like any other."""
        answer, _ = self._runner.run(self._service.answer(self._asker, question, history))
        return answer

    def turn(self, answer: Answer) -> Turn:
        """What a conversation keeps of ``answer`` for the questions after it."""
        return self._runner.run(self._service.turn(answer))

    def quote(self, speaker: str) -> Answer:
        """Every statement attributed to ``speaker``, cited."""
        return self._runner.run(self._service.find_quotes(speaker, limit=MAX_QUOTES))

    def source(self, ref: str) -> Answer:
        """Paragraph ``N`` or ``doc:N`` in full."""
        return self._runner.run(self._service.find_source(ref))

    def close(self) -> None:
        self._service.close()
        self._runner.close()
