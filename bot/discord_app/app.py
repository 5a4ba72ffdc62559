"""The Discord app: slash commands, mentions and DMs answered with cited embeds.

It owns the discord.py client and what is Discord-specific around it, and nothing else:

* :func:`create_app` builds the client (never at import time) with the default intents (no
  privileged message-content intent: mentions and DMs carry their text anyway) and
  ``AllowedMentions.none()``, so nothing a question or a document says can ping anyone;
* the slash commands of :mod:`bot.commands` (``/ask``, ``/quote``, ``/source``, ``/help``),
  each defined once, registered with Discord only when asked to (``readout serve discord
  --sync``), because Discord rate-limits that;
* interactions are deferred (``defer(thinking=True)``, within Discord's 3 s) before any slow
  work, which ``bot.service.AnswerService`` runs off the event loop so the gateway heartbeat
  never stalls; mentions get a reply to the message, DMs a reply in the DM;
* the "Show sources" and 👍/👎 buttons, whose custom ids carry a signed reference to the
  answer (:mod:`bot.buttons`), so a click works on any replica and after a restart;
* answers posted as one message are kept (channel and message id) so :class:`DiscordEditor`
  can edit them when a re-index changes what they cite (``bot.updates``, started in
  ``setup_hook`` and stopped by :meth:`DiscordApp.stop_following`); "Ask again" on such a
  message answers its question anew;
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
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal, TypeAlias

import discord
import yarl
from discord import app_commands
from discord.gateway import DiscordWebSocket
from discord.http import Route
from discord.utils import MISSING

from bot.buttons import AnswerRef, ButtonSigner, InvalidButton, answer_ref
from bot.discord_app.buttons import is_readout_button, register_ask_again, register_buttons
from bot.discord_app.gateway import GatewayGuard
from bot.discord_app.render import (
    corpus_label,
    pack_messages,
    render_discord,
    render_notice,
    render_sources,
    render_update,
    shown_question,
)
from bot.discord_app.slash import (
    STALE_COMMANDS,
    SYNC_COMMAND,
    slash_commands,
    stale_command,
    sync_commands,
)
from bot.discord_app.threads import answer_key, thread_of
from bot.questions.log import posted_question
from bot.service import (
    CHANNEL,
    DM,
    EXPIRED,
    FAILED,
    INVALID_BUTTON,
    AnswerService,
    Asker,
    Reply,
    ReplyKind,
)
from bot.serving import Announce, InFlight, warm_up
from bot.settings import Settings
from bot.updates import EditRefused, Update, start_following, stop_following
from index.errors import ConfigError, ReadoutError

log = logging.getLogger(__name__)

PLATFORM = "discord"
INVITE_SCOPES = ("bot", "applications.commands")
DEFAULT_GUILD_READY_TIMEOUT = 2.0
THANKS = "Thanks for the feedback."
UNSUPPORTED_BUTTON = "This button is no longer supported. Please ask again."

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
        client.event(self.on_interaction)
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
            reply = await work(_asker(interaction))
            await self._follow_up(interaction, reply)
        except Exception:
            log.exception("answering interaction %s failed", interaction.id)
            await _apologise(interaction)

    async def _follow_up(self, interaction: Interaction, reply: Reply) -> None:
        if reply.kind is ReplyKind.DUPLICATE:
            return
        if reply.is_public and reply.answer is not None:
            messages = pack_messages(render_discord(reply.answer, corpus=self.corpus))
            view = self._answer_view(reply)
            for index, embeds in enumerate(messages):
                last = index == len(messages) - 1
                sent = await interaction.followup.send(
                    embeds=list(embeds), view=view if last else MISSING, wait=True
                )
                if len(messages) == 1:
                    self.service.posted(reply, PLATFORM, str(sent.channel.id), str(sent.id))
            return
        # A notice (usage, slow down, an apology) is for the asker alone, but the "thinking"
        # message a deferral leaves is public and the first follow-up would inherit that; so
        # remove it and answer ephemerally.
        with contextlib.suppress(discord.HTTPException):
            await interaction.delete_original_response()
        for content in render_notice(reply.text):
            await interaction.followup.send(content, ephemeral=True, wait=True)

    # -- buttons ---------------------------------------------------------------------------

    async def show_sources(self, interaction: Interaction, sealed: str) -> None:
        """The cited paragraphs in full, scores and reasons, for the clicker only; rebuilt on
        whichever process gets the click (see :mod:`bot.buttons`)."""
        if not self.service.first_delivery(f"discord:interaction:{interaction.id}"):
            return
        try:
            ref = self._opened(sealed)
            if ref is None:
                await interaction.response.send_message(INVALID_BUTTON, ephemeral=True)
                return
            if self.service.recent_answer(ref.answer_id) is None:
                # Rebuilding takes a moment: acknowledge within Discord's 3 s first.
                await interaction.response.defer(ephemeral=True, thinking=True)
            seen_as = shown_question(interaction.message.embeds if interaction.message else [])
            reply = await self.service.sources(_asker(interaction), ref, seen_as=seen_as)
            if reply.answer is None:
                await self._private(interaction, render_notice(reply.text))
                return
            if reply.text:  # the index changed since the answer
                await self._private(interaction, render_notice(reply.text))
            for embeds in pack_messages(render_sources(reply.answer, corpus=self.corpus)):
                await self._private(interaction, embeds=list(embeds))
        except Exception:
            log.exception("showing sources failed")
            await _apologise(interaction)

    async def record_vote(self, interaction: Interaction, sealed: str, vote: int) -> None:
        """👍/👎 recorded against the answer id the button carries, on any process."""
        if not self.service.first_delivery(f"discord:interaction:{interaction.id}"):
            return
        try:
            ref = self._opened(sealed)
            if ref is None:
                await interaction.response.send_message(INVALID_BUTTON, ephemeral=True)
                return
            self.service.record_feedback(ref.answer_id, _asker(interaction), vote)
            await interaction.response.send_message(THANKS, ephemeral=True)
        except Exception:
            log.exception("recording feedback failed")
            await _apologise(interaction)

    async def _private(
        self, interaction: Interaction, contents: tuple[str, ...] = (), **embeds: Any
    ) -> None:
        """Send to the clicker only: as the response, or as follow-ups once responded."""
        for content in contents or (MISSING,):
            if not interaction.response.is_done():
                await interaction.response.send_message(content, ephemeral=True, **embeds)
            else:
                await interaction.followup.send(content, ephemeral=True, wait=True, **embeds)

    def _opened(self, sealed: str) -> AnswerRef | None:
        """The answer a clicked button is under; None (logged, without the value) if forged."""
        try:
            return self.signer.open(sealed)
        except InvalidButton as exc:
            log.info("refused a Discord button click: %s", exc)
            return None

    async def ask_again(self, interaction: Interaction) -> None:
        """ "Ask again" on an answer whose cited text changed: its question (kept in the
        question log for that message) answered anew, as ``/ask`` would."""
        message = interaction.message
        question = None
        if message is not None:
            question = await asyncio.to_thread(
                posted_question,
                self.settings.question_log_path,
                PLATFORM,
                str(message.channel.id),
                str(message.id),
            )
        if not question:
            if self.service.first_delivery(f"discord:interaction:{interaction.id}"):
                with contextlib.suppress(discord.HTTPException):
                    await interaction.response.send_message(EXPIRED, ephemeral=True)
            return
        await self.deferred(interaction, lambda asker: self.service.ask(asker, question))

    async def on_interaction(self, interaction: Interaction) -> None:
        """A click on a button no registered item handles (one from an older readout, whose
        custom id has another format) gets a private notice: discord.py drops it silently, and
        Discord would show the clicker "This interaction failed"."""
        if interaction.type is not discord.InteractionType.component:
            return
        data: Mapping[str, object] = interaction.data or {}  # a union of TypedDicts
        custom_id = data.get("custom_id")
        if not isinstance(custom_id, str) or is_readout_button(custom_id):
            return  # the dynamic items answer these
        if not self.service.first_delivery(f"discord:interaction:{interaction.id}"):
            return
        log.info("answered a click on an unsupported button (%d characters)", len(custom_id))
        try:
            await interaction.response.send_message(UNSUPPORTED_BUTTON, ephemeral=True)
        except Exception:
            log.exception("answering a click on an unsupported button failed")
            await _apologise(interaction)

    def _answer_view(self, reply: Reply) -> discord.ui.View:
        """Buttons made only of dynamic items: discord.py keeps no per-message state for them,
        and their custom ids route to the answer after a restart too."""
        view = discord.ui.View(timeout=None)
        if reply.answer is None:
            return view
        asked = reply.kind is ReplyKind.ANSWER
        sealed = self.signer.seal_short(
            answer_ref(reply.answer, reply.answer_id, asked=asked, follows=reply.follows)
        )
        if reply.answer.citations:
            view.add_item(self.sources_button(sealed))
        view.add_item(self.vote_button("up", sealed))
        view.add_item(self.vote_button("down", sealed))
        return view

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
            for sent in await self._reply_to(message, reply):
                # a reply to any message of this answer continues its conversation
                self.service.continue_conversation(answer_key(sent.id), reply)
        except discord.Forbidden:
            log.warning("no permission to reply in channel %s", message.channel.id)
        except Exception:
            log.exception("answering message %s failed", message.id)
            with contextlib.suppress(discord.HTTPException):
                await message.channel.send(FAILED, reference=_reference(message))

    async def _reply_to(self, message: discord.Message, reply: Reply) -> list[discord.Message]:
        """Post ``reply`` as a reply to ``message`` (in its channel, thread or DM); the
        messages of an answer, once posted."""
        if reply.kind is ReplyKind.DUPLICATE:
            return []
        if reply.is_public and reply.answer is not None:
            messages = pack_messages(render_discord(reply.answer, corpus=self.corpus))
            view = self._answer_view(reply)
            posted = []
            for index, embeds in enumerate(messages):
                sent = await message.channel.send(
                    embeds=list(embeds),
                    view=view if index == len(messages) - 1 else MISSING,
                    reference=_reference(message) if index == 0 else MISSING,
                )
                posted.append(sent)
                if len(messages) == 1:
                    self.service.posted(reply, PLATFORM, str(sent.channel.id), str(sent.id))
            return posted
        for index, content in enumerate(render_notice(reply.text)):
            await message.channel.send(
                content, reference=_reference(message) if index == 0 else MISSING
            )
        return []

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
            await _apologise(interaction)
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
        await _tell_privately(interaction, STALE_COMMANDS.format(command=command))

    async def sync_commands(self, guild_id: str = "") -> str:
        """Register the slash commands (globally, or in one guild for instant updates)."""
        return await sync_commands(self.tree, guild_id)


class DiscordEditor:
    """Replaces an answer the bot posted with a message edit (``bot.updates.Editor``), through
    discord.py's HTTP client and so its rate-limit buckets.

    A follow-up to an interaction is the bot's own message too, so it is edited the same way
    (the interaction's token would expire after 15 minutes); only messages the log recorded
    are ever asked for."""

    platform = PLATFORM

    def __init__(self, app: DiscordApp) -> None:
        self._app = app

    async def edit(self, update: Update) -> None:
        app = self._app
        content, embeds = render_update(update, corpus=app.corpus)
        view = discord.ui.View(timeout=None)
        if update.answer.abstained:
            view.add_item(app.ask_again_button())
        else:
            view = app._answer_view(
                Reply(ReplyKind.ANSWER, update.answer.text, update.answer, update.answer_id)
            )
        channel = app.client.get_partial_messageable(int(update.post.channel))
        message = channel.get_partial_message(int(update.post.message))
        try:
            await message.edit(content=content or None, embeds=list(embeds), view=view)
        except (discord.NotFound, discord.Forbidden) as exc:  # deleted, or access lost
            raise EditRefused(f"HTTP {exc.status}") from None


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


def _asker(interaction: Interaction) -> Asker:
    kind = CHANNEL if interaction.guild_id is not None else DM
    return Asker(PLATFORM, str(interaction.user.id), kind)


async def _apologise(interaction: Interaction) -> None:
    """The generic apology (never the exception), wherever the interaction stands."""
    await _tell_privately(interaction, FAILED)


async def _tell_privately(interaction: Interaction, text: str) -> None:
    """A notice for the user alone, wherever the interaction stands."""
    try:
        if interaction.response.is_done():
            await interaction.followup.send(text, ephemeral=True)
        else:
            await interaction.response.send_message(text, ephemeral=True)
    except Exception:  # e.g. shutting down, or the interaction expired: nothing left to tell
        log.debug("could not answer interaction %s", interaction.id, exc_info=True)


def _mentions(message: discord.Message, user_id: int) -> bool:
    """Addressed to us by a real mention (``@everyone`` does not count) or a reply ping."""
    return user_id in message.raw_mentions or any(user.id == user_id for user in message.mentions)


def strip_mention(content: str, user_id: int) -> str:
    """The question in a message that mentions the bot: its mention tokens removed."""
    return re.sub(rf"<@!?{user_id}>", " ", content)


def _reference(message: discord.Message) -> discord.MessageReference:
    # the question may have been deleted meanwhile: then answer without the reply arrow
    return message.to_reference(fail_if_not_exists=False)
