"""Plain text as blocks of prose. Two layouts are common and both are handled:

* one paragraph per line, no blank lines (news copy such as the bundled article);
* blank-line separated blocks, hard-wrapped and possibly indented (license files, notes),
  whose wrapped lines are joined back into one paragraph.

Lines starting with ``#`` are headings, list items are paragraphs of their own, and text
between ``` fences is code, not prose. A short block that does not end a sentence is a heading
only when what follows makes it one: it reads like a title (Title Case, CAPITALS or a numbered
"1. Definitions.") and body text comes after it. "Requires Python 3.9+" followed by another
paragraph stays quotable; the last line of a file is never a heading.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import pairwise

from index.formats import Block, Parsed

# A one-line block shorter than this, without closing punctuation, may be a heading.
HEADING_MAX_CHARS = 80

_MD_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+•]|\d{1,3}[.)]|\([a-z0-9]{1,3}\))\s+")
_NUMBERED_HEADING = re.compile(r"^\d{1,3}\.\s+\w+(?:\s+\w+){0,3}\.?$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_RULE = re.compile(r"^\s*([-*_=])(\s*\1){2,}\s*$")
_WHITESPACE = re.compile(r"\s+")
_CLOSING_PUNCTUATION = tuple(".!?:;,”\"')…")
# Words left lower case in a Title Case heading.
_MINOR_WORDS = frozenset(
    "a an and as at but by for from in into nor of on or per the to vs via with".split()
)


@dataclass(frozen=True, slots=True)
class _Block:
    text: str
    marked_heading: bool = False  # a "# ..." line: a heading whatever follows
    maybe_heading: bool = False  # short and title-like: a heading if body text follows
    title: str = ""  # a heading's first line, which names the document if it comes first


def read_text(body: str) -> Parsed:
    """Blocks of a plain-text body; the title is the first heading, if any."""
    raw = list(_blocks(body))
    headings = _decide_headings(raw)
    blocks: list[Block] = []
    section: tuple[str, ...] = ()
    title = ""
    for block, is_heading in zip(raw, headings, strict=True):
        if is_heading:
            section = (block.text,)
            title = title or block.title or block.text
        else:
            blocks.append(Block(block.text, section))
    return Parsed(blocks=tuple(blocks), title=title)


def _decide_headings(blocks: list[_Block]) -> list[bool]:
    """Walk backwards: a candidate is a heading when body text (possibly after more
    headings, as in "TERMS AND CONDITIONS" / "1. Definitions." / text) comes after it."""
    decided = [False] * len(blocks)
    body_follows = False
    for i in range(len(blocks) - 1, -1, -1):
        block = blocks[i]
        if block.marked_heading:
            decided[i] = True
        elif block.maybe_heading and body_follows:
            decided[i] = True
        else:
            body_follows = True
    return decided


def _blocks(body: str) -> Iterator[_Block]:
    lines = body.splitlines()
    nonblank = [i for i, line in enumerate(lines) if line.strip()]
    has_blank_separators = any(b - a > 1 for a, b in pairwise(nonblank))
    groups = _group_by_blank_lines(lines) if has_blank_separators else [[ln] for ln in lines]
    for group in groups:
        yield from _blocks_in_group(group, wrapped=has_blank_separators)


def _group_by_blank_lines(lines: Iterable[str]) -> list[list[str]]:
    groups: list[list[str]] = [[]]
    in_fence = False
    for line in lines:
        if _FENCE.match(line):
            in_fence = not in_fence
        if not line.strip() and not in_fence:
            groups.append([])
        else:
            groups[-1].append(line)
    return [g for g in groups if g]


def _blocks_in_group(group: list[str], *, wrapped: bool) -> Iterator[_Block]:
    if _FENCE.match(group[0]):
        return  # code is not prose to quote
    current: list[str] = []
    for line in group:
        if _RULE.match(line):
            continue
        heading = _MD_HEADING.match(line)
        if heading:
            if current:
                yield _Block(_join(current))
                current = []
            if heading.group(1).strip():
                yield _Block(heading.group(1).strip(), marked_heading=True)
            continue
        if current and _LIST_ITEM.match(line):
            yield _Block(_join(current))
            current = []
        current.append(line)
    if not current:
        return
    text = _join(current)
    if text:
        yield _Block(
            text, maybe_heading=wrapped and _looks_like_heading(current), title=_join(current[:1])
        )


def _join(lines: list[str]) -> str:
    return _WHITESPACE.sub(" ", " ".join(line.strip() for line in lines)).strip()


def _looks_like_heading(lines: list[str]) -> bool:
    """At most three short lines in Title Case or CAPITALS that do not end a sentence
    ("APPENDIX", "Getting Started"), or a numbered section title ("1. Definitions.")."""
    texts = [_join([line]) for line in lines]
    if len(texts) == 1 and _NUMBERED_HEADING.match(texts[0]):
        return True
    # A title block may go on with a subtitle or a URL ("Apache License / Version 2.0 /
    # http://..."): only its first line needs to read as a title.
    return (
        len(texts) <= 3
        and _title_like(texts[0])
        and all(
            len(text) <= HEADING_MAX_CHARS
            and not text.endswith(_CLOSING_PUNCTUATION)
            and not _LIST_ITEM.match(text)
            for text in texts
        )
    )


def _title_like(text: str) -> bool:
    words = re.findall(r"[^\W\d_][\w'’-]*", text)
    if not words:
        return False
    return all(w[0].isupper() or w.lower() in _MINOR_WORDS for w in words)
