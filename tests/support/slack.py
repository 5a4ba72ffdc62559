"""A local stand-in for Slack, and the real bolt app wired to it over loopback sockets.

``FakeSlack`` is an aiohttp server on 127.0.0.1 (port 0) playing Slack's side, the way
bolt-python's own tests run a mock Web API server:

* ``POST /api/<method>`` records every Web API call (method, arguments, bearer token, time) and
  answers ``auth.test``, ``chat.postMessage``, ``chat.postEphemeral``, ``chat.update`` (only
  of a message ``chat.postMessage`` posted: else ``message_not_found``, as Slack answers for
  another app's message), ``apps.connections.open`` (pointing Socket Mode at our websocket),
  ``conversations.replies`` and ``conversations.history`` (over the messages the bot posted
  and those a test adds with :meth:`FakeSlack.add_message`, in the shapes of Slack's API
  reference); a call can be told to fail once (e.g. 429 with ``Retry-After``);
* ``POST /respond/<key>`` is the sink for ``response_url`` posts;
* ``GET /socket`` is the Socket Mode websocket: tests push envelopes, the app's acks are recorded.

``SlackHttp`` plays Slack delivering to the app's HTTP endpoint, signing each request the way
Slack does (``v0=`` HMAC-SHA256 of ``v0:{timestamp}:{body}``).

Tests wait on recorded traffic with a timeout (``FakeSlack.wait_for``) or for the app's lazy
listeners to finish (``ListenerTasks.wait_idle``); nothing sleeps for a fixed time.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
import urllib.parse
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp

from bot.service import AnswerEngine, AnswerService
from bot.settings import Settings
from bot.slack_app import create_app, create_web_app, listener_tasks
from retrieval.engine import Engine
from tests.support.fakes import RecordingFeedback

BOT_TOKEN = "xoxb-0000-readout-test-bot-token"
APP_TOKEN = "xapp-1-A0TEST-readout-test-app-token"
SIGNING_SECRET = "readout-test-signing-secret-8f74223"
BOT_USER = "UREADOUT"
BOT_ID = "BREADOUT"
TEAM = "T0TEST"
APP_ID = "A0TEST"
QUESTION = "what did Xi say about Taiwan?"
WAIT = 30.0  # upper bound for anything to arrive; real answers take well under a second
_ts = itertools.count(1)


@dataclass(frozen=True)
class ApiCall:
    method: str
    args: dict[str, Any]
    token: str
    at: float


@dataclass(frozen=True)
class ResponsePost:
    key: str
    body: dict[str, Any]
    at: float


@dataclass
class FakeSlack:
    """Slack's side of the wire (see the module docstring)."""

    calls: list[ApiCall] = field(default_factory=list)
    responses: list[ResponsePost] = field(default_factory=list)
    acks: list[dict[str, Any]] = field(default_factory=list)
    sockets: list[web.WebSocketResponse] = field(default_factory=list)
    base_url: str = ""
    rejected_tokens: set[str] = field(default_factory=set)
    # channel -> its messages in the order they were posted (threads' replies included)
    channels: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    messages: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    _failures: dict[str, list[tuple[int, dict[str, str]]]] = field(default_factory=dict)
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    _runner: web.AppRunner | None = None

    @property
    def api_url(self) -> str:
        return f"{self.base_url}api/"

    def response_url(self, key: str) -> str:
        return f"{self.base_url}respond/{key}"

    def fail_next(self, method: str, status: int = 429, retry_after: int = 1) -> None:
        """Make the next call to ``method`` fail (Slack's 429 carries Retry-After)."""
        headers = {"Retry-After": str(retry_after)} if status == 429 else {}
        self._failures.setdefault(method, []).append((status, headers))

    def add_message(self, event: dict[str, Any]) -> None:
        """Keep a message a person sent (an event a test delivers), as Slack's history would."""
        message: dict[str, Any] = {
            key: event[key]
            for key in ("type", "user", "text", "ts", "thread_ts", "blocks")
            if key in event
        }
        message["type"] = "message"
        self.channels.setdefault(event["channel"], []).append(message)

    def posts(self, method: str = "chat.postMessage") -> list[ApiCall]:
        return [call for call in self.calls if call.method == method]

    def responses_to(self, key: str) -> list[dict[str, Any]]:
        return [post.body for post in self.responses if post.key == key]

    async def wait_for(self, predicate: Callable[[], object], timeout: float = WAIT) -> None:
        """Wait until ``predicate()`` holds, re-checked whenever Slack receives something."""
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(predicate), timeout)

    async def send_envelope(
        self, kind: str, payload: dict[str, Any], *, retry_attempt: int | None = None
    ) -> str:
        """Push one Socket Mode envelope to the connected app; returns its envelope id."""
        await self.wait_for(lambda: self.sockets)
        envelope_id = f"env-{next(_ts)}"
        envelope: dict[str, Any] = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": kind != "events_api",
        }
        if retry_attempt is not None:
            envelope["retry_attempt"] = retry_attempt
            envelope["retry_reason"] = "timeout"
        await self.sockets[-1].send_str(json.dumps(envelope))
        return envelope_id

    # -- server --------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/api/{method}", self._api)  # slack_sdk GETs conversations.*
        app.router.add_post("/respond/{key}", self._respond)
        app.router.add_get("/socket", self._socket)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}/"

    async def close(self) -> None:
        for ws in list(self.sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _record(self, item: object, into: list[Any]) -> None:
        async with self._changed:
            into.append(item)
            self._changed.notify_all()

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if request.method == "GET":
            args: dict[str, Any] = dict(request.query)
        elif request.content_type == "application/json":
            args = await request.json()
        else:
            args = dict(await request.post())
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        await self._record(ApiCall(method, args, token, time.monotonic()), self.calls)
        failures = self._failures.get(method)
        if failures:
            status, headers = failures.pop(0)
            error = "ratelimited" if status == 429 else "internal_error"
            return web.json_response({"ok": False, "error": error}, status=status, headers=headers)
        if token in self.rejected_tokens:
            return web.json_response({"ok": False, "error": "invalid_auth"})
        if method == "chat.update":
            key = (str(args.get("channel")), str(args.get("ts")))
            if key not in self.messages:
                return web.json_response({"ok": False, "error": "message_not_found"})
            self.messages[key] = args
        return web.json_response({"ok": True, **self._result(method, args)})

    def _result(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        if method == "auth.test":
            return {
                "url": "https://readout-test.slack.com/",
                "team": "readout test",
                "user": "readout",
                "team_id": TEAM,
                "user_id": BOT_USER,
                "bot_id": BOT_ID,
            }
        if method == "apps.connections.open":
            return {"url": self.base_url.replace("http://", "ws://") + "socket"}
        if method == "chat.postMessage":
            posted = self._post(args)
            self.messages[(str(args.get("channel")), posted["ts"])] = args
            return {"channel": args.get("channel"), **posted}
        if method == "chat.update":
            return {"channel": args["channel"], "ts": args["ts"], "text": args.get("text", "")}
        if method == "conversations.replies":
            return self._replies(args)
        if method == "conversations.history":
            return self._history(args)
        if method == "chat.postEphemeral":
            return {"message_ts": f"1700000000.{next(_ts):06d}"}
        return {}

    def _post(self, args: dict[str, Any]) -> dict[str, Any]:
        """Keep a message the bot posted; ``chat.postMessage``'s ``ts`` and ``message``."""
        blocks = args.get("blocks") or []
        if isinstance(blocks, str):  # form-encoded calls carry blocks as JSON text
            blocks = json.loads(blocks)
        message: dict[str, Any] = {
            "type": "message",
            "subtype": "bot_message",
            "text": args.get("text", ""),
            "ts": new_ts(),
            "user": BOT_USER,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "blocks": blocks,
        }
        if args.get("thread_ts"):
            message["thread_ts"] = args["thread_ts"]
        self.channels.setdefault(str(args.get("channel")), []).append(message)
        return {"ts": message["ts"], "message": message}

    def _replies(self, args: dict[str, Any]) -> dict[str, Any]:
        """A thread: its parent, then its replies, oldest first (``oldest`` honoured)."""
        root, oldest = str(args.get("ts")), float(args.get("oldest") or 0)
        thread = [
            m
            for m in self.channels.get(str(args.get("channel")), [])
            if (m["ts"] == root or m.get("thread_ts") == root) and float(m["ts"]) >= oldest
        ]
        if not any(m["ts"] == root for m in self.channels.get(str(args.get("channel")), [])):
            return {"ok": False, "error": "thread_not_found"}
        return {
            "messages": sorted(thread, key=lambda m: float(m["ts"])),
            "has_more": False,
            "response_metadata": {"next_cursor": ""},
        }

    def _history(self, args: dict[str, Any]) -> dict[str, Any]:
        """A channel's top-level messages, newest first (thread replies are not in it)."""
        oldest = float(args.get("oldest") or 0)
        top = [
            m
            for m in self.channels.get(str(args.get("channel")), [])
            if m.get("thread_ts", m["ts"]) == m["ts"] and float(m["ts"]) >= oldest
        ]
        return {
            "messages": sorted(top, key=lambda m: -float(m["ts"])),
            "has_more": False,
            "pin_count": 0,
            "response_metadata": {"next_cursor": ""},
        }

    async def _respond(self, request: web.Request) -> web.Response:
        body = await request.json()
        await self._record(
            ResponsePost(request.match_info["key"], body, time.monotonic()), self.responses
        )
        return web.Response(text="ok")

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()  # autoping: answers the client's pings with pongs
        await ws.prepare(request)
        await ws.send_str(json.dumps({"type": "hello", "num_connections": 1}))
        await self._record(ws, self.sockets)
        try:
            async for message in ws:
                if message.type == aiohttp.WSMsgType.TEXT:
                    await self._record(json.loads(message.data), self.acks)
        finally:
            if ws in self.sockets:
                self.sockets.remove(ws)
        return ws


@dataclass(frozen=True)
class Delivery:
    status: int
    seconds: float
    body: str


class SlackHttp:
    """Slack delivering signed requests to the app's HTTP endpoint."""

    def __init__(self, url: str, session: aiohttp.ClientSession, fake: FakeSlack) -> None:
        self.url = url
        self.session = session
        self.fake = fake

    async def post(
        self,
        body: bytes,
        content_type: str,
        *,
        timestamp: int | None = None,
        secret: str = SIGNING_SECRET,
        headers: dict[str, str] | None = None,
    ) -> Delivery:
        stamp = int(time.time()) if timestamp is None else timestamp
        signature = hmac.new(secret.encode(), f"v0:{stamp}:".encode() + body, hashlib.sha256)
        sent = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": str(stamp),
            "X-Slack-Signature": f"v0={signature.hexdigest()}",
            **(headers or {}),
        }
        started = time.monotonic()
        async with self.session.post(self.url, data=body, headers=sent) as response:
            text = await response.text()
        return Delivery(response.status, time.monotonic() - started, text)

    async def command(
        self,
        command: str,
        text: str,
        *,
        key: str,
        user: str = "U0ASKER",
        channel: str = "C0GENERAL",
        **kw: Any,
    ) -> Delivery:
        body = urllib.parse.urlencode(
            command_payload(command, text, self.fake.response_url(key), user, channel)
        )
        return await self.post(body.encode(), "application/x-www-form-urlencoded", **kw)

    async def event(
        self, event: dict[str, Any], *, event_id: str, retry_num: int | None = None
    ) -> Delivery:
        headers = {}
        if retry_num is not None:
            headers = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"}
        body = json.dumps(event_payload(event, event_id)).encode()
        return await self.post(body, "application/json", headers=headers)

    async def action(
        self, action_id: str, value: str, *, key: str, user: str = "U0ASKER"
    ) -> Delivery:
        payload = action_payload(action_id, value, self.fake.response_url(key), user)
        body = urllib.parse.urlencode({"payload": json.dumps(payload)})
        return await self.post(body.encode(), "application/x-www-form-urlencoded")


# -- payloads as Slack sends them ---------------------------------------------------------


def command_payload(
    command: str, text: str, response_url: str, user: str, channel: str
) -> dict[str, str]:
    return {
        "token": "deprecated-verification-token",
        "team_id": TEAM,
        "team_domain": "readout-test",
        "channel_id": channel,
        "channel_name": "general",
        "user_id": user,
        "user_name": "asker",
        "command": command,
        "text": text,
        "api_app_id": APP_ID,
        "response_url": response_url,
        "trigger_id": f"trigger.{next(_ts)}",
    }


def event_payload(event: dict[str, Any], event_id: str) -> dict[str, Any]:
    return {
        "token": "deprecated-verification-token",
        "team_id": TEAM,
        "api_app_id": APP_ID,
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": int(time.time()),
        "authorizations": [{"team_id": TEAM, "user_id": BOT_USER, "is_bot": True}],
    }


def mention(
    text: str, *, ts: str, channel: str = "C0GENERAL", user: str = "U0ASKER", **extra: Any
) -> dict[str, Any]:
    return {
        "type": "app_mention",
        "user": user,
        "text": f"<@{BOT_USER}> {text}",
        "ts": ts,
        "channel": channel,
        "event_ts": ts,
        **extra,
    }


def direct_message(
    text: str, *, ts: str, channel: str = "D0ASKER", user: str = "U0ASKER", **extra: Any
) -> dict[str, Any]:
    return {
        "type": "message",
        "channel_type": "im",
        "user": user,
        "text": text,
        "ts": ts,
        "channel": channel,
        "event_ts": ts,
        **extra,
    }


def action_payload(action_id: str, value: str, response_url: str, user: str) -> dict[str, Any]:
    return {
        "type": "block_actions",
        "team": {"id": TEAM, "domain": "readout-test"},
        "user": {"id": user, "username": "asker", "team_id": TEAM},
        "api_app_id": APP_ID,
        "token": "deprecated-verification-token",
        "container": {
            "type": "message",
            "message_ts": "1700000000.000001",
            "channel_id": "C0GENERAL",
        },
        "trigger_id": f"trigger.{next(_ts)}",
        "channel": {"id": "C0GENERAL", "name": "general"},
        "response_url": response_url,
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": "readout_answer_actions",
                "value": value,
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }


def new_ts() -> str:
    """A message timestamp as Slack makes them: now, unique, increasing (counted in whole
    microseconds: a float of today's epoch seconds cannot hold one more microsecond)."""
    global _last_us
    _last_us = max(time.time_ns() // 1000, _last_us + 1)
    seconds, micros = divmod(_last_us, 1_000_000)
    return f"{seconds}.{micros:06d}"


_last_us = 0


# -- helpers for reading what the app sent -------------------------------------------------


def blocks_of(message: dict[str, Any]) -> list[dict[str, Any]]:
    return list(message.get("blocks") or [])


def all_text(message: dict[str, Any]) -> str:
    """Every piece of text in a message (fallback text and all blocks), for searching."""
    return json.dumps(message, ensure_ascii=False)


def button_value_of(message: dict[str, Any]) -> str:
    """What the answer's buttons carry (the signed reference of ``bot.buttons``)."""
    for block in blocks_of(message):
        if block["type"] == "actions":
            return str(block["elements"][-1]["value"])
    raise AssertionError("no buttons in this message")


def answer_id_of(message: dict[str, Any]) -> str:
    """The answer id inside the buttons' value (``r1:<answer id>:...``)."""
    return button_value_of(message).split(":")[1]


def iter_texts(blocks: list[dict[str, Any]]) -> Iterator[str]:
    for block in blocks:
        if "text" in block:
            yield block["text"]["text"]
        for element in block.get("elements", []):
            if element.get("type") == "mrkdwn":
                yield element["text"]


# -- fixtures ------------------------------------------------------------------------------


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack()
    await fake.start()
    yield fake
    await fake.close()


@pytest.fixture
def slack_settings(fake_slack: FakeSlack) -> Settings:
    return Settings.from_env(
        {
            "READOUT_SLACK_API_URL": fake_slack.api_url,
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_APP_TOKEN": APP_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        }
    )


@pytest.fixture
def feedback() -> RecordingFeedback:
    return RecordingFeedback()


@asynccontextmanager
async def running_service(engine: AnswerEngine, **options: Any) -> AsyncIterator[AnswerService]:
    service = AnswerService(engine, **options)
    try:
        await service.start()
        yield service
    finally:
        service.close()


_SERVICES: dict[int, AnswerService] = {}


def service_of(app: AsyncApp) -> AnswerService:
    """The service ``running_app`` built ``app`` over."""
    return _SERVICES[id(app)]


@asynccontextmanager
async def running_app(settings: Settings, service: AnswerService) -> AsyncIterator[AsyncApp]:
    app = create_app(settings, service)
    _SERVICES[id(app)] = service
    try:
        yield app
    finally:
        await listener_tasks(app).aclose(WAIT)
        _SERVICES.pop(id(app), None)


@asynccontextmanager
async def http_endpoint(app: AsyncApp, fake: FakeSlack) -> AsyncIterator[SlackHttp]:
    """The app's aiohttp web app served on 127.0.0.1 (port 0), and a signed client for it."""
    runner = web.AppRunner(create_web_app(app, service_of(app)), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WAIT)) as session:
            yield SlackHttp(f"http://{host}:{port}/slack/events", session, fake)
    finally:
        await runner.cleanup()


@asynccontextmanager
async def socket_mode(app: AsyncApp, fake: FakeSlack) -> AsyncIterator[AsyncSocketModeHandler]:
    handler = AsyncSocketModeHandler(app, app_token=APP_TOKEN)
    try:
        await handler.connect_async()
        await fake.wait_for(lambda: fake.sockets)
        yield handler
    finally:
        await handler.close_async()


@pytest.fixture
async def service(
    article_engine: Engine, feedback: RecordingFeedback
) -> AsyncIterator[AnswerService]:
    async with running_service(article_engine, feedback=feedback) as answering:
        yield answering


@pytest.fixture
async def slack_app(slack_settings: Settings, service: AnswerService) -> AsyncIterator[AsyncApp]:
    async with running_app(slack_settings, service) as app:
        yield app


@pytest.fixture
async def slack_http(slack_app: AsyncApp, fake_slack: FakeSlack) -> AsyncIterator[SlackHttp]:
    async with http_endpoint(slack_app, fake_slack) as client:
        yield client
