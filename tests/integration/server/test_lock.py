"""One writer at a time: the lease on a Chroma server (across processes and racing threads,
taken over only once expired) and the file lock beside an embedded store."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from bot import runtime
from bot.settings import Settings
from index.embedder import OnnxEmbedder
from index.errors import IndexLocked
from index.lock import LOCK_MARKER, FileWriterLock, ServerWriterLock
from index.store import ChromaStore
from tests.support.chroma import ChromaServer, readout, wait_until

pytestmark = pytest.mark.integration

BUSY = "another `readout index` is rebuilding this index right now"


def test_a_second_writer_in_another_process_gets_index_locked(
    chroma_server: ChromaServer, server_env: dict[str, str]
) -> None:
    store = ChromaStore.open_remote(chroma_server.url)
    holder = ServerWriterLock(store.markers, ttl=60)
    holder.acquire()
    try:
        done = readout(server_env, "index", "--demo")
        assert done.returncode == 1
        assert done.stderr.startswith(f"error: {BUSY}")
        assert f"held by {holder.owner}" in done.stderr
        assert "Traceback" not in done.stderr
        assert store.versions() == []  # it wrote nothing
    finally:
        holder.release()
    assert store.markers.read(LOCK_MARKER) is None
    store.close()


def test_of_many_racing_writers_exactly_one_wins(chroma_server: ChromaServer) -> None:
    stores = [ChromaStore.open_remote(chroma_server.url) for _ in range(8)]
    for store in stores:
        store.heartbeat()  # connect first, so the race is about the lock alone
    locks = [ServerWriterLock(store.markers, ttl=30) for store in stores]
    start = threading.Barrier(len(locks))
    outcomes: list[str] = [""] * len(locks)

    def race(n: int) -> None:
        start.wait()
        try:
            locks[n].acquire()
            outcomes[n] = "won"
        except IndexLocked:
            outcomes[n] = "locked"

    threads = [threading.Thread(target=race, args=(n,)) for n in range(len(locks))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(outcomes) == ["locked"] * 7 + ["won"]
    winner = locks[outcomes.index("won")]
    winner.verify()
    winner.release()
    for store in stores:
        store.close()


def test_a_live_writer_keeps_its_lease_and_a_dead_ones_expires(
    chroma_server: ChromaServer,
) -> None:
    first_store = ChromaStore.open_remote(chroma_server.url)
    second_store = ChromaStore.open_remote(chroma_server.url)
    first = ServerWriterLock(first_store.markers, ttl=1.5)
    first.acquire()
    # Renewed in the background: still held well past one ttl.
    deadline = time.monotonic() + 4.0
    while time.monotonic() < deadline:
        with pytest.raises(IndexLocked):
            ServerWriterLock(second_store.markers, ttl=1.5).acquire()
        time.sleep(0.5)
    first.verify()

    # The holder stalls (stops renewing without releasing): once the lease lapses, another
    # writer takes over, and the stalled one finds out before it could publish anything.
    first._stop.set()
    second = ServerWriterLock(second_store.markers, ttl=30)
    assert wait_until(lambda: _try(second), 15, interval=0.2)
    with pytest.raises(IndexLocked, match="lost its writer lock"):
        first.verify()
    first.release()  # must not remove the new holder's lock
    held = second_store.markers.read(LOCK_MARKER)
    assert held is not None and held[1]["owner"] == second.owner
    second.release()
    assert second_store.markers.read(LOCK_MARKER) is None
    first_store.close()
    second_store.close()


def test_an_embedded_store_has_one_writer_too(tmp_path: Path, real_embedder: OnnxEmbedder) -> None:
    settings = Settings.from_env({"READOUT_STORE": str(tmp_path / "store")})
    with FileWriterLock(settings.store):
        with pytest.raises(IndexLocked, match=BUSY):
            runtime.build(settings, [], demo=True, embedder=real_embedder)
    report = runtime.build(settings, [], demo=True, embedder=real_embedder)
    assert report.version == 1


def _try(lock: ServerWriterLock) -> bool:
    try:
        lock.acquire()
    except IndexLocked:
        return False
    return True
