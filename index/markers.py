"""Lock markers on a Chroma server: the storage behind ``index.lock.ServerWriterLock``.

A *marker* is an empty collection whose name is the lock (``<ns>-<name>``) and whose metadata
is its lease. Collection names are unique on the server, so of several processes creating the
same marker at once exactly one succeeds. :class:`ChromaMarkers` implements the
``index.lock.Markers`` Protocol, which the lock owns.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from index.chroma_http import ChromaConnection, guarded, is_already_exists, is_not_found


class ChromaMarkers:
    """Markers named under ``namespace`` on the store behind ``connection``."""

    def __init__(self, connection: ChromaConnection, namespace: str) -> None:
        self._connection = connection
        self.namespace = namespace

    @property
    def connection(self) -> ChromaConnection:
        return self._connection

    @guarded
    def clock(self) -> float:
        """The server's clock, in seconds since the epoch: one clock every writer agrees on."""
        return self._connection.heartbeat()

    @guarded
    def create(self, name: str, metadata: Mapping[str, str | int | float]) -> str | None:
        """Create marker ``name`` holding ``metadata``; its id, or None if it exists already."""
        try:
            collection = self._connection.client.create_collection(
                self._name(name), metadata=dict(metadata), embedding_function=None
            )
        except Exception as exc:
            if is_already_exists(exc):
                return None
            raise
        return str(collection.id)

    @guarded
    def read(self, name: str) -> tuple[str, dict[str, Any]] | None:
        """(id, metadata) of marker ``name``, or None if there is none."""
        collection = self._connection.collection_or_none(self._name(name))
        if collection is None:
            return None
        return str(collection.id), dict(collection.metadata or {})

    @guarded
    def update(self, name: str, marker_id: str, metadata: Mapping[str, str | int | float]) -> bool:
        """Replace the metadata of marker ``name`` if it is still ``marker_id``; else False."""
        collection = self._connection.collection_or_none(self._name(name))
        if collection is None or str(collection.id) != marker_id:
            return False
        # Addressed by id: if the marker was replaced since the line above, this touches the
        # replaced one (already renamed away), never the new holder's.
        collection.modify(metadata=dict(metadata))
        return True

    @guarded
    def remove(self, name: str, marker_id: str) -> bool:
        """Remove marker ``name`` only if it is ``marker_id``; False if it was not there.

        Deleting goes by name, which could hit a newer marker made in the meantime, so the
        marker is first renamed by id to a name nobody else knows, then deleted.
        """
        collection = self._connection.collection_or_none(self._name(name))
        if collection is None or str(collection.id) != marker_id:
            return False
        retired = self._name(f"{name}-retired-{uuid.uuid4().hex[:12]}")
        try:
            collection.modify(name=retired)
        except Exception as exc:
            if is_not_found(exc):
                return False
            raise
        self._connection.client.delete_collection(retired)
        return True

    @guarded
    def drop_retired(self, name: str) -> int:
        """Delete markers of ``name`` left renamed-but-undeleted by a killed process."""
        prefix = self._name(f"{name}-retired-")
        dropped = 0
        client = self._connection.client
        for collection in client.list_collections():
            found = collection if isinstance(collection, str) else collection.name
            if found.startswith(prefix):
                try:
                    client.delete_collection(found)
                    dropped += 1
                except Exception as exc:
                    if not is_not_found(exc):
                        raise
        return dropped

    def _name(self, name: str) -> str:
        return f"{self.namespace}-{name}"
