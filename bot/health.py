"""Can this readout answer questions? The one check behind ``readout health`` and ``/healthz``.

Three parts, each checked on its own so one report shows everything that is wrong:

* ``store``: the embedded folder opens, or the Chroma server answers a heartbeat in time;
* ``index``: an index has been published, its collections are there, it was built with
  the configured model, and its counts, probe vectors and checksum are what the build recorded
  (``index.integrity``: a deleted or truncated vector segment fails here);
* ``model``: the configured model's files verify, and (unless ``load_model=False``) it is
  loaded and encodes a probe sentence.

Every failure is reported with the message a person can act on; nothing here raises. The
check makes blocking calls (bounded by ``READOUT_CHROMA_TIMEOUT``): from an event loop, run
it with ``asyncio.to_thread``.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

from bot.settings import Settings
from index import integrity
from index.embedder import Embedder
from index.errors import IndexMismatch, IndexMissing, ReadoutError, StoreCorrupt
from index.store import ChromaStore

log = logging.getLogger(__name__)

PROBE_SENTENCE = "readout health check"


@dataclass(frozen=True, slots=True)
class Check:
    """One part of the health report: ok, what was found, or what is wrong."""

    ok: bool
    details: dict[str, Any] = field(default_factory=dict)
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": self.ok, **self.details}
        if self.error:
            body["error"] = self.error
        return body


@dataclass(frozen=True, slots=True)
class Health:
    """The whole report; ``ok`` only when every part is."""

    store: Check
    index: Check
    model: Check
    elapsed: float

    @property
    def ok(self) -> bool:
        return self.store.ok and self.index.ok and self.model.ok

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "store": self.store.to_json(),
            "index": self.index.to_json(),
            "model": self.model.to_json(),
            "elapsed_ms": round(self.elapsed * 1000),
        }


def check_health(
    settings: Settings,
    *,
    store: ChromaStore | None = None,
    embedder: Embedder | None = None,
    load_model: bool = True,
) -> Health:
    """Check the store, the index and the model; never raises.

    Pass the ``embedder`` a running bot already holds (``engine.embedder``) so the check reuses
    the loaded model. A ``store`` is opened from ``settings`` (and closed again) when not given.
    """
    started = time.perf_counter()
    model_check, embedder = _check_model(settings, embedder, load_model)
    owned = store is None
    store_check = Check(False, error="not checked")
    index_check = Check(False, error="skipped: the store cannot be reached")
    try:
        if store is None:
            from bot.runtime import open_store

            store = open_store(settings)
        store_check = _check_store(store)
        if store_check.ok:
            index_check = _check_index(store, embedder.model_id if embedder else None)
    except ReadoutError as exc:
        store_check = Check(False, error=str(exc))
    except Exception as exc:  # the check must answer, whatever breaks
        log.exception("health check failed unexpectedly")
        store_check = Check(False, error=f"unexpected {type(exc).__name__} (see the log)")
    finally:
        if owned and store is not None:
            store.close()
    return Health(store_check, index_check, model_check, time.perf_counter() - started)


def _check_store(store: ChromaStore) -> Check:
    details: dict[str, Any] = {
        "mode": "server" if store.is_remote else "embedded",
        "location": store.location,
    }
    try:
        store.heartbeat()  # connects first, if need be
        started = time.perf_counter()
        store.heartbeat()
    except ReadoutError as exc:
        return Check(False, details, str(exc))
    details["latency_ms"] = round((time.perf_counter() - started) * 1000, 1)
    return Check(True, details)


def _check_index(store: ChromaStore, model_id: str | None) -> Check:
    from bot.runtime import repair_message

    details: dict[str, Any] = {}
    try:
        pointer = store.pointer()
        if pointer is None:
            raise IndexMissing("no index has been built yet. Run `readout index` first.")
        details.update(
            version=pointer.version,
            model=pointer.model_id,
            documents=pointer.documents,
            built_at=round(pointer.built_at),
            sentences=store.count(pointer.version, "sentences"),
            paragraphs=store.count(pointer.version, "paragraphs"),
        )
        if model_id is not None and pointer.model_id != model_id:
            raise IndexMismatch(
                f"the index was built with {pointer.model_id}, but readout is configured with "
                f"{model_id}. Rebuild it with `readout index`."
            )
        details["integrity"] = "checked" if pointer.integrity else "not recorded"
        problems = integrity.check(store, pointer)
        if problems:
            raise StoreCorrupt(repair_message(store.location, pointer.version, problems))
    except ReadoutError as exc:
        return Check(False, details, str(exc))
    except Exception as exc:
        log.exception("index health check failed unexpectedly")
        return Check(False, details, f"unexpected {type(exc).__name__} (see the log)")
    if details["sentences"] == 0:
        return Check(False, details, "the index is empty. Run `readout index PATH`.")
    return Check(True, details)


def _check_model(
    settings: Settings, embedder: Embedder | None, load_model: bool
) -> tuple[Check, Embedder | None]:
    try:
        if embedder is None:
            from bot.runtime import open_embedder

            embedder = open_embedder(settings)  # verifies the model files' hashes
        details: dict[str, Any] = {"id": embedder.model_id, "loaded": False}
        if load_model:
            load = getattr(embedder, "load", None)
            if callable(load):
                load()
            vectors = embedder.encode([PROBE_SENTENCE])
            if vectors.shape[0] != 1 or not all(math.isfinite(float(x)) for x in vectors[0]):
                return Check(False, details, "the model produced an unusable vector"), embedder
            details["loaded"] = True
            details["dimension"] = int(vectors.shape[1])
    except ReadoutError as exc:
        return Check(False, error=str(exc)), embedder
    except Exception as exc:
        log.exception("model health check failed unexpectedly")
        return Check(False, error=f"unexpected {type(exc).__name__} (see the log)"), embedder
    return Check(True, details), embedder
