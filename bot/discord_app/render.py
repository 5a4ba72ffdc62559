"""How answers look on Discord: pure functions from the core's ``Answer`` to embeds and text.

An answer becomes an embed titled with the question, whose description is the quoted sentences
with their ``[n]`` markers, with one field per citation (``[1] ¶12 · Title`` over the quote,
linked to the sentence when the document has a url) and a footer naming the corpus. An
abstention is the same embed saying plainly that the documents don't cover the question.
"Show sources" renders each cited paragraph in full with its score and why it was chosen.

This module owns Discord's size limits. Nothing is cut off and nothing is left for Discord to
refuse: a long description continues in another embed, a long quote in another field, and
embeds are packed into as many messages as the 6,000-characters-per-message budget needs.
Text from people and from documents is Markdown-escaped, so a question or a passage cannot
format, hide (spoilers) or disguise links in the reply.

Nothing here talks to Discord; ``bot.discord_app`` sends what these functions build.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from urllib.parse import quote as percent_encode

import discord
from discord.utils import escape_markdown

from bot.updates import Update
from retrieval.answer import Answer, Citation

# Discord's documented limits (https://discord.com/developers/docs/resources/message#embed-object-embed-limits).
CONTENT_LIMIT = 2000
TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FIELD_NAME_LIMIT = 256
FIELD_VALUE_LIMIT = 1024
FIELDS_PER_EMBED = 25
FOOTER_LIMIT = 2048
FOOTER_CHARS = 256  # our own cap: title + full description + footer must stay under 6,000
MESSAGE_EMBED_CHARS = 6000  # summed over every embed of one message
EMBEDS_PER_MESSAGE = 10

ANSWER_COLOUR = discord.Colour(0x2B6CB0)
ABSTAIN_COLOUR = discord.Colour(0x718096)
NO_SOURCES = "This answer quotes nothing: the documents don't cover that question."
ELLIPSIS = "…"


def render_discord(answer: Answer, *, corpus: str) -> tuple[discord.Embed, ...]:
    """The embeds for an answer: usually one; more only when it overflows Discord's limits."""
    colour = ABSTAIN_COLOUR if answer.abstained else ANSWER_COLOUR
    fields = [field for citation in answer.citations for field in _citation_fields(citation)]
    return _lay_out(
        title=_clip(_escape(answer.question), TITLE_LIMIT),
        descriptions=split_text(_escape(_read_as(answer) + answer.text), DESCRIPTION_LIMIT),
        fields=fields,
        footer=footer_text(corpus),
        colour=colour,
    )


def _read_as(answer: Answer) -> str:
    # How a follow-up was read, above the quotes (the title keeps the words as typed).
    return f"(read as: {answer.understood_as})\n\n" if answer.understood_as else ""


_READ_AS = re.compile(r"\(read as: (?P<question>.+?)\)\n\n", re.DOTALL)
_ESCAPED = re.compile(r"\\(.)", re.DOTALL)


def shown_question(embeds: Sequence[discord.Embed]) -> str:
    """The question an answer message shows, as readout understood it (the "read as" line of
    a follow-up, else the title), unescaped; "" when the message shows none in full (a
    clipped title, or the continuation of a long answer)."""
    if not embeds:
        return ""
    first = embeds[0]
    match = _READ_AS.match(first.description or "")
    shown = match["question"] if match else (first.title or "")
    if not shown or shown.endswith(ELLIPSIS):
        return ""
    return _ESCAPED.sub(r"\1", shown)


def render_update(update: Update, *, corpus: str) -> tuple[str, tuple[discord.Embed, ...]]:
    """What replaces an answer whose cited text changed (``bot.updates``): a note as the
    message content over the new answer's embeds (the first message's worth), or, when the
    documents no longer answer it, one embed titled with the question that says so."""
    if update.answer.abstained:
        embed = discord.Embed(
            title=_clip(_escape(update.post.question), TITLE_LIMIT),
            description=_escape(update.note),
            colour=ABSTAIN_COLOUR,
        )
        embed.set_footer(text=footer_text(corpus))
        return "", (embed,)
    embeds = pack_messages(render_discord(update.answer, corpus=corpus))[0]
    return f"*{_escape(update.note)}*", embeds


def render_sources(answer: Answer, *, corpus: str) -> tuple[discord.Embed, ...]:
    """ "Show sources": each cited paragraph in full, its score and why it was chosen."""
    if not answer.citations:
        return (discord.Embed(description=NO_SOURCES, colour=ABSTAIN_COLOUR),)
    embeds: list[discord.Embed] = []
    for citation in answer.citations:
        fields = [
            ("Score", f"{citation.score:.2f}"),
            ("Why chosen", _clip(_escape(citation.reason), FIELD_VALUE_LIMIT) or "—"),
        ]
        link = _markdown_link(f"Open {citation.ref}", citation.link)
        if link:
            fields.append(("Link", link))
        embeds.extend(
            _lay_out(
                title=_clip(_citation_heading(citation), TITLE_LIMIT),
                descriptions=split_text(_highlighted_paragraph(citation), DESCRIPTION_LIMIT),
                fields=fields,
                footer=footer_text(corpus),
                colour=ANSWER_COLOUR,
            )
        )
    return tuple(embeds)


def render_notice(text: str) -> tuple[str, ...]:
    """A plain message (usage, "slow down", an apology) as one or more contents of ≤2,000."""
    return tuple(split_text(text, CONTENT_LIMIT))


def pack_messages(embeds: Sequence[discord.Embed]) -> tuple[tuple[discord.Embed, ...], ...]:
    """Group embeds into messages of at most 10 embeds and 6,000 characters in total."""
    messages: list[list[discord.Embed]] = []
    size = 0
    for embed in embeds:
        if (
            not messages
            or len(messages[-1]) == EMBEDS_PER_MESSAGE
            or size + len(embed) > MESSAGE_EMBED_CHARS
        ):
            messages.append([])
            size = 0
        messages[-1].append(embed)
        size += len(embed)
    return tuple(tuple(message) for message in messages)


def footer_text(corpus: str) -> str:
    """The footer naming what readout searched."""
    return _clip(f"readout · quoting {corpus}", FOOTER_CHARS)


def corpus_label(titles: Iterable[str]) -> str:
    """A short name for the indexed documents: their titles, or the first few and a count."""
    names = sorted({title.strip() for title in titles if title.strip()})
    if not names:
        return "the documents"
    if len(names) <= 3:
        return ", ".join(names)
    return f"{', '.join(names[:2])} and {len(names) - 2} more documents"


def split_text(text: str, limit: int) -> list[str]:
    """Split ``text`` into pieces of at most ``limit`` characters, at whitespace when possible."""
    pieces: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        cut = max(rest.rfind(" ", limit // 2, limit + 1), rest.rfind("\n", limit // 2, limit + 1))
        if cut <= 0:
            cut = limit
        # never end a piece on the backslash of a Markdown escape: the next piece would start
        # with the bare character, unescaped
        while cut > 1 and rest[cut - 1] == "\\":
            cut -= 1
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest or not pieces:
        pieces.append(rest)
    return pieces


# -- internals -----------------------------------------------------------------------------


def _lay_out(
    *,
    title: str,
    descriptions: Sequence[str],
    fields: Sequence[tuple[str, str]],
    footer: str,
    colour: discord.Colour,
) -> tuple[discord.Embed, ...]:
    """Fill embeds in order: title and description first, then fields, each within limits.

    Every embed keeps room for the footer, so whichever ends up last can carry it; and every
    embed fits a message of its own (a full description plus title stays far below 6,000)."""
    budget = MESSAGE_EMBED_CHARS - len(footer)
    current = discord.Embed(title=title or None, description=descriptions[0] or None, colour=colour)
    embeds: list[discord.Embed] = []
    for description in descriptions[1:]:
        embeds.append(current)
        current = discord.Embed(description=description, colour=colour)
    for name, value in fields:
        if (
            len(current.fields) == FIELDS_PER_EMBED
            or len(current) + len(name) + len(value) > budget
        ):
            embeds.append(current)
            current = discord.Embed(colour=colour)
        current.add_field(name=name, value=value, inline=False)
    embeds.append(current)
    embeds[-1].set_footer(text=footer)
    return tuple(embeds)


def _citation_fields(citation: Citation) -> list[tuple[str, str]]:
    """``[n] ¶P · Title`` over the quote; a quote too long for one field continues in more."""
    name = _clip(_citation_heading(citation), FIELD_NAME_LIMIT)
    link = _markdown_link(f"Open {citation.ref}", citation.link)
    suffix = f"\n{link}" if link and len(link) <= FIELD_VALUE_LIMIT // 2 else ""
    pieces = split_text(_escape(citation.quote), FIELD_VALUE_LIMIT - len(suffix))
    fields = []
    for index, piece in enumerate(pieces):
        value = piece + (suffix if index == len(pieces) - 1 else "")
        heading = name if index == 0 else _clip(f"[{citation.n}] (continued)", FIELD_NAME_LIMIT)
        fields.append((heading, value or "—"))
    return fields


def _citation_heading(citation: Citation) -> str:
    section = f" › {_escape(citation.section)}" if citation.section else ""
    return f"[{citation.n}] {citation.where} · {_escape(citation.title)}{section}"


def _highlighted_paragraph(citation: Citation) -> str:
    """The full paragraph with the quoted sentence in bold (when it fits in one description)."""
    paragraph = _escape(citation.context or citation.quote)
    sentence = _escape(citation.quote)
    if sentence and sentence in paragraph and len(paragraph) + 4 <= DESCRIPTION_LIMIT:
        # bold across a split would leave unmatched asterisks, hence only when it all fits
        return paragraph.replace(sentence, f"**{sentence}**", 1)
    return paragraph


def _markdown_link(label: str, url: str) -> str:
    """A masked link, or "" for anything but http(s); parentheses and spaces are encoded so
    the url cannot end the link early."""
    if not url.startswith(("https://", "http://")):
        return ""
    safe = percent_encode(url, safe=":/?#[]@!$&'*+,;=%~-._")
    return f"[{_escape(label)}]({safe})"


def _escape(text: str) -> str:
    """Markdown-escape text from a person or a document (links stay clickable, not masked)."""
    return escape_markdown(text.strip())


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - len(ELLIPSIS)].rstrip("\\") + ELLIPSIS
