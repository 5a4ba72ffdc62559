"""The Discord adapter: ``app`` (the discord.py client and its question handlers), ``buttons``
(the answer's buttons and their clicks), ``replies`` (who asked, posting a reply), ``editor``
(updating answers whose sources changed), ``threads`` (which conversation), ``slash`` (the
slash commands), ``gateway`` (unreadable events), ``render`` (pure functions from an answer to
embeds) and ``serve`` (log in, start up, connect, until a signal stops it)."""

from bot.discord_app.app import DiscordApp, Shards, create_app, parse_shards
from bot.discord_app.serve import editor, run, serve

__all__ = ["DiscordApp", "Shards", "create_app", "editor", "parse_shards", "run", "serve"]
