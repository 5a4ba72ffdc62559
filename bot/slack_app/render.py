"""Block Kit rendering of replies for Slack: pure functions from the core's types to messages.

It owns what a reply *looks like* in Slack and Slack's message limits:

* an answer is its sentences with ``[n]`` markers, one context block per citation
  (``[1] ¶12 · title`` linked to the quoted sentence when the document has a url, then the
  quote), and buttons: "Show sources", 👍 and 👎;
* "Show sources" is the full paragraph behind each citation, its score and why it was chosen;
* notices (usage, too long, slow down, errors) are plain text;
* an answer updated after a re-index changed what it cited (``bot.updates``) is the new answer
  under a note saying so, or, when the documents no longer answer, the note and "Ask again".

Everything that came from a person or a document is escaped (``&``, ``<``, ``>``) and sent with
``verbatim: true``, so ``<!channel>``, ``<@U123>`` or ``@here`` in a question or a passage
notifies nobody. Section text stays within 3,000 characters and a message within 50 blocks;
longer replies are split into sections and then into several messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.service import Reply
from bot.updates import Update
from retrieval.answer import Answer, Citation

Block = dict[str, Any]

SECTION_LIMIT = 3000  # Slack rejects a section (or context element) text over 3,000 characters
MAX_BLOCKS = 50  # ... and a message with more than 50 blocks
# A response_url accepts five messages; a reply never needs more than that.
MAX_MESSAGES = 5
BUTTON_VALUE_LIMIT = 2000  # Slack's limit on a button's value (questions are far shorter)
QUOTE_PREVIEW_CHARS = 300  # a citation line previews its quote; "Show sources" shows it all
FALLBACK_CHARS = 300  # notification text: a preview, the blocks carry the answer

SHOW_SOURCES = "readout_show_sources"
FEEDBACK_UP = "readout_feedback_up"
FEEDBACK_DOWN = "readout_feedback_down"
ANSWER_ACTIONS = "readout_answer_actions"
ASK_AGAIN = "readout_ask_again"
TRUNCATED = "_…shortened to fit in Slack._"


@dataclass(frozen=True, slots=True)
class SlackMessage:
    """One Slack message: notification ``text`` (already escaped) and its ``blocks``."""

    text: str
    blocks: tuple[Block, ...] = ()


def escape(text: str) -> str:
    """Escape Slack's three control characters so text from people and documents stays text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render_reply(reply: Reply, button_value: str = "") -> tuple[SlackMessage, ...]:
    """The messages for a reply: Block Kit for answers (their buttons carrying
    ``button_value``, by default the bare answer id), plain text for notices."""
    if reply.answer is not None:
        return render_answer(reply.answer, button_value or reply.answer_id)
    return (render_notice(reply.text),)


def render_notice(text: str) -> SlackMessage:
    """A short notice (usage, too long, slow down, an apology), as escaped plain text."""
    return SlackMessage(text=escape(text))


def render_answer(answer: Answer, button_value: str) -> tuple[SlackMessage, ...]:
    """An answer: the question, the cited sentences, a context block per citation, buttons
    (each carrying ``button_value``: the signed reference of :mod:`bot.buttons`)."""
    blocks: list[Block] = [_context(f"*Q:* {escape(answer.question)}")]
    if answer.understood_as:  # a follow-up: how the conversation made it read
        blocks.append(_context(f"_(read as: {escape(answer.understood_as)})_"))
    blocks += [_section(chunk) for chunk in split_text(escape(answer.text))]
    blocks += [_context(_citation_line(c)) for c in answer.citations]
    value = button_value
    buttons = [_button("👍", FEEDBACK_UP, value), _button("👎", FEEDBACK_DOWN, value)]
    if answer.citations:  # an abstention has no sources to show, but can still be voted on
        buttons.insert(0, _button("Show sources", SHOW_SOURCES, value))
    footer: Block = {"type": "actions", "block_id": ANSWER_ACTIONS, "elements": buttons}
    return _paginate(blocks, footer, escape(_preview(answer.text)))


def render_update(update: Update, button_value: str = "") -> SlackMessage:
    """What replaces an answer whose cited text changed: the new answer with a note saying
    so (its buttons carrying ``button_value``, as in :func:`render_answer`), or the note and an
    "Ask again" button (its value is the question) when the documents no longer answer it. One
    message: ``chat.update`` replaces exactly one."""
    answer = update.answer
    note = _context(f"_{escape(update.note)}_")
    if not answer.abstained:
        first = render_answer(answer, button_value or update.answer_id)[0]
        return SlackMessage(first.text, (first.blocks[0], note, *first.blocks[1:]))
    button = _button("Ask again", ASK_AGAIN, update.post.question[:BUTTON_VALUE_LIMIT])
    blocks: tuple[Block, ...] = (
        _context(f"*Q:* {escape(update.post.question)}"),
        _section(escape(update.note)),
        {"type": "actions", "block_id": ANSWER_ACTIONS, "elements": [button]},
    )
    return SlackMessage(escape(_preview(update.note)), blocks)


def render_sources(answer: Answer, note: str = "") -> tuple[SlackMessage, ...]:
    """The "Show sources" view: each citation's full paragraph, its score and why it was
    chosen (after ``note``, e.g. that the index changed since the answer)."""
    blocks: list[Block] = [_context(f"*Sources for:* {escape(answer.question)}")]
    if note:
        blocks.append(_context(f"_{escape(note)}_"))
    for c in answer.citations:
        title = _linked(c.link, f"{c.title} {c.where}")
        if c.section:
            title += f" › {escape(c.section)}"
        header = f"*[{c.n}]* {title} · `{escape(c.ref)}` · score {c.score:.2f}"
        if c.reason:
            header += f"\n_Why:_ {escape(c.reason)}"
        blocks.append(_section(_fit(header)))
        blocks += [_section(chunk) for chunk in split_text(escape(c.context or c.quote))]
    if not answer.citations:
        blocks.append(_section("No sources: the documents don't cover this question."))
    return _paginate(blocks, None, escape(_preview(f"Sources for: {answer.question}")))


def split_text(text: str, limit: int = SECTION_LIMIT) -> tuple[str, ...]:
    """Split escaped text into chunks of at most ``limit`` characters, at whitespace when it
    can, and never inside an entity such as ``&amp;``."""
    chunks: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        cut = max(rest.rfind(" ", 0, limit + 1), rest.rfind("\n", 0, limit + 1))
        if cut <= 0:  # one unbroken run: cut hard, but not through "&amp;", "&lt;" or "&gt;"
            cut = limit
            amp = rest.rfind("&", cut - 4, cut)
            if amp > 0 and ";" not in rest[amp:cut]:
                cut = amp
        chunks.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest or not chunks:
        chunks.append(rest)
    return tuple(chunks)


# -- blocks --------------------------------------------------------------------------------


def _mrkdwn(text: str) -> Block:
    # verbatim: Slack would otherwise auto-link channel names and parse some bare mentions
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def _section(text: str) -> Block:
    return {"type": "section", "text": _mrkdwn(text)}


def _context(text: str) -> Block:
    return {"type": "context", "elements": [_mrkdwn(_fit(text))]}


def _button(label: str, action_id: str, value: str) -> Block:
    return {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": label, "emoji": True},
        "value": value,
    }


def _citation_line(citation: Citation) -> str:
    title = _linked(citation.link, citation.title)
    quote = escape(_preview(citation.quote, QUOTE_PREVIEW_CHARS))
    section = f" › {escape(citation.section)}" if citation.section else ""
    return f"*[{citation.n}]* {citation.where} · {title}{section}\n“{quote}”"


def _linked(url: str, label: str) -> str:
    """``<url|label>`` for an http(s) url, else the escaped label alone."""
    if not url.startswith(("https://", "http://")):
        return escape(label)
    # "|" and ">" would end the url early; Slack wants &, <, > escaped inside links too
    safe_url = escape(url.replace("|", "%7C"))
    return f"<{safe_url}|{escape(label)}>"


def _fit(text: str) -> str:
    """Text cut to one block's limit (for lines that are never split, like a citation line)."""
    return text if len(text) <= SECTION_LIMIT else split_text(text, SECTION_LIMIT - 1)[0] + "…"


def _preview(text: str, limit: int = FALLBACK_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _paginate(blocks: list[Block], footer: Block | None, fallback: str) -> tuple[SlackMessage, ...]:
    """Messages of at most MAX_BLOCKS blocks each (at most MAX_MESSAGES of them), the footer
    last."""
    tail = [footer] if footer else []
    capacity = MAX_MESSAGES * MAX_BLOCKS - len(tail)
    if len(blocks) > capacity:
        blocks = blocks[: capacity - 1] + [_context(TRUNCATED)]
    blocks = blocks + tail
    pages = [blocks[start : start + MAX_BLOCKS] for start in range(0, len(blocks), MAX_BLOCKS)]
    texts = [fallback] + [f"{fallback} (continued)"] * (len(pages) - 1)
    return tuple(SlackMessage(text, tuple(page)) for text, page in zip(texts, pages, strict=True))
