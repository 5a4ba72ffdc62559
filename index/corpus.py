"""Reading documents from disk into numbered paragraphs and sentences.

This module owns what a document *is*: which files are read (``.txt``, ``.md``/``.markdown``,
``.html``/``.htm``, ``.pdf``), what each one's id is, how its bytes are decoded, and how the
blocks a format reader finds (``index.formats``) become numbered paragraphs of verbatim
sentences (``index.sentences``) with speakers attributed (``index.attribution``).

Document ids are the path relative to the folder given, without its extension, in lower case:
``docs/advanced/timeouts.md`` indexed as ``docs`` is ``advanced/timeouts``; a file named on its
own is its file name (``notes``). Adding files never changes another file's id. Two files with
the same id (``notes.md`` and ``notes.txt``, ``README.md`` and ``readme.md``) are an error naming
both, raised before anything is read or embedded.

Paragraph numbers are 1-based, stable for a given text, and are what citations point at
(``doc:¶N``); a PDF paragraph also knows its page and its place on it ("p. 4, ¶2").
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
import stat
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from index.attribution import SpeakerContext, attribute_speakers
from index.errors import CorpusError
from index.formats import SECTION_SEPARATOR, Parsed
from index.sentences import split_sentences

log = logging.getLogger(__name__)

# Part of every content hash: bump it when paragraph, sentence or speaker parsing changes, so
# the next `readout index` reprocesses documents instead of keeping stale metadata (or vectors:
# 5 embeds each sentence after its section heading, see ``index.build.embedding_text``).
PARSER_VERSION = 5
MARKDOWN_SUFFIXES = (".md", ".markdown")
HTML_SUFFIXES = (".html", ".htm")
PDF_SUFFIXES = (".pdf",)
TEXT_SUFFIXES = (".txt",)
SUPPORTED_SUFFIXES = TEXT_SUFFIXES + MARKDOWN_SUFFIXES + HTML_SUFFIXES + PDF_SUFFIXES
BUNDLED_CORPUS_DIR = Path(__file__).parent / "data"
# Files bigger than this are almost certainly not prose someone wants quoted in chat.
MAX_FILE_BYTES = 20 * 1024 * 1024
# Seconds between progress lines on a long build.
PROGRESS_SECONDS = 5.0
# A list item up to this long is quoted whole: split, "`--port` - Bind to this port." would be
# cited without the "Default: 8000." that follows it.
MAX_ITEM_QUOTE_CHARS = 400

_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?\r?\n)---[ \t]*(?:\r?\n|\Z)", re.DOTALL)
_ID_UNSAFE = re.compile(r"[^a-z0-9._-]+")
# Byte-order marks, longest first (the UTF-32 LE mark begins with the UTF-16 LE one).
_BOMS = (
    (b"\xff\xfe\x00\x00", "utf-32"),
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)


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
    heading: str = ""  # the section path, outermost heading first, joined by " › "
    sentences: tuple[Sentence, ...] = ()
    page: int = 0  # a PDF's page (1-based), 0 for other formats
    page_paragraph: int = 0  # its place on that page (1-based)

    @property
    def paragraph_id(self) -> str:
        return f"{self.doc_id}:{self.number}"

    @property
    def text_hash(self) -> str:
        """See :func:`paragraph_hash`."""
        return paragraph_hash(self.text)


def paragraph_hash(text: str) -> str:
    """A short fingerprint of a paragraph's text: equal when the words a reader sees are equal
    (whitespace runs do not count), different when any of them changed. Answers keep the hash
    of each paragraph they cited, to notice when a re-index changes it."""
    return hashlib.sha256(" ".join(text.split()).encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Document:
    """A source file: identity, metadata (front matter, <title>, PDF info), its paragraphs,
    and ``warnings`` about what could not be read as intended."""

    doc_id: str
    title: str
    source: str
    content_hash: str
    url: str = ""
    date: str = ""
    paragraphs: tuple[Paragraph, ...] = field(default=(), repr=False)
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Skipped:
    """A file that was not indexed, and why (shown to the user as a warning)."""

    path: str
    reason: str


ProgressCallback = Callable[[str], None]


def find_files(paths: Sequence[Path]) -> list[Path]:
    """Expand files and folders into the supported files beneath them, in a stable order.

    A path that does not exist is a :class:`CorpusError` naming it.
    """
    return list(_find(paths))


def _find(paths: Sequence[Path]) -> dict[Path, str]:
    """{resolved file: document id} for every supported file under ``paths``, in order."""
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise CorpusError(f"no such file or folder: {', '.join(missing)}")
    found: dict[Path, str] = {}
    for path in paths:
        if path.is_dir():
            files = sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and p.suffix.lower() in SUPPORTED_SUFFIXES
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            for file in files:
                found.setdefault(file.resolve(), document_id(file.relative_to(path)))
        else:
            found.setdefault(path.resolve(), document_id(Path(path.name)))
    return found


def document_id(relative: Path) -> str:
    """``Advanced/Time Outs.md`` → ``advanced/time-outs``: the relative path, lower case,
    without its extension, each part reduced to letters, digits, ``.``, ``_`` and ``-``."""
    parts = [*relative.parent.parts, relative.stem]
    cleaned = [_ID_UNSAFE.sub("-", part.lower()).strip("-") or "document" for part in parts]
    return str(PurePosixPath(*cleaned))


def check_unique_ids(ids: dict[Path, str]) -> None:
    """A :class:`CorpusError` naming every pair of files that would share a document id."""
    by_id: dict[str, list[Path]] = {}
    for path, doc_id in ids.items():
        by_id.setdefault(doc_id, []).append(path)
    clashes = {doc_id: paths for doc_id, paths in by_id.items() if len(paths) > 1}
    if clashes:
        described = "; ".join(
            f"{' and '.join(str(p) for p in paths)} would both be {doc_id!r}"
            for doc_id, paths in sorted(clashes.items())
        )
        raise CorpusError(
            f"two files map to one document id: {described}. Rename one of them, or index "
            "their folders into separate stores (--store)."
        )


def load_documents(
    paths: Sequence[Path], *, progress: ProgressCallback | None = None
) -> tuple[list[Document], list[Skipped]]:
    """Read every supported file under ``paths``; unreadable, binary or empty files are skipped.

    ``progress`` is called with a one-line status now and then (see :class:`Progress`).
    """
    ids = _find(paths)
    check_unique_ids(ids)
    documents: list[Document] = []
    skipped: list[Skipped] = []
    reporter = Progress(progress)
    total = len(ids)
    for done, (path, doc_id) in enumerate(ids.items()):
        reporter.maybe(partial("reading files: {:,} of {:,} ({})".format, done, total, path.name))
        try:
            document = _load(path, doc_id, reporter)
        except _Unusable as why:
            skipped.append(Skipped(str(path), str(why)))
            continue
        if not document.paragraphs:
            skipped.append(Skipped(str(path), "has no text to index"))
            continue
        documents.append(document)
    return documents, skipped


def _load(path: Path, doc_id: str, reporter: Progress) -> Document:
    raw = _read_bytes(path)
    suffix = path.suffix.lower()
    tick = reporter.ticker(f"splitting sentences in {path.name}")
    if suffix in PDF_SUFFIXES:
        from index.formats.pdf_format import PdfUnreadable, read_pdf

        try:
            parsed = read_pdf(raw)
        except PdfUnreadable as why:
            raise _Unusable(str(why)) from why
        return _document(
            parsed,
            {},
            doc_id=doc_id,
            source=str(path),
            digest=raw,
            tick=tick,
            url=parsed.url or path.resolve().as_uri(),
        )
    text = _decode(raw)
    return parse_document(text, doc_id=doc_id, source=str(path), suffix=suffix, tick=tick)


def parse_document(
    text: str,
    *,
    doc_id: str,
    source: str = "",
    suffix: str = ".txt",
    tick: Callable[[], None] | None = None,
) -> Document:
    """Turn one file's text into a :class:`Document` with numbered paragraphs and sentences.

    ``suffix`` picks the reader: Markdown, HTML, or plain text for anything else.
    """
    suffix = suffix.lower()
    if suffix in HTML_SUFFIXES:
        from index.formats.html_format import read_html

        return _document(read_html(text), {}, doc_id=doc_id, source=source, digest=text, tick=tick)
    meta, body, skipped_lines, warning = _split_front_matter(text)
    if suffix in MARKDOWN_SUFFIXES:
        from index.formats.markdown_format import read_markdown

        parsed = read_markdown(body, line_offset=skipped_lines)
    else:
        from index.formats.text_format import read_text

        parsed = read_text(body)
    document = _document(parsed, meta, doc_id=doc_id, source=source, digest=text, tick=tick)
    if warning:
        # A document's warnings reach the person prefixed with its path (``BuildReport``).
        document = dataclasses.replace(document, warnings=(warning, *document.warnings))
    return document


def _document(
    parsed: Parsed,
    meta: dict[str, Any],
    *,
    doc_id: str,
    source: str,
    digest: str | bytes,
    tick: Callable[[], None] | None,
    url: str = "",
) -> Document:
    paragraphs: list[Paragraph] = []
    speaker_context = SpeakerContext()
    on_page: dict[int, int] = {}
    for block in parsed.blocks:
        number = len(paragraphs) + 1
        if block.item and len(block.text) <= MAX_ITEM_QUOTE_CHARS:
            texts = [block.text]
        else:
            texts = split_sentences(block.text, tick=tick)
        speakers = attribute_speakers(texts, speaker_context)
        pairs = zip(texts, speakers, strict=True)
        sentences = tuple(
            Sentence(doc_id, number, i, text, who) for i, (text, who) in enumerate(pairs, start=1)
        )
        if block.page:
            on_page[block.page] = on_page.get(block.page, 0) + 1
        paragraphs.append(
            Paragraph(
                doc_id,
                number,
                block.text,
                SECTION_SEPARATOR.join(block.section),
                sentences,
                page=block.page,
                page_paragraph=on_page.get(block.page, 0) if block.page else 0,
            )
        )
    payload = digest.encode() if isinstance(digest, str) else digest
    return Document(
        doc_id=doc_id,
        title=_meta(meta, "title") or parsed.title or _title_from_id(doc_id),
        source=source,
        content_hash=hashlib.sha256(f"{PARSER_VERSION}\n".encode() + payload).hexdigest(),
        url=_meta(meta, "url") or parsed.url or url,
        date=_meta(meta, "date") or parsed.date,
        paragraphs=tuple(paragraphs),
        warnings=parsed.warnings,
    )


class Progress:
    """Calls ``report`` with a status line at most once every ``interval`` seconds.

    Works the same whether or not stderr is a terminal, so a long build in CI or under a
    process manager still shows that it is alive.
    """

    def __init__(self, report: ProgressCallback | None, interval: float | None = None) -> None:
        self._report = report
        self._interval = PROGRESS_SECONDS if interval is None else interval
        self._last = time.monotonic()

    def maybe(self, message: Callable[[], str]) -> None:
        """Report ``message()`` if the interval has passed since the last report."""
        if self._report is None:
            return
        now = time.monotonic()
        if now - self._last >= self._interval:
            self._last = now
            self._report(message())

    def ticker(self, label: str) -> Callable[[], None] | None:
        """A callback for long loops: each call may report ``label`` and how many calls so far."""
        if self._report is None:
            return None
        count = 0

        def tick() -> None:
            nonlocal count
            count += 1
            self.maybe(partial("{}: {:,} windows done".format, label, count))

        return tick


class _Unusable(Exception):
    pass


def _read_bytes(path: Path) -> bytes:
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            # A FIFO or device would block or never end: only regular files are read.
            raise _Unusable("is not a regular file")
        if info.st_size > MAX_FILE_BYTES:
            raise _Unusable(f"is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
        return path.read_bytes()
    except OSError as exc:
        raise _Unusable(f"cannot be read ({exc.strerror or type(exc).__name__})") from exc


def _decode(raw: bytes) -> str:
    """Text from bytes: UTF-8, or UTF-16/32 when a byte-order mark says so."""
    encoding = next((name for bom, name in _BOMS if raw.startswith(bom)), "")
    if not encoding and b"\x00" in raw[:8192]:
        raise _Unusable("looks binary")
    try:
        text = raw.decode(encoding or "utf-8")
    except UnicodeDecodeError as exc:
        raise _Unusable(f"is not {encoding.upper() if encoding else 'UTF-8'} text") from exc
    text = text.removeprefix("\ufeff")
    if "\x00" in text:
        raise _Unusable("looks binary")
    if not text.strip():
        raise _Unusable("is empty")
    return text


def _meta(meta: dict[str, Any], key: str) -> str:
    return str(meta.get(key) or "").strip()


def _title_from_id(doc_id: str) -> str:
    name = doc_id.rsplit("/", 1)[-1]
    return " ".join(word[:1].upper() + word[1:] for word in re.split(r"[-_ ]+", name) if word)


def _split_front_matter(text: str) -> tuple[dict[str, Any], str, int, str]:
    """(metadata, body, lines of front matter removed, a warning); no metadata, and a warning
    for the document's own list (which names its file), if it is not YAML."""
    match = _FRONT_MATTER.match(text)
    if not match:
        return {}, text, 0, ""
    try:
        meta = yaml.safe_load(match.group(1))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 2})" if mark is not None else ""  # +1: the ---, +1: 1-based
        return {}, text, 0, f"front matter is not valid YAML{where}; it was read as text"
    if not isinstance(meta, dict):
        return {}, text, 0, ""
    return meta, text[match.end() :], match.group(0).count("\n"), ""
