"""What answering needs besides the vectors, saved beside each index version: the *sidecar*.

A reader needs every sentence's text and attribution, every paragraph and document record, and
the BM25 indexes over them. Reading 200k texts back from chromadb and tokenising them again took
a bot 39-53 s at 100k paragraphs; the build already holds all of it in memory, so it writes it
once, before the version is published, and readers load it in a second or two:

    texts.json                documents, paragraphs and sentences, in the store's order
    sentences-bm25/           LexicalIndex.save over the sentence texts
    paragraphs-bm25/          LexicalIndex.save over heading + paragraph text
    manifest.json             format and the sha256 of every file above (written last)

Where the files live is the store's business (``ChromaStore.save_sidecar``): a folder beside the
embedded store, or records of a per-version collection on a Chroma server. A sidecar that is
missing (an index built before readout wrote them) or fails its hashes is ignored with a log line,
and the snapshot is loaded from the store the slow way, so answers never depend on it.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import orjson

from index.corpus import Document, Paragraph, Sentence
from index.store import DocumentRecord, document_record
from retrieval.lexical import LexicalIndex

log = logging.getLogger(__name__)

SIDECAR_FORMAT = 2  # 2: token ids in order (ranking features), PDF pages
_TEXTS = "texts.json"
_SENTENCE_BM25 = "sentences-bm25"
_PARAGRAPH_BM25 = "paragraphs-bm25"
_MANIFEST = "manifest.json"


class SidecarStore(Protocol):
    """Where sidecars are kept (``index.store.ChromaStore`` provides it)."""

    def sidecar(self, version: int) -> AbstractContextManager[Path | None]: ...


@dataclass(frozen=True, slots=True)
class SavedVersion:
    """One version's texts and lexical indexes, as the sidecar holds them."""

    documents: tuple[DocumentRecord, ...]
    paragraphs: tuple[Paragraph, ...]
    sentences: tuple[Sentence, ...]
    sentence_lexical: LexicalIndex
    paragraph_lexical: LexicalIndex


def lexical_indexes(
    paragraphs: Sequence[Paragraph], sentences: Sequence[Sentence]
) -> tuple[LexicalIndex, LexicalIndex]:
    """BM25 over the sentences, and over the paragraphs with their headings."""
    return (
        LexicalIndex([s.text for s in sentences]),
        LexicalIndex([f"{p.heading}\n{p.text}" if p.heading else p.text for p in paragraphs]),
    )


def write_sidecar(directory: Path, documents: Sequence[Document]) -> None:
    """Write the sidecar of a version holding ``documents`` into ``directory`` (created)."""
    # The order the store lists them in (ChromaStore.paragraphs/.sentences), so row numbers,
    # and with them tie-breaks between equal scores, are the same on either path.
    paragraphs = sorted(
        (
            Paragraph(
                p.doc_id, p.number, p.text, p.heading, page=p.page, page_paragraph=p.page_paragraph
            )
            for d in documents
            for p in d.paragraphs
        ),
        key=lambda p: (p.doc_id, p.number),
    )
    sentences = sorted(
        (s for d in documents for p in d.paragraphs for s in p.sentences),
        key=lambda s: (s.doc_id, s.paragraph, s.index),
    )
    directory.mkdir(parents=True, exist_ok=True)
    texts = {
        "documents": [_record_row(document_record(d)) for d in documents],
        "paragraphs": [
            [p.doc_id, p.number, p.text, p.heading, p.page, p.page_paragraph] for p in paragraphs
        ],
        "sentences": [
            [s.doc_id, s.paragraph, s.index, s.text, list(s.speakers)] for s in sentences
        ],
    }
    (directory / _TEXTS).write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")
    sentence_lexical, paragraph_lexical = lexical_indexes(paragraphs, sentences)
    sentence_lexical.save(directory / _SENTENCE_BM25)
    paragraph_lexical.save(directory / _PARAGRAPH_BM25)
    files = sorted(p for p in directory.rglob("*") if p.is_file() and p.name != _MANIFEST)
    manifest = {
        "format": SIDECAR_FORMAT,
        "files": {str(p.relative_to(directory)): _sha256(p) for p in files},
    }
    (directory / _MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")


def load_sidecar(store: SidecarStore, version: int) -> SavedVersion | None:
    """Version ``version``'s sidecar, or None when it is missing or fails its check."""
    with store.sidecar(version) as directory:
        if directory is None:
            log.info("index v%d has no sidecar: loading its texts from the store", version)
            return None
        try:
            return read_sidecar(directory)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning(
                "the sidecar of index v%d is unusable (%s); loading its texts from the store. "
                "`readout index` writes a new one with the next change.",
                version,
                exc,
            )
            return None


def read_sidecar(directory: Path) -> SavedVersion:
    """The sidecar in ``directory``, every file checked against the manifest first.

    Raises ``ValueError`` for a wrong format or hash, ``OSError`` for a missing file.
    """
    manifest = json.loads((directory / _MANIFEST).read_text(encoding="utf-8"))
    if manifest.get("format") != SIDECAR_FORMAT:
        raise ValueError(f"format {manifest.get('format')!r}, expected {SIDECAR_FORMAT}")
    for name, expected in manifest["files"].items():
        if _sha256(directory / name) != expected:
            raise ValueError(f"{name} does not match its sha256")
    # orjson: the texts are most of a bot's start-up at 100k paragraphs (45 MB of JSON),
    # and it decodes them about three times faster than the standard library.
    texts = orjson.loads((directory / _TEXTS).read_bytes())
    return SavedVersion(
        documents=tuple(DocumentRecord(*row) for row in texts["documents"]),
        paragraphs=tuple(
            Paragraph(doc_id, number, text, heading, page=page, page_paragraph=page_paragraph)
            for doc_id, number, text, heading, page, page_paragraph in texts["paragraphs"]
        ),
        sentences=tuple(
            Sentence(doc_id, paragraph, index, text, tuple(speakers))
            for doc_id, paragraph, index, text, speakers in texts["sentences"]
        ),
        sentence_lexical=LexicalIndex.load(directory / _SENTENCE_BM25),
        paragraph_lexical=LexicalIndex.load(directory / _PARAGRAPH_BM25),
    )


def _record_row(record: DocumentRecord) -> list[object]:
    return [
        record.doc_id,
        record.title,
        record.url,
        record.date,
        record.source,
        record.content_hash,
        record.paragraphs,
    ]


def _sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
