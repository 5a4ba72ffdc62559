"""The sidecar: a snapshot loaded from it equals one read back from the store, and a sidecar
that is missing or damaged is ignored (the store is read instead), never trusted."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from index.build import build_index
from index.corpus import BUNDLED_CORPUS_DIR
from index.store import ChromaStore
from retrieval.engine import Engine, Snapshot
from retrieval.sidecar import load_sidecar, write_sidecar
from tests.support.fakes import FakeEmbedder
from tests.support.paths import TEST_DATA

QUESTIONS = ["What did Xi say about Taiwan?", "warranty of the license", "Who will travel?"]


@pytest.fixture
def store(tmp_path: Path, fake_embedder: FakeEmbedder) -> ChromaStore:
    store = ChromaStore.open_local(tmp_path / "store")
    build_index(
        [BUNDLED_CORPUS_DIR, TEST_DATA / "apache-license.txt"],
        embedder=fake_embedder,
        store=store,
        sidecar=write_sidecar,
    )
    return store


class _NoSidecar:
    """The store seen by a reader of an index built before sidecars existed."""

    def __init__(self, store: ChromaStore) -> None:
        self._store = store

    def __getattr__(self, name: str) -> object:
        return getattr(self._store, name)

    def sidecar(self, version: int) -> object:
        from contextlib import nullcontext

        return nullcontext(None)


def _same(first: Snapshot, second: Snapshot) -> None:
    assert first.documents == second.documents
    assert first.paragraphs == second.paragraphs
    assert first.sentences == second.sentences
    assert first.sentence_lexical.vocabulary == second.sentence_lexical.vocabulary
    for question in QUESTIONS:
        for kind in ("sentence_lexical", "paragraph_lexical"):
            assert getattr(first, kind).search(question, 10) == getattr(second, kind).search(
                question, 10
            )


def test_sidecar_snapshot_equals_the_store_snapshot(store: ChromaStore) -> None:
    pointer = store.pointer()
    assert pointer is not None and store.has_sidecar(pointer.version)
    assert load_sidecar(store, pointer.version) is not None
    from_sidecar = Snapshot.load(store, pointer)
    from_store = Snapshot.load(_NoSidecar(store), pointer)  # type: ignore[arg-type]
    _same(from_sidecar, from_store)


def test_answers_are_the_same_either_way(store: ChromaStore, fake_embedder: FakeEmbedder) -> None:
    with_sidecar = Engine(store, fake_embedder)
    without = Engine(_NoSidecar(store), fake_embedder)  # type: ignore[arg-type]
    for question in QUESTIONS:
        assert with_sidecar.ask(question) == without.ask(question)


def test_damaged_sidecar_is_ignored_with_a_warning(
    store: ChromaStore, caplog: pytest.LogCaptureFixture
) -> None:
    pointer = store.pointer()
    assert pointer is not None
    with store.sidecar(pointer.version) as folder:
        assert folder is not None
        texts = folder / "texts.json"
        texts.write_text(texts.read_text(encoding="utf-8").replace("Taiwan", "Tai wan"))
    with caplog.at_level(logging.WARNING, logger="retrieval.sidecar"):
        assert load_sidecar(store, pointer.version) is None
        snapshot = Snapshot.load(store, pointer)
    assert "does not match its sha256" in caplog.text
    assert any("Taiwan" in s.text for s in snapshot.sentences)  # read from the store instead


def test_unchanged_rebuild_adds_a_missing_sidecar_and_new_versions_drop_old_ones(
    tmp_path: Path, fake_embedder: FakeEmbedder
) -> None:
    store = ChromaStore.open_local(tmp_path / "store")
    first = build_index([BUNDLED_CORPUS_DIR], embedder=fake_embedder, store=store)
    assert not store.has_sidecar(first.version)  # built without a writer
    again = build_index(
        [BUNDLED_CORPUS_DIR], embedder=fake_embedder, store=store, sidecar=write_sidecar
    )
    assert (again.changed, again.version) == (False, first.version)
    assert store.has_sidecar(first.version)
    changed = build_index(
        [BUNDLED_CORPUS_DIR, TEST_DATA / "apache-license.txt"],
        embedder=fake_embedder,
        store=store,
        sidecar=write_sidecar,
    )
    assert store.has_sidecar(changed.version)
    assert not store.has_sidecar(first.version)  # dropped with its version
