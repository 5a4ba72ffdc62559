"""Readers that turn one file's content into titled, sectioned blocks of prose.

Each format has its own module and one entry point returning :class:`Parsed`:
``markdown_format.read_markdown``, ``html_format.read_html``, ``pdf_format.read_pdf`` and
``text_format.read_text``. What a block *is* (a paragraph of prose, never code) is decided
here; numbering, sentence splitting and speaker attribution happen in ``index.corpus``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

SECTION_SEPARATOR = " › "


@dataclass(frozen=True, slots=True)
class Block:
    """One paragraph of prose, the headings above it (outermost first), and its PDF page.

    ``item`` marks a list item: in reference docs one is a unit ("`--port` - Bind to this
    port. Default: 8000."), so a short one is quoted whole instead of sentence by sentence.
    """

    text: str
    section: tuple[str, ...] = ()
    page: int = 0
    item: bool = False


@dataclass(frozen=True, slots=True)
class Parsed:
    """What a reader found: metadata (empty when absent), blocks, and warnings for the user."""

    blocks: tuple[Block, ...] = ()
    title: str = ""
    url: str = ""
    date: str = ""
    warnings: tuple[str, ...] = ()


def row_text(header: Sequence[str], row: Sequence[str]) -> str:
    """A table row as a sentence: "column: value; column: value." (a cell without a column
    name is its value alone; empty cells are left out)."""
    parts = [
        f"{header[i]}: {value}" if i < len(header) and header[i] else value
        for i, value in enumerate(row)
        if value
    ]
    text = "; ".join(parts)
    return text if not text or text.endswith((".", "!", "?")) else text + "."
