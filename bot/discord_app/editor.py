"""Discord's :class:`bot.updates.Editor`: an answer the bot posted, edited when its sources
change (``bot.updates`` finds which answers, re-asks them and calls :meth:`DiscordEditor.edit`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord

from bot.discord_app.render import render_update
from bot.discord_app.replies import PLATFORM, answer_view
from bot.service import Reply, ReplyKind
from bot.updates import EditRefused, Update

if TYPE_CHECKING:
    from bot.discord_app.app import DiscordApp


class DiscordEditor:
    """Replaces an answer the bot posted with a message edit (``bot.updates.Editor``), through
    discord.py's HTTP client and so its rate-limit buckets.

    A follow-up to an interaction is the bot's own message too, so it is edited the same way
    (the interaction's token would expire after 15 minutes); only messages the log recorded
    are ever asked for."""

    platform = PLATFORM

    def __init__(self, app: DiscordApp) -> None:
        self._app = app

    async def edit(self, update: Update) -> None:
        app = self._app
        content, embeds = render_update(update, corpus=app.corpus)
        view = discord.ui.View(timeout=None)
        if update.answer.abstained:
            view.add_item(app.ask_again_button())
        else:
            view = answer_view(
                app, Reply(ReplyKind.ANSWER, update.answer.text, update.answer, update.answer_id)
            )
        channel = app.client.get_partial_messageable(int(update.post.channel))
        message = channel.get_partial_message(int(update.post.message))
        try:
            await message.edit(content=content or None, embeds=list(embeds), view=view)
        except (discord.NotFound, discord.Forbidden) as exc:  # deleted, or access lost
            raise EditRefused(f"HTTP {exc.status}") from None
