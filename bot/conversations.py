"""Conversation memory: the last few turns of each conversation, for reading follow-ups.

A conversation is whatever an adapter says it is (a :class:`Thread`): a ``readout chat``
session, an id given to ``readout ask --json`` on stdin, a Slack thread (or a DM), a Discord
thread or a chain of replies to readout's answers. For each one
the memory keeps at most ``max_turns`` :class:`~retrieval.conversation.Turn` s (the question as
understood, the answer's first quote, who and what it asked about: no user ids, no whole
answers), forgets a conversation ``ttl`` seconds after its last turn, and holds at most
``max_conversations`` conversations, dropping the least recently used first. It lives in process
memory only. After a restart (or on another replica) the memory is empty, and the adapters'
:attr:`Thread.earlier` reads the thread's own history on the platform instead: readout's own
earlier answers in it, each standing for the question it answered, which is answered again
(with the question before it, for a follow-up) to recover the turn.

Thread-safe: the chat adapters answer on worker threads.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from bot.buttons import AnswerRef
from retrieval.conversation import Turn

# Enough for "it" and "and Biden?" to find their referent, which is nearly always one or two
# turns back; older turns only risk resolving a pronoun to something long out of the thread.
DEFAULT_MAX_TURNS = 5
# A thread picked up again after half an hour is a new question more often than a follow-up.
DEFAULT_TTL_SECONDS = 30 * 60.0
DEFAULT_MAX_CONVERSATIONS = 10_000


@dataclass(frozen=True, slots=True)
class Thread:
    """Where a question was asked, as a conversation: its ``key`` (``slack:C1:1700.01``,
    ``discord:channel:42``, ``discord:answer:43``), and how to read readout's earlier answers
    in it from the platform when memory has none (``earlier``: the references their buttons
    carry, with the question each answered as far as the platform shows it, oldest first;
    None when the platform keeps no history to read)."""

    key: str
    earlier: Callable[[], Awaitable[Sequence[AnswerRef]]] | None = None


@dataclass(slots=True)
class _Entry:
    turns: deque[Turn]
    touched: float


class ConversationMemory:
    """The last ``max_turns`` turns per conversation id, expiring ``ttl`` seconds after the
    last one, for at most ``max_conversations`` conversations (least recently used dropped)."""

    def __init__(
        self,
        *,
        max_turns: int = DEFAULT_MAX_TURNS,
        ttl: float = DEFAULT_TTL_SECONDS,
        max_conversations: int = DEFAULT_MAX_CONVERSATIONS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_turns < 1 or max_conversations < 1 or ttl <= 0:
            raise ValueError("max_turns, max_conversations and ttl must be positive")
        self._max_turns = max_turns
        self._ttl = ttl
        self._max_conversations = max_conversations
        self._clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def history(self, conversation_id: str) -> tuple[Turn, ...]:
        """The conversation's remembered turns, oldest first (empty if unknown or expired)."""
        now = self._clock()
        with self._lock:
            self._expire(now)
            entry = self._entries.get(conversation_id)
            return tuple(entry.turns) if entry else ()

    def remember(self, conversation_id: str, turn: Turn) -> None:
        """Add ``turn`` as the conversation's latest."""
        now = self._clock()
        with self._lock:
            self._expire(now)
            entry = self._entries.get(conversation_id)
            if entry is None:
                entry = _Entry(deque(maxlen=self._max_turns), now)
                self._entries[conversation_id] = entry
            entry.turns.append(turn)
            entry.touched = now
            self._entries.move_to_end(conversation_id)
            while len(self._entries) > self._max_conversations:
                self._entries.popitem(last=False)

    def keep(self, conversation_id: str, turns: Sequence[Turn]) -> None:
        """Make ``turns`` (oldest first) the conversation's history: a reply chain continues
        under the id of readout's latest answer in it."""
        with self._lock:
            self._entries.pop(conversation_id, None)
        for turn in turns:
            self.remember(conversation_id, turn)

    def forget(self, conversation_id: str) -> None:
        """Start the conversation afresh (``/new`` in the chat)."""
        with self._lock:
            self._entries.pop(conversation_id, None)

    def __len__(self) -> int:
        """Conversations held now (expired ones are not counted)."""
        now = self._clock()
        with self._lock:
            self._expire(now)
            return len(self._entries)

    def _expire(self, now: float) -> None:
        # Entries are in order of last use, so the expired ones are at the front.
        while self._entries:
            oldest_id, oldest = next(iter(self._entries.items()))
            if now - oldest.touched < self._ttl:
                return
            del self._entries[oldest_id]
