"""The chromadb store's versioned data API (with ``index.chroma_http`` for the connection,
``index.markers`` for lock markers and ``index.sidecar_files`` for each version's sidecar: the
only modules that touch chromadb).

Layout: each build of the index is a *version* of three collections,
``<ns>-v<N>-sentences``, ``<ns>-v<N>-paragraphs`` and ``<ns>-v<N>-documents``, and one small
``<ns>-pointer`` collection holds a single record naming the live version and the model that
built it. A build writes a whole new version, checks it, then flips the pointer with one upsert:
readers see the old version or the new one, never half of either, and a build killed midway
leaves the old version serving (its leftovers are dropped by the next build). Vectors are always
computed by our own embedder and passed in: chroma's default embedding function would try to
download a model, which fails offline.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from index.chroma_http import (
    DATABASE_FILE,
    DEFAULT_REMOTE_TIMEOUT,
    DEFAULT_TOKEN_HEADER,
    ChromaConnection,
    guarded,
    is_not_found,
)
from index.corpus import Document, Paragraph, Sentence
from index.exact import EXACT_MAX_RECORDS, EXACT_MAX_RECORDS_REMOTE, ExactVectors
from index.markers import ChromaMarkers
from index.records import (
    DocumentRecord,
    IndexPointer,
    VectorHit,
    document_metadata,
    document_record,
    join_speakers,
    split_speakers,
)
from index.segments import vector_files
from index.sidecar_files import SidecarFiles

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

log = logging.getLogger(__name__)

DEFAULT_NAMESPACE = "readout"
POINTER_ID = "current"
# chroma caps how many records one call may carry; stay well under it.
WRITE_BATCH = 2000
READ_BATCH = 5000
# How old the database file's last write must be before an unchanged stat of it is trusted to
# mean an unchanged pointer (see ChromaStore.pointer).
_STAT_SETTLED_NS = 200_000_000


class ChromaStore:
    """Versioned paragraphs, sentences and documents in one chromadb client."""

    def __init__(self, connection: ChromaConnection, *, namespace: str = DEFAULT_NAMESPACE) -> None:
        self.connection = connection
        self.namespace = namespace
        self.location = connection.location
        self.is_remote = connection.is_remote
        self.markers = ChromaMarkers(connection, namespace)
        self.sidecars = SidecarFiles(connection, namespace)
        # Handles of published collections, looked up once per client (generation).
        self._query_handles: dict[tuple[int, str], tuple[Any, int, ExactVectors | None]] = {}
        self._pointer_handle: tuple[int, Any] | None = None
        self._pointer_cache: tuple[tuple[int, int, int], IndexPointer | None] | None = None

    @classmethod
    def open_local(cls, path: Path, *, namespace: str = DEFAULT_NAMESPACE) -> ChromaStore:
        """An embedded chromadb ``PersistentClient`` at ``path`` (created if missing)."""
        return cls(ChromaConnection.local(path), namespace=namespace)

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
        """A store on the Chroma server at ``url``; nothing is sent until the first call (see
        :meth:`index.chroma_http.ChromaConnection.remote`)."""
        connection = ChromaConnection.remote(
            url, token=token, token_header=token_header, timeout=timeout
        )
        return cls(connection, namespace=namespace)

    def close(self) -> None:
        """Release the client (a remote store reconnects if it is used again)."""
        self.connection.close()

    # -- reading ---------------------------------------------------------------------------

    def pointer(self) -> IndexPointer | None:
        """The live version, or None when nothing has been published yet.

        Read before every question. An embedded store answers from the last read while its
        database file is untouched since then: every chromadb write changes the file's
        modification time or size, so an unchanged stat means an unchanged pointer. The stat is
        trusted only once the file is older than ``_STAT_SETTLED_NS``, because file times tick
        coarsely (a few ms) and a write in the same tick as the last one would not show.
        """
        fingerprint = self._database_stat()
        cached = self._pointer_cache
        if fingerprint is not None and cached is not None and cached[0] == fingerprint:
            return cached[1]
        pointer = self._read_pointer()
        if fingerprint is not None and time.time_ns() - fingerprint[0] > _STAT_SETTLED_NS:
            self._pointer_cache = (fingerprint, pointer)
        else:
            self._pointer_cache = None
        return pointer

    def _database_stat(self) -> tuple[int, int, int] | None:
        if self.is_remote:
            return None
        try:
            stat = os.stat(Path(self.location) / DATABASE_FILE)
        except OSError:
            return None
        return (stat.st_mtime_ns, stat.st_size, stat.st_ino)

    @guarded
    def _read_pointer(self) -> IndexPointer | None:
        self.connection.client  # noqa: B018 - connect first: the generation is the new client's
        generation = self.connection.generation
        # The pointer is read before every question; its collection handle is looked up once
        # per client (half the cost), and afresh if the collection was dropped and recreated.
        cached = self._pointer_handle
        collection = cached[1] if cached and cached[0] == generation else None
        if collection is None:
            collection = self._pointer_collection(create=False)
            if collection is None:
                return None
            self._pointer_handle = (generation, collection)
        try:
            got = collection.get(ids=[POINTER_ID], include=["metadatas"])
        except Exception as exc:
            self._pointer_handle = None
            if cached is None or not is_not_found(exc):
                raise
            return self._read_pointer()  # the cached handle was stale: look the collection up again
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

    @guarded
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

    @guarded
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

    @guarded
    def sentences(self, version: int) -> list[Sentence]:
        """Every sentence of a version, in document order."""
        rows = [
            Sentence(
                doc_id=str(meta["doc"]),
                paragraph=int(meta["paragraph"]),
                index=int(meta["sentence"]),
                text=text,
                speakers=split_speakers(str(meta.get("speakers", ""))),
            )
            for _, text, meta in self._scan(self._name(version, "sentences"))
        ]
        rows.sort(key=lambda s: (s.doc_id, s.paragraph, s.index))
        return rows

    @guarded
    def query(self, version: int, kind: str, vectors: Any, k: int) -> list[list[VectorHit]]:
        """Nearest ``kind`` ("sentences" or "paragraphs") records for each query vector."""
        collection, count, exact = self._query_handle(version, kind)
        if count == 0:
            return [[] for _ in range(len(vectors))]
        if exact is not None:
            return exact.query(vectors, k)
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

    @guarded
    def prepare(self, version: int) -> None:
        """Look up a published version's collections now, and copy the vectors of the small
        ones for exact search (``index.exact``), so no question waits for it."""
        for kind in ("sentences", "paragraphs"):
            self._query_handle(version, kind)

    def _query_handle(self, version: int, kind: str) -> tuple[Any, int, ExactVectors | None]:
        # A published version never changes, so its collection handle and size are looked up
        # once per client instead of on every question (two round-trips saved per query), and
        # a small collection's vectors are copied once for exact search (``index.exact``).
        client = self.connection.client
        key = (self.connection.generation, self._name(version, kind))
        handle = self._query_handles.get(key)
        if handle is None:
            if any(cached != key[0] for cached, _ in self._query_handles):
                self._query_handles.clear()  # handles of a client that is gone
            collection = client.get_collection(key[1])
            count = int(collection.count())
            # Over HTTP the copy is JSON: a server's collections are copied only when smaller.
            limit = EXACT_MAX_RECORDS_REMOTE if self.is_remote else EXACT_MAX_RECORDS
            exact = self._exact_copy(collection, count) if count <= limit else None
            handle = (collection, count, exact)
            # Only the two newest versions queried stay cached: a re-index in progress may
            # still be answering from the old one, never from older.
            newest = sorted({_version_of(name) for _, name in self._query_handles} | {version})
            for cached in [k for k in self._query_handles if _version_of(k[1]) < newest[-2:][0]]:
                del self._query_handles[cached]
            self._query_handles[key] = handle
        return handle

    @staticmethod
    def _exact_copy(collection: Any, count: int) -> ExactVectors | None:
        if count == 0:
            return None
        ids: list[str] = []
        vectors: list[Any] = []
        for offset in range(0, count, READ_BATCH):
            got = collection.get(limit=READ_BATCH, offset=offset, include=["embeddings"])
            ids.extend(got["ids"])
            vectors.extend(got["embeddings"])
        return ExactVectors.of(ids, vectors)

    # -- writing ---------------------------------------------------------------------------

    @guarded
    def versions(self) -> list[int]:
        """Every version with at least one collection present, including unfinished ones."""
        pattern = re.compile(rf"^{re.escape(self.namespace)}-v(\d+)-")
        found = set()
        for collection in self.connection.client.list_collections():
            name = collection if isinstance(collection, str) else collection.name
            match = pattern.match(name)
            if match:
                found.add(int(match.group(1)))
        return sorted(found)

    @guarded
    def create_version(self, version: int) -> None:
        """Empty collections for a new version (any leftovers of a killed build are dropped)."""
        self.drop_version(version)
        for kind in ("sentences", "paragraphs"):
            self.connection.client.create_collection(
                self._name(version, kind),
                embedding_function=None,
                metadata={"hnsw:space": "cosine"},
            )
        documents = self._name(version, "documents")
        self.connection.client.create_collection(documents, embedding_function=None)

    @guarded
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
                    "speakers": join_speakers(s.speakers),
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

    @guarded
    def copy_document(self, source_version: int, target_version: int, doc_id: str) -> None:
        """Copy an unchanged document's rows (vectors included) into a new version."""
        for kind in ("sentences", "paragraphs"):
            source = self.connection.client.get_collection(self._name(source_version, kind))
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
        records = self.connection.client.get_collection(self._name(source_version, "documents"))
        got = records.get(ids=[doc_id], include=["documents", "metadatas"])
        self.connection.client.get_collection(self._name(target_version, "documents")).add(
            ids=list(got["ids"]),
            documents=list(got["documents"]),
            metadatas=list(got["metadatas"]),
            embeddings=[[0.0]] * len(got["ids"]),
        )

    @guarded
    def count(self, version: int, kind: str) -> int:
        return int(self.connection.client.get_collection(self._name(version, kind)).count())

    @guarded
    def records(self, version: int, kind: str, ids: Sequence[str]) -> list[tuple[str, str, Any]]:
        """(id, text, vector) of the given records of a kind, in the order asked; a record
        that is missing is left out. Reads the vector segment, so damage to it shows here."""
        got = self.connection.client.get_collection(self._name(version, kind)).get(
            ids=list(ids), include=["documents", "embeddings"]
        )
        found = {
            record_id: (record_id, text, vector)
            for record_id, text, vector in zip(
                got["ids"], got["documents"], got["embeddings"], strict=True
            )
        }
        return [found[record_id] for record_id in ids if record_id in found]

    @guarded
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

    def save_sidecar(self, version: int, source: Path) -> None:
        """Keep the files under ``source`` as ``version``'s sidecar, replacing any."""
        self.sidecars.save(version, source)

    def has_sidecar(self, version: int) -> bool:
        """Whether ``version`` has a sidecar (its contents are checked by whoever reads it)."""
        return self.sidecars.exists(version)

    def sidecar(self, version: int) -> AbstractContextManager[Path | None]:
        """``version``'s sidecar folder while the block runs, or None if it has none."""
        return self.sidecars.opened(version)

    @guarded
    def drop_version(self, version: int) -> None:
        self._query_handles.clear()
        self.sidecars.drop(version)
        for kind in ("sentences", "paragraphs", "documents"):
            self.connection.drop_collection(self._name(version, kind))

    @guarded
    def heartbeat(self) -> float:
        """The store's clock in seconds since the epoch: proves it answers."""
        return self.connection.heartbeat()

    # -- helpers ---------------------------------------------------------------------------

    def _name(self, version: int, kind: str) -> str:
        return f"{self.namespace}-v{version}-{kind}"

    def vector_files(self, version: int) -> dict[str, int]:
        """Sizes of the files in this version's vector segment folders (embedded stores only;
        see :func:`index.segments.vector_files`)."""
        if self.is_remote:
            return {}
        names = [self._name(version, kind) for kind in ("sentences", "paragraphs")]
        return vector_files(Path(self.location), names)

    def _pointer_collection(self, *, create: bool) -> Any:
        name = f"{self.namespace}-pointer"
        if create:
            return self.connection.client.get_or_create_collection(name, embedding_function=None)
        return self.connection.collection_or_none(name)

    def _scan(self, name: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
        collection = self.connection.client.get_collection(name)
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
        collection = self.connection.client.get_collection(name)
        for start in range(0, len(ids), WRITE_BATCH):
            end = start + WRITE_BATCH
            collection.add(
                ids=list(ids[start:end]),
                documents=list(texts[start:end]),
                embeddings=vectors[start:end],
                metadatas=list(metadatas[start:end]),
            )

    def _add_document_record(self, version: int, record: DocumentRecord) -> None:
        self.connection.client.get_collection(self._name(version, "documents")).add(
            ids=[record.doc_id],
            documents=[record.title],
            embeddings=[[0.0]],
            metadatas=[document_metadata(record)],
        )


def _version_of(name: str) -> int:
    """The version number in a collection name (``<ns>-v<N>-<kind>``)."""
    match = re.search(r"-v(\d+)-[a-z]+$", name)
    return int(match.group(1)) if match else -1
