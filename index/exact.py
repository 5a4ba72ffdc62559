"""Exact nearest neighbours over a small collection's vectors, held in memory.

Most indexes teams build are small: a handbook, a docs site, a few thousand sentences. For those
a chromadb query costs more than the arithmetic it stands for (about a millisecond of call
overhead per query embedded, a network round-trip per query against a server), and HNSW's
answer is approximate: a tie or a near miss can come back in a different order from one build to
the next. ``ChromaStore.query`` therefore fetches a published collection's vectors once when it
holds at most ``EXACT_MAX_RECORDS`` and answers from them with one matrix product; larger
collections keep using chromadb's index. Published versions never change, so the copy never goes
stale.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from index.records import VectorHit

# Above this many records per collection, chromadb's HNSW index answers instead (the copy costs
# 1.5 KiB per record with 384-dimensional vectors: 30 MiB at the limit).
EXACT_MAX_RECORDS = 20_000
# The same from a Chroma server, where the vectors arrive as JSON (about 4 KB per record).
EXACT_MAX_RECORDS_REMOTE = 5_000


@dataclass(frozen=True, slots=True)
class ExactVectors:
    """A collection's ids and unit-length vectors, row for row."""

    ids: tuple[str, ...]
    matrix: npt.NDArray[np.float32]

    @classmethod
    def of(cls, ids: list[str], vectors: Any) -> ExactVectors:
        # Cosine space, as the collections are created: unit rows make it a dot product.
        unit = _unit_rows(np.asarray(vectors, dtype=np.float32).reshape(len(ids), -1))
        return cls(tuple(ids), np.ascontiguousarray(unit, dtype=np.float32))

    def query(self, vectors: Any, k: int) -> list[list[VectorHit]]:
        """The ``k`` most similar records to each query vector, most similar first (ties in
        the store's id order, so the result is the same on every run)."""
        queries = np.asarray(vectors, dtype=np.float32).reshape(-1, self.matrix.shape[1])
        similarities = _unit_rows(queries) @ self.matrix.T
        k = min(k, len(self.ids))
        hits: list[list[VectorHit]] = []
        for row in similarities:
            if k < len(row):
                top = np.argpartition(-row, k - 1)[:k]
            else:
                top = np.arange(len(row))
            top = top[np.lexsort((top, -row[top]))]
            hits.append([VectorHit(self.ids[i], float(row[i])) for i in top])
        return hits


def _unit_rows(matrix: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """``matrix`` with each nonzero row scaled to unit length."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return (matrix / np.where(norms > 0, norms, 1.0)).astype(np.float32, copy=False)
