"""The answer's buttons: "Show sources", 👍/👎 and "Ask again", and what a click does.

The buttons are discord.py *dynamic items*.

The custom id alone (``readout:sources:<ref>``, ``readout:vote:up:<ref>``, where ``<ref>`` is
the signed short reference of :mod:`bot.buttons`: answer id, index version, MAC) says what a
click means, so discord.py keeps no state per message and a click routes on any replica and
after a restart. Discord allows 100 characters; ours stay under 80. Whether a reference is
genuine is checked when it is clicked (:func:`show_sources`, :func:`record_vote`), so a forged
or altered one gets "no longer valid" rather than silence; a click on a button of an older
readout, which no item handles, gets a notice too (:func:`answer_unsupported`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import discord
from discord.utils import MISSING

from bot.buttons import AnswerRef, InvalidButton
from bot.discord_app.render import pack_messages, render_notice, render_sources, shown_question
from bot.discord_app.replies import PLATFORM, apologise, interaction_asker
from bot.questions.log import posted_question
from bot.service import EXPIRED, INVALID_BUTTON

if TYPE_CHECKING:
    from bot.discord_app.app import DiscordApp, Interaction

log = logging.getLogger(__name__)

THANKS = "Thanks for the feedback."
UNSUPPORTED_BUTTON = "This button is no longer supported. Please ask again."
CUSTOM_ID_LIMIT = 100  # Discord refuses a longer custom_id
SOURCES_ID = "readout:sources:{ref}"
VOTE_ID = "readout:vote:{vote}:{ref}"
ASK_AGAIN_ID = "readout:again"
# An answer id, then (since buttons are signed) anything: a click on one of these is ours, and
# is verified when clicked; an older unsigned id gets "no longer valid".
_REF = r"(?P<ref>[0-9a-f]{1,64}(?::[^\s]{0,60})?)"
SOURCES_TEMPLATE = rf"readout:sources:{_REF}"
VOTE_TEMPLATE = rf"readout:vote:(?P<vote>up|down):{_REF}"
_VOTES = {"up": 1, "down": -1}
_TEMPLATES = tuple(
    re.compile(t) for t in (SOURCES_TEMPLATE, VOTE_TEMPLATE, re.escape(ASK_AGAIN_ID))
)


def is_readout_button(custom_id: str) -> bool:
    """Whether one of the buttons registered below handles ``custom_id``."""
    return any(template.fullmatch(custom_id) for template in _TEMPLATES)


def register_buttons(
    app: DiscordApp,
) -> tuple[Callable[[str], discord.ui.Item[Any]], Callable[[str, str], discord.ui.Item[Any]]]:
    """Register the persistent buttons with the client; return their constructors.

    A click on a button none of them handles is answered by :func:`answer_unsupported`.
    They are dynamic items: the custom id alone (``readout:sources:<ref>``,
    ``readout:vote:up:<ref>``) says what a click means, so discord.py keeps no state per
    message and a click still routes after a restart. Bound to ``app`` by closure because
    discord.py registers item classes, not instances."""

    class SourcesButton(
        discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]], template=SOURCES_TEMPLATE
    ):
        def __init__(self, ref: str) -> None:
            super().__init__(
                discord.ui.Button(
                    label="Show sources",
                    style=discord.ButtonStyle.secondary,
                    custom_id=SOURCES_ID.format(ref=ref),
                )
            )
            self.ref = ref

        @classmethod
        async def from_custom_id(
            cls, interaction: Interaction, item: discord.ui.Item[Any], match: re.Match[str]
        ) -> SourcesButton:
            return cls(match["ref"])

        async def callback(self, interaction: Interaction) -> None:
            await show_sources(app, interaction, self.ref)

    class VoteButton(
        discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]], template=VOTE_TEMPLATE
    ):
        def __init__(self, vote: str, ref: str) -> None:
            super().__init__(
                discord.ui.Button(
                    emoji="👍" if vote == "up" else "👎",
                    style=discord.ButtonStyle.secondary,
                    custom_id=VOTE_ID.format(vote=vote, ref=ref),
                )
            )
            self.vote = vote
            self.ref = ref

        @classmethod
        async def from_custom_id(
            cls, interaction: Interaction, item: discord.ui.Item[Any], match: re.Match[str]
        ) -> VoteButton:
            return cls(match["vote"], match["ref"])

        async def callback(self, interaction: Interaction) -> None:
            await record_vote(app, interaction, self.ref, _VOTES[self.vote])

    async def on_interaction(interaction: Interaction) -> None:
        await answer_unsupported(app, interaction)

    app.client.add_dynamic_items(SourcesButton, VoteButton)
    app.client.event(on_interaction)
    return SourcesButton, VoteButton


def register_ask_again(app: DiscordApp) -> Callable[[], discord.ui.Item[Any]]:
    """Register "Ask again", shown on an answer whose cited text changed and no longer answers
    it (``bot.updates``); return its constructor. Its custom id is fixed: the question is found
    from the clicked message, in the question log."""

    class AskAgainButton(
        discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
        template=re.escape(ASK_AGAIN_ID),
    ):
        def __init__(self) -> None:
            super().__init__(
                discord.ui.Button(
                    label="Ask again", style=discord.ButtonStyle.primary, custom_id=ASK_AGAIN_ID
                )
            )

        @classmethod
        async def from_custom_id(
            cls, interaction: Interaction, item: discord.ui.Item[Any], match: re.Match[str]
        ) -> AskAgainButton:
            return cls()

        async def callback(self, interaction: Interaction) -> None:
            await ask_again(app, interaction)

    app.client.add_dynamic_items(AskAgainButton)
    return AskAgainButton


# -- clicks --------------------------------------------------------------------------------


async def show_sources(app: DiscordApp, interaction: Interaction, sealed: str) -> None:
    """The cited paragraphs in full, scores and reasons, for the clicker only; rebuilt on
    whichever process gets the click (see :mod:`bot.buttons`)."""
    if not app.service.first_delivery(f"discord:interaction:{interaction.id}"):
        return
    try:
        ref = _opened(app, sealed)
        if ref is None:
            await interaction.response.send_message(INVALID_BUTTON, ephemeral=True)
            return
        if app.service.recent_answer(ref.answer_id) is None:
            # Rebuilding takes a moment: acknowledge within Discord's 3 s first.
            await interaction.response.defer(ephemeral=True, thinking=True)
        seen_as = shown_question(interaction.message.embeds if interaction.message else [])
        reply = await app.service.sources(interaction_asker(interaction), ref, seen_as=seen_as)
        if reply.answer is None:
            await _private(interaction, render_notice(reply.text))
            return
        if reply.text:  # the index changed since the answer
            await _private(interaction, render_notice(reply.text))
        for embeds in pack_messages(render_sources(reply.answer, corpus=app.corpus)):
            await _private(interaction, embeds=list(embeds))
    except Exception:
        log.exception("showing sources failed")
        await apologise(interaction)


async def record_vote(app: DiscordApp, interaction: Interaction, sealed: str, vote: int) -> None:
    """👍/👎 recorded against the answer id the button carries, on any process."""
    if not app.service.first_delivery(f"discord:interaction:{interaction.id}"):
        return
    try:
        ref = _opened(app, sealed)
        if ref is None:
            await interaction.response.send_message(INVALID_BUTTON, ephemeral=True)
            return
        app.service.record_feedback(ref.answer_id, interaction_asker(interaction), vote)
        await interaction.response.send_message(THANKS, ephemeral=True)
    except Exception:
        log.exception("recording feedback failed")
        await apologise(interaction)


async def ask_again(app: DiscordApp, interaction: Interaction) -> None:
    """ "Ask again" on an answer whose cited text changed: its question (kept in the
    question log for that message) answered anew, as ``/ask`` would."""
    message = interaction.message
    question = None
    if message is not None:
        question = await asyncio.to_thread(
            posted_question,
            app.settings.question_log_path,
            PLATFORM,
            str(message.channel.id),
            str(message.id),
        )
    if not question:
        if app.service.first_delivery(f"discord:interaction:{interaction.id}"):
            with contextlib.suppress(discord.HTTPException):
                await interaction.response.send_message(EXPIRED, ephemeral=True)
        return
    await app.deferred(interaction, lambda who: app.service.ask(who, question))


async def answer_unsupported(app: DiscordApp, interaction: Interaction) -> None:
    """A click on a button no registered item handles (one from an older readout, whose
    custom id has another format) gets a private notice: discord.py drops it silently, and
    Discord would show the clicker "This interaction failed"."""
    if interaction.type is not discord.InteractionType.component:
        return
    data: Mapping[str, object] = interaction.data or {}  # a union of TypedDicts
    custom_id = data.get("custom_id")
    if not isinstance(custom_id, str) or is_readout_button(custom_id):
        return  # the dynamic items answer these
    if not app.service.first_delivery(f"discord:interaction:{interaction.id}"):
        return
    log.info("answered a click on an unsupported button (%d characters)", len(custom_id))
    try:
        await interaction.response.send_message(UNSUPPORTED_BUTTON, ephemeral=True)
    except Exception:
        log.exception("answering a click on an unsupported button failed")
        await apologise(interaction)


async def _private(interaction: Interaction, contents: tuple[str, ...] = (), **embeds: Any) -> None:
    """Send to the clicker only: as the response, or as follow-ups once responded."""
    for content in contents or (MISSING,):
        if not interaction.response.is_done():
            await interaction.response.send_message(content, ephemeral=True, **embeds)
        else:
            await interaction.followup.send(content, ephemeral=True, wait=True, **embeds)


def _opened(app: DiscordApp, sealed: str) -> AnswerRef | None:
    """The answer a clicked button is under; None (logged, without the value) if forged."""
    try:
        return app.signer.open(sealed)
    except InvalidButton as exc:
        log.info("refused a Discord button click: %s", exc)
        return None
