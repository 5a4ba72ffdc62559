"""Wiring: turn ``Settings`` into a store, an embedder and an engine. Used by every entry point.

Entry points (the CLI, the Slack and Discord servers) call these and nothing below them, so
choosing the embedded store or a Chroma server, and which model, happens in one place.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from bot.settings import Settings
from index.build import BuildReport, build_index
from index.corpus import BUNDLED_CORPUS_DIR
from index.embedder import SentenceTransformerEmbedder
from index.store import ChromaStore
from retrieval.engine import Engine

log = logging.getLogger(__name__)


def open_store(settings: Settings) -> ChromaStore:
    """The embedded store at ``settings.store``, or the Chroma server at ``chroma_url``."""
    if settings.chroma_url:
        return ChromaStore.open_remote(settings.chroma_url, token=settings.chroma_token)
    return ChromaStore.open_local(settings.store)


def open_embedder(settings: Settings) -> SentenceTransformerEmbedder:
    """The configured model, files verified; weights load on first use or ``load()``."""
    return SentenceTransformerEmbedder(settings.model, settings.model_dir)


def build(
    settings: Settings,
    paths: Sequence[Path],
    *,
    store: ChromaStore | None = None,
    embedder: SentenceTransformerEmbedder | None = None,
    show_progress: bool = False,
) -> BuildReport:
    """Index ``paths`` (the bundled article when empty) into the configured store."""
    store = store or open_store(settings)
    return build_index(
        list(paths) or [BUNDLED_CORPUS_DIR],
        embedder=embedder or open_embedder(settings),
        store=store,
        show_progress=show_progress,
        lock_dir=None if store.is_remote else settings.store,
    )


def open_engine(
    settings: Settings,
    *,
    announce: Callable[[str], None] = lambda message: print(message, file=sys.stderr),
) -> Engine:
    """An engine over the live index, building the bundled article's index if there is none."""
    store = open_store(settings)
    embedder = open_embedder(settings)
    if store.pointer() is None:
        announce(
            f"No index in {store.location} yet: building one from the bundled article "
            "(run `readout index PATH` to index your own documents)."
        )
        build(settings, [], store=store, embedder=embedder)
    return Engine(store, embedder)
