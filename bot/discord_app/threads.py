"""Which conversation a Discord message belongs to, and how to read it back after a restart.

* A message in a **thread** or a **DM** continues the conversation of that channel
  (``discord:channel:<id>``); its history is the channel's, read back with
  ``channel.history``.
* A **reply to one of readout's answers** continues that answer's conversation
  (``discord:answer:<message id>``): readout remembers each conversation under the ids of the
  answer messages it posted, so a reply to any of them, however far down the chain, picks up
  there. Its history is the reply chain, walked back through message references: the
  answer, the question it answered, the answer that question replied to, and so on.
* Anything else starts a conversation (``discord:message:<id>``).

Only readout's own answers count (its messages whose buttons carry a reference readout
signed), and they stand for the question each answered as readout understood it (the "read
as" line of a follow-up, else the title: what :func:`bot.discord_app.render.shown_question`
reads), completed from the question log by answer id where it has more. Messages older than
the conversation memory's expiry are not read back: the memory would have forgotten them too.
"""

from __future__ import annotations

import datetime
import logging
import re
from dataclasses import replace

import discord

from bot.buttons import AnswerRef, ButtonSigner, InvalidButton
from bot.conversations import DEFAULT_MAX_TURNS, DEFAULT_TTL_SECONDS, Thread
from bot.discord_app.buttons import SOURCES_TEMPLATE, VOTE_TEMPLATE
from bot.discord_app.render import shown_question

log = logging.getLogger(__name__)

HISTORY_LIMIT = 100  # messages of a thread or DM read back after a restart
_BUTTONS = tuple(re.compile(template) for template in (SOURCES_TEMPLATE, VOTE_TEMPLATE))


def answer_key(message_id: int) -> str:
    """The conversation key of one of readout's answer messages."""
    return f"discord:answer:{message_id}"


def thread_of(message: discord.Message, me: int, signer: ButtonSigner) -> Thread:
    """The conversation ``message`` (a question to readout, whose user id is ``me``) is in."""
    channel = message.channel
    if isinstance(channel, discord.Thread | discord.DMChannel):

        async def channel_history() -> list[AnswerRef]:
            refs = []
            async for earlier in channel.history(
                limit=HISTORY_LIMIT, after=_cutoff(), oldest_first=True
            ):
                ref = _answer_in(earlier, me, signer)
                if ref is not None:
                    refs.append(ref)
            return refs

        return Thread(f"discord:channel:{channel.id}", channel_history)
    reference = message.reference
    if reference is not None and reference.message_id is not None:

        async def reply_chain() -> list[AnswerRef]:
            refs: list[AnswerRef] = []
            answer = await _referenced(message)
            cutoff = _cutoff()
            while answer is not None and len(refs) < DEFAULT_MAX_TURNS:
                ref = _answer_in(answer, me, signer)
                if ref is None or answer.created_at < cutoff:
                    break
                refs.append(ref)
                asked = await _referenced(answer)  # the question that answer replied to
                answer = await _referenced(asked) if asked is not None else None
            return refs[::-1]

        return Thread(answer_key(reference.message_id), reply_chain)
    return Thread(f"discord:message:{message.id}")


def _answer_in(message: discord.Message, me: int, signer: ButtonSigner) -> AnswerRef | None:
    """The answer ``message`` is, if readout posted it with its buttons: the reference they
    carry (signed: checked), with the question the message shows."""
    if message.author.id != me:
        return None
    for row in message.components:
        for item in getattr(row, "children", ()):
            custom_id = getattr(item, "custom_id", None) or ""
            match = next((m for b in _BUTTONS if (m := b.fullmatch(custom_id))), None)
            if match is None:
                continue
            try:
                ref = signer.open(match["ref"])
            except InvalidButton:
                return None
            return replace(ref, question=shown_question(message.embeds)) if ref.asked else None
    return None


async def _referenced(message: discord.Message) -> discord.Message | None:
    """The message ``message`` replies to: as delivered with it, else fetched (None if it
    was deleted or cannot be read)."""
    reference = message.reference
    if reference is None or reference.message_id is None:
        return None
    if isinstance(reference.resolved, discord.Message):
        return reference.resolved
    if isinstance(reference.resolved, discord.DeletedReferencedMessage):
        return None
    try:
        return await message.channel.fetch_message(reference.message_id)
    except discord.HTTPException as exc:
        log.debug("could not fetch message %s (HTTP %s)", reference.message_id, exc.status)
        return None


def _cutoff() -> datetime.datetime:
    now = datetime.datetime.now(datetime.UTC)
    return now - datetime.timedelta(seconds=DEFAULT_TTL_SECONDS)
