"""The one table of readout's commands: the same names on every surface.

``ask``, ``quote``, ``source`` and ``help`` are Slack's and Discord's slash commands, the
terminal chat's ``/ask`` … ``/help`` and the CLI's ``readout ask`` … (``readout quotes`` and
``readout show``, ``/quotes`` and ``/show`` stay as aliases of older releases). Each surface
renders usage from this table, so help text never names a command another surface lacks.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Command:
    """One command: its name, what it takes, and one line of help with an example."""

    name: str
    argument: str
    summary: str
    example: str
    aliases: tuple[str, ...] = ()


ASK = Command("ask", "question", "a cited answer", "What did Xi say about Taiwan?")
QUOTE = Command(
    "quote", "speaker", "every statement attributed to someone", "xi", aliases=("quotes",)
)
SOURCE = Command("source", "N or doc:N", "one paragraph in full", "12", aliases=("show",))
HELP = Command("help", "", "how to ask", "")
COMMANDS: tuple[Command, ...] = (ASK, QUOTE, SOURCE, HELP)
_BY_NAME = {name: c for c in COMMANDS for name in (c.name, *c.aliases)}


def find(name: str) -> Command | None:
    """The command called ``name`` (or one of its aliases), if there is one."""
    return _BY_NAME.get(name.lower())


def usage(prefix: str = "/") -> str:
    """Help listing every command, written with ``prefix`` ("/" in chat)."""
    lines = [f"Ask me about the documents, e.g. `{prefix}ask {ASK.example}`"]
    for command in COMMANDS:
        if command is HELP:
            continue
        argument = f" <{command.argument}>" if command.argument else ""
        lines.append(f"• `{prefix}{command.name}{argument}`: {command.summary}")
    return "\n".join(lines)


def example(command: Command, prefix: str = "/") -> str:
    """``/quote xi``: how to call ``command`` on a surface whose commands start with ``prefix``."""
    return f"{prefix}{command.name} {command.example}".rstrip()
