"""Which conversation a Slack message belongs to, and how to read it back after a restart.

* A message in a **thread** (a mention or a DM reply there) continues the thread's
  conversation, ``slack:<channel>:<thread_ts>``; a mention outside any thread starts one (the
  answer goes in the mention's thread, so a follow-up there continues it).
* A **DM** outside any thread continues the DM's conversation, ``slack:<channel>:``.

After a restart, or on another replica, the conversation memory is empty; the conversation is
then read back from Slack: ``conversations.replies`` for a thread, ``conversations.history``
for a DM, no further back than the memory would remember (its expiry). Only readout's own
answers count, each standing for the question it answered as readout understood it, which
its buttons' signed value carries (:mod:`bot.buttons`): nothing else in the thread, and no
look-alike another app posted, can put words in the conversation.
"""

from __future__ import annotations

import time
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.buttons import AnswerRef, ButtonSigner, InvalidButton
from bot.conversations import DEFAULT_TTL_SECONDS, Thread
from bot.slack_app.render import ANSWER_ACTIONS

HISTORY_LIMIT = 100  # messages read back after a restart (one page of replies)
PLATFORM = "slack"
Payload = dict[str, Any]


def thread_of(
    client: AsyncWebClient, signer: ButtonSigner, channel: str, thread_ts: str | None
) -> Thread:
    """The conversation a message belongs to: its thread (``thread_ts``, the parent's ts), or
    the DM itself for a message outside any thread. Its history on Slack, for after a
    restart: ``conversations.replies`` for a thread, ``conversations.history`` for a DM, read
    back no further than the conversation memory would remember."""

    async def earlier() -> list[AnswerRef]:
        oldest = f"{time.time() - DEFAULT_TTL_SECONDS:.6f}"
        if thread_ts:
            found = await client.conversations_replies(
                channel=channel, ts=thread_ts, oldest=oldest, limit=HISTORY_LIMIT
            )
            messages = list(found.get("messages") or [])  # the parent first, then oldest first
        else:
            found = await client.conversations_history(
                channel=channel, oldest=oldest, limit=HISTORY_LIMIT
            )
            messages = list(reversed(found.get("messages") or []))  # newest first: turn over
        return earlier_answers(messages, signer)

    return Thread(f"{PLATFORM}:{channel}:{thread_ts or ''}", earlier)


def earlier_answers(messages: list[Payload], signer: ButtonSigner) -> list[AnswerRef]:
    """readout's own answers among ``messages``, in order, as the references their buttons
    carry (the question each answered, as understood; for a follow-up also the words typed
    and the question before). An answer is recognised by its buttons' signed value, which
    only readout can make (so another app's look-alike counts for nothing); listings
    (``/quote``, ``/source``) are skipped."""
    refs = []
    for message in messages:
        for block in message.get("blocks") or []:
            if not isinstance(block, dict) or block.get("block_id") != ANSWER_ACTIONS:
                continue
            values = [
                e.get("value", "") for e in block.get("elements") or [] if isinstance(e, dict)
            ]
            try:
                ref = signer.open(str(values[-1])) if values else None
            except InvalidButton:
                ref = None
            if ref is not None and ref.asked:
                refs.append(ref)
    return refs
