"""The Discord app: slash commands, mentions and DMs answered with cited embeds.

It owns the discord.py client and what is Discord-specific around it, and nothing else:

* :func:`create_app` builds the client (never at import time) with the default intents (no
  privileged message-content intent: mentions and DMs carry their text anyway) and
  ``AllowedMentions.none()``, so nothing a question or a document says can ping anyone;
* the slash commands of :mod:`bot.commands` (``/ask``, ``/quote``, ``/source``, ``/help``),
  each defined once (:mod:`bot.discord_app.slash`), registered with Discord only when asked
  to (``readout serve discord --sync``), because Discord rate-limits that;
* interactions are deferred (``defer(thinking=True)``, within Discord's 3 s) before any slow
  work, which ``bot.service.AnswerService`` runs off the event loop so the gateway heartbeat
  never stalls; mentions get a reply to the message, DMs a reply in the DM;
* the "Show sources", 👍/👎 and "Ask again" buttons and their clicks are
  :mod:`bot.discord_app.buttons`'; posting a reply is :mod:`bot.discord_app.replies`';
* answers posted as one message are edited by :class:`bot.discord_app.editor.DiscordEditor`
  when a re-index changes what they cite (``bot.updates``, started in ``setup_hook`` and
  stopped by :meth:`DiscordApp.stop_following`);
* start-up work in discord.py's own ``setup_hook`` (after login, before the gateway): the
  invite URL, registering commands if asked, loading the model and the index;
* follow-ups: a mention in a thread or DM where readout answered, or a reply to one of its
  answers, is read with the conversation so far (:mod:`bot.discord_app.threads` says which
  conversation, and how it is read back after a restart).

What to say comes from ``bot.service``; how it looks from ``bot.discord_app.render``; running
it from ``bot.discord_app.serve``. The token is handed to discord.py and never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any, Literal, TypeAlias

import discord
import yarl
from discord import app_commands
from discord.gateway import DiscordWebSocket
from discord.http import Route

from bot.buttons import ButtonSigner
from bot.discord_app.buttons import register_ask_again, register_buttons
from bot.discord_app.editor import DiscordEditor
from bot.discord_app.gateway import GatewayGuard
from bot.discord_app.render import corpus_label
from bot.discord_app.replies import (
    PLATFORM,
    apologise,
    follow_up,
    interaction_asker,
    reference,
    reply_to,
    tell_privately,
)
from bot.discord_app.slash import (
    STALE_COMMANDS,
    SYNC_COMMAND,
    slash_commands,
    stale_command,
    sync_commands,
)
from bot.discord_app.threads import answer_key, thread_of
from bot.service import CHANNEL, DM, FAILED, AnswerService, Asker, Reply
from bot.serving import Announce, InFlight, warm_up
from bot.settings import Settings
from bot.updates import start_following, stop_following
from index.errors import ConfigError, ReadoutError

log = logging.getLogger(__name__)

INVITE_SCOPES = ("bot", "applications.commands")
DEFAULT_GUILD_READY_TIMEOUT = 2.0

Shards: TypeAlias = "int | Literal['auto'] | None"
Interaction: TypeAlias = "discord.Interaction[discord.Client]"


def parse_shards(value: str | None) -> Shards:
    """``--shards``: None (the plain client), "auto", or a positive number of shards."""
    if value is None:
        return None
    if value == "auto":
        return "auto"
    if not value.isdigit() or int(value) < 1:
        raise ConfigError(f"--shards must be 'auto' or a positive number (got {value!r})")
    return int(value)


def invite_permissions() -> discord.Permissions:
    """Only what answering needs: no admin, no managing, no reading everything."""
    return discord.Permissions(
        send_messages=True,
        embed_links=True,
        send_messages_in_threads=True,
        read_message_history=True,  # replying to a message references it
    )


def invite_url(application_id: int) -> str:
    """The OAuth2 URL a server admin opens to add readout with its slash commands."""
    return discord.utils.oauth_url(
        application_id, permissions=invite_permissions(), scopes=INVITE_SCOPES
    )


def point_at(settings: Settings) -> None:
    """Aim discord.py's REST and gateway at ``settings`` (a proxy, or a local stand-in).

    discord.py reads both from class attributes (``Route.BASE``, ``DiscordWebSocket.
    DEFAULT_GATEWAY``) with no per-client option, so this is process-wide; one process runs
    one bot."""
    Route.BASE = settings.discord_api_url.rstrip("/")
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord_gateway_url)


def create_app(
    settings: Settings,
    service: AnswerService,
    *,
    shards: Shards = None,
    guild_ready_timeout: float = DEFAULT_GUILD_READY_TIMEOUT,
) -> DiscordApp:
    """A client wired to ``service``: plain, or sharded (``shards`` = a count or "auto")."""
    point_at(settings)
    # readout never joins voice: skip discord.py's start-up warnings about voice libraries
    discord.VoiceClient.warn_nacl = False
    discord.VoiceClient.warn_dave = False
    options: dict[str, Any] = {
        "intents": discord.Intents.default(),  # message_content stays off: it is privileged
        "allowed_mentions": discord.AllowedMentions.none(),
        "guild_ready_timeout": guild_ready_timeout,
        "max_messages": None,  # answering needs no message cache
    }
    app = DiscordApp(service, settings, shards=shards)
    client: discord.Client
    if shards is None:
        client = _Client(app, **options)
    else:
        # "auto" is resolved in setup_hook, so the gateway URL override still applies
        client = _ShardedClient(app, shard_count=None if shards == "auto" else shards, **options)
    app.attach(client)
    return app


class _ReadoutStartup:
    """Readout's start-up in discord.py's ``setup_hook``, for either kind of client."""

    def __init__(self, app: DiscordApp, **options: Any) -> None:
        super().__init__(**options)  # the discord.py client next in the MRO
        self._readout = app

    async def setup_hook(self) -> None:
        await self._readout.setup()


class _Client(_ReadoutStartup, discord.Client):
    """The plain client."""


class _ShardedClient(_ReadoutStartup, discord.AutoShardedClient):
    """The sharded client."""


class DiscordApp:
    """The handlers: each turns a Discord event into a service call and renders the reply."""

    client: discord.Client
    tree: app_commands.CommandTree[discord.Client]

    def __init__(self, service: AnswerService, settings: Settings, *, shards: Shards) -> None:
        self.service = service
        self.settings = settings
        self.shards = shards
        self.corpus = "the documents"  # named once the index is loaded, in setup()
        self.announce: Announce = lambda line: None  # where serve() tells the operator
        self.sync = False  # register the slash commands in setup() (``--sync``)
        self.in_flight = InFlight()
        self._announced_ready = False
        self._stale_commands_logged: set[str] = set()
        # Every replica derives the same key (bot.buttons): a click may land on any of them.
        self.signer = ButtonSigner.from_secrets(settings.button_secret, settings.discord_token)
        self._following: asyncio.Task[None] | None = None

    def attach(self, client: discord.Client) -> None:
        """Wire the handlers, commands and buttons to ``client``."""
        self.client = client
        self.tree = app_commands.CommandTree(client)
        for command in slash_commands(self):
            self.tree.add_command(command)
        self.tree.error(self._on_command_error)
        self.sources_button, self.vote_button = register_buttons(self)
        self.ask_again_button = register_ask_again(self)
        client.event(self.on_message)
        client.event(self.on_ready)
        self.gateway = GatewayGuard(client)

    async def setup(self) -> None:
        """Start-up after login and before the gateway (discord.py's ``setup_hook``): print the
        invite URL, register commands if asked, load the model and the index."""
        client = self.client
        if client.application_id is not None:
            self.announce(f"Invite readout to a server: {invite_url(client.application_id)}")
        if self.sync:
            self.announce(await self.sync_commands(self.settings.discord_guild))
        await warm_up(self.service)
        self.corpus = corpus_label(await self.service.titles())
        if self._following is None:
            self._following = start_following(self.settings, self.service, [DiscordEditor(self)])
        if self.shards == "auto" and isinstance(client, discord.AutoShardedClient):
            client.shard_count = await _recommended_shards(client)

    async def stop_following(self) -> None:
        """Stop updating answers whose sources changed (at shutdown)."""
        following, self._following = self._following, None
        await stop_following(following)

    def _track_current_task(self) -> None:
        # discord.py runs each event handler as its own task: shutdown waits for it.
        task = asyncio.current_task()
        if task is not None:
            self.in_flight.add(task)

    # -- slash commands --------------------------------------------------------------------

    async def deferred(
        self, interaction: Interaction, work: Callable[[Asker], Awaitable[Reply]]
    ) -> None:
        """Acknowledge first (Discord drops an interaction not answered in 3 s), then work."""
        if not self.service.first_delivery(f"discord:interaction:{interaction.id}"):
            log.info("ignored redelivered interaction %s", interaction.id)
            return
        self._track_current_task()
        try:
            await interaction.response.defer(thinking=True)
        except discord.HTTPException as exc:
            log.warning("could not defer interaction %s (HTTP %s)", interaction.id, exc.status)
            return
        try:
            reply = await work(interaction_asker(interaction))
            await follow_up(self, interaction, reply)
        except Exception:
            log.exception("answering interaction %s failed", interaction.id)
            await apologise(interaction)

    # -- mentions and DMs ------------------------------------------------------------------

    async def on_message(self, message: discord.Message) -> None:
        me = self.client.user
        if me is None or message.author.bot or message.webhook_id is not None:
            return
        if message.type not in (discord.MessageType.default, discord.MessageType.reply):
            return  # pins, joins, thread notices: nobody asked anything
        is_dm = isinstance(message.channel, discord.DMChannel)
        if not is_dm and not _mentions(message, me.id):
            return
        if not self.service.first_delivery(f"discord:message:{message.id}"):
            return
        asker = Asker(PLATFORM, str(message.author.id), DM if is_dm else CHANNEL)
        self._track_current_task()
        try:
            with contextlib.suppress(discord.HTTPException):
                await message.channel.typing()  # one "readout is typing…", best effort
            question = strip_mention(message.content, me.id)
            reply = await self.service.ask(
                asker, question, thread=thread_of(message, me.id, self.signer)
            )
            for sent in await reply_to(self, message, reply):
                # a reply to any message of this answer continues its conversation
                self.service.continue_conversation(answer_key(sent.id), reply)
        except discord.Forbidden:
            log.warning("no permission to reply in channel %s", message.channel.id)
        except Exception:
            log.exception("answering message %s failed", message.id)
            with contextlib.suppress(discord.HTTPException):
                await message.channel.send(FAILED, reference=reference(message))

    async def on_ready(self) -> None:
        user, guilds = self.client.user, len(self.client.guilds)
        log.info("connected to Discord as user %s in %d servers", user and user.id, guilds)
        if self.announce is not None and not self._announced_ready:  # not again on reconnects
            self._announced_ready = True
            self.announce(
                f"Connected to Discord as {user} in {guilds} servers: answering /ask, mentions "
                "and DMs (Ctrl-C to stop)."
            )

    async def _on_command_error(
        self, interaction: Interaction, error: app_commands.AppCommandError
    ) -> None:
        command = stale_command(error)
        if command is None:
            log.error("slash command failed", exc_info=error)
            await apologise(interaction)
            return
        # Not a failure of readout's: the registration is older than the code. Tell the
        # operator once (every user of the command would repeat it), the user every time.
        if command not in self._stale_commands_logged:
            self._stale_commands_logged.add(command)
            log.warning(
                "Discord sent /%s as an older readout registered it (%s); register the "
                "current slash commands with `%s`",
                command,
                type(error).__name__,
                SYNC_COMMAND,
            )
        else:
            log.debug("stale slash command /%s again", command)
        await tell_privately(interaction, STALE_COMMANDS.format(command=command))

    async def sync_commands(self, guild_id: str = "") -> str:
        """Register the slash commands (globally, or in one guild for instant updates)."""
        return await sync_commands(self.tree, guild_id)


# -- internals -------------------------------------------------------------------------------


async def _recommended_shards(client: discord.Client) -> int:
    try:
        count, _url, _limits = await client.http.get_bot_gateway()
    except discord.GatewayNotFound:
        raise ReadoutError(
            "Discord did not say how many shards to use (GET /gateway/bot failed)."
        ) from None
    log.info("using %d shards (Discord's recommendation)", count)
    return count


def _mentions(message: discord.Message, user_id: int) -> bool:
    """Addressed to us by a real mention (``@everyone`` does not count) or a reply ping."""
    return user_id in message.raw_mentions or any(user.id == user_id for user in message.mentions)


def strip_mention(content: str, user_id: int) -> str:
    """The question in a message that mentions the bot: its mention tokens removed."""
    return re.sub(rf"<@!?{user_id}>", " ", content)
