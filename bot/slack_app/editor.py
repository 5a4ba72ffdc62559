"""Slack's :class:`bot.updates.Editor`: an answer the bot posted, replaced when its sources
change (``bot.updates`` finds which answers, re-asks them and calls :meth:`SlackEditor.edit`).
"""

from __future__ import annotations

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.buttons import ButtonSigner, answer_ref
from bot.slack_app.render import render_update
from bot.slack_app.replies import PLATFORM
from bot.updates import EditRefused, Update


class SlackEditor:
    """Replaces an answer the bot posted with ``chat.update`` (``bot.updates.Editor``).

    Slack lets an app update only its own messages, and only those the log recorded are ever
    asked for. A 429 is retried after its Retry-After by the client's handler."""

    platform = PLATFORM

    def __init__(self, client: AsyncWebClient, signer: ButtonSigner) -> None:
        self._client = client
        self._signer = signer

    async def edit(self, update: Update) -> None:
        ref = answer_ref(update.answer, update.answer_id)
        message = render_update(update, self._signer.seal(ref))
        try:
            await self._client.chat_update(
                channel=update.post.channel,
                ts=update.post.message,
                text=message.text,
                blocks=list(message.blocks),
            )
        except SlackApiError as exc:  # message_not_found, cant_update_message, channel_not_found
            raise EditRefused(str(exc.response.get("error", "unknown error"))) from None
