"""The per-conversation memory: bounded turns, expiry, an LRU cap, thread-safety."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from bot.conversations import ConversationMemory
from retrieval.conversation import Turn


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def turns(*questions: str) -> tuple[Turn, ...]:
    return tuple(Turn(q) for q in questions)


def test_keeps_the_last_turns_oldest_first() -> None:
    memory = ConversationMemory(max_turns=2)
    for question in ("one?", "two?", "three?"):
        memory.remember("c", Turn(question))
    assert memory.history("c") == turns("two?", "three?")
    assert memory.history("unknown") == ()


def test_conversations_are_kept_apart_and_forgotten_on_request() -> None:
    memory = ConversationMemory()
    memory.remember("a", Turn("a?"))
    memory.remember("b", Turn("b?"))
    memory.forget("a")
    assert (memory.history("a"), memory.history("b")) == ((), turns("b?"))
    memory.forget("never-seen")  # no error
    assert len(memory) == 1


def test_a_conversation_expires_ttl_after_its_last_turn() -> None:
    clock = Clock()
    memory = ConversationMemory(ttl=60.0, clock=clock)
    memory.remember("c", Turn("one?"))
    clock.now += 59.0
    memory.remember("c", Turn("two?"))  # a new turn keeps it alive
    clock.now += 59.0
    assert memory.history("c") == turns("one?", "two?")
    clock.now += 1.0
    assert memory.history("c") == ()
    assert len(memory) == 0


def test_the_least_recently_used_conversation_goes_first() -> None:
    memory = ConversationMemory(max_conversations=2)
    memory.remember("a", Turn("a?"))
    memory.remember("b", Turn("b?"))
    memory.remember("a", Turn("a again?"))  # "a" is now the most recent
    memory.remember("c", Turn("c?"))
    assert memory.history("b") == ()
    assert memory.history("a") == turns("a?", "a again?")
    assert len(memory) == 2


def test_bounds_must_be_positive() -> None:
    for bad in ({"max_turns": 0}, {"ttl": 0.0}, {"max_conversations": 0}):
        with pytest.raises(ValueError):
            ConversationMemory(**bad)


def run_together(workers: int, work: Callable[[int], None]) -> None:
    """Run ``work(0..workers-1)`` on as many threads, released at once."""
    start = threading.Barrier(workers)

    def run(worker: int) -> None:
        start.wait()
        work(worker)

    threads = [threading.Thread(target=run, args=(w,)) for w in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
        assert not thread.is_alive()


def test_concurrent_writers_lose_no_turn_and_keep_the_bounds() -> None:
    memory = ConversationMemory(max_turns=1000, max_conversations=8)

    def write(worker: int) -> None:
        for n in range(200):
            memory.remember(f"c{worker}", Turn(f"{worker}-{n}?"))
            memory.history(f"c{(worker + 1) % 8}")

    run_together(8, write)
    assert len(memory) == 8
    for worker in range(8):
        assert memory.history(f"c{worker}") == tuple(Turn(f"{worker}-{n}?") for n in range(200))

    small = ConversationMemory(max_turns=3, max_conversations=4)

    def crowd(worker: int) -> None:
        for n in range(300):
            small.remember(f"w{worker}-{n % 10}", Turn("q?"))

    run_together(6, crowd)
    assert len(small) == 4
    assert all(len(small.history(f"w{w}-{n}")) <= 3 for w in range(6) for n in range(10))


def test_keep_replaces_a_conversation_with_the_turns_given() -> None:
    memory = ConversationMemory(max_turns=2)
    memory.remember("c", Turn("old?"))
    memory.keep("c", turns("one?", "two?", "three?"))
    assert memory.history("c") == turns("two?", "three?")
