"""What both adapters' ``serve`` share: signal handlers installed and removed, answers in flight
finished before shutdown, and ``/healthz`` cached and in full only for loopback callers."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from typing import Any
from unittest import mock

import aiohttp
from aiohttp.test_utils import make_mocked_request

from bot.serving import HealthEndpoint, InFlight, health_server, stop_on_signals


class CountingService:
    """A service whose health check counts how often it runs."""

    def __init__(self, ok: bool = True) -> None:
        self.checks = 0
        self.ok = ok

    async def start(self) -> None:
        return None

    async def health(self) -> tuple[bool, dict[str, Any]]:
        self.checks += 1
        return self.ok, {"ok": self.ok, "store": {"location": "/srv/secret/index"}}


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def request_from(address: str) -> Any:
    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda name, default=None: (
        (address, 5555) if name == "peername" else default
    )
    return make_mocked_request("GET", "/healthz", transport=transport)


async def test_the_check_is_cached_for_a_few_seconds() -> None:
    service, clock = CountingService(), Clock()
    endpoint = HealthEndpoint(service, ttl=5.0, clock=clock)
    await asyncio.gather(*(endpoint.check() for _ in range(10)))
    assert service.checks == 1  # ten hits at once share one probe
    clock.now += 4.9
    await endpoint.check()
    assert service.checks == 1
    clock.now += 0.2
    await endpoint.check()
    assert service.checks == 2


async def test_only_loopback_callers_see_the_full_report() -> None:
    endpoint = HealthEndpoint(CountingService())
    local = await endpoint.handle(request_from("127.0.0.1"))
    assert local.status == 200 and b"/srv/secret/index" in local.body  # type: ignore[operator]
    for address in ("10.1.2.3", "2001:db8::1"):
        remote = await endpoint.handle(request_from(address))
        body = remote.body
        assert isinstance(body, bytes) and b"secret" not in body
        assert set(json.loads(body)) == {"ok", "version"}


async def test_an_unhealthy_service_is_503_for_everyone() -> None:
    endpoint = HealthEndpoint(CountingService(ok=False))
    assert (await endpoint.handle(request_from("10.1.2.3"))).status == 503
    assert (await endpoint.handle(request_from("::1"))).status == 503


async def test_the_health_server_answers_over_a_real_socket() -> None:
    async with (
        health_server(CountingService(), "127.0.0.1", 0) as url,
        aiohttp.ClientSession() as session,
        session.get(url) as response,
    ):
        assert response.status == 200
        assert (await response.json())["store"]["location"] == "/srv/secret/index"


async def test_signals_set_the_event_and_the_handlers_are_removed_after() -> None:
    loop = asyncio.get_running_loop()
    stopped_by: list[str] = []
    with stop_on_signals(lambda: stopped_by.append("callback")) as stopped:
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.wait_for(stopped.wait(), 5)
    assert stopped_by == ["callback"]
    assert not loop.remove_signal_handler(signal.SIGTERM)  # none left installed
    assert not loop.remove_signal_handler(signal.SIGINT)


async def test_shutdown_lets_answers_finish_then_cancels_stragglers() -> None:
    in_flight = InFlight()
    quick = in_flight.spawn(asyncio.sleep(0.05, result="sent"))
    stuck = in_flight.spawn(asyncio.sleep(60))
    await in_flight.aclose(timeout=0.5)
    assert quick.result() == "sent"
    assert stuck.cancelled()
