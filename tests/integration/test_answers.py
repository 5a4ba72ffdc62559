"""The real model over a real chromadb index: answers, abstentions, and the eval targets."""

from __future__ import annotations

import pytest

from index.build import build_index
from index.corpus import BUNDLED_CORPUS_DIR
from index.embedder import OnnxEmbedder
from index.store import ChromaStore
from retrieval.engine import Engine
from retrieval.evaluation import evaluate, parse_cases
from tests.support.paths import DEV_SET, TEST_DATA

pytestmark = pytest.mark.integration


def test_xi_on_taiwan_cites_paragraph_12(article_engine: Engine) -> None:
    answer = article_engine.ask("What did Xi say about Taiwan?")
    assert not answer.abstained
    first = answer.citations[0]
    assert (first.doc, first.paragraph, first.n) == ("xi-biden-call", 12, 1)
    assert "first red line" in first.quote
    assert answer.text.startswith(first.quote + " [1]")


@pytest.mark.parametrize(
    ("question", "paragraph"),
    [("WHAT DID XI SAY ABOUT TAIWAN?", 12), ("WHO IS THE NSC SPOKESMAN?", 8)],
)
def test_question_typed_in_capitals_is_answered_like_any_other(
    article_engine: Engine, question: str, paragraph: int
) -> None:
    answer = article_engine.ask(question)
    assert not answer.abstained
    assert answer.citations[0].paragraph == paragraph


def test_every_quoted_sentence_is_verbatim_from_its_paragraph(article_engine: Engine) -> None:
    text = (BUNDLED_CORPUS_DIR / "xi-biden-call.txt").read_text(encoding="utf-8").splitlines()
    for question in (
        "What did Biden say about TikTok?",
        "Did they discuss AI?",
        "Who will travel to China?",
    ):
        answer = article_engine.ask(question)
        assert 1 <= len(answer.citations) <= 3
        for citation in answer.citations:
            assert citation.quote in text[citation.paragraph - 1]
            assert citation.quote in answer.text


@pytest.mark.parametrize(
    "question",
    [
        "Who is the CEO of Apple?",
        "What did Macron say about Taiwan?",
        "Tell me a joke",
        "What's 2+2?",
    ],
)
def test_uncovered_questions_abstain(article_engine: Engine, question: str) -> None:
    answer = article_engine.ask(question)
    assert answer.abstained and answer.citations == ()
    assert "don't cover" in answer.text


def test_dev_set_meets_the_targets(article_engine: Engine) -> None:
    report = evaluate(
        parse_cases(DEV_SET.read_text(encoding="utf-8").splitlines()), article_engine.ask
    )
    assert report.answerable == 25 and report.unanswerable == 8
    # Measured with the shipped ranker.json: 21/25 top-1 and phrase, 8/8, 2 false abstentions
    # (BENCHMARKS.md, "Quality"); floors one below, as guards against breakage, not targets.
    assert report.top1 >= 20, report.to_json()["failures"]
    assert report.phrase_hits >= 20, report.to_json()["failures"]
    assert report.abstained_correctly >= 7
    assert report.false_abstentions <= 3


@pytest.fixture(scope="module")
def two_document_engine(
    tmp_path_factory: pytest.TempPathFactory, real_embedder: OnnxEmbedder
) -> Engine:
    """The article plus a hard-wrapped license text in one index."""
    store = ChromaStore.open_local(tmp_path_factory.mktemp("two-docs"))
    build_index(
        [BUNDLED_CORPUS_DIR, TEST_DATA / "apache-license.txt"], embedder=real_embedder, store=store
    )
    return Engine(store, real_embedder)


def test_second_document_beside_the_article(two_document_engine: Engine) -> None:
    report = evaluate(
        parse_cases((TEST_DATA / "extra-eval.jsonl").read_text(encoding="utf-8").splitlines()),
        two_document_engine.ask,
    )
    # Held out from training (make train fits on data/). 19/20, 6/6 and no false abstention
    # with the fitted ranker, as with the hand-set weights it replaced.
    assert report.top1 >= report.answerable - 3, report.to_json()["failures"]
    assert report.abstained_correctly >= report.unanswerable - 1
    assert report.false_abstentions <= 1


def test_two_documents_keep_the_article_answer(two_document_engine: Engine) -> None:
    first = two_document_engine.ask("What did Xi say about Taiwan?").citations[0]
    assert (first.doc, first.paragraph) == ("xi-biden-call", 12)
    license_answer = two_document_engine.ask("Does the license grant permission to use trademarks?")
    assert license_answer.citations[0].doc == "apache-license"
