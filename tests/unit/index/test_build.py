"""Incremental, versioned builds over a real chromadb folder with the fake embedder."""

from __future__ import annotations

from pathlib import Path

import pytest

from index.build import build_index, embedding_text, paragraph_means
from index.corpus import Paragraph, Sentence
from index.errors import CorpusError
from index.store import ChromaStore
from tests.support.fakes import FakeEmbedder


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text("Alpha one. Alpha two.\nAlpha three.\n", encoding="utf-8")
    (folder / "b.txt").write_text("Beta one.\n", encoding="utf-8")
    return folder


def test_rerun_on_unchanged_files_embeds_nothing(
    tmp_path: Path, docs: Path, fake_embedder: FakeEmbedder
) -> None:
    store = ChromaStore.open_local(tmp_path / "store")
    first = build_index([docs], embedder=fake_embedder, store=store)
    assert first.changed and first.embedded == ("a", "b")
    assert (first.paragraphs, first.sentences) == (3, 4)
    calls_after_first = list(fake_embedder.calls)
    second = build_index([docs], embedder=fake_embedder, store=store)
    assert not second.changed and second.version == first.version
    assert fake_embedder.calls == calls_after_first  # no embedding work at all


def test_changed_document_is_re_embedded_alone_and_removed_one_dropped(
    tmp_path: Path, docs: Path, fake_embedder: FakeEmbedder
) -> None:
    store = ChromaStore.open_local(tmp_path / "store")
    build_index([docs], embedder=fake_embedder, store=store)
    (docs / "a.txt").write_text("Alpha rewritten.\n", encoding="utf-8")
    (docs / "b.txt").unlink()
    (docs / "c.txt").write_text("Gamma one.\n", encoding="utf-8")
    report = build_index([docs], embedder=fake_embedder, store=store)
    assert report.embedded == ("a", "c") and report.removed == ("b",)
    pointer = store.pointer()
    assert pointer is not None and pointer.version == report.version
    assert [s.text for s in store.sentences(pointer.version)] == ["Alpha rewritten.", "Gamma one."]
    assert store.versions() == [report.version]  # the old version is gone


def test_unchanged_documents_are_copied_with_their_vectors(
    tmp_path: Path, docs: Path, fake_embedder: FakeEmbedder
) -> None:
    store = ChromaStore.open_local(tmp_path / "store")
    build_index([docs], embedder=fake_embedder, store=store)
    (docs / "b.txt").write_text("Beta changed.\n", encoding="utf-8")
    fake_embedder.calls.clear()
    report = build_index([docs], embedder=fake_embedder, store=store)
    assert report.copied == ("a",) and report.embedded == ("b",)
    # One batch for b's single sentence, one for the self-test probe.
    assert fake_embedder.calls == [1, 1]


def test_missing_path_is_an_error_naming_it(tmp_path: Path, fake_embedder: FakeEmbedder) -> None:
    with pytest.raises(CorpusError, match="nowhere"):
        build_index(
            [tmp_path / "nowhere"],
            embedder=fake_embedder,
            store=ChromaStore.open_local(tmp_path / "s"),
        )


def test_paragraph_means_are_unit_vectors() -> None:
    import numpy as np

    vectors = np.array([[1, 0], [0, 1], [1, 0]], dtype=np.float32)
    means = paragraph_means(vectors, [2, 1])
    assert np.allclose(means, np.array([[0.70710677, 0.70710677], [1.0, 0.0]]))


def test_a_sentence_is_embedded_after_its_innermost_heading() -> None:
    sentence = Sentence(doc_id="config", paragraph=3, index=1, text="Default: `false`.")
    under = Paragraph("config", 3, "Default: `false`.", heading="Options › use_directory_urls")
    assert embedding_text(under, sentence) == "use_directory_urls: Default: `false`."
    bare = Paragraph("config", 3, "Default: `false`.")
    assert embedding_text(bare, sentence) == "Default: `false`."
