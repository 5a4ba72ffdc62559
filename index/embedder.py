"""Text to vectors. The only module that imports sentence-transformers, onnxruntime and
tokenizers.

``Embedder`` is the seam the rest of readout depends on; tests pass small fakes through it.
Both embedders give unit-length vectors, so a dot product is the cosine similarity, and both
report the same model id for the default model, so either can answer from an index the other
built (they agree to a cosine of 0.9999; tests/integration/test_onnx.py holds them to it):

- ``OnnxEmbedder`` (the default) runs the install-time ONNX export of the verified model
  (``index.model.export_onnx``) with ONNX Runtime and the model's own ``tokenizer.json``. It
  never imports torch or transformers: importing them is most of a cold start (7 of 9 s) and
  of a question process's memory.
- ``SentenceTransformerEmbedder`` is the reference implementation
  (``READOUT_EMBEDDER=sentence-transformers``), and the only one for models other than the
  default.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from index.errors import ModelError
from index.model import OnnxModel, resolve_model, verify_onnx

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

log = logging.getLogger(__name__)

ENCODE_BATCH_SIZE = 64
# ONNX batches are cut by padded size, not count: texts are sorted by length, so a batch of
# short sentences is wide and a batch of 256-token paragraphs narrow, and the attention
# matrices (batch x 12 x tokens^2) stay small enough for two cores' caches and a modest
# memory arena. Measured on the build's sentences: 4k padded tokens per batch beat both
# fixed 16 and fixed 64.
ONNX_BATCH_TOKENS = 4096
ONNX_MAX_BATCH = 128


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


class OnnxEmbedder:
    """The default model's ONNX export run by ONNX Runtime, tokenised by ``tokenizers``.

    Same tokenizer, truncation (256 tokens), mean pooling and normalisation as
    sentence-transformers; padding only to the longest text of each batch.
    """

    def __init__(self, model: OnnxModel) -> None:
        self._model = model
        self._session: Any = None
        self._tokenizer: Any = None
        self._load_lock = threading.Lock()

    @classmethod
    def from_model_dir(cls, model_dir: Path) -> OnnxEmbedder:
        """The export beside the default model at ``model_dir``, its hashes checked now."""
        return cls(verify_onnx(model_dir))

    @property
    def model_id(self) -> str:
        return self._model.model_id

    def load(self) -> None:
        """Open the tokenizer and the ONNX session now (idempotent, thread-safe).

        The files were hash-checked when this embedder was made (``verify_onnx``). ONNX Runtime
        reads the graph from its path: handing it the bytes instead would hold a second copy
        of the weights while the session is built (+120 MiB peak for ``readout ask``).
        """
        with self._load_lock:
            if self._session is not None:
                return
            import onnxruntime
            from tokenizers import Tokenizer

            model = self._model
            options = onnxruntime.SessionOptions()
            options.log_severity_level = 3  # errors only: its warnings are about graph fusions
            try:
                tokenizer = Tokenizer.from_file(str(model.tokenizer))
                session = onnxruntime.InferenceSession(
                    str(model.path), options, providers=["CPUExecutionProvider"]
                )
            except Exception as exc:  # onnxruntime raises its own exception types
                log.debug("ONNX model load failed", exc_info=True)
                raise ModelError(
                    f"could not load the ONNX model at {model.path.parent} "
                    f"({type(exc).__name__}). Run `make install` (or `python -m index.model "
                    "export`) to export it again."
                ) from exc
            tokenizer.no_padding()  # padded per batch in encode(), to the batch's longest text
            tokenizer.enable_truncation(max_length=model.max_seq_length)
            self._tokenizer = tokenizer
            self._session = session

    def encode(
        self, texts: Sequence[str], *, show_progress: bool = False
    ) -> npt.NDArray[np.float32]:
        import numpy as np

        self.load()
        vectors = np.zeros((len(texts), self._model.dimension), dtype=np.float32)
        if not texts:
            return vectors
        encodings = self._tokenizer.encode_batch(list(texts))
        lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(texts))
        order = np.argsort(lengths, kind="stable")
        batches = _token_batches(lengths[order])
        progress = _progress(len(texts)) if show_progress else None
        start = 0
        for size in batches:
            rows = order[start : start + size]
            start += size
            width = int(lengths[rows[-1]])  # sorted: the last is the longest
            ids = np.zeros((size, width), dtype=np.int64)
            mask = np.zeros((size, width), dtype=np.int64)
            for slot, row in enumerate(rows):
                tokens = encodings[row].ids
                ids[slot, : len(tokens)] = tokens
                mask[slot, : len(tokens)] = 1
            vectors[rows] = self._session.run(
                None,
                {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)},
            )[0]
            if progress is not None:
                progress.update(size)
        if progress is not None:
            progress.close()
        return vectors


def _token_batches(sorted_lengths: npt.NDArray[np.int64]) -> list[int]:
    """Batch sizes over texts sorted by token count: each batch as many texts as fit
    ``ONNX_BATCH_TOKENS`` once padded to its longest, at most ``ONNX_MAX_BATCH``."""
    sizes = []
    start, total = 0, len(sorted_lengths)
    while start < total:
        size = 1
        while (
            start + size < total
            and size < ONNX_MAX_BATCH
            and (size + 1) * int(sorted_lengths[start + size]) <= ONNX_BATCH_TOKENS
        ):
            size += 1
        sizes.append(size)
        start += size
    return sizes


def _progress(total: int) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, unit="text", desc="Embedding")


def _silence_loaders() -> None:
    # transformers prints a weight-loading progress bar on every load; only builds want bars.
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
