"""Safe re-indexing on a Chroma server: a build killed midway leaves the old index serving
(and the next build cleans up after it); questions asked while another process re-indexes get
answers from the old version or the new one, whole, never a mix and never an error."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
import threading
import time
from itertools import cycle
from pathlib import Path
from typing import Any

import pytest

from index.build import BuildReport, build_index
from index.corpus import BUNDLED_CORPUS_DIR
from index.embedder import OnnxEmbedder
from index.errors import IndexLocked
from index.lock import LOCK_MARKER, ServerWriterLock
from index.store import ChromaStore
from retrieval.engine import Engine
from tests.support.chroma import CLI_TIMEOUT, ChromaServer, wait_until
from tests.support.paths import DEV_SET, TEST_DATA

pytestmark = pytest.mark.integration

QUESTION = "What did Xi say about Taiwan?"
_WORDS = (
    "harbour council budget river engineer winter library festival orchard railway tariff "
    "museum glacier senate vaccine satellite ferry quarry lantern meadow archive bakery "
    "cathedral drought fishery granary hospital irrigation journal kiln lighthouse marathon"
).split()


def _big_corpus(folder: Path, documents: int = 30, sentences: int = 100) -> Path:
    """Plain-text documents of varied sentences: several seconds of embedding work."""
    folder.mkdir()
    rng = random.Random(5)
    for n in range(documents):
        paragraphs = []
        for _ in range(sentences // 5):
            paragraphs.append(
                " ".join(
                    f"The {rng.choice(_WORDS)} of district {rng.randint(1, 999)} reported "
                    f"{rng.randint(2, 90)} new {rng.choice(_WORDS)}s near the {rng.choice(_WORDS)}."
                    for _ in range(5)
                )
            )
        (folder / f"report-{n:02d}.txt").write_text("\n\n".join(paragraphs) + "\n", "utf-8")
    return folder


def _build(url: str, paths: list[Path], embedder: OnnxEmbedder) -> BuildReport:
    store = ChromaStore.open_remote(url, timeout=60)
    try:
        return build_index(
            paths, embedder=embedder, store=store, lock=ServerWriterLock(store.markers, ttl=10)
        )
    finally:
        store.close()


def test_a_reindex_killed_midway_leaves_the_old_index_serving(
    article_on_server: ChromaServer,
    server_env: dict[str, str],
    real_embedder: OnnxEmbedder,
    tmp_path: Path,
) -> None:
    url = article_on_server.url
    store = ChromaStore.open_remote(url)
    before = Engine(store, real_embedder).ask(QUESTION).to_json()
    assert before["citations"][0]["paragraph"] == 12

    writer = subprocess.Popen(
        [sys.executable, "-m", "bot", "index", str(_big_corpus(tmp_path / "big"))],
        env={**server_env, "READOUT_INDEX_LOCK_TTL": "10"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # v2's collections exist once the writer holds the lock and starts embedding.
        assert wait_until(lambda: 2 in store.versions() or writer.poll() is not None, CLI_TIMEOUT)
        assert writer.poll() is None, "the build finished before it could be killed"
    finally:
        writer.kill()
        writer.wait(30)

    # The dead writer's lease still holds the lock: nobody else writes until it expires.
    assert store.markers.read(LOCK_MARKER) is not None
    with pytest.raises(IndexLocked, match="if that process has died, the lock expires in"):
        ServerWriterLock(store.markers).acquire()

    pointer = store.pointer()
    assert pointer is not None and pointer.version == 1
    assert Engine(store, real_embedder).ask(QUESTION).to_json() == before
    fresh = ChromaStore.open_remote(url)  # a reader that starts now gets the old index too
    assert Engine(fresh, real_embedder).ask(QUESTION).to_json() == before
    fresh.close()
    assert 2 in store.versions()  # the half-built version is there, unpublished

    # Once the lease lapses, the next build takes over and drops the leftovers.
    report = _retry_while_locked(lambda: _build(url, [BUNDLED_CORPUS_DIR], real_embedder), 30)
    assert not report.changed and report.version == 1
    assert store.versions() == [1]
    assert store.markers.read(LOCK_MARKER) is None  # released
    store.close()


def test_questions_during_a_reindex_get_the_old_or_the_new_index_never_a_mix(
    chroma_server: ChromaServer,
    server_env: dict[str, str],
    real_embedder: OnnxEmbedder,
    tmp_path: Path,
) -> None:
    url = chroma_server.url
    corpus = tmp_path / "corpus"
    shutil.copytree(BUNDLED_CORPUS_DIR, corpus, ignore=shutil.ignore_patterns("__*"))
    [article] = list(corpus.glob("*.txt"))
    assert _build(url, [corpus], real_embedder).version == 1

    cases = [json.loads(line) for line in DEV_SET.read_text(encoding="utf-8").splitlines() if line]
    questions = [case["question"] for case in cases[:8]]
    reader_store = ChromaStore.open_remote(url)
    reader = Engine(reader_store, real_embedder)
    expected: dict[int, dict[str, dict[str, Any]]] = {
        1: {q: reader.ask(q).to_json() for q in questions}
    }

    # v2: the Taiwan paragraph is gone (later paragraphs renumber) and a second document arrives.
    paragraphs = article.read_text(encoding="utf-8").splitlines()  # one paragraph a line
    article.write_text(
        "\n".join(p for p in paragraphs if "first red line" not in p) + "\n", encoding="utf-8"
    )
    shutil.copy(TEST_DATA / "apache-license.txt", corpus / "apache-license.txt")

    seen: list[tuple[int, str, dict[str, Any]]] = []
    failures: list[BaseException] = []
    writer_done = threading.Event()
    lock = threading.Lock()

    def keep_asking(offset: int) -> None:
        deadline = time.monotonic() + CLI_TIMEOUT
        after_writer = 0
        for question in cycle(questions[offset:] + questions[:offset]):
            if after_writer >= len(questions) or time.monotonic() > deadline:
                return
            try:
                answer = reader.ask(question)
            except BaseException as exc:  # any error at all fails the test
                failures.append(exc)
                return
            with lock:
                seen.append((answer.index_version, question, answer.to_json()))
            if writer_done.is_set():
                after_writer += 1

    askers = [threading.Thread(target=keep_asking, args=(n * 3,)) for n in range(2)]
    for thread in askers:
        thread.start()
    writer = subprocess.run(
        [sys.executable, "-m", "bot", "index", str(corpus)],
        env=server_env,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )
    writer_done.set()
    for thread in askers:
        thread.join(CLI_TIMEOUT)
    assert writer.returncode == 0, writer.stderr
    assert "Index v2" in writer.stdout
    assert not failures, failures

    after_store = ChromaStore.open_remote(url)
    after = Engine(after_store, real_embedder)
    expected[2] = {q: after.ask(q).to_json() for q in questions}
    after_store.close()
    assert expected[1] != expected[2]  # the versions really answer differently
    versions = {version for version, _, _ in seen}
    assert versions == {1, 2}, versions
    for version, question, answer in seen:
        assert answer == expected[version][question], (version, question, answer)
    # The version readers used until the flip stays until the next build.
    assert reader_store.versions() == [1, 2]
    reader_store.close()


def _retry_while_locked(build: Any, timeout: float) -> BuildReport:
    deadline = time.monotonic() + timeout
    while True:
        try:
            result: BuildReport = build()
            return result
        except IndexLocked:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
