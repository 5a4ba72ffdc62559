"""A local stand-in for Discord's gateway and REST API, for driving the real discord.py client.

Discord cannot be reached from the tests and dpytest cannot drive slash commands, so this
aiohttp server on 127.0.0.1 plays Discord's side of the protocol as discord.py 2.x speaks it:

* gateway (``/gateway``, plain-text JSON frames, no zlib): HELLO (op 10), HEARTBEAT (op 1)
  answered with HEARTBEAT_ACK (op 11), IDENTIFY (op 2) answered with a READY dispatch whose
  ``resume_gateway_url`` points back here and a GUILD_CREATE for the test guild; tests then
  push INTERACTION_CREATE / MESSAGE_CREATE dispatches;
* REST under ``/api/v10``: the routes the bot uses, each recorded as a :class:`Call`.

discord.py parses a response body as JSON only when its content type is exactly
``application/json`` (aiohttp's ``json_response`` appends a charset), hence :func:`_json`.
Anything unexpected is answered 404 and recorded, so tests can assert nothing else was called.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import WSMsgType, web

_T = TypeVar("_T")

APP_ID = "900000000000000001"  # as on Discord, the application id is the bot user's id
GUILD_ID = "910000000000000001"
CHANNEL_ID = "920000000000000001"
DM_CHANNEL_ID = "920000000000000002"
THREAD_ID = "920000000000000003"  # a public thread in CHANNEL_ID
DISCORD_EPOCH_MS = 1420070400000
USER_ID = "930000000000000001"
BOT_USER = {
    "id": APP_ID,
    "username": "readout",
    "discriminator": "0",
    "global_name": "readout",
    "avatar": None,
    "bot": True,
    "verified": True,
    "mfa_enabled": False,
    "flags": 0,
}
EPHEMERAL = 64
LOADING = 128


def user(user_id: str = USER_ID, name: str = "asker") -> dict[str, Any]:
    return {
        "id": user_id,
        "username": name,
        "discriminator": "0",
        "global_name": name,
        "avatar": None,
    }


@dataclass(frozen=True)
class Call:
    """One REST request the bot made."""

    method: str
    path: str  # relative to /api/v10, e.g. "/interactions/123/tok/callback"
    query: dict[str, str]
    body: Any
    authorization: str
    at: float  # time.monotonic() when it arrived

    @property
    def embeds(self) -> list[dict[str, Any]]:
        return list(self.body.get("embeds") or []) if isinstance(self.body, dict) else []


@dataclass
class Sent:
    """A dispatch pushed to the bot."""

    event: str
    data: dict[str, Any]
    at: float


@dataclass
class FakeDiscord:
    token: str
    heartbeat_interval_ms: int = 41250
    reject_token: bool = False
    calls: list[Call] = field(default_factory=list)
    heartbeats: list[float] = field(default_factory=list)
    identifies: list[dict[str, Any]] = field(default_factory=list)
    sent: list[Sent] = field(default_factory=list)
    unhandled: list[Call] = field(default_factory=list)
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)
    connections: list[float] = field(default_factory=list)  # when each gateway socket opened

    def __post_init__(self) -> None:
        # Snowflakes as Discord makes them: the time is in the id (discord.py reads a message's
        # created_at from it), so ids made now are recent.
        now_ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        self._ids = itertools.count(now_ms << 22)
        self._sockets: list[web.WebSocketResponse] = []
        self._sequence = itertools.count(1)
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0
        self._routes: list[
            tuple[str, re.Pattern[str], Callable[..., Awaitable[web.StreamResponse]]]
        ] = [
            ("GET", re.compile(r"/users/@me"), self._me),
            ("GET", re.compile(r"/oauth2/applications/@me"), self._application),
            ("GET", re.compile(r"/gateway/bot"), self._gateway_bot),
            (
                "POST",
                re.compile(r"/interactions/(?P<iid>\d+)/(?P<tok>[^/]+)/callback"),
                self._callback,
            ),
            ("POST", re.compile(r"/webhooks/(?P<app>\d+)/(?P<tok>[^/]+)"), self._followup),
            (
                "PATCH",
                re.compile(r"/webhooks/(?P<app>\d+)/(?P<tok>[^/]+)/messages/(?P<mid>[^/]+)"),
                self._edit,
            ),
            (
                "DELETE",
                re.compile(r"/webhooks/(?P<app>\d+)/(?P<tok>[^/]+)/messages/(?P<mid>[^/]+)"),
                self._empty,
            ),
            ("PUT", re.compile(r"/applications/(?P<app>\d+)/commands"), self._commands),
            (
                "PUT",
                re.compile(r"/applications/(?P<app>\d+)/guilds/(?P<gid>\d+)/commands"),
                self._commands,
            ),
            ("POST", re.compile(r"/channels/(?P<cid>\d+)/messages"), self._channel_message),
            (
                "GET",
                re.compile(r"/channels/(?P<cid>\d+)/messages/(?P<mid>\d+)"),
                self._get_message,
            ),
            ("GET", re.compile(r"/channels/(?P<cid>\d+)/messages"), self._history),
            (
                "PATCH",
                re.compile(r"/channels/(?P<cid>\d+)/messages/(?P<mid>\d+)"),
                self._edit_message,
            ),
            ("POST", re.compile(r"/channels/(?P<cid>\d+)/typing"), self._empty),
        ]

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/gateway", self._gateway)
        app.router.add_route("*", "/api/v10/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]  # port 0: the OS picked a free one

    async def close(self) -> None:
        for socket in list(self._sockets):
            await socket.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    # -- what tests use -------------------------------------------------------------------

    async def wait_for(self, find: Callable[[], _T | None], timeout: float = 15.0) -> _T:
        """Wait until ``find()`` returns something (re-checked whenever a request arrives)."""
        async with asyncio.timeout(timeout):
            async with self._changed:
                while True:
                    found = find()
                    if found:  # None, False or an empty list: not yet
                        return found
                    await self._changed.wait()

    def calls_to(self, method: str, pattern: str) -> list[Call]:
        regex = re.compile(pattern)
        return [c for c in self.calls if c.method == method and regex.fullmatch(c.path)]

    async def dispatch(self, event: str, data: dict[str, Any], *, connection: int = -1) -> Sent:
        """Push a dispatch (op 0) to the bot over its latest gateway connection (or the
        ``connection``-th of those open, in the order they connected: one bot per replica)."""
        socket = self._sockets[connection]
        sent = Sent(event, data, time.monotonic())
        self.sent.append(sent)
        await socket.send_str(
            json.dumps({"op": 0, "t": event, "s": next(self._sequence), "d": data})
        )
        return sent

    async def send_raw(self, frame: str) -> None:
        """Push a text frame as is (whatever Discord might send) over the latest connection."""
        await self._sockets[-1].send_str(frame)

    async def slash(
        self,
        name: str,
        options: dict[str, Any] | None = None,
        *,
        user_id: str = USER_ID,
        guild: bool = True,
        interaction_id: str | None = None,
        connection: int = -1,
    ) -> dict[str, Any]:
        """A slash command as Discord delivers it; returns the interaction payload."""
        data = {
            "id": self._id(),
            "name": name,
            "type": 1,
            "options": [{"name": k, "type": 3, "value": v} for k, v in (options or {}).items()],
        }
        interaction = self._interaction(
            2, data, user_id=user_id, guild=guild, interaction_id=interaction_id
        )
        await self.dispatch("INTERACTION_CREATE", interaction, connection=connection)
        return interaction

    async def click(
        self,
        custom_id: str,
        message: dict[str, Any],
        *,
        user_id: str = USER_ID,
        connection: int = -1,
    ) -> dict[str, Any]:
        """A button click on ``message`` (a message payload this stand-in returned)."""
        data = {"custom_id": custom_id, "component_type": 2}
        interaction = self._interaction(3, data, user_id=user_id, guild=True, message=message)
        await self.dispatch("INTERACTION_CREATE", interaction, connection=connection)
        return interaction

    async def message(
        self,
        content: str,
        *,
        dm: bool = False,
        mentions_bot: bool = True,
        user_id: str = USER_ID,
        channel_id: str | None = None,
        reply_to: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A MESSAGE_CREATE in the test channel (or in a DM with the bot, or in
        ``channel_id``, e.g. THREAD_ID), replying to ``reply_to`` if given (a message payload,
        delivered with it as Discord does)."""
        payload = self.message_payload(
            content,
            dm=dm,
            mentions_bot=mentions_bot,
            user_id=user_id,
            channel_id=channel_id,
            reply_to=reply_to,
        )
        await self.dispatch("MESSAGE_CREATE", payload)
        return payload

    def message_payload(
        self,
        content: str,
        *,
        dm: bool = False,
        mentions_bot: bool = True,
        user_id: str = USER_ID,
        channel_id: str | None = None,
        reply_to: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """What a MESSAGE_CREATE carries, not sent (a test may break it first)."""
        channel = channel_id or (DM_CHANNEL_ID if dm else CHANNEL_ID)
        payload: dict[str, Any] = {
            "id": self._id(),
            "channel_id": channel,
            "author": user(user_id),
            "content": content,
            "timestamp": "2024-04-02T12:00:00.000000+00:00",
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": "@everyone" in content,
            "mentions": [BOT_USER] if mentions_bot else [],
            "mention_roles": [],
            "attachments": [],
            "embeds": [],
            "pinned": False,
            "type": 0,
            "flags": 0,
        }
        if reply_to is not None:
            payload["type"] = 19
            payload["message_reference"] = {
                "type": 0,
                "message_id": reply_to["id"],
                "channel_id": reply_to["channel_id"],
                **({} if dm else {"guild_id": GUILD_ID}),
            }
            payload["referenced_message"] = reply_to
        self.messages[payload["id"]] = payload
        if not dm:
            payload["guild_id"] = GUILD_ID
            payload["member"] = {
                "roles": [],
                "joined_at": "2024-01-01T00:00:00+00:00",
                "deaf": False,
                "mute": False,
                "flags": 0,
            }
        return payload

    # -- gateway --------------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        self._sockets.append(socket)
        self.connections.append(time.monotonic())
        await self._notify()
        await socket.send_str(
            json.dumps(
                {
                    "op": 10,
                    "d": {"heartbeat_interval": self.heartbeat_interval_ms},
                    "s": None,
                    "t": None,
                }
            )
        )
        async for frame in socket:
            if frame.type is not WSMsgType.TEXT:
                continue
            payload = json.loads(frame.data)
            op = payload.get("op")
            if op == 1:
                self.heartbeats.append(time.monotonic())
                await socket.send_str(json.dumps({"op": 11, "d": None, "s": None, "t": None}))
            elif op == 2:
                self.identifies.append(payload["d"])
                await self._send(socket, "READY", self._ready(payload["d"]))
                await self._send(socket, "GUILD_CREATE", guild())
            elif op == 6:
                await self._send(socket, "RESUMED", {})
            await self._notify()
        if socket in self._sockets:
            self._sockets.remove(socket)
        return socket

    async def _send(self, socket: web.WebSocketResponse, event: str, data: dict[str, Any]) -> None:
        await socket.send_str(
            json.dumps({"op": 0, "t": event, "s": next(self._sequence), "d": data})
        )

    def _ready(self, identify: dict[str, Any]) -> dict[str, Any]:
        return {
            "v": 10,
            "user": BOT_USER,
            "guilds": [{"id": GUILD_ID, "unavailable": True}],
            "session_id": "fake-session",
            "resume_gateway_url": self.gateway_url,  # a resume must come back here, not to Discord
            "shard": identify.get("shard", [0, 1]),
            "application": {"id": APP_ID, "flags": 0},
            "private_channels": [],
            "relationships": [],
        }

    # -- REST -----------------------------------------------------------------------------

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"]
        body: Any = None
        if request.can_read_body:
            raw = await request.read()
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode("utf-8", "replace")
        call = Call(
            request.method,
            path,
            dict(request.query),
            body,
            request.headers.get("Authorization", ""),
            time.monotonic(),
        )
        self.calls.append(call)
        try:
            for method, pattern, handler in self._routes:
                match = pattern.fullmatch(path)
                if method == request.method and match:
                    return await handler(call, **match.groupdict())
            self.unhandled.append(call)
            return _json({"message": "404: Not Found", "code": 0}, status=404)
        finally:
            await self._notify()

    def _authorized(self, call: Call) -> bool:
        return not self.reject_token and call.authorization == f"Bot {self.token}"

    async def _me(self, call: Call) -> web.Response:
        if not self._authorized(call):
            return _json({"message": "401: Unauthorized", "code": 0}, status=401)
        return _json(BOT_USER)

    async def _application(self, call: Call) -> web.Response:
        return _json(
            {
                "id": APP_ID,
                "name": "readout",
                "icon": None,
                "description": "",
                "bot_public": True,
                "bot_require_code_grant": False,
                "owner": user("930000000000000999", "owner"),
                "verify_key": "0" * 64,
                "flags": 0,
                "team": None,
            }
        )

    async def _gateway_bot(self, call: Call) -> web.Response:
        return _json(
            {
                "url": "wss://gateway.discord.gg",  # ignored: readout keeps its configured gateway
                "shards": 1,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 999,
                    "reset_after": 0,
                    "max_concurrency": 1,
                },
            }
        )

    async def _callback(self, call: Call, iid: str, tok: str) -> web.StreamResponse:
        kind = call.body["type"]
        data = call.body.get("data") or {}
        flags = data.get("flags", 0)
        response: dict[str, Any] = {
            "interaction": {
                "id": iid,
                "type": 2,
                "response_message_loading": kind == 5,
                "response_message_ephemeral": bool(flags & EPHEMERAL),
            }
        }
        if kind in (4, 5):
            message = self._message(CHANNEL_ID, data, flags=flags | (LOADING if kind == 5 else 0))
            response["interaction"]["response_message_id"] = message["id"]
            response["resource"] = {"type": kind, "message": message}
        if call.query.get("with_response") not in ("1", "true"):
            return web.Response(status=204)
        return _json(response)

    async def _followup(self, call: Call, app: str, tok: str) -> web.Response:
        return _json(
            self._message(CHANNEL_ID, call.body, flags=call.body.get("flags", 0), webhook=app)
        )

    async def _edit(self, call: Call, app: str, tok: str, mid: str) -> web.Response:
        return _json(self._message(CHANNEL_ID, call.body, webhook=app))

    async def _commands(self, call: Call, app: str, gid: str | None = None) -> web.Response:
        registered = [
            {
                **command,
                "id": self._id(),
                "application_id": app,
                "version": "1",
                **({"guild_id": gid} if gid else {}),
            }
            for command in call.body
        ]
        return _json(registered)

    async def _channel_message(self, call: Call, cid: str) -> web.Response:
        return _json(self._message(cid, call.body, flags=call.body.get("flags", 0)))

    async def _get_message(self, call: Call, cid: str, mid: str) -> web.Response:
        message = self.messages.get(mid)
        if message is None or message["channel_id"] != cid:
            return _json({"message": "Unknown Message", "code": 10008}, status=404)
        return _json(message)

    async def _history(self, call: Call, cid: str) -> web.Response:
        """A channel's messages, newest first, after/before an id, at most ``limit``."""
        after, before = int(call.query.get("after", 0)), int(call.query.get("before", 0))
        found = sorted(
            (
                m
                for m in self.messages.values()
                if m["channel_id"] == cid
                and int(m["id"]) > after
                and (not before or int(m["id"]) < before)
            ),
            key=lambda m: int(m["id"]),
        )
        limit = int(call.query.get("limit", 50))
        # with "after", Discord returns the oldest ones after it; else the newest
        found = found[:limit] if after else found[-limit:]
        return _json(list(reversed(found)))

    async def _edit_message(self, call: Call, cid: str, mid: str) -> web.Response:
        """Edit Message: only a message the bot posted here (in this channel) can be edited."""
        message = self.messages.get(mid)
        if message is None or message["channel_id"] != cid:
            return _json({"message": "Unknown Message", "code": 10008}, status=404)
        for key in ("content", "embeds", "components"):
            if key in call.body:
                message[key] = call.body[key] or ("" if key == "content" else [])
        message["edited_timestamp"] = "2024-04-03T12:00:00.000000+00:00"
        return _json(message)

    async def _empty(self, call: Call, **_: str) -> web.Response:
        return web.Response(status=204)

    # -- payloads -------------------------------------------------------------------------

    def _message(
        self, channel_id: str, body: dict[str, Any], *, flags: int = 0, webhook: str | None = None
    ) -> dict[str, Any]:
        message: dict[str, Any] = {
            "id": self._id(),
            "channel_id": channel_id,
            "author": BOT_USER,
            "content": body.get("content") or "",
            "timestamp": "2024-04-02T12:00:01.000000+00:00",
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": body.get("embeds") or [],
            "components": body.get("components") or [],
            "pinned": False,
            "type": 19 if body.get("message_reference") else 0,
            "flags": flags,
        }
        if body.get("message_reference"):
            message["message_reference"] = {
                "type": 0,
                "channel_id": channel_id,
                "guild_id": GUILD_ID,
                **body["message_reference"],
            }
        if webhook:
            message["webhook_id"] = webhook
        self.messages[message["id"]] = message
        return message

    def _interaction(
        self,
        kind: int,
        data: dict[str, Any],
        *,
        user_id: str,
        guild: bool,
        message: dict[str, Any] | None = None,
        interaction_id: str | None = None,
    ) -> dict[str, Any]:
        interaction_id = interaction_id or self._id()
        payload: dict[str, Any] = {
            "id": interaction_id,
            "application_id": APP_ID,
            "type": kind,
            "data": data,
            "token": f"itoken-{interaction_id}",
            "version": 1,
            "locale": "en-US",
            "app_permissions": "2248473465835073",
            "entitlements": [],
            "authorizing_integration_owners": {"0": GUILD_ID} if guild else {"1": user_id},
            "context": 0 if guild else 1,
            "attachment_size_limit": 10485760,
        }
        if guild:
            payload["guild_id"] = GUILD_ID
            payload["guild_locale"] = "en-US"
            payload["channel_id"] = CHANNEL_ID
            payload["channel"] = {
                "id": CHANNEL_ID,
                "type": 0,
                "guild_id": GUILD_ID,
                "name": "general",
                "position": 0,
                "permission_overwrites": [],
            }
            payload["member"] = {
                "user": user(user_id),
                "roles": [],
                "joined_at": "2024-01-01T00:00:00+00:00",
                "deaf": False,
                "mute": False,
                "flags": 0,
                "permissions": "2248473465835073",
            }
        else:
            payload["channel_id"] = DM_CHANNEL_ID
            payload["channel"] = {"id": DM_CHANNEL_ID, "type": 1, "recipients": [user(user_id)]}
            payload["user"] = user(user_id)
        if message is not None:
            payload["message"] = message
        return payload

    def _id(self) -> str:
        return str(next(self._ids))

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()


def guild() -> dict[str, Any]:
    """The test guild as GUILD_CREATE carries it."""
    return {
        "id": GUILD_ID,
        "name": "Test server",
        "unavailable": False,
        "member_count": 2,
        "large": False,
        "owner_id": USER_ID,
        "features": [],
        "emojis": [],
        "stickers": [],
        "roles": [
            {
                "id": GUILD_ID,
                "name": "@everyone",
                "permissions": "2248473465835073",
                "position": 0,
                "color": 0,
                "hoist": False,
                "managed": False,
                "mentionable": False,
                "flags": 0,
            }
        ],
        "channels": [
            {
                "id": CHANNEL_ID,
                "type": 0,
                "guild_id": GUILD_ID,
                "name": "general",
                "position": 0,
                "permission_overwrites": [],
            }
        ],
        "threads": [
            {
                "id": THREAD_ID,
                "type": 11,
                "guild_id": GUILD_ID,
                "parent_id": CHANNEL_ID,
                "owner_id": USER_ID,
                "name": "follow-ups",
                "last_message_id": None,
                "rate_limit_per_user": 0,
                "message_count": 0,
                "member_count": 1,
                "total_message_sent": 0,
                "flags": 0,
                "thread_metadata": {
                    "archived": False,
                    "auto_archive_duration": 1440,
                    "archive_timestamp": "2024-01-01T00:00:00+00:00",
                    "locked": False,
                },
            }
        ],
        "members": [],
        "voice_states": [],
        "presences": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "soundboard_sounds": [],
        "premium_tier": 0,
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "mfa_level": 0,
        "nsfw_level": 0,
        "preferred_locale": "en-US",
        "system_channel_flags": 0,
        "joined_at": "2024-01-01T00:00:00+00:00",
    }


def _json(payload: Any, *, status: int = 200) -> web.Response:
    # exactly "application/json": discord.py treats anything else (even with "; charset=utf-8")
    # as text and then fails on it
    return web.Response(
        body=json.dumps(payload).encode(),
        status=status,
        headers={"Content-Type": "application/json"},
    )
