"""The Discord adapter: ``app`` (the discord.py client and its handlers), ``slash`` (the slash
commands), ``buttons`` (the answer's buttons), ``render`` (pure functions from an answer to
embeds) and ``serve`` (log in, start up, connect, until a signal stops it)."""

from bot.discord_app.app import DiscordApp, Shards, create_app, parse_shards
from bot.discord_app.serve import editor, run, serve

__all__ = ["DiscordApp", "Shards", "create_app", "editor", "parse_shards", "run", "serve"]
