from __future__ import annotations

import pytest

from retrieval.answer import NOT_COVERED, Answer, Citation


def citation(n: int, quote: str = "Xi called it the first red line.", url: str = "") -> Citation:
    return Citation(
        n=n, doc="doc", title="Title", paragraph=12, sentence=1, quote=quote, score=0.81234, url=url
    )


def test_json_is_exactly_the_cli_contract() -> None:
    answer = Answer("q?", "Xi called it the first red line. [1]", False, (citation(1),))
    assert answer.to_json() == {
        "question": "q?",
        "answer": "Xi called it the first red line. [1]",
        "abstained": False,
        "citations": [
            {
                "n": 1,
                "doc": "doc",
                "title": "Title",
                "paragraph": 12,
                "section": "",
                "url": "",
                "quote": "Xi called it the first red line.",
                "score": 0.8123,
            }
        ],
    }


def test_json_citation_carries_section_url_and_pdf_page() -> None:
    markdown = Citation(
        n=1,
        doc="guide/setup",
        title="Setup",
        paragraph=3,
        sentence=1,
        quote="Run it now.",
        score=0.5,
        url="https://example.com/setup",
        section="Setup › Proxies",
    )
    pdf = Citation(
        n=2,
        doc="report",
        title="Report",
        paragraph=9,
        sentence=1,
        quote="Sales rose.",
        score=0.5,
        url="file:///docs/report.pdf",
        page=4,
        page_paragraph=2,
    )
    answer = Answer("q?", "Run it now. [1] Sales rose. [2]", False, (markdown, pdf))
    first, second = answer.to_json()["citations"]
    assert first["section"] == "Setup › Proxies"
    assert first["url"] == "https://example.com/setup#:~:text=Run%20it%20now."
    assert "page" not in first
    assert (second["page"], second["url"]) == (4, "file:///docs/report.pdf#page=4")
    assert (pdf.where, markdown.where) == ("p. 4, ¶2", "¶3")


def test_every_marker_needs_its_citation() -> None:
    with pytest.raises(ValueError, match="markers"):
        Answer("q", "One. [1] Two. [2]", False, (citation(1),))
    with pytest.raises(ValueError, match="markers"):
        Answer("q", "One.", False, (citation(1),))


def test_an_abstention_cites_nothing() -> None:
    assert Answer.not_covered("q").text == NOT_COVERED
    with pytest.raises(ValueError, match="abstention"):
        Answer("q", "x [1]", True, (citation(1),))


def test_text_fragment_link() -> None:
    short = citation(1, quote="Short quote here.", url="https://example.com/a#top")
    assert short.link == "https://example.com/a#:~:text=Short%20quote%20here."
    long = citation(
        1, quote="one two three four five six seven eight nine ten", url="https://e.com/"
    )
    assert long.link == "https://e.com/#:~:text=one%20two%20three%20four,seven%20eight%20nine%20ten"
    assert citation(1).link == ""
    assert citation(1).ref == "doc:¶12"


def test_understood_as_is_in_the_json_only_when_the_question_was_read_otherwise() -> None:
    quote = "Biden also expressed concerns about TikTok."
    citation = Citation(1, "doc", "T", 8, 1, quote, 0.9)
    typed = Answer("Who owns TikTok?", f"{quote} [1]", False, (citation,))
    assert "understood_as" not in typed.to_json()
    follow_up = Answer(
        "Who owns it?", f"{quote} [1]", False, (citation,), understood_as="Who owns TikTok?"
    )
    body = follow_up.to_json()
    assert (body["question"], body["understood_as"]) == ("Who owns it?", "Who owns TikTok?")
    assert list(body) == ["question", "answer", "abstained", "citations", "understood_as"]
    with pytest.raises(ValueError, match="understood_as"):
        Answer("Who owns it?", "x", True, understood_as="Who owns it?")
