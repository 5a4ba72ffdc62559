"""``readout chat``: an interactive terminal session over the same engine as every adapter.

Each question is read with the session's conversation so far ("Who owns it?" after a question
about TikTok), kept in a :class:`~bot.conversations.ConversationMemory`; ``/new`` starts over.
"""

from __future__ import annotations

import logging

import click

from bot.conversations import ConversationMemory
from bot.question_log import QuestionLog, ask_logged, local_user
from bot.render_text import render_answer, render_citations, render_paragraph
from bot.service import Asker
from index.errors import ReadoutError
from retrieval.engine import Engine

log = logging.getLogger(__name__)

HELP = """Ask a question about the documents, or:
  /quotes NAME   every statement attributed to NAME
  /show N        paragraph N (or DOC:N)
  /new           a new conversation: the next question is read on its own
  /help          this help
  /quit          leave (Ctrl-D works too)"""


# One session is one conversation.
SESSION = "terminal"


def run_chat(
    engine: Engine, *, prompt: str = "? ", question_log: QuestionLog | None = None
) -> None:
    """Read questions until EOF or /quit, printing a cited answer for each, each read with the
    questions before it (and recording the questions in ``question_log``, if given)."""
    click.echo("readout chat — ask about the documents. /help for commands, /quit to leave.")
    conversation = ConversationMemory()
    while True:
        try:
            line = click.prompt(prompt, default="", show_default=False, prompt_suffix="")
        except (EOFError, click.Abort):
            click.echo()
            return
        line = line.strip()
        if not line:
            continue
        if line in {"/quit", "/exit", "/q"}:
            return
        click.echo(respond(engine, line, question_log=question_log, conversation=conversation))
        click.echo()


def respond(
    engine: Engine,
    line: str,
    *,
    question_log: QuestionLog | None = None,
    conversation: ConversationMemory | None = None,
) -> str:
    """The text to show for one line typed in the chat; a question is read with the turns in
    ``conversation`` (if given) and becomes its latest turn."""
    try:
        if line == "/help":
            return HELP
        if line == "/new":
            if conversation is not None:
                conversation.forget(SESSION)
            return "New conversation: the next question is read on its own."
        if line.startswith("/quotes"):
            speaker = line.removeprefix("/quotes").strip()
            citations = engine.quotes(speaker)
            return (
                render_citations(citations)
                if citations
                else f"No statements attributed to {speaker!r}."
            )
        if line.startswith("/show"):
            document, paragraph = engine.paragraph(line.removeprefix("/show").strip())
            return render_paragraph(document.doc_id, document.title, paragraph)
        if line.startswith("/"):
            return f"Unknown command {line.split()[0]!r}.\n{HELP}"
        asker = Asker("chat", local_user(), "terminal")
        history = conversation.history(SESSION) if conversation is not None else ()
        answer = ask_logged(engine, line, question_log, asker, history)
        if conversation is not None:
            conversation.remember(SESSION, engine.turn(answer))
        return render_answer(answer)
    except ReadoutError as exc:
        return f"Sorry: {exc}"
    except Exception:
        log.exception("chat failed to answer")
        return "Sorry, something went wrong answering that. Please try again."
