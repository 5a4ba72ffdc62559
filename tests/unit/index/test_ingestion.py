"""Issue 14's probes on ids, empty input, size, progress and integrity: a real chromadb folder
and the fake embedder (the real model runs the same paths in tests/integration)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from pathlib import Path

import pytest

from index import integrity
from index.build import build_index
from index.corpus import load_documents
from index.errors import CorpusError
from index.sentences import MAX_SENTENCE_CHARS, split_sentences
from index.store import ChromaStore
from tests.support.fakes import FakeEmbedder

# -- document ids ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("files", "roots"),
    [
        (["notes.md", "notes.txt"], ["."]),
        (["README.md", "readme.md"], ["."]),
        (["a/docs/x.md", "b/docs/x.md"], ["a", "b"]),
    ],
)
def test_clashing_ids_name_both_files_before_anything_is_embedded(
    tmp_path: Path, fake_embedder: FakeEmbedder, files: list[str], roots: list[str]
) -> None:
    for name in files:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("Some text here.\n", encoding="utf-8")
    if len([p for p in tmp_path.rglob("*.*") if p.is_file()]) < len(files):
        pytest.skip("this file system folds case")
    store = ChromaStore.open_local(tmp_path / "store")
    with pytest.raises(CorpusError) as raised:
        build_index([tmp_path / r for r in roots], embedder=fake_embedder, store=store)
    message = str(raised.value)
    assert all(str((tmp_path / name).resolve()) in message for name in files), message
    assert "self-test" not in message
    assert fake_embedder.calls == [] and store.pointer() is None


def test_adding_a_file_never_renames_another(tmp_path: Path) -> None:
    (tmp_path / "alpha").mkdir()
    (tmp_path / "alpha" / "notes.md").write_text("Alpha notes.\n", encoding="utf-8")
    before, _ = load_documents([tmp_path])
    (tmp_path / "beta").mkdir()
    (tmp_path / "beta" / "notes.md").write_text("Beta notes.\n", encoding="utf-8")
    after, _ = load_documents([tmp_path])
    assert [d.doc_id for d in before] == ["alpha/notes"]
    assert [d.doc_id for d in after] == ["alpha/notes", "beta/notes"]


def test_utf16_with_a_bom_is_read(tmp_path: Path) -> None:
    (tmp_path / "wide.txt").write_bytes("The meeting is on Friday.\n".encode("utf-16"))
    documents, skipped = load_documents([tmp_path])
    assert skipped == [] and documents[0].paragraphs[0].text == "The meeting is on Friday."


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_named_on_the_command_line_is_skipped_not_read(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)
    started = time.monotonic()
    documents, skipped = load_documents([fifo])
    assert documents == [] and skipped[0].reason == "is not a regular file"
    assert time.monotonic() - started < 5


# -- never publish an empty index ------------------------------------------------------------


def test_nothing_to_index_keeps_the_live_version(
    tmp_path: Path, fake_embedder: FakeEmbedder
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("Alpha is here.\n", encoding="utf-8")
    store = ChromaStore.open_local(tmp_path / "store")
    good = build_index([docs], embedder=fake_embedder, store=store)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CorpusError, match="nothing to index"):
        build_index([empty], embedder=fake_embedder, store=store)
    binaries = tmp_path / "binaries"
    binaries.mkdir()
    (binaries / "blob.txt").write_bytes(b"\x00\x01\x02")
    with pytest.raises(CorpusError, match=r"blob\.txt looks binary"):
        build_index([binaries], embedder=fake_embedder, store=store)
    pointer = store.pointer()
    assert pointer is not None and pointer.version == good.version
    assert [s.text for s in store.sentences(pointer.version)] == ["Alpha is here."]


# -- size ------------------------------------------------------------------------------------


def test_sentence_splitting_is_linear_in_paragraph_length() -> None:
    sentence = "The server closes idle connections after five seconds. "
    started = time.perf_counter()
    sentences = split_sentences(sentence * 8000)  # 440 KB: about 90 s when it was quadratic
    elapsed = time.perf_counter() - started
    assert len(sentences) == 8000 and elapsed < 30


def test_a_paragraph_without_punctuation_is_capped_into_marked_quotes() -> None:
    text = "word " * 400_000  # 2 MB, no full stop anywhere
    started = time.perf_counter()
    sentences = split_sentences(text)
    assert time.perf_counter() - started < 10
    assert max(len(s) for s in sentences) <= MAX_SENTENCE_CHARS
    assert sentences[0].endswith("…") and sentences[1].startswith("… ")
    assert sentences[-1].endswith("word")


def test_long_builds_report_progress_without_a_terminal(
    tmp_path: Path, fake_embedder: FakeEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    import index.corpus

    monkeypatch.setattr(index.corpus, "PROGRESS_SECONDS", 0.0)
    docs = tmp_path / "docs"
    docs.mkdir()
    for n in range(3):
        # Each sentence has a word of its own, so the build's self-test finds it by meaning.
        text = " ".join(f"Sentence {i} names token{n}x{i}." for i in range(300))
        (docs / f"d{n}.txt").write_text(text + "\n", encoding="utf-8")
    lines: list[str] = []
    build_index(
        [docs],
        embedder=fake_embedder,
        store=ChromaStore.open_local(tmp_path / "s"),
        progress=lines.append,
    )
    assert any(line.startswith("reading files: ") for line in lines)
    assert any(line.startswith("embedding: ") and "of 900 sentences" in line for line in lines)


# -- integrity -------------------------------------------------------------------------------


@pytest.fixture
def big_store(tmp_path: Path, fake_embedder: FakeEmbedder) -> Path:
    """A store whose sentence collection is past chromadb's flush threshold (1,000 records),
    so its vectors live in the segment folder on disk, not only in the write-ahead log."""
    docs = tmp_path / "docs"
    docs.mkdir()
    for n in range(12):
        lines = [f"Document {n} line {i} talks about topic {n * 100 + i}." for i in range(100)]
        (docs / f"doc{n}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    path = tmp_path / "store"
    build_index([docs], embedder=fake_embedder, store=ChromaStore.open_local(path))
    return path


def _forget_open_stores() -> None:
    from chromadb.api.client import SharedSystemClient

    SharedSystemClient.clear_system_cache()


def _sentence_segment(store_dir: Path) -> Path:
    with sqlite3.connect(store_dir / "chroma.sqlite3") as db:
        (segment,) = db.execute(
            "SELECT s.id FROM segments s JOIN collections c ON s.collection = c.id "
            "WHERE s.scope = 'VECTOR' AND c.name LIKE '%-sentences'"
        ).fetchone()
    return store_dir / segment


def test_a_healthy_store_passes_its_integrity_check(big_store: Path) -> None:
    store = ChromaStore.open_local(big_store)
    pointer = store.pointer()
    assert pointer is not None and pointer.integrity
    assert integrity.check(store, pointer) == []


@pytest.mark.parametrize("damage", ["delete segment folder", "truncate data_level0.bin"])
def test_a_damaged_vector_segment_is_detected_and_repaired_by_reindexing(
    big_store: Path, tmp_path: Path, fake_embedder: FakeEmbedder, damage: str
) -> None:
    segment = _sentence_segment(big_store)
    if damage == "delete segment folder":
        shutil.rmtree(segment)
    else:
        data = segment / "data_level0.bin"
        with data.open("r+b") as handle:
            handle.truncate(data.stat().st_size // 3)
    _forget_open_stores()  # as a new process would: chromadb caches open folders per process
    store = ChromaStore.open_local(big_store)
    pointer = store.pointer()
    assert pointer is not None
    problems = integrity.check(store, pointer)
    assert problems, "damage went unnoticed"
    # Seen from the files alone, before chromadb opens the index (it can crash on them).
    assert problems[0].startswith("its vector files are missing or truncated"), problems

    report = build_index([tmp_path / "docs"], embedder=fake_embedder, store=store)
    assert report.repaired and report.changed and len(report.embedded) == 12
    repaired = store.pointer()
    assert repaired is not None and integrity.check(store, repaired) == []
