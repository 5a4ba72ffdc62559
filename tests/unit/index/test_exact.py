"""Exact nearest neighbours (``index.exact``) and the store's use of them, on real chromadb."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from index import store as store_module
from index.build import build_index
from index.exact import ExactVectors
from index.store import ChromaStore
from tests.support.fakes import FakeEmbedder


def test_hits_are_the_most_similar_first_with_ties_in_id_order() -> None:
    exact = ExactVectors.of(
        ["a", "b", "c", "d"],
        [[1.0, 0.0], [0.0, 2.0], [3.0, 0.0], [1.0, 1.0]],  # not unit length: normalised
    )
    hits = exact.query(np.array([[1.0, 0.0]]), 3)[0]
    assert [h.record_id for h in hits] == ["a", "c", "d"]  # a and c tie at 1.0: id order
    assert [round(h.similarity, 4) for h in hits] == [1.0, 1.0, 0.7071]
    assert len(exact.query(np.array([[0.0, 1.0]]), 10)[0]) == 4  # k above the size: all


def test_exact_search_agrees_with_chromas_index(
    tmp_path: Path, fake_embedder: FakeEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for n in range(12):
        (docs / f"d{n}.txt").write_text(
            f"Paragraph {n} talks about topic {n % 4}. It has words like alpha{n} and beta.\n"
            f"Another paragraph {n} mentions gamma{n % 3} and delta.\n",
            encoding="utf-8",
        )
    build_index([docs], embedder=fake_embedder, store=ChromaStore.open_local(tmp_path / "s"))
    questions = fake_embedder.encode(["topic 2 alpha6", "gamma1 delta", "beta paragraph"])

    def search(kind: str) -> list[list[tuple[str, float]]]:
        store = ChromaStore.open_local(tmp_path / "s")
        pointer = store.pointer()
        assert pointer is not None
        hits = store.query(pointer.version, kind, questions, 5)
        return [[(h.record_id, round(h.similarity, 4)) for h in row] for row in hits]

    exact = {kind: search(kind) for kind in ("sentences", "paragraphs")}
    monkeypatch.setattr(store_module, "EXACT_MAX_RECORDS", 0)  # chromadb's HNSW index
    approximate = {kind: search(kind) for kind in ("sentences", "paragraphs")}
    for kind in exact:
        for ours, chromas in zip(exact[kind], approximate[kind], strict=True):
            # The same similarities in the same order (ids may swap only within a tie).
            assert [s for _, s in ours] == pytest.approx([s for _, s in chromas], abs=1e-4)
            assert {i for i, _ in ours[:1]} <= {i for i, s in chromas if s == chromas[0][1]}


def test_an_untouched_store_answers_the_pointer_from_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ChromaStore.open_local(tmp_path / "store")
    store.publish(1, "model-a", 2)
    time.sleep(0.3)  # older than the file-time granularity the cache allows for
    first = store.pointer()

    def no_reads() -> None:
        raise AssertionError("the pointer was read from chromadb again")

    monkeypatch.setattr(store, "_read_pointer", no_reads)
    assert store.pointer() == first


def test_a_publish_by_another_process_is_seen_at_once(tmp_path: Path) -> None:
    store = ChromaStore.open_local(tmp_path / "store")
    store.publish(1, "model-a", 2)
    time.sleep(0.3)
    cached = store.pointer()
    assert cached is not None and cached.version == 1
    assert store.pointer() is cached  # answered from memory
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path; from index.store import ChromaStore; "
            "ChromaStore.open_local(Path(sys.argv[1])).publish(2, 'model-a', 3)",
            str(tmp_path / "store"),
        ],
        check=True,
        cwd=Path(__file__).resolve().parents[3],
    )
    moved = store.pointer()
    assert moved is not None and (moved.version, moved.documents) == (2, 3)
