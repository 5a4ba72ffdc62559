"""Building the index: incremental, versioned, and safe to interrupt.

A build compares each document's content hash with the live version. When nothing changed it
does nothing at all (no embedding work). Otherwise it writes a complete new version: unchanged
documents are copied with their stored vectors, new or changed ones are embedded; the new
version is checked with a self-test query, published by flipping the pointer, and only then are
older versions dropped. Sentences are embedded one by one; a paragraph's vector is the
normalised mean of its sentences' vectors, so every text is encoded exactly once and long
paragraphs are not truncated by the model's 256-token window.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from index.corpus import Document, Skipped, load_documents
from index.embedder import Embedder
from index.errors import IndexLocked, StoreCorrupt
from index.store import ChromaStore

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

log = logging.getLogger(__name__)

LOCK_FILE_NAME = "readout-write.lock"


@dataclass(frozen=True, slots=True)
class BuildReport:
    """What a build did: which version is live, and what was embedded, copied or skipped."""

    version: int
    changed: bool
    embedded: tuple[str, ...]
    copied: tuple[str, ...]
    removed: tuple[str, ...]
    skipped: tuple[Skipped, ...]
    paragraphs: int
    sentences: int


def build_index(
    paths: Sequence[Path],
    *,
    embedder: Embedder,
    store: ChromaStore,
    show_progress: bool = False,
    lock_dir: Path | None = None,
) -> BuildReport:
    """Make the store's live index mirror exactly the documents under ``paths``."""
    documents, skipped = load_documents(paths)
    for skip in skipped:
        log.warning("skipped %s: %s", skip.path, skip.reason)
    with _writer_lock(lock_dir):
        return _build(documents, tuple(skipped), embedder, store, show_progress)


def _build(
    documents: list[Document],
    skipped: tuple[Skipped, ...],
    embedder: Embedder,
    store: ChromaStore,
    show_progress: bool,
) -> BuildReport:
    live = store.pointer()
    previous = {}
    if live is not None and live.model_id == embedder.model_id:
        previous = {record.doc_id: record.content_hash for record in store.documents(live.version)}
    wanted = {d.doc_id: d.content_hash for d in documents}
    paragraphs = sum(len(d.paragraphs) for d in documents)
    sentences = sum(len(p.sentences) for d in documents for p in d.paragraphs)

    if live is not None and previous == wanted and live.model_id == embedder.model_id:
        log.info("index v%d is up to date (%d documents)", live.version, len(documents))
        return BuildReport(live.version, False, (), (), (), skipped, paragraphs, sentences)

    existing = store.versions()
    version = max([*existing, live.version if live else 0]) + 1
    unchanged = [d for d in documents if previous.get(d.doc_id) == d.content_hash]
    to_embed = [d for d in documents if previous.get(d.doc_id) != d.content_hash]
    store.create_version(version)
    if live is not None:
        for document in unchanged:
            store.copy_document(live.version, version, document.doc_id)
    _embed_into(store, version, to_embed, embedder, show_progress)
    _self_test(store, version, documents, embedder)

    store.publish(version, embedder.model_id, len(documents))
    for old in existing:
        if old != version:
            store.drop_version(old)
    removed = tuple(sorted(set(previous) - set(wanted)))
    log.info(
        "published index v%d: %d embedded, %d copied, %d removed",
        version, len(to_embed), len(unchanged), len(removed),
    )  # fmt: skip
    return BuildReport(
        version=version,
        changed=True,
        embedded=tuple(d.doc_id for d in to_embed),
        copied=tuple(d.doc_id for d in unchanged),
        removed=removed,
        skipped=skipped,
        paragraphs=paragraphs,
        sentences=sentences,
    )


def _embed_into(
    store: ChromaStore,
    version: int,
    documents: list[Document],
    embedder: Embedder,
    show_progress: bool,
) -> None:
    texts = [s.text for d in documents for p in d.paragraphs for s in p.sentences]
    if not texts:
        return
    vectors = embedder.encode(texts, show_progress=show_progress)
    offset = 0
    for document in documents:
        counts = [len(p.sentences) for p in document.paragraphs]
        doc_vectors = vectors[offset : offset + sum(counts)]
        offset += sum(counts)
        store.add_document(version, document, doc_vectors, paragraph_means(doc_vectors, counts))


def paragraph_means(
    sentence_vectors: npt.NDArray[np.float32], counts: Sequence[int]
) -> npt.NDArray[np.float32]:
    """Unit-length mean of each paragraph's sentence vectors (``counts`` sentences each)."""
    import numpy as np

    bounds = np.cumsum([0, *counts])
    means = np.add.reduceat(sentence_vectors, bounds[:-1], axis=0) / np.asarray(counts)[:, None]
    norms = np.linalg.norm(means, axis=1, keepdims=True)
    return (means / np.maximum(norms, 1e-12)).astype(np.float32)


def _self_test(
    store: ChromaStore, version: int, documents: list[Document], embedder: Embedder
) -> None:
    """Refuse to publish a version whose counts are off or whose search cannot find its text."""
    expected_paragraphs = sum(len(d.paragraphs) for d in documents)
    expected_sentences = sum(len(p.sentences) for d in documents for p in d.paragraphs)
    got_paragraphs = store.count(version, "paragraphs")
    got_sentences = store.count(version, "sentences")
    if (got_paragraphs, got_sentences) != (expected_paragraphs, expected_sentences):
        raise StoreCorrupt(
            f"index v{version} failed its self-test: {got_sentences}/{expected_sentences} "
            f"sentences and {got_paragraphs}/{expected_paragraphs} paragraphs were written"
        )
    if not documents:
        return
    probe = documents[0].paragraphs[0].sentences[0]
    hits = store.query(version, "sentences", embedder.encode([probe.text]), k=5)[0]
    if probe.sentence_id not in {hit.record_id for hit in hits}:
        raise StoreCorrupt(f"index v{version} failed its self-test: a stored sentence is not found")


class _writer_lock:  # noqa: N801 - used as a context manager, reads like one
    """One writer at a time: a file lock beside an embedded store."""

    def __init__(self, lock_dir: Path | None) -> None:
        self._lock: Callable[[], None] | None = None
        self._file_lock = None
        if lock_dir is not None:
            from filelock import FileLock

            lock_dir.mkdir(parents=True, exist_ok=True)
            self._file_lock = FileLock(str(lock_dir / LOCK_FILE_NAME), timeout=0)

    def __enter__(self) -> None:
        if self._file_lock is None:
            return
        from filelock import Timeout

        try:
            self._file_lock.acquire()
        except Timeout as exc:
            raise IndexLocked(
                "another `readout index` is rebuilding this index right now; "
                "wait for it to finish, then try again."
            ) from exc

    def __exit__(self, *exc_info: object) -> None:
        if self._file_lock is not None:
            self._file_lock.release()
