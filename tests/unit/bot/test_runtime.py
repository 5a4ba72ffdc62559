"""Wiring settings into a store, a lock, an engine and the service, and what it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot import runtime
from bot.settings import Settings
from index.build import build_index
from index.corpus import BUNDLED_CORPUS_DIR
from index.errors import CorpusError, IndexMissing
from index.lock import FileWriterLock, ServerWriterLock
from index.store import ChromaStore
from tests.support.fakes import FakeEmbedder


def test_the_store_is_a_folder_or_a_server_named_without_its_password(tmp_path: Path) -> None:
    local = runtime.open_store(Settings(store=tmp_path / "index"), create=True)
    assert (local.location, local.is_remote) == (str(tmp_path / "index"), False)
    assert isinstance(runtime.writer_lock(Settings(store=tmp_path), local), FileWriterLock)
    remote = runtime.open_store(Settings(chroma_url="http://user:pw@127.0.0.1:9"))
    assert (remote.location, remote.is_remote) == ("http://127.0.0.1:9", True)  # not connected
    assert isinstance(runtime.writer_lock(Settings(), remote), ServerWriterLock)


def test_an_empty_store_is_an_error_naming_the_command_and_nothing_is_written(
    tmp_path: Path,
) -> None:
    settings = Settings(store=tmp_path / "index")
    with pytest.raises(IndexMissing, match=r"run `readout index PATH \.\.\.`.*index --demo"):
        runtime.open_engine(settings, embedder=FakeEmbedder())
    assert not (tmp_path / "index").exists()  # a reader creates nothing
    assert not runtime.has_index(settings)
    assert runtime.open_store(settings, create=True).pointer() is None  # what a build opens


def test_a_bare_reindex_needs_recorded_paths(tmp_path: Path) -> None:
    store = ChromaStore.open_local(tmp_path / "index")
    with pytest.raises(CorpusError, match="no index in"):
        runtime.recorded_paths(store)
    build_index([BUNDLED_CORPUS_DIR], embedder=FakeEmbedder(), store=store)
    assert runtime.recorded_paths(store) == (str(BUNDLED_CORPUS_DIR),)
    pointer = store.pointer()
    assert pointer is not None
    store.publish(pointer.version, pointer.model_id, pointer.documents)  # as older readouts did
    with pytest.raises(CorpusError, match="does not record which paths"):
        runtime.recorded_paths(store)


def test_has_index_and_the_repair_message(tmp_path: Path) -> None:
    settings = Settings(store=tmp_path / "index")
    store = runtime.open_store(settings, create=True)
    build_index([BUNDLED_CORPUS_DIR], embedder=FakeEmbedder(), store=store)
    store.close()
    assert runtime.has_index(settings)
    message = runtime.repair_message("/srv/index", 3, ["2 vectors missing", "bad checksum"])
    assert message.startswith("the index at /srv/index (v3) is damaged: 2 vectors missing; bad")
    assert "Repair it with `readout index`" in message
