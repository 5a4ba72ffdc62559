"""Store behaviour on a real embedded chromadb folder."""

from __future__ import annotations

from pathlib import Path

from index.store import ChromaStore


def test_pointer_is_read_fresh_through_a_cached_handle(tmp_path: Path) -> None:
    store = ChromaStore.open_local(tmp_path / "store")
    assert store.pointer() is None  # nothing published: nothing cached either
    store.publish(1, "model-a", 2)
    first = store.pointer()
    assert first is not None and first.version == 1
    store.publish(2, "model-a", 3)  # another writer moves the pointer
    moved = store.pointer()
    assert moved is not None and (moved.version, moved.documents) == (2, 3)


def test_pointer_survives_its_collection_being_recreated(tmp_path: Path) -> None:
    store = ChromaStore.open_local(tmp_path / "store")
    store.publish(1, "model-a", 1)
    assert store.pointer() is not None  # the handle is now cached
    store.connection.client.delete_collection(f"{store.namespace}-pointer")  # e.g. a wiped server
    assert store.pointer() is None
    store.publish(7, "model-a", 1)
    recreated = store.pointer()
    assert recreated is not None and recreated.version == 7
