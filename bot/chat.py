"""``readout chat``: an interactive terminal session over the same engine as every adapter."""

from __future__ import annotations

import logging

import click

from bot.question_log import QuestionLog, ask_logged, local_user
from bot.render_text import render_answer, render_citations, render_paragraph
from bot.service import Asker
from index.errors import ReadoutError
from retrieval.engine import Engine

log = logging.getLogger(__name__)

HELP = """Ask a question about the documents, or:
  /quotes NAME   every statement attributed to NAME
  /show N        paragraph N (or DOC:N)
  /help          this help
  /quit          leave (Ctrl-D works too)"""


def run_chat(
    engine: Engine, *, prompt: str = "? ", question_log: QuestionLog | None = None
) -> None:
    """Read questions until EOF or /quit, printing a cited answer for each (and recording the
    questions in ``question_log``, if given)."""
    click.echo("readout chat — ask about the documents. /help for commands, /quit to leave.")
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
        click.echo(respond(engine, line, question_log=question_log))
        click.echo()


def respond(engine: Engine, line: str, *, question_log: QuestionLog | None = None) -> str:
    """The text to show for one line typed in the chat."""
    try:
        if line == "/help":
            return HELP
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
        return render_answer(ask_logged(engine, line, question_log, asker))
    except ReadoutError as exc:
        return f"Sorry: {exc}"
    except Exception:
        log.exception("chat failed to answer")
        return "Sorry, something went wrong answering that. Please try again."
