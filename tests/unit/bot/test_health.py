"""The check behind `readout health` and /healthz: each part on its own, never raising."""

from __future__ import annotations

from pathlib import Path

from bot.health import check_health
from bot.settings import Settings
from index.build import build_index
from index.corpus import BUNDLED_CORPUS_DIR
from index.store import ChromaStore
from tests.support.fakes import FakeEmbedder


def test_a_built_index_and_a_working_model_are_healthy(tmp_path: Path) -> None:
    store = ChromaStore.open_local(tmp_path / "index")
    build_index([BUNDLED_CORPUS_DIR], embedder=FakeEmbedder(), store=store)
    health = check_health(Settings(store=tmp_path / "index"), store=store, embedder=FakeEmbedder())
    assert health.ok, health.to_json()
    report = health.to_json()
    assert report["store"]["mode"] == "embedded"
    assert report["index"]["documents"] == 1 and report["index"]["sentences"] > 0
    assert report["model"] == {
        "ok": True,
        "id": "fake-hashing-embedder",
        "loaded": True,
        "dimension": 64,
    }


def test_an_empty_store_says_what_to_run_and_the_rest_is_still_checked(tmp_path: Path) -> None:
    store = ChromaStore.open_local(tmp_path / "index")
    health = check_health(Settings(store=tmp_path / "index"), store=store, embedder=FakeEmbedder())
    assert not health.ok
    assert health.store.ok and health.model.ok
    assert health.index.error == "no index has been built yet. Run `readout index` first."


def test_another_model_is_a_mismatch(tmp_path: Path) -> None:
    class Other(FakeEmbedder):
        model_id = "another-model"

    store = ChromaStore.open_local(tmp_path / "index")
    build_index([BUNDLED_CORPUS_DIR], embedder=FakeEmbedder(), store=store)
    health = check_health(Settings(), store=store, embedder=Other())
    assert not health.index.ok
    assert "built with fake-hashing-embedder" in health.index.error


def test_a_server_nobody_answers_is_an_unreachable_store_not_an_exception() -> None:
    settings = Settings(chroma_url="http://127.0.0.1:9", chroma_timeout=0.5)
    health = check_health(settings, embedder=FakeEmbedder(), load_model=False)
    assert not health.ok and not health.store.ok
    assert "did not answer" in health.store.error
    assert health.index.error == "skipped: the store cannot be reached"
