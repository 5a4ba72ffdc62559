"""The records the store keeps and hands out: the live version's pointer, a document's
record, a nearest-neighbour hit. Frozen dataclasses, shared by ``index``, ``retrieval`` and the
tests' in-memory store (``index.store`` re-exports them)."""

from __future__ import annotations

from dataclasses import dataclass

from index.corpus import Document


@dataclass(frozen=True, slots=True)
class IndexPointer:
    """The live version of the index and the model that built it."""

    version: int
    model_id: str
    built_at: float
    documents: int
    paths: tuple[str, ...] = ()  # what the build indexed, re-indexed by a bare `readout index`
    integrity: str = ""  # JSON written by index.integrity; "" for indexes built before it


@dataclass(frozen=True, slots=True)
class DocumentRecord:
    """What a citation needs to know about a document, plus its content hash."""

    doc_id: str
    title: str
    url: str
    date: str
    source: str
    content_hash: str
    paragraphs: int


@dataclass(frozen=True, slots=True)
class VectorHit:
    """An id from a nearest-neighbour query and its cosine similarity to the query."""

    record_id: str
    similarity: float


def document_record(document: Document) -> DocumentRecord:
    """What the store keeps about ``document`` (and the sidecar lists)."""
    return DocumentRecord(
        doc_id=document.doc_id,
        title=document.title,
        url=document.url,
        date=document.date,
        source=document.source,
        content_hash=document.content_hash,
        paragraphs=len(document.paragraphs),
    )


# Speakers travel in one metadata string (chromadb metadata values are scalars).
_SPEAKER_SEPARATOR = "|"


def join_speakers(speakers: tuple[str, ...]) -> str:
    return _SPEAKER_SEPARATOR.join(speakers)


def split_speakers(value: str) -> tuple[str, ...]:
    return tuple(s for s in value.split(_SPEAKER_SEPARATOR) if s)


def document_metadata(record: DocumentRecord) -> dict[str, str | int]:
    """What the store keeps in a document record's metadata (``hash`` is the content hash)."""
    return {
        "title": record.title,
        "url": record.url,
        "date": record.date,
        "source": record.source,
        "hash": record.content_hash,
        "paragraphs": record.paragraphs,
    }
