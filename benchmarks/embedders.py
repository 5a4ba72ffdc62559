"""Embedders the benchmark wraps around the real one: one counts what reaches the model, one
stands in for it on distractor text the 100k row cannot afford to encode."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from index.corpus import BUNDLED_CORPUS_DIR
from index.embedder import Embedder


class CountingEmbedder:
    """Counts how many texts reach the model (an unchanged re-run must send none)."""

    def __init__(self, inner: Embedder) -> None:
        self._inner = inner
        self.model_id = inner.model_id
        self.texts = 0

    def encode(
        self, texts: Sequence[str], *, show_progress: bool = False
    ) -> npt.NDArray[np.float32]:
        self.texts += len(texts)
        return self._inner.encode(texts, show_progress=show_progress)


class StandInEmbedder:
    """Real vectors for the article (and the self-test probe), seeded random unit vectors for
    distractor text: encoding 100k paragraphs for real would take half an hour here.

    The random vectors span a fixed 24-dimensional subspace, not all 384 dimensions: real
    sentence embeddings have a low intrinsic dimension, and isotropic random vectors are a
    worst case for HNSW that real ones are not (at 193k of them, chromadb's default search no
    longer finds some records from their own vector, which the start-up integrity check
    rightly counts as damage).
    """

    _RANK = 24

    def __init__(self, inner: Embedder) -> None:
        self._inner = inner
        self.model_id = inner.model_id
        article = (BUNDLED_CORPUS_DIR / "xi-biden-call.txt").read_text(encoding="utf-8")
        self._article = article
        self._dimension = int(inner.encode(["dimension probe"]).shape[1])
        self._basis = np.random.default_rng(0).standard_normal((self._dimension, self._RANK))

    def encode(
        self, texts: Sequence[str], *, show_progress: bool = False
    ) -> npt.NDArray[np.float32]:
        vectors = np.empty((len(texts), self._dimension), dtype=np.float32)
        real = [i for i, text in enumerate(texts) if text in self._article]
        if real:
            vectors[real] = self._inner.encode([texts[i] for i in real])
        real_rows = set(real)
        for i, text in enumerate(texts):
            if i not in real_rows:
                seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
                vector = self._basis @ np.random.default_rng(seed).standard_normal(self._RANK)
                vectors[i] = vector / np.linalg.norm(vector)
        return vectors
