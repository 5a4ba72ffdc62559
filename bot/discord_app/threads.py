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

Only readout's own messages count, and they stand for the question each answered as readout
understood it (the "read as" line of a follow-up, else the title: what
:func:`bot.discord_app.render.shown_question` reads). Messages older than the conversation
memory's expiry are not read back: the memory would have forgotten them too.
"""

from __future__ import annotations

import datetime
import logging

import discord

from bot.conversations import DEFAULT_MAX_TURNS, DEFAULT_TTL_SECONDS, Thread
from bot.discord_app.render import shown_question

log = logging.getLogger(__name__)

HISTORY_LIMIT = 100  # messages of a thread or DM read back after a restart


def answer_key(message_id: int) -> str:
    """The conversation key of one of readout's answer messages."""
    return f"discord:answer:{message_id}"


def thread_of(message: discord.Message, me: int) -> Thread:
    """The conversation ``message`` (a question to readout, whose user id is ``me``) is in."""
    channel = message.channel
    if isinstance(channel, discord.Thread | discord.DMChannel):

        async def channel_history() -> list[str]:
            questions = []
            async for earlier in channel.history(
                limit=HISTORY_LIMIT, after=_cutoff(), oldest_first=True
            ):
                if earlier.author.id == me and earlier.id != message.id:
                    question = shown_question(earlier.embeds)
                    if question:
                        questions.append(question)
            return questions

        return Thread(f"discord:channel:{channel.id}", channel_history)
    reference = message.reference
    if reference is not None and reference.message_id is not None:

        async def reply_chain() -> list[str]:
            questions: list[str] = []
            answer = await _referenced(message)
            cutoff = _cutoff()
            while answer is not None and len(questions) < DEFAULT_MAX_TURNS:
                if answer.author.id != me or answer.created_at < cutoff:
                    break
                question = shown_question(answer.embeds)
                if question:
                    questions.append(question)
                asked = await _referenced(answer)  # the question that answer replied to
                answer = await _referenced(asked) if asked is not None else None
            return questions[::-1]

        return Thread(answer_key(reference.message_id), reply_chain)
    return Thread(f"discord:message:{message.id}")


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
