"""Text to vectors. The only module that imports sentence-transformers.

``Embedder`` is the seam the rest of readout depends on; tests pass small fakes through it.
``SentenceTransformerEmbedder`` wraps a verified local model and encodes on the CPU with
normalised output, so a dot product is the cosine similarity.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from index.errors import ModelError
from index.model import resolve_model

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

log = logging.getLogger(__name__)

ENCODE_BATCH_SIZE = 64


class Embedder(Protocol):
    """Anything that turns texts into unit-length vectors of a fixed dimension."""

    @property
    def model_id(self) -> str: ...

    def encode(
        self, texts: Sequence[str], *, show_progress: bool = False
    ) -> npt.NDArray[np.float32]: ...


class SentenceTransformerEmbedder:
    """A sentence-transformers model from a verified local folder (or, online, a hub).

    The model's files are resolved and hash-checked at construction; the weights load on first
    use, or when :meth:`load` is called (servers call it at start-up so no question waits).
    Commands that never encode (``readout show``) never pay for loading torch.
    """

    def __init__(self, spec: str, default_dir: Path) -> None:
        self._source = resolve_model(spec, default_dir)
        self._model: Any = None
        self._load_lock = threading.Lock()

    @property
    def model_id(self) -> str:
        return self._source.model_id

    def load(self) -> None:
        """Load the weights now (idempotent, thread-safe)."""
        with self._load_lock:
            if self._model is not None:
                return
            source = self._source
            if source.verified:
                # The pinned files are on disk; nothing may reach for a hub at run time.
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
            _silence_loaders()
            try:
                from sentence_transformers import SentenceTransformer

                self._model = SentenceTransformer(source.location, device="cpu")
            except (OSError, ValueError, RuntimeError) as exc:
                log.debug("model load failed", exc_info=True)
                raise ModelError(
                    f"could not load the embedding model {source.location!r} "
                    f"({type(exc).__name__}). Check READOUT_MODEL, or run `make install`."
                ) from exc

    def encode(
        self, texts: Sequence[str], *, show_progress: bool = False
    ) -> npt.NDArray[np.float32]:
        import numpy as np

        self.load()
        vectors = self._model.encode(
            list(texts),
            batch_size=ENCODE_BATCH_SIZE,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=show_progress,
        )
        return np.asarray(vectors, dtype=np.float32)


def _silence_loaders() -> None:
    # transformers prints a weight-loading progress bar on every load; only builds want bars.
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
