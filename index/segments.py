"""chromadb's files on disk, read without opening them: the vector segments of collections.

chromadb's native code can crash the process on a truncated ``data_level0.bin`` instead of
raising, so damage must be seen before chromadb touches a segment (``index.integrity``).
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Sequence
from pathlib import Path

log = logging.getLogger(__name__)


def vector_files(root: Path, collections: Sequence[str]) -> dict[str, int]:
    """Sizes of the files in the vector segment folders of ``collections`` in the embedded
    store at ``root``, by relative path; {} where chromadb's layout is not recognised.

    Read from the folder and chromadb's catalogue (SQLite, read-only) without opening the
    vector index.
    """
    marks = ", ".join("?" for _ in collections)
    try:
        uri = f"{(root / 'chroma.sqlite3').resolve().as_uri()}?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=5)) as catalogue:
            segments = [
                str(row[0])
                for row in catalogue.execute(
                    "SELECT s.id FROM segments s JOIN collections c ON s.collection = c.id "
                    f"WHERE s.scope = 'VECTOR' AND c.name IN ({marks})",
                    list(collections),
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
