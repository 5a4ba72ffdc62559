"""The answer's buttons: "Show sources", 👍 and 👎, as discord.py *dynamic items*.

The custom id alone (``readout:sources:<ref>``, ``readout:vote:up:<ref>``, where ``<ref>`` is
the signed short reference of :mod:`bot.buttons`: answer id, index version, MAC) says what a
click means, so discord.py keeps no state per message and a click routes on any replica and
after a restart. Discord allows 100 characters; ours stay under 80. Whether a reference is
genuine is checked when it is clicked (:meth:`DiscordApp.show_sources`), so a forged or
altered one gets "no longer valid" rather than silence.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import discord

if TYPE_CHECKING:
    from bot.discord_app.app import DiscordApp, Interaction

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
            await app.show_sources(interaction, self.ref)

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
            await app.record_vote(interaction, self.ref, _VOTES[self.vote])

    app.client.add_dynamic_items(SourcesButton, VoteButton)
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
            await app.ask_again(interaction)

    app.client.add_dynamic_items(AskAgainButton)
    return AskAgainButton
