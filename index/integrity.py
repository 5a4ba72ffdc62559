"""Is a published index version still the one that was built? Counts, probes and a checksum.

chromadb keeps texts and metadata in SQLite and vectors in per-collection segment folders. A
segment folder deleted, or a ``data_level0.bin`` truncated, leaves texts and counts intact:
questions then get answers with quietly degraded scores. So a build records, beside the pointer:

* the number of sentences, paragraphs and documents;
* a few *probe* records of each kind, spread over the corpus;
* a SHA-256 over those probes' ids, texts and vectors (rounded, so it survives float noise).

* the sizes of the vector segment files (embedded stores), which only grow once written.

:func:`check` first compares the files (a missing or shrunken one is damage, found without
opening the index: chromadb's native code can crash on a truncated file), then reads the
counts, reads the probes' vectors back (which fails outright when a segment is missing or
truncated), recomputes the checksum, and asks the vector index for each probe's own vector,
which must come back first. ``readout health`` and every start-up run it; a
problem is a :class:`~index.errors.StoreCorrupt` naming the command that repairs it.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from index.errors import ReadoutError

if TYPE_CHECKING:
    from index.store import IndexPointer, VectorHit

log = logging.getLogger(__name__)

KINDS = ("sentences", "paragraphs")
PROBES_PER_KIND = 8
# A probe's own vector must come back with at least this cosine similarity.
SELF_SIMILARITY = 0.999
_DECIMALS = 4


class IntegrityStore(Protocol):
    """What the check needs from ``index.store.ChromaStore``."""

    def count(self, version: int, kind: str) -> int: ...
    def records(
        self, version: int, kind: str, ids: Sequence[str]
    ) -> list[tuple[str, str, Any]]: ...
    def query(self, version: int, kind: str, vectors: Any, k: int) -> list[list[VectorHit]]: ...
    def vector_files(self, version: int) -> dict[str, int]: ...


def pick_probes(ids: Sequence[str], n: int = PROBES_PER_KIND) -> list[str]:
    """Up to ``n`` ids spread evenly from first to last."""
    if len(ids) <= n:
        return list(ids)
    step = (len(ids) - 1) / (n - 1)
    return list(dict.fromkeys(ids[round(i * step)] for i in range(n)))


def record(
    store: IntegrityStore, version: int, counts: dict[str, int], probes: dict[str, list[str]]
) -> str:
    """The integrity record of a version just written (JSON, stored with the pointer)."""
    checksum = _checksum(store, version, probes)
    files = store.vector_files(version)
    return json.dumps(
        {"counts": counts, "probes": probes, "checksum": checksum, "files": files},
        sort_keys=True,
    )


def check(store: IntegrityStore, pointer: IndexPointer) -> list[str]:
    """What is wrong with the live version, as short phrases; [] when it checks out (or was
    built before readout recorded integrity)."""
    if not pointer.integrity:
        return []
    try:
        saved = json.loads(pointer.integrity)
        counts: dict[str, int] = {str(k): int(v) for k, v in saved["counts"].items()}
        probes: dict[str, list[str]] = {str(k): list(v) for k, v in saved["probes"].items()}
        expected = str(saved["checksum"])
        files: dict[str, int] = {str(k): int(v) for k, v in saved.get("files", {}).items()}
    except (ValueError, KeyError, TypeError, AttributeError):
        return ["its integrity record is unreadable"]
    # Files first, without opening the vector index: chromadb's native code may crash on a
    # truncated file rather than raise. The files only grow once written, so one that is gone
    # or smaller than at build time is damage.
    if files:
        now = store.vector_files(pointer.version)
        damaged = sorted(name for name, size in files.items() if now.get(name, -1) < size)
        if damaged:
            return [f"its vector files are missing or truncated ({', '.join(damaged[:3])})"]
    problems: list[str] = []
    try:
        for kind, wanted in counts.items():
            got = store.count(pointer.version, kind)
            if got != wanted:
                problems.append(f"it holds {got:,} {kind} where {wanted:,} were written")
        if problems:
            return problems
        if _checksum(store, pointer.version, probes) != expected:
            return ["its stored vectors or texts have changed since it was built"]
        for kind in KINDS:
            rows = store.records(pointer.version, kind, probes.get(kind, []))
            if not rows:
                continue
            hits = store.query(pointer.version, kind, _vectors(rows), k=1)
            for (record_id, _, _), found in zip(rows, hits, strict=True):
                top = found[0] if found else None
                if top is None or (top.record_id != record_id and top.similarity < SELF_SIMILARITY):
                    return [f"its {kind} vector index no longer finds its own records"]
    except ReadoutError:
        log.debug("integrity check could not read the store", exc_info=True)
        return ["its vector files cannot be read"]
    return problems


def _checksum(store: IntegrityStore, version: int, probes: dict[str, list[str]]) -> str:
    import numpy as np

    digest = hashlib.sha256()
    for kind in sorted(probes):
        rows = store.records(version, kind, probes[kind])
        if len(rows) != len(probes[kind]):
            digest.update(b"missing")
        for record_id, text, vector in rows:
            digest.update(f"{kind}\0{record_id}\0{text}\0".encode())
            rounded = np.round(np.asarray(vector, dtype=np.float32), _DECIMALS) + 0.0  # no -0.0
            digest.update(rounded.astype(np.float32).tobytes())
    return digest.hexdigest()


def _vectors(rows: list[tuple[str, str, Any]]) -> Any:
    import numpy as np

    return np.asarray([vector for _, _, vector in rows], dtype=np.float32)
