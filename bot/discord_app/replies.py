"""Posting a reply on Discord: who asked, the answer's message(s) and buttons, and notices.

* :func:`interaction_asker`: the :class:`bot.service.Asker` behind an interaction.
* :func:`follow_up` answers a deferred interaction; :func:`reply_to` answers a mention or DM as
  a reply to its message. An answer's embeds are packed into as few messages as Discord allows,
  its buttons (:func:`answer_view`) on the last; an answer posted as one message is kept
  (:meth:`bot.service.AnswerService.posted`) so :class:`bot.discord_app.editor.DiscordEditor`
  can edit it when its sources change.
* Notices (usage, slow down, an apology) go to the asker alone (:func:`tell_privately`,
  :func:`apologise`), never with the exception's text.
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING

import discord
from discord.utils import MISSING

from bot.buttons import answer_ref
from bot.discord_app.render import pack_messages, render_discord, render_notice
from bot.service import CHANNEL, DM, FAILED, Asker, Reply, ReplyKind

if TYPE_CHECKING:
    from bot.discord_app.app import DiscordApp, Interaction

log = logging.getLogger(__name__)

PLATFORM = "discord"


def interaction_asker(interaction: Interaction) -> Asker:
    kind = CHANNEL if interaction.guild_id is not None else DM
    return Asker(PLATFORM, str(interaction.user.id), kind)


async def follow_up(app: DiscordApp, interaction: Interaction, reply: Reply) -> None:
    """Answer a deferred interaction: an answer publicly, a notice to the asker alone."""
    if reply.kind is ReplyKind.DUPLICATE:
        return
    if reply.is_public and reply.answer is not None:
        messages = pack_messages(render_discord(reply.answer, corpus=app.corpus))
        view = answer_view(app, reply)
        for index, embeds in enumerate(messages):
            last = index == len(messages) - 1
            sent = await interaction.followup.send(
                embeds=list(embeds), view=view if last else MISSING, wait=True
            )
            if len(messages) == 1:
                app.service.posted(reply, PLATFORM, str(sent.channel.id), str(sent.id))
        return
    # A notice (usage, slow down, an apology) is for the asker alone, but the "thinking"
    # message a deferral leaves is public and the first follow-up would inherit that; so
    # remove it and answer ephemerally.
    with contextlib.suppress(discord.HTTPException):
        await interaction.delete_original_response()
    for content in render_notice(reply.text):
        await interaction.followup.send(content, ephemeral=True, wait=True)


async def reply_to(
    app: DiscordApp, message: discord.Message, reply: Reply
) -> list[discord.Message]:
    """Post ``reply`` as a reply to ``message`` (in its channel, thread or DM); the
    messages of an answer, once posted."""
    if reply.kind is ReplyKind.DUPLICATE:
        return []
    if reply.is_public and reply.answer is not None:
        messages = pack_messages(render_discord(reply.answer, corpus=app.corpus))
        view = answer_view(app, reply)
        posted = []
        for index, embeds in enumerate(messages):
            sent = await message.channel.send(
                embeds=list(embeds),
                view=view if index == len(messages) - 1 else MISSING,
                reference=reference(message) if index == 0 else MISSING,
            )
            posted.append(sent)
            if len(messages) == 1:
                app.service.posted(reply, PLATFORM, str(sent.channel.id), str(sent.id))
        return posted
    for index, content in enumerate(render_notice(reply.text)):
        await message.channel.send(content, reference=reference(message) if index == 0 else MISSING)
    return []


def answer_view(app: DiscordApp, reply: Reply) -> discord.ui.View:
    """Buttons made only of dynamic items: discord.py keeps no per-message state for them,
    and their custom ids route to the answer after a restart too."""
    view = discord.ui.View(timeout=None)
    if reply.answer is None:
        return view
    asked = reply.kind is ReplyKind.ANSWER
    sealed = app.signer.seal_short(
        answer_ref(reply.answer, reply.answer_id, asked=asked, follows=reply.follows)
    )
    if reply.answer.citations:
        view.add_item(app.sources_button(sealed))
    view.add_item(app.vote_button("up", sealed))
    view.add_item(app.vote_button("down", sealed))
    return view


async def apologise(interaction: Interaction) -> None:
    """The generic apology (never the exception), wherever the interaction stands."""
    await tell_privately(interaction, FAILED)


async def tell_privately(interaction: Interaction, text: str) -> None:
    """A notice for the user alone, wherever the interaction stands."""
    try:
        if interaction.response.is_done():
            await interaction.followup.send(text, ephemeral=True)
        else:
            await interaction.response.send_message(text, ephemeral=True)
    except Exception:  # e.g. shutting down, or the interaction expired: nothing left to tell
        log.debug("could not answer interaction %s", interaction.id, exc_info=True)


def reference(message: discord.Message) -> discord.MessageReference:
    # the question may have been deleted meanwhile: then answer without the reply arrow
    return message.to_reference(fail_if_not_exists=False)
