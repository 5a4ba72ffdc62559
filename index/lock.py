"""One writer at a time: the locks a build holds while it writes a new index version.

* :class:`FileWriterLock` — an embedded store: an OS file lock in the store's folder. The
  kernel releases it when the process dies, however it dies.
* :class:`ServerWriterLock` — a Chroma server shared by several machines: a *lease*. The lock
  is a marker (:class:`Markers`; on Chroma an empty collection, ``index.markers``) named
  ``<ns>-writer-lock`` whose metadata says who holds it and until when. Acquiring is creating
  the marker; names are unique on the server, so of several writers racing, exactly one wins.
  The holder renews the lease from a background thread every ``ttl / 3`` seconds. A holder
  that dies stops renewing, and once the lease has expired the next writer removes the marker
  (renaming it by id first, so it can never remove a newer holder's) and creates its own.
  Expiry is judged by the *server's* clock (its heartbeat), so the writers' clocks may differ.

Limits, honestly: Chroma offers no conditional write, so this lease cannot fence a stalled
holder. A writer paused (stopped, swapped out, its VM frozen) for longer than ``ttl`` loses the
lock without knowing until it checks again; :meth:`ServerWriterLock.verify` runs right before
the pointer is flipped, which leaves a window of one request in which a writer that lost its
lease could still publish. What it would publish is a complete, self-tested version, so
readers still see a whole index, but the newer writer's work could be overwritten or its new
version dropped. Keep ``ttl`` well above any pause you expect (the default is a minute), and
run one indexer at a time by deployment (compose runs one one-shot indexer) rather than relying
on the lock alone. After a writer is killed, the next build waits out the rest of its lease
(``IndexLocked`` says for how long).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from index.errors import IndexLocked, StoreUnavailable

log = logging.getLogger(__name__)

LOCK_FILE_NAME = "readout-write.lock"
LOCK_MARKER = "writer-lock"
DEFAULT_LOCK_TTL = 60.0
_BUSY = (
    "another `readout index` is rebuilding this index right now; "
    "wait for it to finish, then try again."
)


class Markers(Protocol):
    """Named markers on a store shared by several machines (``index.markers.ChromaMarkers``):
    creating one is atomic (of several processes creating the same name, one gets an id)."""

    def clock(self) -> float:
        """The store's clock, in seconds since the epoch."""
        ...

    def create(self, name: str, metadata: Mapping[str, str | int | float]) -> str | None: ...
    def read(self, name: str) -> tuple[str, dict[str, Any]] | None: ...
    def update(
        self, name: str, marker_id: str, metadata: Mapping[str, str | int | float]
    ) -> bool: ...
    def remove(self, name: str, marker_id: str) -> bool: ...
    def drop_retired(self, name: str) -> int: ...


class WriterLock(Protocol):
    """Held for the whole of a build; ``verify`` is called just before publishing."""

    def __enter__(self) -> WriterLock: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...

    def verify(self) -> None:
        """Raise :class:`IndexLocked` if this writer no longer holds the lock."""
        ...


class NoLock:
    """For a store only this process writes to (tests, throwaway folders)."""

    def __enter__(self) -> NoLock:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def verify(self) -> None:
        return None


class FileWriterLock:
    """An OS file lock beside an embedded store; released by the kernel if we die."""

    def __init__(self, lock_dir: Path) -> None:
        from filelock import FileLock

        lock_dir.mkdir(parents=True, exist_ok=True)
        self._lock = FileLock(str(lock_dir / LOCK_FILE_NAME), timeout=0)

    def __enter__(self) -> FileWriterLock:
        from filelock import Timeout

        try:
            self._lock.acquire()
        except Timeout as exc:
            raise IndexLocked(_BUSY) from exc
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._lock.release()

    def verify(self) -> None:
        if not self._lock.is_locked:
            raise IndexLocked("this re-index lost its writer lock; nothing was published.")


class ServerWriterLock:
    """A lease on a Chroma server: one writer across every machine using that server."""

    def __init__(self, markers: Markers, *, ttl: float = DEFAULT_LOCK_TTL) -> None:
        if ttl <= 0:
            raise ValueError("ttl must be positive")
        self._markers = markers
        self._ttl = ttl
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._marker_id: str | None = None
        self._lost = threading.Event()
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    @property
    def held(self) -> bool:
        return self._marker_id is not None and not self._lost.is_set()

    def __enter__(self) -> ServerWriterLock:
        self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    def acquire(self) -> None:
        """Take the lock, or raise :class:`IndexLocked` naming who holds it."""
        now = self._markers.clock()
        marker_id = self._markers.create(LOCK_MARKER, self._lease(now))
        if marker_id is None:
            held = self._markers.read(LOCK_MARKER)
            if held is not None:
                held_id, lease = held
                expires_at = float(lease.get("expires_at", 0.0))
                if expires_at > now:
                    raise IndexLocked(
                        f"{_BUSY} (The lock is held by {lease.get('owner', 'an unknown writer')}; "
                        f"if that process has died, the lock expires in "
                        f"{max(1, round(expires_at - now))} s.)"
                    )
                log.warning(
                    "taking over the writer lock of %s, expired %.0f s ago",
                    lease.get("owner", "?"),
                    now - expires_at,
                )
                self._markers.remove(LOCK_MARKER, held_id)
            marker_id = self._markers.create(LOCK_MARKER, self._lease(now))
            if marker_id is None:  # another writer got there between our two attempts
                raise IndexLocked(_BUSY)
        self._marker_id = marker_id
        self._lost.clear()
        self._stop.clear()
        dropped = self._markers.drop_retired(LOCK_MARKER)
        if dropped:
            log.info("dropped %d lock markers left by killed writers", dropped)
        self._renewer = threading.Thread(
            target=self._renew_until_stopped, name="readout-lock-renewer", daemon=True
        )
        self._renewer.start()
        log.info("writer lock taken by %s for %.0f s leases", self.owner, self._ttl)

    def verify(self) -> None:
        """Raise :class:`IndexLocked` unless this writer still holds an unexpired lease."""
        if self._marker_id is None:
            raise IndexLocked("this re-index does not hold the writer lock; nothing was published.")
        if not self._lost.is_set():
            held = self._markers.read(LOCK_MARKER)
            now = self._markers.clock()
            if (
                held is None
                or held[0] != self._marker_id
                or float(held[1].get("expires_at", 0.0)) <= now
            ):
                self._lost.set()
        if self._lost.is_set():
            raise IndexLocked(
                "this re-index lost its writer lock (it stalled past the lease and another "
                "writer took over); nothing was published. Run `readout index` again."
            )

    def release(self) -> None:
        """Stop renewing and remove the marker (if it is still ours)."""
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join(timeout=self._ttl)
            self._renewer = None
        marker_id, self._marker_id = self._marker_id, None
        if marker_id is None:
            return
        try:
            self._markers.remove(LOCK_MARKER, marker_id)
        except StoreUnavailable:
            log.warning("could not release the writer lock; it expires in %.0f s", self._ttl)

    def _lease(self, now: float) -> dict[str, str | float]:
        return {"owner": self.owner, "acquired_at": now, "expires_at": now + self._ttl}

    def _renew_until_stopped(self) -> None:
        while not self._stop.wait(self._ttl / 3):
            marker_id = self._marker_id
            if marker_id is None:
                return
            try:
                now = self._markers.clock()
                if not self._markers.update(LOCK_MARKER, marker_id, self._lease(now)):
                    log.error("the writer lock was taken over by another writer")
                    self._lost.set()
                    return
            except StoreUnavailable:
                # Keep trying: the lease only lapses if the server stays away for a whole ttl.
                log.warning("could not renew the writer lock (server unavailable)")
            except Exception:
                log.exception("renewing the writer lock failed")
