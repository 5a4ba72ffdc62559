"""Wiring: turn ``Settings`` into a store, an embedder, an engine and the answer service. Used
by every entry point.

Entry points (the CLI, the Slack and Discord servers) call these and nothing below them, so
choosing the embedded store or a Chroma server, and which model, happens in one place.

In server mode readers and writers get different patience: a question gives up on a silent
server after ``READOUT_CHROMA_TIMEOUT`` seconds (4 by default, so people hear "search is
unavailable" within 5 s), while a build, which sends thousands of vectors per request, waits up
to ``BUILD_TIMEOUT_SECONDS`` per request.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bot.service import AnswerService, QuestionLogSink
from bot.settings import EMBEDDER_ONNX, Settings
from index import integrity
from index.build import BuildReport, build_index
from index.corpus import BUNDLED_CORPUS_DIR, ProgressCallback
from index.embedder import Embedder, OnnxEmbedder, SentenceTransformerEmbedder
from index.errors import CorpusError, IndexMissing, StoreCorrupt
from index.lock import FileWriterLock, ServerWriterLock, WriterLock
from index.model import is_default_model
from index.store import ChromaStore
from retrieval.engine import Engine
from retrieval.sidecar import write_sidecar

log = logging.getLogger(__name__)

BUILD_TIMEOUT_SECONDS = 120.0


def open_store(
    settings: Settings, *, timeout: float | None = None, create: bool = False
) -> ChromaStore:
    """The embedded store at ``settings.store``, or the Chroma server at ``chroma_url``
    (connected on first use; each request waits at most ``timeout`` or
    ``settings.chroma_timeout`` seconds). Only a build may ``create`` an embedded store's
    folder: a mistyped ``--store`` on a question is an IndexMissing, not a new empty folder."""
    if not settings.chroma_url and not create and not settings.store.exists():
        raise IndexMissing(
            f"there is no index in {settings.store} yet: run `readout index PATH ...` to index "
            "your documents, or `readout index --demo` for the bundled article."
        )
    if settings.chroma_url:
        return ChromaStore.open_remote(
            settings.chroma_url,
            token=settings.chroma_token,
            token_header=settings.chroma_token_header,
            timeout=timeout if timeout is not None else settings.chroma_timeout,
        )
    return ChromaStore.open_local(settings.store)


def writer_lock(settings: Settings, store: ChromaStore) -> WriterLock:
    """The lock a build holds: a lease on the Chroma server, or a file beside the folder."""
    if store.is_remote:
        return ServerWriterLock(store.markers, ttl=settings.index_lock_ttl)
    return FileWriterLock(settings.store)


LoadableEmbedder = OnnxEmbedder | SentenceTransformerEmbedder


def open_embedder(settings: Settings) -> LoadableEmbedder:
    """The configured model, files verified; weights load on first use or ``load()``.

    The default model runs on ONNX Runtime unless ``READOUT_EMBEDDER=sentence-transformers``;
    any other ``READOUT_MODEL`` has no ONNX export and always runs on sentence-transformers.
    """
    if settings.embedder == EMBEDDER_ONNX and is_default_model(settings.model):
        return OnnxEmbedder.from_model_dir(settings.model_dir)
    return SentenceTransformerEmbedder(settings.model, settings.model_dir)


def build(
    settings: Settings,
    paths: Sequence[Path],
    *,
    demo: bool = False,
    store: ChromaStore | None = None,
    embedder: LoadableEmbedder | None = None,
    progress: ProgressCallback | None = None,
) -> BuildReport:
    """Index ``paths`` into the configured store: with ``demo`` the bundled article, and with
    neither the paths the live index was built from (a re-index, also the repair command).

    The version readers used until now is kept until the next build, so questions already
    under way when the pointer flips finish on it.
    """
    if store is None:
        store = open_store(
            settings, timeout=max(BUILD_TIMEOUT_SECONDS, settings.chroma_timeout), create=True
        )
    targets = [*paths, *([BUNDLED_CORPUS_DIR] if demo else [])]
    if not targets:
        targets = [Path(p) for p in recorded_paths(store)]
    return build_index(
        targets,
        embedder=embedder or open_embedder(settings),
        store=store,
        progress=progress,
        lock=writer_lock(settings, store),
        keep_previous=True,
        sidecar=write_sidecar,
    )


def has_index(settings: Settings) -> bool:
    """Whether the configured store holds a published index."""
    try:
        store = open_store(settings)
    except IndexMissing:  # no store folder yet
        return False
    try:
        return store.pointer() is not None
    finally:
        store.close()


def recorded_paths(store: ChromaStore) -> tuple[str, ...]:
    """The paths the live index was built from; a CorpusError saying what to run if none."""
    pointer = store.pointer()
    if pointer is None:
        raise CorpusError(
            f"there is no index in {store.location} yet: name what to index "
            "(readout index PATH ...), or run `readout index --demo` for the bundled article."
        )
    if not pointer.paths:
        raise CorpusError(
            f"the index in {store.location} does not record which paths it was built from "
            "(an older readout built it): run `readout index PATH ...` once; after that a "
            "bare `readout index` re-indexes them."
        )
    return pointer.paths


def verify_index(store: ChromaStore) -> None:
    """StoreCorrupt, naming the repair command, if the live index fails its integrity check."""
    pointer = store.pointer()
    if pointer is None:
        return
    problems = integrity.check(store, pointer)
    if problems:
        raise StoreCorrupt(repair_message(store.location, pointer.version, problems))


def repair_message(location: str, version: int, problems: Sequence[str]) -> str:
    """One line: what is wrong with index ``version`` and the command that rebuilds it."""
    return (
        f"the index at {location} (v{version}) is damaged: {'; '.join(problems)}. "
        "Repair it with `readout index`, which reads the same paths again and re-embeds them."
    )


def open_engine(
    settings: Settings,
    *,
    preload_model: bool = False,
    store: ChromaStore | None = None,
    embedder: Embedder | None = None,
) -> Engine:
    """An engine over the live index; :class:`IndexMissing`, naming the command to run, when
    the store holds none. Only ``readout index`` (and ``make run``) write an index.

    With ``preload_model`` (commands that will encode), the model starts loading in a thread
    right away, so loading it overlaps with opening the store and reading the index.
    """
    embedder = embedder or open_embedder(settings)
    loading: threading.Thread | None = None
    if preload_model:
        loading = threading.Thread(
            target=_load_quietly, args=(embedder,), name="readout-model-load", daemon=True
        )
        loading.start()
    try:
        store = store or open_store(settings)
        if store.pointer() is None:
            raise IndexMissing(
                f"there is no index in {store.location} yet: run `readout index PATH ...` to "
                "index your documents, or `readout index --demo` for the bundled article."
            )
        verify_index(store)  # a damaged store must not answer with quietly worse scores
    except BaseException:
        if loading is not None:
            # The process is about to report the error and exit: an ONNX Runtime session still
            # being built in a thread at exit aborts the interpreter ("terminate called").
            loading.join()
        raise
    return Engine(store, embedder)


def open_service(
    settings: Settings,
    *,
    question_log: QuestionLogSink | None = None,
    preload_model: bool = False,
) -> AnswerService:
    """The answer service every surface asks: an engine over the live index, settings' limits,
    ``question_log`` when given, and ``readout health``'s check over the same store and
    (already loaded) model for ``/healthz``."""
    from bot.health import check_health

    # The model first: a damaged model is reported with its repair command, whatever the
    # store holds.
    embedder = open_embedder(settings)
    store = open_store(settings)
    engine = open_engine(settings, preload_model=preload_model, store=store, embedder=embedder)

    def health() -> tuple[bool, dict[str, Any]]:
        report = check_health(settings, store=store, embedder=embedder)
        return report.ok, report.to_json()

    return AnswerService.from_settings(settings, engine, question_log=question_log, health=health)


def _load_quietly(embedder: Embedder) -> None:
    # A failure here is raised again, to the caller, by the first encode that retries the load.
    load = getattr(embedder, "load", None)
    try:
        if callable(load):
            load()
    except Exception:
        log.debug("background model load failed", exc_info=True)
