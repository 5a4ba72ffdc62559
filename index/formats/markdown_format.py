"""Markdown (CommonMark, with the extensions documentation sites use) as blocks of prose.

Parsed by markdown-it-py, so what is a heading, a list item, a code fence or a table is what
CommonMark says, not a guess from the look of a line:

* headings form the section path of the blocks below them;
* each paragraph, list item paragraph and admonition body is a block (a list item marked as
  one, see ``Block.item``); an admonition's own title
  ("!!! warning "Only trust clients you trust"") is one too, its default title ("Note") is not;
* code (fenced or indented) is never prose; a fence left open at the end of the file is treated
  as a mistake: the text after it is read as Markdown again, with a warning naming the line;
* a table row becomes "column: value; column: value." so a question about one setting finds it;
* inline code keeps its backticks (the source's text), links and emphasis become their text,
  images and inline HTML tags are dropped;
* HTML blocks are read with the HTML reader (text and headings kept, comments and markup
  dropped);
* MkDocs content tabs (``=== "pip"``) are read like admonitions whose title is dropped.

The title is the front matter's ``title``, else the first level-1 heading (``#``), else empty
(the caller then uses the file name).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from index.formats import Block, Parsed, row_text
from index.formats.html_format import html_blocks

_WHITESPACE = re.compile(r"\s+")
_CONTENT_TAB = re.compile(r'^(\s*)===(\+?)\s+"([^"]*)"\s*$', re.MULTILINE)
_TAB_TAG = "readout-tab"
_CONTAINERS = frozenset(
    {
        "list_item_open",
        "list_item_close",
        "admonition_open",
        "admonition_close",
        "blockquote_open",
        "blockquote_close",
    }
)


@dataclass
class _State:
    section: list[tuple[int, str]] = field(default_factory=list)
    blocks: list[Block] = field(default_factory=list)
    title: str = ""
    warnings: list[str] = field(default_factory=list)


@lru_cache(maxsize=1)
def _parser() -> Any:
    from markdown_it import MarkdownIt
    from mdit_py_plugins.admon import admon_plugin

    return MarkdownIt("commonmark").use(admon_plugin).enable("table").enable("strikethrough")


def read_markdown(body: str, *, line_offset: int = 0) -> Parsed:
    """Blocks of a Markdown body (front matter already removed, ``line_offset`` lines of it)."""
    state = _State()
    _read(body, state, line_offset)
    return Parsed(blocks=tuple(state.blocks), title=state.title, warnings=tuple(state.warnings))


def _read(body: str, state: _State, line_offset: int) -> None:
    source = _CONTENT_TAB.sub(lambda m: f'{m.group(1)}!!! {_TAB_TAG} "{m.group(3)}"', body)
    lines = source.splitlines()
    tokens = _parser().parse(source)
    containers: list[str] = []  # open list items, admonitions and quotes, innermost last
    position = 0
    while position < len(tokens):
        token = tokens[position]
        kind = token.type
        if kind in _CONTAINERS:
            if token.nesting > 0:
                containers.append(kind.removesuffix("_open"))
            elif containers:
                containers.pop()
        if kind == "heading_open":
            text = _inline_text(tokens[position + 1])
            level = int(token.tag[1:])
            if level == 1 and not state.title and text:
                state.title = text
            while state.section and state.section[-1][0] >= level:
                state.section.pop()
            if text:
                state.section.append((level, text))
            position += 3
            continue
        if kind == "admonition_title_open":
            admonition = _enclosing_admonition(tokens, position)
            title = _inline_text(tokens[position + 1])
            default = str(admonition.meta.get("tag", "")).capitalize() if admonition else ""
            if (
                admonition is not None
                and title
                and title != default
                and _TAB_TAG not in (admonition.info or "")
            ):
                state.blocks.append(Block(title, _titles(state.section)))
            position += 3
            continue
        if kind == "inline" and tokens[position - 1].type == "paragraph_open":
            text = _inline_text(token)
            if text:
                item = bool(containers) and containers[-1] == "list_item"
                state.blocks.append(Block(text, _titles(state.section), item=item))
        elif kind == "table_open":
            position = _table(tokens, position, state)
            continue
        elif kind == "html_block":
            for block in html_blocks(token.content, state.section):
                state.blocks.append(block)
        elif kind == "fence" and _unclosed(token, lines):
            start = token.map[0] if token.map else 0
            state.warnings.append(
                f"a code fence opened on line {start + 1 + line_offset} is never closed; "
                "the text after it is indexed as prose"
            )
            _read("\n".join(lines[start + 1 :]), state, line_offset + start + 1)
            return
        position += 1


def _enclosing_admonition(tokens: Sequence[Any], position: int) -> Any:
    previous = tokens[position - 1] if position else None
    return previous if previous is not None and previous.type == "admonition_open" else None


def _unclosed(token: Any, lines: list[str]) -> bool:
    """A fence that runs to the end of the file without its closing marker."""
    if not token.map or token.map[1] < len(lines):
        return False
    start, end = token.map
    last = lines[end - 1].strip() if end - 1 > start else ""
    return not (last.startswith(token.markup) and not last.strip(token.markup[0]))


def _table(tokens: Sequence[Any], position: int, state: _State) -> int:
    header: list[str] = []
    row: list[str] = []
    in_head = False
    while position < len(tokens) and tokens[position].type != "table_close":
        kind = tokens[position].type
        if kind == "thead_open":
            in_head = True
        elif kind == "thead_close":
            in_head = False
        elif kind == "tr_open":
            row = []
        elif kind == "inline":
            row.append(_inline_text(tokens[position]))
        elif kind == "tr_close":
            if in_head:
                header = row
            elif any(row):
                state.blocks.append(Block(row_text(header, row), _titles(state.section)))
        position += 1
    return position + 1


def _inline_text(token: Any) -> str:
    """What a reader sees of inline Markdown: link and emphasis text, code with backticks."""
    parts: list[str] = []
    # Images (their alt text is in the image token's own children), link targets and inline
    # HTML tags are not among the children read here, so they are dropped.
    for child in token.children or ():
        kind = child.type
        if kind == "text":
            parts.append(child.content)
        elif kind == "code_inline":
            parts.append(f"{child.markup}{child.content}{child.markup}")
        elif kind in {"softbreak", "hardbreak"}:
            parts.append(" ")
    return _WHITESPACE.sub(" ", "".join(parts)).strip()


def _titles(section: list[tuple[int, str]]) -> tuple[str, ...]:
    return tuple(title for _, title in section)
