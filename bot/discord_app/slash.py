"""The slash commands of :mod:`bot.commands`, each defined once, and registering them with
Discord (``readout serve discord --sync``). Discord enforces the lengths before we see input.

Discord keeps the commands as they were last registered, so after an upgrade without
``--sync`` it may send a command readout no longer has, or one with other options:
:func:`stale_command` recognises those, and the app answers with :data:`STALE_COMMANDS`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from bot import commands
from bot.service import MAX_CHAT_QUESTION_CHARS, USAGE
from index.errors import ConfigError, ReadoutError

if TYPE_CHECKING:
    from bot.discord_app.app import DiscordApp, Interaction

MAX_NAME_CHARS = 100
SYNC_COMMAND = "readout serve discord --sync"
# Seen by whoever typed the command, who may not run readout: say who can fix it, and how.
STALE_COMMANDS = (
    "`/{command}` is out of date here: readout's slash commands changed since they were "
    f"registered with Discord. Whoever runs readout can update them by restarting it with "
    f"`{SYNC_COMMAND}`."
)


def slash_commands(app: DiscordApp) -> list[app_commands.Command[Any, ..., None]]:
    """The slash commands of :mod:`bot.commands`, each defined once; Discord enforces the
    lengths before we see the input."""
    service = app.service

    @app_commands.command(
        name=commands.ASK.name,
        description="Answer a question by quoting the documents, with citations.",
    )
    @app_commands.describe(question=f"Your question, e.g. {commands.ASK.example}")
    async def ask(
        interaction: Interaction, question: app_commands.Range[str, 1, MAX_CHAT_QUESTION_CHARS]
    ) -> None:
        await app.deferred(interaction, lambda asker: service.ask(asker, question))

    @app_commands.command(
        name=commands.QUOTE.name, description="Every statement the documents attribute to someone."
    )
    @app_commands.describe(speaker="Who, e.g. Xi or Biden")
    async def quote(
        interaction: Interaction, speaker: app_commands.Range[str, 1, MAX_NAME_CHARS]
    ) -> None:
        await app.deferred(interaction, lambda asker: service.quote(asker, speaker))

    @app_commands.command(
        name=commands.SOURCE.name, description="Show one paragraph of the documents in full."
    )
    @app_commands.describe(n="A paragraph number like 12, or doc:12")
    async def source(
        interaction: Interaction, n: app_commands.Range[str, 1, MAX_NAME_CHARS]
    ) -> None:
        await app.deferred(interaction, lambda asker: service.source(asker, n))

    @app_commands.command(
        name=commands.HELP.name, description="How to ask readout about the documents."
    )
    async def help_(interaction: Interaction) -> None:
        await interaction.response.send_message(USAGE, ephemeral=True)

    return [ask, quote, source, help_]


async def sync_commands(tree: app_commands.CommandTree[discord.Client], guild_id: str = "") -> str:
    """Register the slash commands (globally, or in one guild for instant updates)."""
    guild = discord.Object(int(guild_id)) if guild_id else None
    where = f"in guild {guild_id}" if guild else "globally (may take up to an hour to appear)"
    if guild is not None:
        tree.copy_global_to(guild=guild)
    try:
        synced = await tree.sync(guild=guild)
    except discord.Forbidden:
        raise ConfigError(
            f"Discord refused to register slash commands {where}: the bot must be in that "
            "server, invited with the applications.commands scope (use the invite URL)."
        ) from None
    except discord.HTTPException as exc:
        raise ReadoutError(
            f"Discord refused to register slash commands {where} (HTTP {exc.status})."
        ) from None
    return f"Registered {len(synced)} slash commands {where}."


def stale_command(error: app_commands.AppCommandError) -> str | None:
    """The name of the command Discord sent as an older readout registered it (one readout
    no longer has, or with other options), else None."""
    if isinstance(error, app_commands.CommandNotFound):
        return " ".join([*error.parents, error.name])
    if isinstance(error, app_commands.CommandSignatureMismatch):
        return error.command.qualified_name
    return None
