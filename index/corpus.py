"""Reading documents from disk into numbered paragraphs and sentences.

This module owns what a "paragraph" is. Two layouts are common and both are handled:

* one paragraph per line, no blank lines (news copy such as the bundled article);
* blank-line separated blocks, hard-wrapped and possibly indented (license files, Markdown),
  whose wrapped lines are joined back into one paragraph.

Markdown headings (``# ...``) and short title-like blocks are not paragraphs themselves: they are
kept as the ``heading`` of the paragraphs under them. Paragraph numbers are 1-based, stable for
a given text, and are what citations point at (``doc:¶N``). Sentences are split by pysbd.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import yaml

from index.attribution import SpeakerContext, attribute_speakers
from index.errors import CorpusError

log = logging.getLogger(__name__)

# Part of every content hash: bump it when paragraph, sentence or speaker parsing changes, so
# the next `readout index` reprocesses documents instead of keeping stale metadata.
PARSER_VERSION = 3
SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown")
BUNDLED_CORPUS_DIR = Path(__file__).parent / "data"
# Files bigger than this are almost certainly not prose someone wants quoted in chat.
MAX_FILE_BYTES = 20 * 1024 * 1024
# A one-line block shorter than this, without closing punctuation, reads as a heading.
HEADING_MAX_CHARS = 80

_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?\r?\n)---[ \t]*(?:\r?\n|\Z)", re.DOTALL)
_MD_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+•]|\d{1,3}[.)]|\([a-z0-9]{1,3}\))\s+")
_NUMBERED_HEADING = re.compile(r"^\d{1,3}\.\s+\w+(?:\s+\w+){0,3}\.?$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_RULE = re.compile(r"^\s*([-*_=])(\s*\1){2,}\s*$")
_WHITESPACE = re.compile(r"\s+")
_CLOSING_PUNCTUATION = tuple(".!?:;,”\"')…")


@dataclass(frozen=True, slots=True)
class Sentence:
    """One sentence, verbatim, at (doc, paragraph, index); ``speakers`` who said or reported it."""

    doc_id: str
    paragraph: int
    index: int
    text: str
    speakers: tuple[str, ...] = ()

    @property
    def sentence_id(self) -> str:
        return f"{self.doc_id}:{self.paragraph}:{self.index}"


@dataclass(frozen=True, slots=True)
class Paragraph:
    """A numbered paragraph (1-based within its document) and its sentences."""

    doc_id: str
    number: int
    text: str
    heading: str = ""
    sentences: tuple[Sentence, ...] = ()

    @property
    def paragraph_id(self) -> str:
        return f"{self.doc_id}:{self.number}"


@dataclass(frozen=True, slots=True)
class Document:
    """A source file: identity, optional front-matter metadata, and its paragraphs."""

    doc_id: str
    title: str
    source: str
    content_hash: str
    url: str = ""
    date: str = ""
    paragraphs: tuple[Paragraph, ...] = field(default=(), repr=False)


@dataclass(frozen=True, slots=True)
class Skipped:
    """A file that was not indexed, and why (shown to the user as a warning)."""

    path: str
    reason: str


def find_files(paths: Sequence[Path]) -> list[Path]:
    """Expand files and folders into the supported files beneath them, in a stable order.

    A path that does not exist is a :class:`CorpusError` naming it.
    """
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise CorpusError(f"no such file or folder: {', '.join(missing)}")
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(
                sorted(
                    p
                    for p in path.rglob("*")
                    if p.is_file()
                    and p.suffix.lower() in SUPPORTED_SUFFIXES
                    and not any(part.startswith(".") for part in p.relative_to(path).parts)
                )
            )
        else:
            found.append(path)
    unique: dict[Path, None] = dict.fromkeys(p.resolve() for p in found)
    return list(unique)


def load_documents(paths: Sequence[Path]) -> tuple[list[Document], list[Skipped]]:
    """Read every supported file under ``paths``; unreadable, binary or empty files are skipped."""
    files = find_files(paths)
    ids = _document_ids(files)
    documents: list[Document] = []
    skipped: list[Skipped] = []
    for path in files:
        try:
            text = _read_text(path)
        except _Unusable as why:
            skipped.append(Skipped(str(path), str(why)))
            continue
        document = parse_document(text, doc_id=ids[path], source=str(path))
        if not document.paragraphs:
            skipped.append(Skipped(str(path), "no text to index"))
            continue
        documents.append(document)
    return documents, skipped


def parse_document(text: str, *, doc_id: str, source: str = "") -> Document:
    """Turn one file's text into a :class:`Document` with numbered paragraphs and sentences."""
    meta, body = _split_front_matter(text)
    blocks = list(_blocks(body))
    title = str(meta.get("title") or "").strip()
    if not title:
        first_heading = next((b for b in blocks if b.is_heading), None)
        title = first_heading.title if first_heading else _title_from_id(doc_id)

    paragraphs: list[Paragraph] = []
    heading = ""
    speaker_context = SpeakerContext()
    for block in blocks:
        if block.is_heading:
            heading = block.text
            continue
        number = len(paragraphs) + 1
        texts = split_sentences(block.text)
        speakers = attribute_speakers(texts, speaker_context)
        pairs = zip(texts, speakers, strict=True)
        sentences = tuple(
            Sentence(doc_id, number, i, text, who) for i, (text, who) in enumerate(pairs, start=1)
        )
        paragraphs.append(Paragraph(doc_id, number, block.text, heading, sentences))

    return Document(
        doc_id=doc_id,
        title=title,
        source=source,
        content_hash=hashlib.sha256(f"{PARSER_VERSION}\n{text}".encode()).hexdigest(),
        url=str(meta.get("url") or "").strip(),
        date=str(meta.get("date") or "").strip(),
        paragraphs=tuple(paragraphs),
    )


_segmenter: Any = None


# A paragraph with no sentence-ending mark before its last character is one sentence; half of
# a typical corpus is, and pysbd takes about a millisecond per paragraph to say so.
_SENTENCE_END = re.compile(r"[.!?…]")


def split_sentences(paragraph: str) -> list[str]:
    """Split a paragraph into verbatim sentences (pysbd, which knows abbreviations and quotes)."""
    global _segmenter
    if not _SENTENCE_END.search(paragraph.rstrip()[:-1]):
        return [paragraph.strip()] if paragraph.strip() else [paragraph]
    if _segmenter is None:
        import pysbd  # imported lazily: only index builds need it

        _segmenter = pysbd.Segmenter(language="en", clean=False)
    sentences = [s.strip() for s in _segmenter.segment(paragraph)]
    return [s for s in sentences if s] or [paragraph]


class _Unusable(Exception):
    pass


def _read_text(path: Path) -> str:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise _Unusable(f"larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
        raw = path.read_bytes()
    except OSError as exc:
        raise _Unusable(f"cannot be read ({exc.strerror or type(exc).__name__})") from exc
    if b"\x00" in raw[:8192]:
        raise _Unusable("looks binary")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _Unusable("is not UTF-8 text") from exc
    if not text.strip():
        raise _Unusable("is empty")
    return text


def _document_ids(files: Sequence[Path]) -> dict[Path, str]:
    """Short ids from file names (``xi-biden-call``); the parent folder disambiguates clashes."""
    by_stem: dict[str, list[Path]] = {}
    for path in files:
        by_stem.setdefault(_slug(path.stem), []).append(path)
    ids: dict[Path, str] = {}
    for stem, group in by_stem.items():
        for path in group:
            ids[path] = stem if len(group) == 1 else _slug(f"{path.parent.name}-{path.stem}")
    return ids


def _slug(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug or "document"


def _title_from_id(doc_id: str) -> str:
    return " ".join(word[:1].upper() + word[1:] for word in doc_id.split("-"))


def _split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    match = _FRONT_MATTER.match(text)
    if not match:
        return {}, text
    try:
        meta = yaml.safe_load(match.group(1))
    except yaml.YAMLError:
        log.warning("front matter is not valid YAML; treating it as text")
        return {}, text
    if not isinstance(meta, dict):
        return {}, text
    return meta, text[match.end() :]


@dataclass(frozen=True, slots=True)
class _Block:
    text: str
    is_heading: bool = False
    title: str = ""


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
                yield _Block(
                    heading.group(1).strip(), is_heading=True, title=heading.group(1).strip()
                )
            continue
        if current and _LIST_ITEM.match(line):
            yield _Block(_join(current))
            current = []
        current.append(line)
    if not current:
        return
    text = _join(current)
    if wrapped and _looks_like_heading(current):
        yield _Block(text, is_heading=True, title=_join(current[:1]))
    elif text:
        yield _Block(text)


def _join(lines: list[str]) -> str:
    return _WHITESPACE.sub(" ", " ".join(line.strip() for line in lines)).strip()


def _looks_like_heading(lines: list[str]) -> bool:
    """At most three short lines that do not end a sentence (a title, "APPENDIX"), or a
    numbered section title ("1. Definitions.")."""
    texts = [_join([line]) for line in lines]
    if len(texts) == 1 and _NUMBERED_HEADING.match(texts[0]):
        return True
    return len(texts) <= 3 and all(
        len(text) <= HEADING_MAX_CHARS
        and not text.endswith(_CLOSING_PUNCTUATION)
        and not _LIST_ITEM.match(text)
        for text in texts
    )
