"""``readout chat``: an interactive terminal session, asking the same service as every bot.

Its commands are the command table's (``/ask``, ``/quote``, ``/source``, ``/help``), plus
``/new`` and ``/quit``; a line that is not a command is a question. Each question is read with
the session's conversation so far ("Who owns it?" after a question about TikTok), kept in a
:class:`~bot.conversations.ConversationMemory`; ``/new`` starts over.
"""

from __future__ import annotations

import logging

import click

from bot import commands
from bot.conversations import ConversationMemory
from bot.local import LocalAnswers
from bot.render_text import render_answer, render_quotes, render_source
from index.errors import ReadoutError

log = logging.getLogger(__name__)

QUIT = frozenset({"/quit", "/exit", "/q"})
NEW = "/new"
HELP = f"""Ask a question about the documents, or:
{commands.usage("/")}
• `/new`: a new conversation: the next question is read on its own
• `/help`: this help
• `/quit`: leave (Ctrl-D works too)"""
NEW_CONVERSATION = "New conversation: the next question is read on its own."
SORRY = "Sorry, something went wrong answering that. Please try again."
# One session is one conversation.
SESSION = "terminal"


def run_chat(answers: LocalAnswers, *, prompt: str = "? ") -> None:
    """Read questions until EOF or /quit, printing a cited answer for each, each read with the
    questions before it."""
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
        if line in QUIT:
            return
        click.echo(respond(answers, line, conversation=conversation))
        click.echo()


def respond(
    answers: LocalAnswers, line: str, *, conversation: ConversationMemory | None = None
) -> str:
    """The text to show for one line typed in the chat (never a traceback); a question is read
    with the turns in ``conversation`` (if given) and becomes its latest turn."""
    if line == NEW:
        if conversation is not None:
            conversation.forget(SESSION)
        return NEW_CONVERSATION
    name, _, argument = line.partition(" ")
    command = commands.find(name[1:]) if name.startswith("/") else commands.ASK
    if name.startswith("/") and command is None:
        return f"Unknown command {name!r}.\n{HELP}"
    if not name.startswith("/"):
        argument = line
    try:
        if command is commands.HELP:
            return HELP
        if command is commands.QUOTE:
            return render_quotes(answers.quote(argument))
        if command is commands.SOURCE:
            return render_source(answers.source(argument))
        history = conversation.history(SESSION) if conversation is not None else ()
        answer = answers.ask(argument, history)
        if conversation is not None:
            conversation.remember(SESSION, answers.turn(answer))
        return render_answer(answer)
    except ReadoutError as exc:
        return f"Sorry: {exc}"
    except Exception:
        log.exception("chat failed to answer")
        return SORRY
