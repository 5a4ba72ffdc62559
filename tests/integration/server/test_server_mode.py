"""Server mode end to end: index through a real Chroma server from one process, answer from
another, and get exactly the answers the embedded store gives; `readout health` on both."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from bot.health import check_health
from bot.settings import Settings
from index.embedder import OnnxEmbedder
from index.errors import StoreUnavailable
from index.store import ChromaStore
from retrieval.engine import Engine
from retrieval.sidecar import load_sidecar
from tests.support.chroma import ChromaServer, SilentServer, readout
from tests.support.paths import DEV_SET

pytestmark = pytest.mark.integration


def _questions() -> list[str]:
    cases = [json.loads(line) for line in DEV_SET.read_text(encoding="utf-8").splitlines() if line]
    return [case["question"] for case in cases[:12]] + ["Tell me a joke"]


def _comparable(answer: dict[str, object]) -> dict[str, object]:
    """An answer without its scores (compared separately, with a tolerance)."""
    citations = answer["citations"]
    assert isinstance(citations, list)
    return {**answer, "citations": [{**c, "score": None} for c in citations]}


def test_index_from_one_process_and_answer_from_another_as_embedded_does(
    chroma_server: ChromaServer, server_env: dict[str, str], article_engine: Engine
) -> None:
    indexed = readout(server_env, "index", "--demo")
    assert indexed.returncode == 0, indexed.stderr
    assert "Index v1: 14 paragraphs" in indexed.stdout
    assert not Path(server_env["READOUT_STORE"]).exists()  # nothing written locally
    # The sidecar went to the server with its version; the answers below are read from it.
    store = ChromaStore.open_remote(chroma_server.url, timeout=30)
    try:
        saved = load_sidecar(store, 1)
        assert saved is not None and len(saved.paragraphs) == 14
    finally:
        store.close()

    questions = _questions()
    asked = readout(server_env, "ask", "--json", stdin="\n".join(questions) + "\n")
    assert asked.returncode == 0, asked.stderr
    assert "building one" not in asked.stderr  # it found the index the other process built
    remote = [json.loads(line) for line in asked.stdout.splitlines()]
    embedded = [article_engine.ask(q).to_json() for q in questions]
    assert [_comparable(a) for a in remote] == [_comparable(a) for a in embedded]
    for got, expected in zip(remote, embedded, strict=True):
        for mine, theirs in zip(got["citations"], expected["citations"], strict=True):
            assert mine["score"] == pytest.approx(theirs["score"], abs=2e-4)
    assert sum(not a["abstained"] for a in remote) >= 10  # a real comparison, not all abstentions

    healthy = readout(server_env, "health", "--no-load-model")
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    [line] = healthy.stdout.splitlines()
    report = json.loads(line)
    assert report["ok"] is True
    assert report["store"]["mode"] == "server" and report["store"]["location"] == chroma_server.url
    assert report["index"]["version"] == 1 and report["index"]["sentences"] > 0
    assert report["model"]["loaded"] is False


def test_health_reports_each_problem_and_exits_1(
    chroma_server: ChromaServer,
    server_env: dict[str, str],
    silent_server: SilentServer,
    real_embedder: OnnxEmbedder,
) -> None:
    settings = Settings.from_env({"READOUT_CHROMA_URL": chroma_server.url})
    empty = check_health(settings, embedder=real_embedder)
    assert not empty.ok and empty.store.ok and empty.model.ok
    assert empty.model.details["loaded"] is True and empty.model.details["dimension"] == 384
    assert "no index has been built yet" in empty.index.error

    started = time.monotonic()
    hung = check_health(
        Settings.from_env({"READOUT_CHROMA_URL": silent_server.url}), embedder=real_embedder
    )
    assert time.monotonic() - started < 5.0
    assert not hung.store.ok and "search is unavailable right now" in hung.store.error
    assert hung.index.error == "skipped: the store cannot be reached"

    chroma_server.stop()
    done = readout(server_env, "health", "--no-load-model")
    assert done.returncode == 1
    [line] = done.stdout.splitlines()
    report = json.loads(line)
    assert report["ok"] is False and report["store"]["ok"] is False
    assert "search is unavailable right now" in report["store"]["error"]
    assert "Traceback" not in done.stderr


def test_a_model_mismatch_is_unhealthy(
    article_on_server: ChromaServer, real_embedder: OnnxEmbedder
) -> None:
    store = ChromaStore.open_remote(article_on_server.url)
    pointer = store.pointer()
    assert pointer is not None
    store.publish(pointer.version, "some/other-model@0", pointer.documents)
    health = check_health(
        Settings.from_env({"READOUT_CHROMA_URL": article_on_server.url}),
        embedder=real_embedder,
        load_model=False,
    )
    assert not health.ok and health.store.ok and health.model.ok
    assert "built with some/other-model@0" in health.index.error
    store.close()


def test_the_http_client_gets_our_timeout(article_on_server: ChromaServer) -> None:
    """chromadb 1.5 has no client timeout setting: we set its httpx session's. If a chromadb
    upgrade moves that session, this fails loudly instead of hangs coming back silently."""
    store = ChromaStore.open_remote(article_on_server.url, timeout=3.5)
    assert store.pointer() is not None
    session = store.connection.client._server._session
    assert isinstance(session, httpx.Client)
    assert session.timeout == httpx.Timeout(3.5)
    store.close()


def test_a_token_is_sent_in_the_configured_header() -> None:
    """A proxy in front of Chroma that wants a token: it gets it, and a refusal is explained."""
    seen: list[dict[str, str]] = []

    class Refusing(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            seen.append(dict(self.headers))
            self.send_response(401)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return None

    proxy = ThreadingHTTPServer(("127.0.0.1", 0), Refusing)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{proxy.server_address[1]}"
        for header, expected in (("Authorization", "Bearer s3cret"), ("X-Chroma-Token", "s3cret")):
            store = ChromaStore.open_remote(url, token="s3cret", token_header=header)
            with pytest.raises(StoreUnavailable, match="refused readout's credentials"):
                store.pointer()
            assert seen[-1][header] == expected
    finally:
        proxy.shutdown()
        proxy.server_close()
        thread.join(5)
