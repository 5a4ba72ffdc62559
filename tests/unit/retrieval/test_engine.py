"""Engine behaviour over an in-memory store and the fake embedder (fast, deterministic, no
chromadb: ``tests/integration`` runs the same engine over real chromadb and the real model)."""

from __future__ import annotations

from pathlib import Path

import pytest

from index.corpus import load_documents
from index.errors import IndexMismatch, IndexMissing, QuestionError
from index.store import IndexPointer
from retrieval.answer import Answer
from retrieval.engine import MAX_QUESTION_CHARS, Engine, validate_question
from tests.support.fakes import FakeEmbedder, FakeStore


def fake_store(corpus: Path, embedder: FakeEmbedder) -> FakeStore:
    documents, _skipped = load_documents([corpus])
    return FakeStore(documents, embedder.encode, model_id=embedder.model_id)


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    write(
        folder,
        "garden.md",
        "# Garden\n\nTomatoes need full sun and daily water.\n\n"
        "Basil grows well beside tomatoes. Gardener Ada said basil repels pests.\n",
    )
    write(
        folder,
        "kitchen.txt",
        "Bread needs flour, water and yeast.\nKnead the dough for ten minutes.\n",
    )
    return folder


@pytest.fixture
def store(corpus: Path, fake_embedder: FakeEmbedder) -> FakeStore:
    return fake_store(corpus, fake_embedder)


@pytest.fixture
def engine(store: FakeStore, fake_embedder: FakeEmbedder) -> Engine:
    return Engine(store, fake_embedder)


def test_no_index_is_a_clear_error(store: FakeStore, fake_embedder: FakeEmbedder) -> None:
    store.live = None
    with pytest.raises(IndexMissing, match="readout index"):
        Engine(store, fake_embedder).ask("anything?")


def test_other_model_is_told_to_rebuild(store: FakeStore) -> None:
    class OtherModel(FakeEmbedder):
        model_id = "another-model"

    other = Engine(store, OtherModel())
    with pytest.raises(IndexMismatch, match="Rebuild it with `readout index`"):
        other.ask("tomatoes?")


def test_answer_quotes_and_cites_the_matching_sentence(engine: Engine) -> None:
    answer = engine.ask("How much kneading does the dough need?")
    assert not answer.abstained
    first = answer.citations[0]
    assert (first.doc, first.paragraph, first.quote) == (
        "kitchen",
        2,
        "Knead the dough for ten minutes.",
    )
    assert answer.text.startswith("Knead the dough for ten minutes. [1]")


def test_question_about_absent_things_abstains(engine: Engine) -> None:
    assert engine.ask("What did Napoleon say about Waterloo?").abstained
    assert engine.ask("What's 2+2?").abstained


def test_quotes_and_paragraph_lookup(engine: Engine) -> None:
    quotes = engine.quotes("ada")
    assert [(q.doc, q.paragraph, q.quote) for q in quotes.citations] == [
        ("garden", 2, "Gardener Ada said basil repels pests.")
    ]
    assert quotes.text == "Gardener Ada said basil repels pests. [1]"
    none = engine.quotes("napoleon")
    assert none.abstained and none.citations == ()
    assert none.text == (
        "I found no statements attributed to napoleon. Speakers found: Gardener Ada."
    )
    source = engine.source("kitchen:2")
    [cited] = source.citations
    assert (cited.n, cited.doc, cited.paragraph, cited.quote) == (
        1,
        "kitchen",
        2,
        "Knead the dough for ten minutes.",
    )
    assert source.text == "Knead the dough for ten minutes. [1]"
    document, paragraph = engine.paragraph("kitchen:2")
    assert (document.doc_id, paragraph.text) == ("kitchen", "Knead the dough for ten minutes.")
    with pytest.raises(QuestionError, match="use DOC:N"):
        engine.paragraph("2")
    with pytest.raises(QuestionError, match="paragraphs 1-2"):
        engine.paragraph("kitchen:9")
    with pytest.raises(QuestionError, match="no document"):
        engine.paragraph("attic:1")


def test_engine_picks_up_a_rebuild_without_restarting(
    engine: Engine, store: FakeStore, corpus: Path
) -> None:
    before = engine.ask("What does bread need?")
    write(corpus, "kitchen.txt", "Bread needs rye flour and a sourdough starter.\n")
    store.publish(load_documents([corpus])[0])
    after = engine.ask("What does bread need?")
    assert before.index_version + 1 == after.index_version
    assert after.citations[0].quote == "Bread needs rye flour and a sourdough starter."


def test_question_limits() -> None:
    with pytest.raises(QuestionError):
        validate_question("   ")
    with pytest.raises(QuestionError, match="1,001 characters"):
        validate_question("x" * (MAX_QUESTION_CHARS + 1))
    assert validate_question("  a \n b ") == "a b"


def test_invisible_characters_are_removed_before_the_length_check() -> None:
    for invisible in ("\u200b\u200c\u200d", "\ufeff \u2060", "\x00\x07"):
        with pytest.raises(QuestionError, match="ask a question"):
            validate_question(invisible)
    padded = "What did Xi say?" + "\u200b" * MAX_QUESTION_CHARS
    assert validate_question(padded) == "What did Xi say?"
    assert validate_question("Who\u200b is\u00ad Kirby?") == "Who is Kirby?"


def test_undecodable_bytes_are_a_question_error() -> None:
    with pytest.raises(QuestionError, match="UTF-8"):
        validate_question(b"caf\xe9".decode("utf-8", errors="surrogateescape"))


def test_an_empty_index_from_an_older_readout_is_an_error_not_a_crash(
    store: FakeStore, fake_embedder: FakeEmbedder
) -> None:
    store.publish([])  # what `readout index empty/` used to publish
    engine = Engine(store, fake_embedder)
    for call in (lambda: engine.ask("Anything?"), lambda: engine.paragraph("1")):
        with pytest.raises(IndexMissing, match="empty"):
            call()


def test_ask_many_encodes_once_and_keeps_order(engine: Engine, fake_embedder: FakeEmbedder) -> None:
    fake_embedder.calls.clear()
    results = engine.ask_many(
        ["How long to knead the dough?", "", "What's 2+2?", "What do tomatoes need?"]
    )
    assert len(results) == 4
    first, empty, off_topic, last = results
    assert isinstance(first, Answer) and first.citations[0].doc == "kitchen"
    assert isinstance(empty, QuestionError)
    assert isinstance(off_topic, Answer) and off_topic.abstained
    assert isinstance(last, Answer) and last.citations[0].doc == "garden"
    assert fake_embedder.calls == [2]  # one model call for the two questions that searched
    assert [engine.ask(q) for q in ("What do tomatoes need?",)][0] == last


def test_ask_many_gives_every_question_its_result(store: FakeStore, engine: Engine) -> None:
    assert engine.ask_many([]) == []
    assert [type(r) for r in engine.ask_many(["", " "])] == [QuestionError, QuestionError]
    assert isinstance(store.pointer(), IndexPointer)
