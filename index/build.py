"""Building the index: incremental, versioned, and safe to interrupt.

A build compares each document's content hash with the live version. When nothing changed it
does nothing at all (no embedding work). Otherwise it writes a complete new version: unchanged
documents are copied with their stored vectors, new or changed ones are embedded; the new
version is checked with a self-test query, published by flipping the pointer, and only then are
older versions dropped. Sentences are embedded one by one; a paragraph's vector is the
normalised mean of its sentences' vectors, so every text is encoded exactly once and long
paragraphs are not truncated by the model's 256-token window.

A build that finds nothing to index raises :class:`CorpusError` before taking the lock, so the
live version is never replaced by an empty one. A live version that fails its integrity check
(``index.integrity``) is not copied from: everything is embedded again, which is how
`readout index` repairs a damaged store. Long builds report progress through ``progress``, one
line every few seconds.

Only one build writes at a time (``index.lock``): a file lock beside an embedded store, a lease
on a Chroma server. With ``keep_previous`` the version that was live until now survives until
the next build, so a reader that read the old pointer a moment before the flip can still finish
its question on it; long-running deployments (``bot.runtime``) build that way.

With a ``sidecar`` writer (``bot.runtime`` passes ``retrieval.sidecar.write_sidecar``), the
build also saves what readers need besides the vectors beside the new version before publishing
it, from the documents it already holds, so no reader has to read and tokenise every text again.
An unchanged re-run writes the live version's sidecar if it has none yet.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from index import integrity
from index.corpus import (
    Document,
    Paragraph,
    Progress,
    ProgressCallback,
    Sentence,
    Skipped,
    load_documents,
)
from index.embedder import Embedder
from index.errors import CorpusError, ReadoutError, StoreCorrupt
from index.formats import SECTION_SEPARATOR
from index.lock import LOCK_FILE_NAME, FileWriterLock, NoLock, ServerWriterLock, WriterLock
from index.store import ChromaStore, IndexPointer

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

log = logging.getLogger(__name__)

__all__ = [
    "LOCK_FILE_NAME",
    "BuildReport",
    "SidecarWriter",
    "build_index",
    "paragraph_means",
    "writer_lock_for",
]

# Writes a version's sidecar for these documents into the given (empty) folder.
SidecarWriter = Callable[[Path, Sequence[Document]], None]

# Sentences encoded per model call: small enough that progress is reported every few seconds.
ENCODE_CHUNK = 256


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
    warnings: tuple[str, ...] = ()  # "path: what was odd", e.g. an unclosed code fence
    repaired: bool = False  # the live version failed its integrity check and was rebuilt


def build_index(
    paths: Sequence[Path],
    *,
    embedder: Embedder,
    store: ChromaStore,
    show_progress: bool = False,
    lock_dir: Path | None = None,
    lock: WriterLock | None = None,
    keep_previous: bool = False,
    progress: ProgressCallback | None = None,
    sidecar: SidecarWriter | None = None,
) -> BuildReport:
    """Make the store's live index mirror exactly the documents under ``paths``.

    The writer lock is ``lock`` if given, else :func:`writer_lock_for` ``(store, lock_dir)``.
    With ``keep_previous`` the version live before this build is dropped by the next build
    instead of this one. Nothing to index is a :class:`CorpusError` naming what was skipped,
    and the live version stays. ``progress`` gets a status line every few seconds
    (``show_progress`` without it prints them to stderr). ``sidecar`` writes the version's
    sidecar (see the module docstring).
    """
    if progress is None and show_progress:
        progress = _print_to_stderr
    documents, skipped = load_documents(paths, progress=progress)
    for skip in skipped:  # the CLI shows these to the user; the log keeps a record
        log.info("skipped %s: %s", skip.path, skip.reason)
    if not documents:
        raise CorpusError(_nothing_to_index(paths, skipped))
    writer = lock if lock is not None else writer_lock_for(store, lock_dir)
    with writer:
        return _build(
            documents,
            tuple(skipped),
            embedder,
            store,
            Progress(progress),
            writer,
            keep_previous,
            tuple(str(Path(p).resolve()) for p in paths),
            sidecar,
        )


def _print_to_stderr(message: str) -> None:
    import sys

    print(message, file=sys.stderr, flush=True)


def _nothing_to_index(paths: Sequence[Path], skipped: Sequence[Skipped]) -> str:
    where = ", ".join(str(p) for p in paths)
    if not skipped:
        return (
            f"nothing to index in {where}: no .txt, .md, .html or .pdf files. "
            "The current index is unchanged."
        )
    shown = "; ".join(f"{s.path} {s.reason}" for s in skipped[:5])
    more = f" and {len(skipped) - 5} more" if len(skipped) > 5 else ""
    return (
        f"nothing to index in {where}: every file was skipped ({shown}{more}). "
        "The current index is unchanged."
    )


def writer_lock_for(store: ChromaStore, lock_dir: Path | None = None) -> WriterLock:
    """The default lock: a file in ``lock_dir``, a lease on a server, or none at all."""
    if lock_dir is not None:
        return FileWriterLock(lock_dir)
    if store.is_remote:
        return ServerWriterLock(store.markers)
    return NoLock()


def _build(
    documents: list[Document],
    skipped: tuple[Skipped, ...],
    embedder: Embedder,
    store: ChromaStore,
    progress: Progress,
    lock: WriterLock,
    keep_previous: bool,
    paths: tuple[str, ...],
    sidecar: SidecarWriter | None = None,
) -> BuildReport:
    live = store.pointer()
    previous = {}
    damaged = False
    warnings = tuple(f"{d.source}: {w}" for d in documents for w in d.warnings)
    if live is not None and live.model_id == embedder.model_id:
        problems = _live_problems(store, live)
        if problems:
            damaged = True
            log.warning(
                "index v%d is damaged (%s): embedding everything again",
                live.version,
                "; ".join(problems),
            )
        else:
            previous = {r.doc_id: r.content_hash for r in store.documents(live.version)}
    wanted = {d.doc_id: d.content_hash for d in documents}
    paragraphs = sum(len(d.paragraphs) for d in documents)
    sentences = sum(len(p.sentences) for d in documents for p in d.paragraphs)

    existing = store.versions()
    if (
        live is not None
        and previous == wanted
        and live.model_id == embedder.model_id
        and live.paths == paths
    ):
        log.info("index v%d is up to date (%d documents)", live.version, len(documents))
        # Versions above the live one are leftovers of a killed build (we hold the lock).
        for leftover in (v for v in existing if v > live.version):
            log.info("dropping v%d, left by an interrupted build", leftover)
            store.drop_version(leftover)
        if sidecar is not None and not store.has_sidecar(live.version):
            _save_sidecar(store, live.version, documents, sidecar)
        return BuildReport(
            live.version, False, (), (), (), skipped, paragraphs, sentences, warnings
        )

    version = max([*existing, live.version if live else 0]) + 1
    unchanged = [d for d in documents if previous.get(d.doc_id) == d.content_hash]
    to_embed = [d for d in documents if previous.get(d.doc_id) != d.content_hash]
    store.create_version(version)
    if live is not None:
        for document in unchanged:
            store.copy_document(live.version, version, document.doc_id)
    _embed_into(store, version, to_embed, embedder, progress)
    _self_test(store, version, documents, embedder)
    if sidecar is not None:
        _save_sidecar(store, version, documents, sidecar)
    record = integrity.record(
        store,
        version,
        {"sentences": sentences, "paragraphs": paragraphs, "documents": len(documents)},
        {
            "sentences": integrity.pick_probes(
                [s.sentence_id for d in documents for p in d.paragraphs for s in p.sentences]
            ),
            "paragraphs": integrity.pick_probes(
                [p.paragraph_id for d in documents for p in d.paragraphs]
            ),
        },
    )

    lock.verify()  # a writer that lost its lease must not flip the pointer
    store.publish(version, embedder.model_id, len(documents), paths=paths, integrity=record)
    keep = {version, live.version} if keep_previous and live is not None else {version}
    for old in existing:
        if old not in keep:
            store.drop_version(old)
    removed = tuple(sorted(set(previous) - set(wanted)))
    log.info(
        "published index v%d: %d embedded, %d copied, %d removed",
        version,
        len(to_embed),
        len(unchanged),
        len(removed),
    )
    return BuildReport(
        version=version,
        changed=True,
        embedded=tuple(d.doc_id for d in to_embed),
        copied=tuple(d.doc_id for d in unchanged),
        removed=removed,
        skipped=skipped,
        paragraphs=paragraphs,
        sentences=sentences,
        warnings=warnings,
        repaired=damaged,
    )


def _live_problems(store: ChromaStore, live: IndexPointer) -> list[str]:
    try:
        return integrity.check(store, live)
    except ReadoutError as exc:
        return [str(exc)]


def _embed_into(
    store: ChromaStore,
    version: int,
    documents: list[Document],
    embedder: Embedder,
    progress: Progress,
) -> None:
    import numpy as np

    texts = [embedding_text(p, s) for d in documents for p in d.paragraphs for s in p.sentences]
    if not texts:
        return
    # Encoded in chunks so a long build says how far it is, terminal or not.
    chunks = []
    for start in range(0, len(texts), ENCODE_CHUNK):
        chunks.append(embedder.encode(texts[start : start + ENCODE_CHUNK]))
        done = min(len(texts), start + ENCODE_CHUNK)
        progress.maybe(
            partial(
                "embedding: {:,} of {:,} sentences ({}%)".format,
                done,
                len(texts),
                100 * done // len(texts),
            )
        )
    vectors = np.concatenate(chunks) if len(chunks) > 1 else chunks[0]
    offset = 0
    for document in documents:
        counts = [len(p.sentences) for p in document.paragraphs]
        doc_vectors = vectors[offset : offset + sum(counts)]
        offset += sum(counts)
        store.add_document(version, document, doc_vectors, paragraph_means(doc_vectors, counts))


def embedding_text(paragraph: Paragraph, sentence: Sentence) -> str:
    """What is embedded for ``sentence``: the sentence, after the innermost heading of its
    section when it has one. In reference docs the heading often holds the topic the sentence
    never names ("Default: `false`." under "use_directory_urls"); on the docs training set
    (``data/docs``) this put the answer first for 4 more of 192 questions, and changed nothing
    on the Wikipedia set, whose paragraphs have no headings. Part of ``PARSER_VERSION``."""
    if not paragraph.heading:
        return sentence.text
    return f"{paragraph.heading.rsplit(SECTION_SEPARATOR, 1)[-1]}: {sentence.text}"


def _save_sidecar(
    store: ChromaStore, version: int, documents: list[Document], sidecar: SidecarWriter
) -> None:
    with tempfile.TemporaryDirectory(prefix="readout-sidecar-") as tmp:
        sidecar(Path(tmp), documents)
        store.save_sidecar(version, Path(tmp))
    log.info("saved the sidecar of index v%d", version)


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
    paragraph = documents[0].paragraphs[0]
    probe = paragraph.sentences[0]
    vector = embedder.encode([embedding_text(paragraph, probe)])
    hits = store.query(version, "sentences", vector, k=5)[0]
    if probe.sentence_id not in {hit.record_id for hit in hits}:
        raise StoreCorrupt(f"index v{version} failed its self-test: a stored sentence is not found")
