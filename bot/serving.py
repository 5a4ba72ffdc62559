"""What every long-running chat adapter needs, whatever the platform.

* :func:`stop_on_signals`: SIGINT and SIGTERM (``docker stop``) set an event, and the handlers
  are removed again on the way out;
* :func:`warm_up`: the model and the index loaded before the first question, with no answer
  timeout (a cold start can take longer than any one answer should), so a missing model or
  index fails start-up with its own message;
* :class:`InFlight`: the answers being written, so shutdown lets them finish (for up to
  ``SHUTDOWN_GRACE_SECONDS``) before it cancels the rest;
* :class:`HealthEndpoint`: ``GET /healthz``, the check behind ``readout health``. It is cached
  for ``HEALTH_CACHE_SECONDS`` (every hit would otherwise encode a probe and send heartbeats to
  the store), and only callers on the loopback interface see the full report; anyone else
  learns ``ok`` and readout's version, not where the store lives;
* :func:`health_server`: that endpoint on its own port, for adapters with no web server.

Both adapters expose ``serve(settings, service, *, announce, ...)`` built from these parts.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from importlib import metadata
from typing import Any, Protocol

from aiohttp import web

from index.errors import ConfigError

log = logging.getLogger(__name__)

Announce = Callable[[str], None]
SHUTDOWN_GRACE_SECONDS = 10.0
HEALTH_PATH = "/healthz"
HEALTH_CACHE_SECONDS = 5.0


class Service(Protocol):
    """What serving needs from ``bot.service.AnswerService``."""

    async def start(self) -> None: ...
    async def health(self) -> tuple[bool, dict[str, Any]]: ...


@contextlib.contextmanager
def stop_on_signals(on_stop: Callable[[], None] | None = None) -> Iterator[asyncio.Event]:
    """An event set by SIGINT or SIGTERM (then ``on_stop`` is called); the handlers are removed
    when the block ends, so a second Ctrl-C after shutdown began behaves as usual."""
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()

    def stop() -> None:
        log.info("stopping: signal received")
        stopped.set()
        if on_stop is not None:
            on_stop()

    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # e.g. Windows
            loop.add_signal_handler(sig, stop)
            installed.append(sig)
    try:
        yield stopped
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


async def warm_up(service: Service) -> None:
    """Load the model and the index now; their ReadoutError reaches the entry point as is."""
    started = time.perf_counter()
    await service.start()
    log.info("model and index loaded in %.1f s", time.perf_counter() - started)


class InFlight:
    """Tasks answering someone right now, so shutdown can wait for them."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Future[Any]] = set()

    def add(self, task: asyncio.Future[Any]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def spawn(self, work: Awaitable[Any]) -> asyncio.Future[Any]:
        """Run ``work`` as a task that is kept (the event loop holds only weak references)."""
        task = asyncio.ensure_future(work)
        self.add(task)
        return task

    async def wait_idle(self, timeout: float) -> bool:
        """Wait until nothing is in flight (including work started meanwhile); False if some
        is still running after ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._tasks:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            await asyncio.wait(set(self._tasks), timeout=remaining)
        return True

    async def aclose(self, timeout: float = SHUTDOWN_GRACE_SECONDS) -> None:
        """Let running answers finish for up to ``timeout`` seconds, then cancel the rest."""
        if not await self.wait_idle(timeout):
            unfinished = list(self._tasks)
            log.warning("cancelling %d unfinished replies at shutdown", len(unfinished))
            for task in unfinished:
                task.cancel()
            await asyncio.gather(*unfinished, return_exceptions=True)


class HealthEndpoint:
    """``GET /healthz``: the readiness check, cached, in full only for loopback callers."""

    def __init__(
        self,
        service: Service,
        *,
        ttl: float = HEALTH_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._service = service
        self._ttl = ttl
        self._clock = clock
        self._cached: tuple[float, bool, dict[str, Any]] | None = None
        self._lock = asyncio.Lock()

    async def check(self) -> tuple[bool, dict[str, Any]]:
        """The report, probed at most once per ``ttl`` (concurrent callers share a probe)."""
        async with self._lock:
            cached = self._cached
            if cached is not None and self._clock() - cached[0] < self._ttl:
                return cached[1], cached[2]
            ok, report = await self._service.health()
            self._cached = (self._clock(), ok, report)
            return ok, report

    async def handle(self, request: web.Request) -> web.Response:
        ok, report = await self.check()
        body = report if _is_loopback(request.remote) else {"ok": ok, "version": _version()}
        return web.json_response(body, status=200 if ok else 503)

    def add_to(self, web_app: web.Application) -> None:
        web_app.router.add_get(HEALTH_PATH, self.handle)


@contextlib.asynccontextmanager
async def health_server(service: Service, host: str, port: int) -> AsyncIterator[str]:
    """``GET /healthz`` served on ``host:port`` while the block runs; yields its URL."""
    web_app = web.Application()
    HealthEndpoint(service).add_to(web_app)
    async with running_site(web_app, host, port) as (bound_host, bound_port):
        yield f"http://{bound_host}:{bound_port}{HEALTH_PATH}"


@contextlib.asynccontextmanager
async def running_site(
    web_app: web.Application, host: str, port: int
) -> AsyncIterator[tuple[str, int]]:
    """``web_app`` listening on ``host:port`` while the block runs; yields the bound address."""
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            raise ConfigError(f"cannot listen on {host}:{port} ({exc.strerror})") from None
        bound_host, bound_port = runner.addresses[0][:2]
        yield str(bound_host), int(bound_port)
    finally:
        await runner.cleanup()


def _is_loopback(remote: str | None) -> bool:
    try:
        return remote is not None and ipaddress.ip_address(remote).is_loopback
    except ValueError:  # a Unix socket or an unknown peer: treat as remote
        return False


def _version() -> str:
    try:
        return metadata.version("readout")
    except metadata.PackageNotFoundError:
        return "unknown"
