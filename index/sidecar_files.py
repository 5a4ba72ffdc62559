"""Where each index version's *sidecar* lives: files a reader needs besides the vectors (texts
and BM25 indexes, see ``retrieval.sidecar``), written before the version is published.

Beside an embedded store they are a folder, ``<store>/sidecars/<ns>/v<N>/``, which readers
memory-map. On a Chroma server they are a fourth per-version collection, ``<ns>-v<N>-sidecar``,
whose records carry the files in 1 MiB base64 chunks in their metadata: every replica of a bot
then finds them where it finds the index, with no shared volume, and they are created,
published and dropped with their version. (Not the collection's own metadata: chromadb returns
that with every collection handle, which would ship tens of MB on each lookup; and not record
documents, which chromadb full-text indexes.)
"""

from __future__ import annotations

import base64
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from index.chroma_http import ChromaConnection, guarded
from index.errors import StoreCorrupt

SIDECAR_DIR = "sidecars"
# Server-side sidecars: bytes per record, and records per request (a few MB per call).
_CHUNK = 1024 * 1024
_BATCH = 4


class SidecarFiles:
    """The sidecars of the versions in one store (``ChromaStore.sidecars``)."""

    def __init__(self, connection: ChromaConnection, namespace: str) -> None:
        self._connection = connection
        self.namespace = namespace

    @property
    def connection(self) -> ChromaConnection:
        return self._connection

    @guarded
    def save(self, version: int, source: Path) -> None:
        """Keep the files under ``source`` as ``version``'s sidecar, replacing any."""
        files = sorted(p for p in source.rglob("*") if p.is_file())
        if not self._connection.is_remote:
            target = self._path(version)
            staging = target.with_name(f".v{version}-{uuid.uuid4().hex[:8]}")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree(source, staging)
            shutil.rmtree(target, ignore_errors=True)
            os.replace(staging, target)  # a reader sees the whole folder or none
            return
        name = self._collection_name(version)
        self._connection.drop_collection(name)
        collection = self._connection.client.create_collection(name, embedding_function=None)
        records: list[tuple[str, dict[str, Any]]] = []
        for path in files:
            relative = path.relative_to(source).as_posix()
            data = path.read_bytes()
            for chunk, start in enumerate(range(0, max(len(data), 1), _CHUNK)):
                piece = base64.b64encode(data[start : start + _CHUNK]).decode("ascii")
                records.append(
                    (f"{relative}#{chunk}", {"file": relative, "chunk": chunk, "data": piece})
                )
        for start in range(0, len(records), _BATCH):
            batch = records[start : start + _BATCH]
            collection.add(
                ids=[record_id for record_id, _ in batch],
                embeddings=[[0.0]] * len(batch),
                metadatas=[metadata for _, metadata in batch],
            )

    @guarded
    def exists(self, version: int) -> bool:
        """Whether ``version`` has a sidecar (its contents are checked by whoever reads it)."""
        if not self._connection.is_remote:
            return self._path(version).is_dir()
        return self._connection.collection_or_none(self._collection_name(version)) is not None

    @contextmanager
    def opened(self, version: int) -> Iterator[Path | None]:
        """``version``'s sidecar folder while the block runs, or None if it has none.

        From a server the files are downloaded into a temporary folder, removed afterwards
        (memory-mapped files stay readable after that on Linux).
        """
        if not self._connection.is_remote:
            path = self._path(version)
            yield path if path.is_dir() else None
            return
        with tempfile.TemporaryDirectory(prefix="readout-sidecar-") as tmp:
            yield Path(tmp) if self._download(version, Path(tmp)) else None

    @guarded
    def _download(self, version: int, into: Path) -> bool:
        collection = self._connection.collection_or_none(self._collection_name(version))
        if collection is None:
            return False
        chunks: dict[str, dict[int, bytes]] = {}
        total = collection.count()
        for offset in range(0, total, _BATCH):
            got = collection.get(limit=_BATCH, offset=offset, include=["metadatas"])
            for meta in got["metadatas"]:
                parts = chunks.setdefault(str(meta["file"]), {})
                parts[int(meta["chunk"])] = base64.b64decode(str(meta["data"]))
        root = into.resolve()
        for relative, parts in chunks.items():
            path = (into / relative).resolve()
            if not path.is_relative_to(root):
                raise StoreCorrupt(f"the sidecar of index v{version} names an unsafe path")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"".join(parts[k] for k in sorted(parts)))
        return True

    @guarded
    def drop(self, version: int) -> None:
        """Remove ``version``'s sidecar, if it has one."""
        if self._connection.is_remote:
            self._connection.drop_collection(self._collection_name(version))
        else:
            shutil.rmtree(self._path(version), ignore_errors=True)

    def _path(self, version: int) -> Path:
        return Path(self._connection.location) / SIDECAR_DIR / self.namespace / f"v{version}"

    def _collection_name(self, version: int) -> str:
        return f"{self.namespace}-v{version}-sidecar"
