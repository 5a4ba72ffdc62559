"""Shared fixtures: a clean environment for every test, the real model and a real index once
per session, and a small deterministic fake embedder for unit tests (``tests.support.fakes``)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from index.build import build_index
from index.corpus import BUNDLED_CORPUS_DIR
from index.embedder import OnnxEmbedder, SentenceTransformerEmbedder
from index.model import DEFAULT_MODEL
from index.store import ChromaStore
from retrieval.engine import Engine
from tests.support.fakes import FakeEmbedder
from tests.support.paths import MODEL_DIR

_OUR_PREFIXES = ("READOUT_", "SLACK_", "DISCORD_")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Every test starts without readout/Slack/Discord settings, offline from model hubs, and
    with its own state directory (the question log never lands in the real home)."""
    for name in list(os.environ):
        if name.startswith(_OUR_PREFIXES):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setenv("READOUT_MODEL_DIR", str(MODEL_DIR))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture(scope="session")
def real_embedder() -> OnnxEmbedder:
    """The real all-MiniLM-L6-v2 as readout runs it by default (its ONNX export), verified and
    loaded once for the whole session."""
    embedder = OnnxEmbedder.from_model_dir(MODEL_DIR)
    embedder.load()
    return embedder


@pytest.fixture(scope="session")
def reference_embedder() -> SentenceTransformerEmbedder:
    """The same model through sentence-transformers: the reference the ONNX path must match."""
    embedder = SentenceTransformerEmbedder(DEFAULT_MODEL, MODEL_DIR)
    embedder.load()
    return embedder


@pytest.fixture(scope="session")
def article_store_dir(
    tmp_path_factory: pytest.TempPathFactory, real_embedder: OnnxEmbedder
) -> Path:
    """A real chromadb folder holding the bundled article, built once per session."""
    path = tmp_path_factory.mktemp("article-store")
    build_index([BUNDLED_CORPUS_DIR], embedder=real_embedder, store=ChromaStore.open_local(path))
    return path


@pytest.fixture(scope="session")
def article_engine(article_store_dir: Path, real_embedder: OnnxEmbedder) -> Engine:
    """An engine over the real index of the bundled article, with the real model."""
    return Engine(ChromaStore.open_local(article_store_dir), real_embedder)


@pytest.fixture
def readout_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """Environment for running the `readout` CLI in a subprocess with its own (empty) store."""
    env = dict(os.environ)
    env["READOUT_STORE"] = str(tmp_path / "store")
    yield env


@pytest.fixture
def article_env(readout_env: dict[str, str], article_store_dir: Path) -> dict[str, str]:
    """Like ``readout_env``, with a copy of the bundled article's index in the store (what
    `readout index --demo` builds)."""
    shutil.copytree(article_store_dir, readout_env["READOUT_STORE"])
    return readout_env
