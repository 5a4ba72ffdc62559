"""The chromadb store. The only module that imports chromadb.

Layout: each build of the index is a *version* of three collections,
``<ns>-v<N>-sentences``, ``<ns>-v<N>-paragraphs`` and ``<ns>-v<N>-documents``, and one small
``<ns>-pointer`` collection holds a single record naming the live version and the model that
built it. A build writes a whole new version, checks it, then flips the pointer with one upsert:
readers see the old version or the new one, never half of either, and a build killed midway
leaves the old version serving (its leftovers are dropped by the next build).

Vectors are always computed by our own embedder and passed in: chroma's default embedding
function would try to download a model, which fails offline.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from index.corpus import Document, Paragraph, Sentence
from index.errors import ReadoutError, StoreCorrupt, StoreUnavailable

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

log = logging.getLogger(__name__)

DEFAULT_NAMESPACE = "readout"
POINTER_ID = "current"
# chroma caps how many records one call may carry; stay well under it.
WRITE_BATCH = 2000
READ_BATCH = 5000
_SPEAKER_SEPARATOR = "|"
_P = ParamSpec("_P")
_R = TypeVar("_R")


@dataclass(frozen=True, slots=True)
class IndexPointer:
    """The live version of the index and the model that built it."""

    version: int
    model_id: str
    built_at: float
    documents: int


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
        try:
            return method(*args, **kwargs)
        except ReadoutError:
            raise
        except Exception as exc:
            store = args[0]
            assert isinstance(store, ChromaStore)
            raise store.translate_error(exc) from exc

    wrapper.__name__ = method.__name__
    wrapper.__doc__ = method.__doc__
    return wrapper


class ChromaStore:
    """Versioned paragraphs, sentences and documents in one chromadb client."""

    def __init__(self, client: Any, *, location: str, namespace: str = DEFAULT_NAMESPACE) -> None:
        self._client = client
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
        cls, url: str, *, token: str = "", namespace: str = DEFAULT_NAMESPACE
    ) -> ChromaStore:
        """A ``chromadb.HttpClient`` for the Chroma server at ``url``."""
        import chromadb
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        headers = {"Authorization": f"Bearer {token}"} if token else None
        try:
            client = chromadb.HttpClient(
                host=parts.hostname or "localhost",
                port=parts.port or (443 if parts.scheme == "https" else 8000),
                ssl=parts.scheme == "https",
                headers=headers,
                settings=chromadb.Settings(anonymized_telemetry=False),
            )
        except Exception as exc:
            log.debug("connecting to the Chroma server failed", exc_info=True)
            raise StoreUnavailable(
                f"search is unavailable right now: the index server at {url} did not answer. "
                "Try again shortly."
            ) from exc
        return cls(client, location=url, namespace=namespace)

    # -- reading ---------------------------------------------------------------------------

    @_guard
    def pointer(self) -> IndexPointer | None:
        """The live version, or None when nothing has been published yet."""
        collection = self._pointer_collection(create=False)
        if collection is None:
            return None
        got = collection.get(ids=[POINTER_ID], include=["metadatas"])
        if not got["ids"]:
            return None
        meta = got["metadatas"][0]
        return IndexPointer(
            version=int(meta["version"]),
            model_id=str(meta["model"]),
            built_at=float(meta["built_at"]),
            documents=int(meta.get("documents", 0)),
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
    def query(
        self, version: int, kind: str, vectors: npt.NDArray[np.float32], k: int
    ) -> list[list[VectorHit]]:
        """Nearest ``kind`` ("sentences" or "paragraphs") records for each query vector."""
        collection = self._client.get_collection(self._name(version, kind))
        count = collection.count()
        if count == 0:
            return [[] for _ in range(len(vectors))]
        result = collection.query(
            query_embeddings=vectors, n_results=min(k, count), include=["distances"]
        )
        distances = result["distances"] or []
        return [
            # cosine space: distance = 1 - cosine similarity
            [VectorHit(i, 1.0 - float(d)) for i, d in zip(ids, dists)]
            for ids, dists in zip(result["ids"], distances)
        ]

    @_guard
    def embeddings(self, version: int, kind: str) -> Iterator[tuple[str, Any, Any]]:
        """(id, text, embedding) for every record of a kind; used to copy unchanged documents."""
        collection = self._client.get_collection(self._name(version, kind))
        total = collection.count()
        for offset in range(0, total, READ_BATCH):
            got = collection.get(
                limit=READ_BATCH, offset=offset, include=["documents", "embeddings", "metadatas"]
            )
            yield from zip(got["ids"], got["documents"], got["embeddings"], got["metadatas"])

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
                {"doc": p.doc_id, "paragraph": p.number, "heading": p.heading}
                for p in document.paragraphs
            ],
        )
        self._add_document_record(version, _record_of(document))

    @_guard
    def copy_document(self, source_version: int, target_version: int, doc_id: str) -> None:
        """Copy an unchanged document's rows (vectors included) into a new version."""
        for kind in ("sentences", "paragraphs"):
            source = self._client.get_collection(self._name(source_version, kind))
            got = source.get(where={"doc": doc_id}, include=["documents", "embeddings", "metadatas"])
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
    def publish(self, version: int, model_id: str, documents: int) -> None:
        """Point readers at ``version``: one single-record upsert, so the switch is atomic."""
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
                }
            ],
        )

    @_guard
    def drop_version(self, version: int) -> None:
        for kind in ("sentences", "paragraphs", "documents"):
            name = self._name(version, kind)
            try:
                self._client.delete_collection(name)
            except Exception as exc:  # absent already: nothing to drop
                if not _is_not_found(exc):
                    raise

    # -- helpers ---------------------------------------------------------------------------

    def translate_error(self, exc: Exception) -> ReadoutError:
        """A chromadb or transport exception as the readout error a person can act on."""
        log.debug("store call failed", exc_info=exc)
        if self.is_remote:
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

    def _pointer_collection(self, *, create: bool) -> Any:
        name = f"{self.namespace}-pointer"
        if create:
            return self._client.get_or_create_collection(name, embedding_function=None)
        try:
            return self._client.get_collection(name)
        except Exception as exc:
            if _is_not_found(exc):
                return None
            raise

    def _scan(self, name: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
        collection = self._client.get_collection(name)
        total = collection.count()
        for offset in range(0, total, READ_BATCH):
            got = collection.get(
                limit=READ_BATCH, offset=offset, include=["documents", "metadatas"]
            )
            yield from zip(got["ids"], got["documents"], got["metadatas"])

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


def _record_of(document: Document) -> DocumentRecord:
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
