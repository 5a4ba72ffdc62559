"""Surviving a gateway message discord.py cannot read.

discord.py parses each gateway event as it arrives, inside its connection loop; when a parser
raises (an event without a field Discord always sends, a frame that is not JSON), the error
leaves ``Client.connect`` and the bot exits. :class:`GatewayGuard` catches it where the message
is read, logs one line (the event's name and the error's type: never the payload, which
carries interaction tokens), drops that message and keeps serving; after a backoff it closes
the connection the way discord.py closes a zombie one (code 4000), so discord.py resumes the
session on a fresh socket, and Discord replays whatever was sent meanwhile. Repeated failures
double the wait, up to :data:`MAX_RECONNECT_DELAY`.

It works on discord.py's internals, in one place: each new gateway socket passes through
``ConnectionState._update_references`` (plain and sharded clients alike), where the guard wraps
that socket's ``received_message``; the parsers themselves are wrapped once, to name the event.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import discord
from discord.gateway import DiscordWebSocket, ReconnectWebSocket

log = logging.getLogger(__name__)

FIRST_RECONNECT_DELAY = 1.0
MAX_RECONNECT_DELAY = 60.0
QUIET_RESET_SECONDS = 600.0  # this long without a failure and the backoff starts over
ZOMBIE_CLOSE_CODE = 4000  # discord.py's own code for a connection it means to resume

# What discord.py's connection loop handles itself (reconnecting, resuming, or stopping):
# these must pass through untouched.
_DISCORD_PY_HANDLES = (
    ReconnectWebSocket,
    discord.ConnectionClosed,
    discord.HTTPException,
    discord.GatewayNotFound,
    OSError,
    aiohttp.ClientError,
    asyncio.TimeoutError,
)


class UnreadableEvent(Exception):
    """A gateway event discord.py's parser raised on (the parser's error is its cause)."""

    def __init__(self, event: str) -> None:
        super().__init__(event)
        self.event = event


class Backoff:
    """Seconds to wait before the next reconnect: doubling per failure, reset after quiet."""

    def __init__(
        self,
        first: float = FIRST_RECONNECT_DELAY,
        most: float = MAX_RECONNECT_DELAY,
        quiet: float = QUIET_RESET_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._first, self._most, self._quiet, self._clock = first, most, quiet, clock
        self._failures = 0
        self._last = -float("inf")

    def delay(self) -> float:
        now = self._clock()
        if now - self._last > self._quiet:
            self._failures = 0
        self._last = now
        delay = min(self._most, self._first * 2**self._failures)
        self._failures += 1
        return delay


class GatewayGuard:
    """Keeps ``client`` connected through gateway messages discord.py cannot read."""

    def __init__(self, client: discord.Client, backoff: Backoff | None = None) -> None:
        self._client = client
        self._backoff = backoff or Backoff()
        self._reconnects: dict[int, asyncio.Task[None]] = {}  # id(socket): its pending close
        state = client._connection
        for event, parse in list(state.parsers.items()):
            state.parsers[event] = _named(event, parse)
        update_references = state._update_references

        def on_new_socket(ws: DiscordWebSocket) -> None:
            update_references(ws)
            self._guard(ws)

        # discord.py calls this on its state for every gateway socket it opens
        setattr(state, "_update_references", on_new_socket)  # noqa: B010 - a method, on purpose

    def _guard(self, ws: DiscordWebSocket) -> None:
        received: Callable[[Any], Awaitable[None]] = ws.received_message

        async def received_message(msg: Any, /) -> None:
            try:
                await received(msg)
            except _DISCORD_PY_HANDLES:
                raise
            except Exception as exc:
                self._unreadable(ws, exc)

        setattr(ws, "received_message", received_message)  # noqa: B010 - on this socket only

    def _unreadable(self, ws: DiscordWebSocket, exc: Exception) -> None:
        if isinstance(exc, UnreadableEvent):
            what, error = f"a {exc.event} event", exc.__cause__ or exc
        else:
            what, error = "a gateway message", exc
        if id(ws) in self._reconnects:
            log.warning(
                "dropped %s discord.py could not read (%s, shard %s); already reconnecting",
                what,
                type(error).__name__,
                ws.shard_id,
            )
            return
        delay = self._backoff.delay()
        log.warning(
            "dropped %s discord.py could not read (%s, shard %s); reconnecting in %.1f s",
            what,
            type(error).__name__,
            ws.shard_id,
            delay,
        )
        task = asyncio.get_running_loop().create_task(self._reconnect(ws, delay))
        self._reconnects[id(ws)] = task
        task.add_done_callback(lambda _: self._reconnects.pop(id(ws), None))

    async def _reconnect(self, ws: DiscordWebSocket, delay: float) -> None:
        # The connection keeps serving meanwhile; then discord.py sees the close and resumes.
        await asyncio.sleep(delay)
        if self._client.is_closed() or ws.socket.closed:
            return
        try:
            await ws.close(code=ZOMBIE_CLOSE_CODE)
        except Exception:  # already going away: discord.py reconnects on its own
            log.debug("closing the gateway socket to reconnect failed", exc_info=True)


def _named(event: str, parse: Callable[[Any], None]) -> Callable[[Any], None]:
    def parse_named(data: Any) -> None:
        try:
            parse(data)
        except Exception as exc:
            raise UnreadableEvent(event) from exc

    return parse_named
