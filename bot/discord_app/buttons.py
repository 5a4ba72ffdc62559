"""The answer's buttons: "Show sources", 👍 and 👎, as discord.py *dynamic items*.

The custom id alone (``readout:sources:<answer id>``, ``readout:vote:up:<answer id>``) says
what a click means, so discord.py keeps no state per message and a click still routes after a
restart.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import discord

if TYPE_CHECKING:
    from bot.discord_app.app import DiscordApp, Interaction

SOURCES_ID = "readout:sources:{answer_id}"
VOTE_ID = "readout:vote:{vote}:{answer_id}"
ASK_AGAIN_ID = "readout:again"
SOURCES_TEMPLATE = r"readout:sources:(?P<answer_id>[0-9a-f]{1,64})"
VOTE_TEMPLATE = r"readout:vote:(?P<vote>up|down):(?P<answer_id>[0-9a-f]{1,64})"
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

    They are dynamic items: the custom id alone (``readout:sources:<answer id>``,
    ``readout:vote:up:<answer id>``) says what a click means, so discord.py keeps no state per
    message and a click still routes after a restart. Bound to ``app`` by closure because
    discord.py registers item classes, not instances."""

    class SourcesButton(
        discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]], template=SOURCES_TEMPLATE
    ):
        def __init__(self, answer_id: str) -> None:
            super().__init__(
                discord.ui.Button(
                    label="Show sources",
                    style=discord.ButtonStyle.secondary,
                    custom_id=SOURCES_ID.format(answer_id=answer_id),
                )
            )
            self.answer_id = answer_id

        @classmethod
        async def from_custom_id(
            cls, interaction: Interaction, item: discord.ui.Item[Any], match: re.Match[str]
        ) -> SourcesButton:
            return cls(match["answer_id"])

        async def callback(self, interaction: Interaction) -> None:
            await app.show_sources(interaction, self.answer_id)

    class VoteButton(
        discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]], template=VOTE_TEMPLATE
    ):
        def __init__(self, vote: str, answer_id: str) -> None:
            super().__init__(
                discord.ui.Button(
                    emoji="👍" if vote == "up" else "👎",
                    style=discord.ButtonStyle.secondary,
                    custom_id=VOTE_ID.format(vote=vote, answer_id=answer_id),
                )
            )
            self.vote = vote
            self.answer_id = answer_id

        @classmethod
        async def from_custom_id(
            cls, interaction: Interaction, item: discord.ui.Item[Any], match: re.Match[str]
        ) -> VoteButton:
            return cls(match["vote"], match["answer_id"])

        async def callback(self, interaction: Interaction) -> None:
            await app.record_vote(interaction, self.answer_id, _VOTES[self.vote])

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
