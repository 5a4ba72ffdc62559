from __future__ import annotations

from pathlib import Path

import pytest

from index.corpus import (
    BUNDLED_CORPUS_DIR,
    find_files,
    load_documents,
    parse_document,
    split_sentences,
)
from index.errors import CorpusError


def test_bundled_article_has_one_paragraph_per_line() -> None:
    text = (BUNDLED_CORPUS_DIR / "xi-biden-call.txt").read_text(encoding="utf-8")
    document = parse_document(text, doc_id="xi-biden-call")
    assert len(document.paragraphs) == 14
    assert [p.number for p in document.paragraphs] == list(range(1, 15))
    assert document.paragraphs[11].text.startswith("On Taiwan, which is a key point")
    assert document.title == "Xi Biden Call"


def test_sentences_are_verbatim_and_numbered() -> None:
    text = (BUNDLED_CORPUS_DIR / "xi-biden-call.txt").read_text(encoding="utf-8")
    document = parse_document(text, doc_id="article")
    paragraph = document.paragraphs[7]
    assert [s.index for s in paragraph.sentences] == [1, 2]
    assert paragraph.sentences[1].text.startswith("National Security Council spokesman John Kirby")
    for p in document.paragraphs:
        for s in p.sentences:
            assert s.text in p.text
            assert s.sentence_id == f"article:{p.number}:{s.index}"


def test_hard_wrapped_indented_blocks_are_joined_and_headings_kept_as_context() -> None:
    text = (
        "   LICENSE TERMS\n\n"
        "   1. Definitions.\n\n"
        '      "Work" shall mean the work of\n'
        "      authorship, in Source or Object form.\n\n"
        "      A second paragraph that is also\n"
        "      wrapped over two lines.\n"
    )
    document = parse_document(text, doc_id="lic")
    assert [p.text for p in document.paragraphs] == [
        '"Work" shall mean the work of authorship, in Source or Object form.',
        "A second paragraph that is also wrapped over two lines.",
    ]
    assert document.paragraphs[0].heading == "1. Definitions."
    assert document.title == "LICENSE TERMS"


def test_markdown_headings_lists_and_code_fences() -> None:
    text = (
        "# Guide\n\n"
        "Intro text that wraps\nonto a second line.\n\n"
        "## Setup\n\n"
        "- first item that\n  wraps here\n- second item\n\n"
        "```\ncode = 'not prose'\n```\n\n"
        "Closing words.\n"
    )
    document = parse_document(text, doc_id="guide")
    assert document.title == "Guide"
    assert [p.text for p in document.paragraphs] == [
        "Intro text that wraps onto a second line.",
        "- first item that wraps here",
        "- second item",
        "Closing words.",
    ]
    assert [p.heading for p in document.paragraphs] == ["Guide", "Setup", "Setup", "Setup"]


def test_front_matter_sets_title_url_and_date() -> None:
    text = (
        "---\ntitle: The Call\nurl: https://example.com/call\ndate: 2024-04-02\n---\n"
        "One line.\nTwo line.\n"
    )
    document = parse_document(text, doc_id="call")
    assert (document.title, document.url, document.date) == (
        "The Call",
        "https://example.com/call",
        "2024-04-02",
    )
    assert [p.text for p in document.paragraphs] == ["One line.", "Two line."]


def test_sentence_splitting_keeps_abbreviations_together() -> None:
    sentences = split_sentences("Mr. Smith went to Washington D.C. on Tuesday. He said hello.")
    assert sentences == ["Mr. Smith went to Washington D.C. on Tuesday.", "He said hello."]


def test_find_files_names_missing_paths(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="no-such-thing"):
        find_files([tmp_path / "no-such-thing"])


def test_unusable_files_are_skipped_with_reasons(tmp_path: Path) -> None:
    (tmp_path / "good.md").write_text("# Good\n\nA fine paragraph.\n", encoding="utf-8")
    (tmp_path / "empty.txt").write_text("   \n", encoding="utf-8")
    (tmp_path / "binary.txt").write_bytes(b"\x00\x01\x02binary")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    (tmp_path / "ignored.pdf").write_bytes(b"%PDF")
    documents, skipped = load_documents([tmp_path])
    assert [d.doc_id for d in documents] == ["good"]
    reasons = {Path(s.path).name: s.reason for s in skipped}
    assert reasons == {
        "binary.txt": "looks binary",
        "empty.txt": "is empty",
        "latin1.txt": "is not UTF-8 text",
        "ignored.pdf": "cannot be read as a PDF",
    }


def test_document_ids_are_relative_paths_without_extension(tmp_path: Path) -> None:
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "notes.txt").write_text("Some text.\n", encoding="utf-8")
    documents, _ = load_documents([tmp_path])
    assert sorted(d.doc_id for d in documents) == ["a/notes", "b/notes"]


def test_content_hash_changes_with_content() -> None:
    first = parse_document("One.\n", doc_id="d")
    second = parse_document("Two.\n", doc_id="d")
    assert first.content_hash != second.content_hash
    assert first.content_hash == parse_document("One.\n", doc_id="d").content_hash


def test_paragraph_without_an_inner_sentence_end_is_one_sentence() -> None:
    for text in (
        "rgb_to_abc(r, g, b) --> a, b, c abc_to_rgb(a, b, c) --> r, g, b",
        "Xi called Taiwan the “first red line” in the relationship",
        "One sentence, ending normally.",
    ):
        assert split_sentences(text) == [text]
    assert split_sentences("Biden spoke first. Xi replied.") == [
        "Biden spoke first.",
        "Xi replied.",
    ]


def test_bad_front_matter_is_a_warning_naming_the_file(tmp_path: Path) -> None:
    from index.build import build_index
    from index.store import ChromaStore
    from tests.support.fakes import FakeEmbedder

    notes = tmp_path / "docs" / "notes.md"
    notes.parent.mkdir()
    notes.write_text("---\ntitle: [unclosed\n---\nThe body is indexed.\n", encoding="utf-8")
    report = build_index(
        [notes.parent], embedder=FakeEmbedder(), store=ChromaStore.open_local(tmp_path / "s")
    )
    assert report.warnings == (
        f"{notes}: front matter is not valid YAML (line 3); it was read as text",
    )
