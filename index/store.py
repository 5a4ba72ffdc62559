"""The chromadb store. The only module that imports chromadb.

Layout: each build of the index is a *version* of three collections,
``<ns>-v<N>-sentences``, ``<ns>-v<N>-paragraphs`` and ``<ns>-v<N>-documents``, and one small
``<ns>-pointer`` collection holds a single record naming the live version and the model that
built it. A build writes a whole new version, checks it, then flips the pointer with one upsert:
readers see the old version or the new one, never half of either, and a build killed midway
leaves the old version serving (its leftovers are dropped by the next build).

Vectors are always computed by our own embedder and passed in: chroma's default embedding
function would try to download a model, which fails offline.

Server mode (``open_remote``) talks to a Chroma server through ``chromadb.HttpClient``. That
client has no timeout of its own (its httpx session is built with ``timeout=None``, and its
constructor already talks to the server), so a server that accepts connections and never
answers would hang readout forever. We therefore connect lazily, check the server with a
heartbeat that has a deadline, build the client under the same deadline, and then give its
session a timeout. Any transport failure drops the client; the next call connects afresh, so
answers resume by themselves when the server comes back.

Each version may also have a *sidecar*: files a reader needs besides the vectors (texts and
BM25 indexes, see ``retrieval.sidecar``), written before the version is published. Beside an
embedded store they are a folder, ``<store>/sidecars/<ns>/v<N>/``, which readers memory-map. On a
Chroma server they are a fourth per-version collection, ``<ns>-v<N>-sidecar``, whose records
carry the files in 1 MiB base64 chunks in their metadata: every replica of a bot then finds
them where it finds the index, with no shared volume, and they are created, published and
dropped with their version. (Not the collection's own metadata: chromadb returns that with
every collection handle, which would ship tens of MB on each lookup; and not record
documents, which chromadb full-text indexes.)

Small *markers* (a collection whose name is the lock and whose metadata is its lease) give a
writer lock that works across machines: collection names are unique on the server, so of
several processes creating the same marker at once exactly one succeeds (see ``index.lock``).
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import re
import shutil
import sqlite3
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from index.corpus import Document, Paragraph, Sentence
from index.errors import ConfigError, ReadoutError, StoreCorrupt, StoreUnavailable

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

log = logging.getLogger(__name__)

DEFAULT_NAMESPACE = "readout"
POINTER_ID = "current"
# chroma caps how many records one call may carry; stay well under it.
WRITE_BATCH = 2000
READ_BATCH = 5000
# Seconds a Chroma server may take to answer one request before it counts as unavailable.
# Questions must fail within 5 s, so readers stay under that; builds pass a longer one.
DEFAULT_REMOTE_TIMEOUT = 4.0
DEFAULT_TOKEN_HEADER = "Authorization"
HEARTBEAT_PATH = "/api/v2/heartbeat"
_SPEAKER_SEPARATOR = "|"
SIDECAR_DIR = "sidecars"
_SIDECAR_KIND = "sidecar"
# Server-side sidecars: bytes per record, and records per request (a few MB per call).
_SIDECAR_CHUNK = 1024 * 1024
_SIDECAR_BATCH = 4
_P = ParamSpec("_P")
_R = TypeVar("_R")


@dataclass(frozen=True, slots=True)
class IndexPointer:
    """The live version of the index and the model that built it."""

    version: int
    model_id: str
    built_at: float
    documents: int
    paths: tuple[str, ...] = ()  # what the build indexed, re-indexed by a bare `readout index`
    integrity: str = ""  # JSON written by index.integrity; "" for indexes built before it


@dataclass(frozen=True, slots=True)
class DocumentRecord:
    """What a citation needs to know about a document, plus its content hash."""

    doc_id: str
    title: str
    url: str
    date: str
    source: str
    content_hash: str
    paragraphs: int


@dataclass(frozen=True, slots=True)
class VectorHit:
    """An id from a nearest-neighbour query and its cosine similarity to the query."""

    record_id: str
    similarity: float


def _guard(method: Callable[_P, _R]) -> Callable[_P, _R]:
    """Turn chromadb/transport failures into readout errors a person can act on."""

    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        store = args[0]
        assert isinstance(store, ChromaStore)
        client = store._current_client
        try:
            return method(*args, **kwargs)
        except ReadoutError:
            raise
        except Exception as exc:
            if _is_transport_error(exc):  # reconnect on the next call
                store._discard_client(client if client is not None else store._current_client)
            raise store.translate_error(exc) from exc

    wrapper.__name__ = method.__name__
    wrapper.__doc__ = method.__doc__
    return wrapper


class ChromaStore:
    """Versioned paragraphs, sentences and documents in one chromadb client."""

    def __init__(
        self,
        client: Any,
        *,
        location: str,
        namespace: str = DEFAULT_NAMESPACE,
        connect: Callable[[], Any] | None = None,
    ) -> None:
        """Wrap ``client``; with ``connect``, ``client`` may be None and is (re)made on demand."""
        self._current_client = client
        self._query_handles: dict[tuple[int, str], tuple[Any, int]] = {}
        self._pointer_handle: tuple[int, Any] | None = None
        self._connect = connect
        self._connect_lock = threading.Lock()
        self.location = location
        self.namespace = namespace
        self.is_remote = location.startswith(("http://", "https://"))

    @classmethod
    def open_local(cls, path: Path, *, namespace: str = DEFAULT_NAMESPACE) -> ChromaStore:
        """An embedded chromadb ``PersistentClient`` at ``path`` (created if missing)."""
        import chromadb

        try:
            path.mkdir(parents=True, exist_ok=True)
            client = chromadb.PersistentClient(
                path=str(path), settings=chromadb.Settings(anonymized_telemetry=False)
            )
        except Exception as exc:
            log.debug("opening the store failed", exc_info=True)
            raise StoreCorrupt(
                f"the index at {path} cannot be opened ({type(exc).__name__}). "
                f"Delete {path} and run `readout index` to rebuild it."
            ) from exc
        return cls(client, location=str(path), namespace=namespace)

    @classmethod
    def open_remote(
        cls,
        url: str,
        *,
        token: str = "",
        token_header: str = DEFAULT_TOKEN_HEADER,
        timeout: float = DEFAULT_REMOTE_TIMEOUT,
        namespace: str = DEFAULT_NAMESPACE,
    ) -> ChromaStore:
        """A store on the Chroma server at ``url``; nothing is sent until the first call.

        ``token`` goes in ``token_header`` (``Authorization: Bearer <token>``, or the raw token
        for any other header such as ``X-Chroma-Token``): Chroma 1.x servers have no auth of
        their own, so this is for a proxy or gateway in front of one. Every request gets
        ``timeout`` seconds before the server counts as unavailable.
        """
        from urllib.parse import urlsplit

        import chromadb  # noqa: F401 - imported now (about a second), not during a question
        import httpx  # noqa: F401

        parts = urlsplit(url)
        try:
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number
        except ValueError:
            parts = parts._replace(netloc="")
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            # Not echoed: a URL may carry a password.
            raise ConfigError("READOUT_CHROMA_URL must look like http://host:port")
        if parts.path.strip("/") or parts.query:
            raise ConfigError(
                "READOUT_CHROMA_URL must be the Chroma server's root URL, without a path "
                f"(got {_public_url(url)!r})"
            )
        headers: dict[str, str] = {}
        if token:
            header = token_header.strip() or DEFAULT_TOKEN_HEADER
            headers[header] = f"Bearer {token}" if header.lower() == "authorization" else token
        location = _public_url(url)
        return cls(
            None,
            location=location,
            namespace=namespace,
            connect=lambda: _connect_http(url, location, headers, timeout),
        )

    def close(self) -> None:
        """Release the client (a remote store reconnects if it is used again)."""
        with self._connect_lock:
            client, self._current_client = self._current_client, None
        if client is not None:
            _close_quietly(client)

    @property
    def _client(self) -> Any:
        client = self._current_client
        if client is not None:
            return client
        if self._connect is None:
            raise StoreUnavailable(f"the index at {self.location} has been closed.")
        with self._connect_lock:
            if self._current_client is None:
                self._current_client = self._connect()
            return self._current_client

    def _discard_client(self, client: Any) -> None:
        """Forget ``client`` (if it is still the current one) so the next call reconnects."""
        if client is None or self._connect is None:
            return
        with self._connect_lock:
            if self._current_client is not client:
                return  # another thread already reconnected
            self._current_client = None
            # Handles belong to the old client (and a new one could reuse its id()).
            self._query_handles.clear()
            self._pointer_handle = None
        _close_quietly(client)

    # -- reading ---------------------------------------------------------------------------

    @_guard
    def pointer(self) -> IndexPointer | None:
        """The live version, or None when nothing has been published yet."""
        client = self._client
        # The pointer is read before every question; its collection handle is looked up once
        # per client (half the cost), and afresh if the collection was dropped and recreated.
        cached = self._pointer_handle
        collection = cached[1] if cached and cached[0] == id(client) else None
        if collection is None:
            collection = self._pointer_collection(create=False)
            if collection is None:
                return None
            self._pointer_handle = (id(client), collection)
        try:
            got = collection.get(ids=[POINTER_ID], include=["metadatas"])
        except Exception as exc:
            self._pointer_handle = None
            if cached is None or not _is_not_found(exc):
                raise
            return self.pointer()  # the cached handle was stale: look the collection up again
        if not got["ids"]:
            return None
        meta = got["metadatas"][0]
        try:
            paths = tuple(str(p) for p in json.loads(str(meta.get("paths") or "[]")))
        except (ValueError, TypeError):
            paths = ()
        return IndexPointer(
            version=int(meta["version"]),
            model_id=str(meta["model"]),
            built_at=float(meta["built_at"]),
            documents=int(meta.get("documents", 0)),
            paths=paths,
            integrity=str(meta.get("integrity") or ""),
        )

    @_guard
    def documents(self, version: int) -> list[DocumentRecord]:
        """Every document of a version."""
        return [
            DocumentRecord(
                doc_id=record_id,
                title=str(meta["title"]),
                url=str(meta.get("url", "")),
                date=str(meta.get("date", "")),
                source=str(meta.get("source", "")),
                content_hash=str(meta["hash"]),
                paragraphs=int(meta["paragraphs"]),
            )
            for record_id, _, meta in self._scan(self._name(version, "documents"))
        ]

    @_guard
    def paragraphs(self, version: int) -> list[Paragraph]:
        """Every paragraph of a version (without sentences), in document order."""
        rows = [
            Paragraph(
                doc_id=str(meta["doc"]),
                number=int(meta["paragraph"]),
                text=text,
                heading=str(meta.get("heading", "")),
                page=int(meta.get("page", 0)),
                page_paragraph=int(meta.get("page_paragraph", 0)),
            )
            for _, text, meta in self._scan(self._name(version, "paragraphs"))
        ]
        rows.sort(key=lambda p: (p.doc_id, p.number))
        return rows

    @_guard
    def sentences(self, version: int) -> list[Sentence]:
        """Every sentence of a version, in document order."""
        rows = [
            Sentence(
                doc_id=str(meta["doc"]),
                paragraph=int(meta["paragraph"]),
                index=int(meta["sentence"]),
                text=text,
                speakers=_split_speakers(str(meta.get("speakers", ""))),
            )
            for _, text, meta in self._scan(self._name(version, "sentences"))
        ]
        rows.sort(key=lambda s: (s.doc_id, s.paragraph, s.index))
        return rows

    @_guard
    def query(self, version: int, kind: str, vectors: Any, k: int) -> list[list[VectorHit]]:
        """Nearest ``kind`` ("sentences" or "paragraphs") records for each query vector."""
        collection, count = self._query_handle(version, kind)
        if count == 0:
            return [[] for _ in range(len(vectors))]
        try:
            result = collection.query(
                query_embeddings=vectors, n_results=min(k, count), include=["distances"]
            )
        except Exception:
            self._query_handles.clear()  # dropped or reconnected: look it up afresh next time
            raise
        distances = result["distances"] or []
        return [
            # cosine space: distance = 1 - cosine similarity
            [VectorHit(i, 1.0 - float(d)) for i, d in zip(ids, dists, strict=True)]
            for ids, dists in zip(result["ids"], distances, strict=True)
        ]

    def _query_handle(self, version: int, kind: str) -> tuple[Any, int]:
        # A published version never changes, so its collection handle and size are looked up
        # once per client instead of on every question (two round-trips saved per query).
        client = self._client
        key = (id(client), self._name(version, kind))
        handle = self._query_handles.get(key)
        if handle is None:
            collection = client.get_collection(key[1])
            handle = (collection, int(collection.count()))
            self._query_handles[key] = handle
        return handle

    @_guard
    def embeddings(self, version: int, kind: str) -> Iterator[tuple[str, Any, Any]]:
        """(id, text, embedding) for every record of a kind; used to copy unchanged documents."""
        collection = self._client.get_collection(self._name(version, kind))
        total = collection.count()
        for offset in range(0, total, READ_BATCH):
            got = collection.get(
                limit=READ_BATCH, offset=offset, include=["documents", "embeddings", "metadatas"]
            )
            yield from zip(
                got["ids"], got["documents"], got["embeddings"], got["metadatas"], strict=True
            )

    # -- writing ---------------------------------------------------------------------------

    @_guard
    def versions(self) -> list[int]:
        """Every version with at least one collection present, including unfinished ones."""
        pattern = re.compile(rf"^{re.escape(self.namespace)}-v(\d+)-")
        found = set()
        for collection in self._client.list_collections():
            name = collection if isinstance(collection, str) else collection.name
            match = pattern.match(name)
            if match:
                found.add(int(match.group(1)))
        return sorted(found)

    @_guard
    def create_version(self, version: int) -> None:
        """Empty collections for a new version (any leftovers of a killed build are dropped)."""
        self.drop_version(version)
        for kind in ("sentences", "paragraphs"):
            self._client.create_collection(
                self._name(version, kind),
                embedding_function=None,
                metadata={"hnsw:space": "cosine"},
            )
        self._client.create_collection(self._name(version, "documents"), embedding_function=None)

    @_guard
    def add_document(
        self,
        version: int,
        document: Document,
        sentence_vectors: npt.NDArray[np.float32],
        paragraph_vectors: npt.NDArray[np.float32],
    ) -> None:
        """Write one document's sentences, paragraphs and record into a version."""
        sentences = [s for p in document.paragraphs for s in p.sentences]
        self._add(
            self._name(version, "sentences"),
            ids=[s.sentence_id for s in sentences],
            texts=[s.text for s in sentences],
            vectors=sentence_vectors,
            metadatas=[
                {
                    "doc": s.doc_id,
                    "paragraph": s.paragraph,
                    "sentence": s.index,
                    "speakers": _SPEAKER_SEPARATOR.join(s.speakers),
                }
                for s in sentences
            ],
        )
        self._add(
            self._name(version, "paragraphs"),
            ids=[p.paragraph_id for p in document.paragraphs],
            texts=[p.text for p in document.paragraphs],
            vectors=paragraph_vectors,
            metadatas=[
                {
                    "doc": p.doc_id,
                    "paragraph": p.number,
                    "heading": p.heading,
                    "page": p.page,
                    "page_paragraph": p.page_paragraph,
                }
                for p in document.paragraphs
            ],
        )
        self._add_document_record(version, document_record(document))

    @_guard
    def copy_document(self, source_version: int, target_version: int, doc_id: str) -> None:
        """Copy an unchanged document's rows (vectors included) into a new version."""
        for kind in ("sentences", "paragraphs"):
            source = self._client.get_collection(self._name(source_version, kind))
            got = source.get(
                where={"doc": doc_id}, include=["documents", "embeddings", "metadatas"]
            )
            self._add(
                self._name(target_version, kind),
                ids=list(got["ids"]),
                texts=list(got["documents"]),
                vectors=got["embeddings"],
                metadatas=list(got["metadatas"]),
            )
        records = self._client.get_collection(self._name(source_version, "documents"))
        got = records.get(ids=[doc_id], include=["documents", "metadatas"])
        self._client.get_collection(self._name(target_version, "documents")).add(
            ids=list(got["ids"]),
            documents=list(got["documents"]),
            metadatas=list(got["metadatas"]),
            embeddings=[[0.0]] * len(got["ids"]),
        )

    @_guard
    def count(self, version: int, kind: str) -> int:
        return int(self._client.get_collection(self._name(version, kind)).count())

    @_guard
    def records(self, version: int, kind: str, ids: Sequence[str]) -> list[tuple[str, str, Any]]:
        """(id, text, vector) of the given records of a kind, in the order asked; a record
        that is missing is left out. Reads the vector segment, so damage to it shows here."""
        got = self._client.get_collection(self._name(version, kind)).get(
            ids=list(ids), include=["documents", "embeddings"]
        )
        found = {
            record_id: (record_id, text, vector)
            for record_id, text, vector in zip(
                got["ids"], got["documents"], got["embeddings"], strict=True
            )
        }
        return [found[record_id] for record_id in ids if record_id in found]

    @_guard
    def publish(
        self,
        version: int,
        model_id: str,
        documents: int,
        *,
        paths: Sequence[str] = (),
        integrity: str = "",
    ) -> None:
        """Point readers at ``version``: one single-record upsert, so the switch is atomic.

        ``paths`` (what was indexed) and ``integrity`` (``index.integrity``'s record) travel
        with the pointer, so they always describe the live version."""
        collection = self._pointer_collection(create=True)
        assert collection is not None
        collection.upsert(
            ids=[POINTER_ID],
            embeddings=[[0.0]],
            documents=[f"v{version}"],
            metadatas=[
                {
                    "version": version,
                    "model": model_id,
                    "built_at": time.time(),
                    "documents": documents,
                    "paths": json.dumps(list(paths)),
                    "integrity": integrity,
                }
            ],
        )

    @_guard
    def save_sidecar(self, version: int, source: Path) -> None:
        """Keep the files under ``source`` as ``version``'s sidecar, replacing any."""
        files = sorted(p for p in source.rglob("*") if p.is_file())
        if not self.is_remote:
            target = self._sidecar_path(version)
            staging = target.with_name(f".v{version}-{uuid.uuid4().hex[:8]}")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree(source, staging)
            shutil.rmtree(target, ignore_errors=True)
            os.replace(staging, target)  # a reader sees the whole folder or none
            return
        name = self._name(version, _SIDECAR_KIND)
        self._drop_collection(name)
        collection = self._client.create_collection(name, embedding_function=None)
        records: list[tuple[str, dict[str, Any]]] = []
        for path in files:
            relative = path.relative_to(source).as_posix()
            data = path.read_bytes()
            for chunk, start in enumerate(range(0, max(len(data), 1), _SIDECAR_CHUNK)):
                piece = base64.b64encode(data[start : start + _SIDECAR_CHUNK]).decode("ascii")
                records.append(
                    (f"{relative}#{chunk}", {"file": relative, "chunk": chunk, "data": piece})
                )
        for start in range(0, len(records), _SIDECAR_BATCH):
            batch = records[start : start + _SIDECAR_BATCH]
            collection.add(
                ids=[record_id for record_id, _ in batch],
                embeddings=[[0.0]] * len(batch),
                metadatas=[metadata for _, metadata in batch],
            )

    @_guard
    def has_sidecar(self, version: int) -> bool:
        """Whether ``version`` has a sidecar (its contents are checked by whoever reads it)."""
        if not self.is_remote:
            return self._sidecar_path(version).is_dir()
        return self._collection_or_none(self._name(version, _SIDECAR_KIND)) is not None

    @contextmanager
    def sidecar(self, version: int) -> Iterator[Path | None]:
        """``version``'s sidecar folder while the block runs, or None if it has none.

        From a server the files are downloaded into a temporary folder, removed afterwards
        (memory-mapped files stay readable after that on Linux).
        """
        if not self.is_remote:
            path = self._sidecar_path(version)
            yield path if path.is_dir() else None
            return
        with tempfile.TemporaryDirectory(prefix="readout-sidecar-") as tmp:
            yield Path(tmp) if self._download_sidecar(version, Path(tmp)) else None

    @_guard
    def _download_sidecar(self, version: int, into: Path) -> bool:
        collection = self._collection_or_none(self._name(version, _SIDECAR_KIND))
        if collection is None:
            return False
        chunks: dict[str, dict[int, bytes]] = {}
        total = collection.count()
        for offset in range(0, total, _SIDECAR_BATCH):
            got = collection.get(limit=_SIDECAR_BATCH, offset=offset, include=["metadatas"])
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

    @_guard
    def drop_version(self, version: int) -> None:
        self._query_handles.clear()
        if self.is_remote:
            self._drop_collection(self._name(version, _SIDECAR_KIND))
        else:
            shutil.rmtree(self._sidecar_path(version), ignore_errors=True)
        for kind in ("sentences", "paragraphs", "documents"):
            self._drop_collection(self._name(version, kind))

    # -- liveness and locks -----------------------------------------------------------------

    @_guard
    def heartbeat(self) -> float:
        """The store's clock in seconds since the epoch: proves it answers, and gives writers
        on different machines one clock to agree on (the server's)."""
        return int(self._client.heartbeat()) / 1e9

    @_guard
    def create_marker(self, name: str, metadata: Mapping[str, str | int | float]) -> str | None:
        """Create marker ``name`` holding ``metadata``; its id, or None if it exists already.

        A marker is an empty collection: names are unique, so when several processes create
        the same marker at once exactly one of them gets an id back.
        """
        try:
            collection = self._client.create_collection(
                self._marker_name(name), metadata=dict(metadata), embedding_function=None
            )
        except Exception as exc:
            if "already exists" in str(exc):
                return None
            raise
        return str(collection.id)

    @_guard
    def read_marker(self, name: str) -> tuple[str, dict[str, Any]] | None:
        """(id, metadata) of marker ``name``, or None if there is none."""
        collection = self._marker_collection(name)
        if collection is None:
            return None
        return str(collection.id), dict(collection.metadata or {})

    def _marker_collection(self, name: str) -> Any:
        """Marker ``name``'s collection, or None if there is none."""
        return self._collection_or_none(self._marker_name(name))

    @_guard
    def update_marker(
        self, name: str, marker_id: str, metadata: Mapping[str, str | int | float]
    ) -> bool:
        """Replace the metadata of marker ``name`` if it is still ``marker_id``; else False."""
        collection = self._marker_collection(name)
        if collection is None or str(collection.id) != marker_id:
            return False
        # Addressed by id: if the marker was replaced since the line above, this touches the
        # replaced one (already renamed away), never the new holder's.
        collection.modify(metadata=dict(metadata))
        return True

    @_guard
    def remove_marker(self, name: str, marker_id: str) -> bool:
        """Remove marker ``name`` only if it is ``marker_id``; False if it was not there.

        Deleting goes by name, which could hit a newer marker made in the meantime, so the
        marker is first renamed by id to a name nobody else knows, then deleted.
        """
        collection = self._marker_collection(name)
        if collection is None or str(collection.id) != marker_id:
            return False
        retired = self._marker_name(f"{name}-retired-{uuid.uuid4().hex[:12]}")
        try:
            collection.modify(name=retired)
        except Exception as exc:
            if _is_not_found(exc):
                return False
            raise
        self._client.delete_collection(retired)
        return True

    @_guard
    def drop_retired_markers(self, name: str) -> int:
        """Delete markers of ``name`` left renamed-but-undeleted by a killed process."""
        prefix = self._marker_name(f"{name}-retired-")
        dropped = 0
        for collection in self._client.list_collections():
            found = collection if isinstance(collection, str) else collection.name
            if found.startswith(prefix):
                try:
                    self._client.delete_collection(found)
                    dropped += 1
                except Exception as exc:
                    if not _is_not_found(exc):
                        raise
        return dropped

    # -- helpers ---------------------------------------------------------------------------

    def translate_error(self, exc: Exception) -> ReadoutError:
        """A chromadb or transport exception as the readout error a person can act on."""
        log.debug("store call failed", exc_info=exc)
        if self.is_remote:
            if _is_not_found(exc) and not _is_transport_error(exc):
                return StoreCorrupt(
                    f"the index on the Chroma server at {self.location} is incomplete "
                    "(a collection is missing). Run `readout index` to rebuild it."
                )
            return StoreUnavailable(
                "search is unavailable right now: the index server at "
                f"{self.location} did not answer. Try again shortly."
            )
        if _is_not_found(exc):
            return StoreCorrupt(
                f"the index at {self.location} is incomplete (a collection is missing). "
                "Run `readout index` to rebuild it."
            )
        return StoreCorrupt(
            f"the index at {self.location} cannot be read ({type(exc).__name__}). "
            f"Delete {self.location} and run `readout index` to rebuild it."
        )

    def _name(self, version: int, kind: str) -> str:
        return f"{self.namespace}-v{version}-{kind}"

    def vector_files(self, version: int) -> dict[str, int]:
        """Sizes of the files in this version's vector segment folders, by relative path
        (embedded stores only; {} for a server, or where chromadb's layout is not recognised).

        Read from the folder and chromadb's catalogue (SQLite, read-only) without opening the
        vector index: chromadb's native code can crash the process on a truncated
        ``data_level0.bin`` instead of raising, so damage must be seen before it is touched.
        """
        if self.is_remote:
            return {}
        root = Path(self.location)
        names = [self._name(version, kind) for kind in ("sentences", "paragraphs")]
        try:
            uri = f"{(root / 'chroma.sqlite3').resolve().as_uri()}?mode=ro"
            with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=5)) as catalogue:
                segments = [
                    str(row[0])
                    for row in catalogue.execute(
                        "SELECT s.id FROM segments s JOIN collections c ON s.collection = c.id "
                        "WHERE s.scope = 'VECTOR' AND c.name IN (?, ?)",
                        names,
                    )
                ]
        except sqlite3.Error:
            log.debug("chromadb's catalogue is not readable here", exc_info=True)
            return {}
        sizes: dict[str, int] = {}
        for segment in segments:
            folder = root / segment
            if folder.is_dir():
                for file in folder.iterdir():
                    if file.is_file():
                        sizes[f"{segment}/{file.name}"] = file.stat().st_size
        return sizes

    def _sidecar_path(self, version: int) -> Path:
        return Path(self.location) / SIDECAR_DIR / self.namespace / f"v{version}"

    def _collection_or_none(self, name: str) -> Any:
        try:
            return self._client.get_collection(name)
        except Exception as exc:
            if _is_not_found(exc):
                return None
            raise

    def _drop_collection(self, name: str) -> None:
        try:
            self._client.delete_collection(name)
        except Exception as exc:  # absent already: nothing to drop
            if not _is_not_found(exc):
                raise

    def _marker_name(self, name: str) -> str:
        return f"{self.namespace}-{name}"

    def _pointer_collection(self, *, create: bool) -> Any:
        name = f"{self.namespace}-pointer"
        if create:
            return self._client.get_or_create_collection(name, embedding_function=None)
        return self._collection_or_none(name)

    def _scan(self, name: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
        collection = self._client.get_collection(name)
        total = collection.count()
        for offset in range(0, total, READ_BATCH):
            got = collection.get(
                limit=READ_BATCH, offset=offset, include=["documents", "metadatas"]
            )
            yield from zip(got["ids"], got["documents"], got["metadatas"], strict=True)

    def _add(
        self,
        name: str,
        *,
        ids: Sequence[str],
        texts: Sequence[str],
        vectors: Any,
        metadatas: Sequence[dict[str, Any]],
    ) -> None:
        collection = self._client.get_collection(name)
        for start in range(0, len(ids), WRITE_BATCH):
            end = start + WRITE_BATCH
            collection.add(
                ids=list(ids[start:end]),
                documents=list(texts[start:end]),
                embeddings=vectors[start:end],
                metadatas=list(metadatas[start:end]),
            )

    def _add_document_record(self, version: int, record: DocumentRecord) -> None:
        self._client.get_collection(self._name(version, "documents")).add(
            ids=[record.doc_id],
            documents=[record.title],
            embeddings=[[0.0]],
            metadatas=[
                {
                    "title": record.title,
                    "url": record.url,
                    "date": record.date,
                    "source": record.source,
                    "hash": record.content_hash,
                    "paragraphs": record.paragraphs,
                }
            ],
        )


def document_record(document: Document) -> DocumentRecord:
    """What the store keeps about ``document`` (and the sidecar lists)."""
    return DocumentRecord(
        doc_id=document.doc_id,
        title=document.title,
        url=document.url,
        date=document.date,
        source=document.source,
        content_hash=document.content_hash,
        paragraphs=len(document.paragraphs),
    )


def _split_speakers(value: str) -> tuple[str, ...]:
    return tuple(s for s in value.split(_SPEAKER_SEPARATOR) if s)


def _is_not_found(exc: Exception) -> bool:
    name = type(exc).__name__
    return name in {"NotFoundError", "InvalidCollectionException"} or "does not exist" in str(exc)


def _is_transport_error(exc: BaseException) -> bool:
    """A failure to talk to the server (refused, reset, timed out), as opposed to an answer."""
    import httpx

    return isinstance(exc, (httpx.TransportError, ConnectionError, TimeoutError))


def _public_url(url: str) -> str:
    """``url`` without any user:password part, fit for messages and logs."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def _unavailable(location: str, why: str = "did not answer") -> StoreUnavailable:
    return StoreUnavailable(
        f"search is unavailable right now: the index server at {location} {why}. "
        "Try again shortly."
    )


def _connect_http(url: str, location: str, headers: dict[str, str], timeout: float) -> Any:
    """A ``chromadb.HttpClient`` whose every request has a deadline of ``timeout`` seconds."""
    from urllib.parse import urlsplit

    import chromadb
    import httpx

    parts = urlsplit(url)
    ssl = parts.scheme == "https"
    port = parts.port or (443 if ssl else 8000)
    host = parts.hostname or "localhost"
    base = f"{parts.scheme}://{'[' + host + ']' if ':' in host else host}:{port}"
    deadline = time.monotonic() + timeout
    # 1. A heartbeat with a deadline: the common "down or hanging" cases end here, fast.
    try:
        response = httpx.get(base + HEARTBEAT_PATH, headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        log.debug("Chroma heartbeat failed", exc_info=True)
        raise _unavailable(location) from exc
    if response.status_code in {401, 403}:
        raise _unavailable(
            location,
            f"refused readout's credentials (HTTP {response.status_code}); "
            "check READOUT_CHROMA_TOKEN and READOUT_CHROMA_TOKEN_HEADER",
        )
    if response.status_code >= 400:
        raise _unavailable(location, f"answered HTTP {response.status_code}")

    # 2. chromadb's constructor makes its own requests without a deadline: bound it here.
    def make() -> Any:
        return chromadb.HttpClient(
            host=host,
            port=port,
            ssl=ssl,
            headers=headers or None,
            settings=chromadb.Settings(anonymized_telemetry=False),
        )

    client = _call_with_deadline(make, max(0.0, deadline - time.monotonic()), location)
    # 3. From now on every request has the deadline. chromadb 1.5 offers no setting for it
    # (chroma-core/chroma#5805); tests/integration/server checks this attribute still exists.
    sessions = _http_sessions(client)
    if not sessions:
        _close_quietly(client)
        log.error("chromadb's HTTP client changed shape; cannot give its requests a timeout")
        raise _unavailable(location, "cannot be used with this chromadb version safely")
    for session in sessions:
        session.timeout = httpx.Timeout(timeout)
    log.info("connected to the Chroma server at %s", location)
    return client


def _call_with_deadline(make: Callable[[], Any], timeout: float, location: str) -> Any:
    """``make()`` in a daemon thread; StoreUnavailable if it takes longer than ``timeout``.

    A thread that overruns is abandoned (it cannot be cancelled); whatever it makes late is
    closed, so nothing leaks but the thread, and only while the server stays silent.
    """
    if timeout <= 0:
        raise _unavailable(location)
    outcome: list[Any] = []
    failure: list[BaseException] = []
    lock = threading.Lock()
    abandoned = threading.Event()
    finished = threading.Event()

    def run() -> None:
        try:
            made = make()
        except BaseException as exc:  # handed to the caller below
            failure.append(exc)
        else:
            with lock:
                if abandoned.is_set():
                    _close_quietly(made)
                else:
                    outcome.append(made)
        finally:
            finished.set()

    threading.Thread(target=run, name="readout-chroma-connect", daemon=True).start()
    finished.wait(timeout)
    with lock:
        if outcome:
            return outcome[0]
        abandoned.set()
    if failure:
        log.debug("connecting to the Chroma server failed", exc_info=failure[0])
        raise _unavailable(location) from failure[0]
    raise _unavailable(location)


def _http_sessions(client: Any) -> list[Any]:
    """The httpx sessions inside a chromadb HttpClient: its own and its admin client's (each
    has one, neither with a timeout, and chromadb's ``close`` closes neither)."""
    import httpx

    found = []
    for owner in (client, getattr(client, "_admin_client", None)):
        session = getattr(getattr(owner, "_server", None), "_session", None)
        if isinstance(session, httpx.Client) and session not in found:
            found.append(session)
    return found


def _close_quietly(client: Any) -> None:
    """Close a chroma client and, for an HTTP one, its connection pool (chromadb's own
    ``close`` leaves the httpx session open, so its sockets would linger until collected)."""
    closers = [getattr(client, "close", None)]
    closers += [getattr(session, "close", None) for session in _http_sessions(client)]
    for close in closers:
        if callable(close):
            try:
                close()
            except Exception:  # closing what already failed may fail too; nothing to do
                log.debug("closing a chroma client failed", exc_info=True)
