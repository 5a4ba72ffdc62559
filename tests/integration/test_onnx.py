"""The ONNX Runtime embedder against the sentence-transformers reference, with the real model:
the install-time export, its hash check, numerical agreement, identical answers, and a
question path that never imports torch."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from index.build import build_index
from index.corpus import BUNDLED_CORPUS_DIR, load_documents
from index.embedder import OnnxEmbedder, SentenceTransformerEmbedder
from index.model import ONNX_DATA, ONNX_DIR, ONNX_FILE, ONNX_MANIFEST, verify_onnx
from index.store import ChromaStore
from retrieval.answer import Answer
from retrieval.engine import Engine
from retrieval.evaluation import evaluate, parse_cases
from tests.support.paths import DEV_SET, MODEL_DIR, SHARED, TEST_DATA, run_readout

pytestmark = pytest.mark.integration

HEAVY_MODULES = ("torch", "transformers", "sentence_transformers")
QUESTION = "What did Xi say about Taiwan?"
EDGE_CASES = [
    "",
    "   ",
    "?",
    "US",
    "Ünïcödé, emoji 🎉, CJK 台湾 and Cyrillic Тайвань.",
    "def encode(self, texts): return self._model.encode(list(texts))",
    "  leading and trailing whitespace  ",
    "tab\tseparated\nand\nnewlines",
    # Longer than the model's 256-token window: both must truncate at the same place.
    " ".join(f"word{i} and some filler text" for i in range(300)),
]


def _varied_texts() -> list[str]:
    """A few hundred sentences of different kinds and lengths."""
    documents, _ = load_documents([BUNDLED_CORPUS_DIR, TEST_DATA / "apache-license.txt"])
    texts = [s.text for d in documents for p in d.paragraphs for s in p.sentences]
    texts += [p.text for d in documents for p in d.paragraphs]  # whole paragraphs too
    squad, _ = load_documents([SHARED / "eval" / "squad" / "corpus"])
    texts += [s.text for d in squad[:4] for p in d.paragraphs for s in p.sentences][:150]
    texts += [p.text for d in squad[4:8] for p in d.paragraphs][:60]
    texts += [c.question for c in parse_cases(DEV_SET.read_text(encoding="utf-8").splitlines())]
    return texts + EDGE_CASES


def _signature(answer: Answer) -> tuple[object, ...]:
    return (answer.abstained, tuple((c.doc, c.paragraph, c.sentence) for c in answer.citations))


def test_onnx_vectors_match_sentence_transformers(
    real_embedder: OnnxEmbedder, reference_embedder: SentenceTransformerEmbedder
) -> None:
    texts = _varied_texts()
    assert len(texts) >= 300
    ours = real_embedder.encode(texts)
    reference = reference_embedder.encode(texts)
    assert ours.shape == reference.shape == (len(texts), 384)
    cosines = np.sum(ours * reference, axis=1)
    worst = int(np.argmin(cosines))
    assert cosines[worst] >= 0.9999, (texts[worst][:80], float(cosines[worst]))
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    # A text's vector does not depend on the batch it was padded in.
    alone = np.vstack([real_embedder.encode([text]) for text in texts[:20]])
    np.testing.assert_allclose(alone, ours[:20], atol=1e-5)


def test_both_embedders_give_identical_dev_answers(
    tmp_path: Path,
    article_store_dir: Path,
    real_embedder: OnnxEmbedder,
    reference_embedder: SentenceTransformerEmbedder,
) -> None:
    cases = parse_cases(DEV_SET.read_text(encoding="utf-8").splitlines())
    onnx_store = ChromaStore.open_local(article_store_dir)  # built by the ONNX embedder
    reference_store = ChromaStore.open_local(tmp_path / "reference")
    build_index([BUNDLED_CORPUS_DIR], embedder=reference_embedder, store=reference_store)
    before = Engine(reference_store, reference_embedder)  # readout as it was
    after = Engine(onnx_store, real_embedder)
    mixed = Engine(onnx_store, reference_embedder)  # one index, either embedder
    assert onnx_store.pointer().model_id == reference_store.pointer().model_id  # type: ignore[union-attr]
    for case in cases:
        expected = _signature(before.ask(case.question))
        assert _signature(after.ask(case.question)) == expected, case.case_id
        assert _signature(mixed.ask(case.question)) == expected, case.case_id
    assert evaluate(cases, after.ask).top1 == evaluate(cases, before.ask).top1


def test_export_is_made_from_the_verified_weights(tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    shutil.copytree(MODEL_DIR, model_dir, ignore=shutil.ignore_patterns(ONNX_DIR))
    done = subprocess.run(
        [sys.executable, "-m", "index.model", "fetch", str(model_dir)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    manifest = json.loads((model_dir / ONNX_DIR / ONNX_MANIFEST).read_text(encoding="utf-8"))
    assert set(manifest["files"]) == {ONNX_FILE, ONNX_DATA}
    assert verify_onnx(model_dir).sha256 == manifest["files"][ONNX_FILE]
    fresh = OnnxEmbedder.from_model_dir(model_dir)
    installed = OnnxEmbedder.from_model_dir(MODEL_DIR)
    texts = [QUESTION, "The two leaders spoke on Tuesday."]
    np.testing.assert_allclose(fresh.encode(texts), installed.encode(texts), atol=1e-6)


def test_tampered_export_is_refused_with_the_repair_command(
    tmp_path: Path, readout_env: dict[str, str]
) -> None:
    model_dir = tmp_path / "model"
    shutil.copytree(MODEL_DIR, model_dir)
    weights = model_dir / ONNX_DIR / ONNX_DATA
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one weight, slightly wrong
    weights.write_bytes(bytes(data))
    done = run_readout(dict(readout_env, READOUT_MODEL_DIR=str(model_dir)), "ask", QUESTION)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "python -m index.model export" in done.stderr
    assert done.stderr.strip().count("\n") == 0  # one line


_PROBE = f"""
import runpy, sys
sys.argv = ['readout', *sys.argv[1:]]
try:
    runpy.run_module('bot', run_name='__main__')
except SystemExit as exit:
    code = exit.code
print('HEAVY', ','.join(m for m in {HEAVY_MODULES!r} if m in sys.modules), file=sys.stderr)
"""

_BOT_PROBE = f"""
import asyncio, sys
import bot.discord_app, bot.slack_app
from bot.runtime import open_service
from bot.service import Asker
from bot.settings import Settings

async def main():
    service = open_service(Settings.from_env())  # what `readout serve` runs
    await service.start()
    reply = await service.ask(Asker('test', 'u1'), {QUESTION!r})
    service.close()
    print(reply.kind.name)

asyncio.run(main())
print('HEAVY', ','.join(m for m in {HEAVY_MODULES!r} if m in sys.modules), file=sys.stderr)
"""


def _heavy(stderr: str) -> str:
    return next(line for line in stderr.splitlines() if line.startswith("HEAVY")).split(" ")[1]


def test_question_paths_never_import_torch(article_env: dict[str, str]) -> None:
    readout_env = article_env

    def probe(code: str, *args: str, stdin: str | None = None, **env: str) -> tuple[str, str]:
        done = subprocess.run(
            [sys.executable, "-c", code, *args],
            env=dict(readout_env, **env),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert "Traceback" not in done.stderr, done.stderr[-2000:]
        return done.stdout, _heavy(done.stderr)

    answer, heavy = probe(_PROBE, "ask", "--json", QUESTION)
    assert json.loads(answer)["citations"][0]["paragraph"] == 12
    assert heavy == ""
    chat, heavy = probe(_PROBE, "chat", "--no-log", stdin=QUESTION + "\n")
    assert "first red line" in chat
    assert heavy == ""
    reply, heavy = probe(_BOT_PROBE)
    assert reply.strip() == "ANSWER"
    assert heavy == ""
    # The reference stays one setting away, and answers the same from the same index.
    reference, heavy = probe(
        _PROBE, "ask", "--json", QUESTION, READOUT_EMBEDDER="sentence-transformers"
    )

    def quoted(payload: str) -> list[tuple[str, int, str]]:
        return [(c["doc"], c["paragraph"], c["quote"]) for c in json.loads(payload)["citations"]]

    assert quoted(reference) == quoted(answer)
    assert "sentence_transformers" in heavy
