"""The reconnect backoff after an unreadable gateway message (the end-to-end behaviour is in
tests/integration/discord/test_discord_probes.py)."""

from __future__ import annotations

from bot.discord_app.gateway import Backoff


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_wait_doubles_per_failure_up_to_the_most() -> None:
    clock = Clock()
    backoff = Backoff(first=1.0, most=10.0, quiet=600.0, clock=clock)
    delays = []
    for _ in range(6):
        delays.append(backoff.delay())
        clock.now += 5.0
    assert delays == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_a_quiet_period_starts_the_backoff_over() -> None:
    clock = Clock()
    backoff = Backoff(first=1.0, most=60.0, quiet=600.0, clock=clock)
    assert [backoff.delay(), backoff.delay()] == [1.0, 2.0]
    clock.now += 601.0
    assert backoff.delay() == 1.0
