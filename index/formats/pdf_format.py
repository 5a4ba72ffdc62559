"""PDF files as blocks of prose, each knowing its page.

Text comes from pypdf (pure Python). A PDF has no paragraphs, only lines placed on a page, so
a paragraph ends at a blank line or at a line that stops well short of the page's usual line
length (the last line of a paragraph). A short line standing alone without a sentence end
("Quarterly Results") is a heading: it names the section of what follows instead of being a
paragraph. Words hyphenated across a line break are joined. The section path starts with the
last outline (bookmark) entry starting on or before the page; the title is the document's
``/Title`` metadata. Encrypted or unreadable files are
:class:`PdfUnreadable`, which the caller reports as a skipped file.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator
from typing import Any

from index.formats import Block, Parsed

log = logging.getLogger(__name__)

# A line this much shorter than the page's longest ends its paragraph.
SHORT_LINE_SHARE = 0.75
# A paragraph of one short line, at most this many words and no sentence end, is a heading.
HEADING_MAX_WORDS = 8
_SENTENCE_END = re.compile(r"[.!?:…][\"'”’)]*$")
_WHITESPACE = re.compile(r"\s+")


class PdfUnreadable(Exception):
    """The file is not a PDF pypdf can read, or is encrypted."""


def read_pdf(data: bytes) -> Parsed:
    """The prose of a PDF, page by page, with the page number on every block."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise PdfUnreadable("is an encrypted PDF")
        pages = [page.extract_text() or "" for page in reader.pages]
        metadata = reader.metadata
        title = str(metadata.get("/Title") or "").strip() if metadata else ""
        sections = _outline_pages(reader)
    except PdfUnreadable:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as exc:
        log.debug("pypdf could not read a file", exc_info=True)
        raise PdfUnreadable("cannot be read as a PDF") from exc
    blocks: list[Block] = []
    outline: tuple[str, ...] = ()
    heading: tuple[str, ...] = ()
    for number, text in enumerate(pages, start=1):
        if number in sections:
            outline, heading = sections[number], ()
        for paragraph in _paragraphs(text):
            if _is_heading(paragraph):
                # The outline usually repeats the heading printed on the page.
                heading = () if outline and outline[-1] == paragraph else (paragraph,)
            else:
                blocks.append(Block(paragraph, (*outline, *heading), number))
    return Parsed(blocks=tuple(blocks), title=title)


def _is_heading(paragraph: str) -> bool:
    return len(paragraph.split()) <= HEADING_MAX_WORDS and not _SENTENCE_END.search(paragraph)


def _outline_pages(reader: Any) -> dict[int, tuple[str, ...]]:
    """{page number: section path} for pages where an outline entry starts."""
    found: dict[int, tuple[str, ...]] = {}

    def walk(entries: list[Any], path: tuple[str, ...]) -> None:
        last: tuple[str, ...] = path
        for entry in entries:
            if isinstance(entry, list):
                walk(entry, last)
                continue
            try:
                page = reader.get_destination_page_number(entry) + 1
            except Exception:  # a dangling bookmark: keep the rest of the outline
                continue
            last = (*path, str(entry.title).strip())
            found.setdefault(page, last)

    try:
        walk(list(reader.outline), ())
    except Exception:  # an outline is a nicety; a broken one must not lose the text
        log.debug("ignoring an unreadable PDF outline", exc_info=True)
    return found


def _paragraphs(page_text: str) -> Iterator[str]:
    lines = [line.rstrip() for line in page_text.splitlines()]
    longest = max((len(line.strip()) for line in lines), default=0)
    current: list[str] = []
    for line in lines:
        stripped = line.strip()
        if not stripped:
            yield from _flush(current)
            continue
        current.append(stripped)
        if len(stripped) < SHORT_LINE_SHARE * longest:
            yield from _flush(current)
    yield from _flush(current)


def _flush(lines: list[str]) -> Iterator[str]:
    if not lines:
        return
    text = ""
    for line in lines:
        if text.endswith("-") and line[:1].islower():
            text = text[:-1] + line  # "infor-" + "mation"
        else:
            text = f"{text} {line}" if text else line
    lines.clear()
    text = _WHITESPACE.sub(" ", text).strip()
    if text:
        yield text
