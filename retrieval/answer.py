"""The answer contract between retrieval and every adapter: ``Answer`` and ``Citation``.

An answer is 1-3 sentences copied verbatim from the corpus, each followed by a marker ``[n]``,
and one citation per marker; or an abstention that cites nothing. ``Answer.to_json`` is the
exact JSON shape of ``readout ask --json`` that other tools depend on. A follow-up question read
with the conversation so far ("Who owns it?") keeps the words as typed in ``question`` and says
how it was read in ``understood_as`` ("Who owns TikTok?"), which is "" when it was read as typed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

MARKER = re.compile(r"\[(\d+)\]")
NOT_COVERED = "The documents don't cover that question, so I can't answer it from them."


@dataclass(frozen=True, slots=True)
class Citation:
    """Where quoted sentence ``n`` comes from, how well it scored, and why it was chosen."""

    n: int
    doc: str
    title: str
    paragraph: int
    sentence: int
    quote: str
    score: float
    url: str = ""
    context: str = ""
    reason: str = ""
    section: str = ""  # the headings above the paragraph, outermost first ("Setup › Proxies")
    page: int = 0  # a PDF's page, 0 for other documents
    page_paragraph: int = 0  # the paragraph's place on that page

    @property
    def ref(self) -> str:
        """``doc:¶N``, the human form of the citation (``show`` accepts it)."""
        return f"{self.doc}:¶{self.paragraph}"

    @property
    def where(self) -> str:
        """Where in the document: "p. 4, ¶2" in a PDF, else "¶12"."""
        if self.page:
            return f"p. {self.page}, ¶{self.page_paragraph}"
        return f"¶{self.paragraph}"

    @property
    def link(self) -> str:
        """A link straight to the quote: the PDF page (``#page=4``), else a text fragment;
        "" without a url."""
        if not self.url:
            return ""
        if self.page:
            return f"{self.url.split('#', 1)[0]}#page={self.page}"
        words = self.quote.split()
        if len(words) > 8:  # a start,end fragment stays short and still pins the sentence
            fragment = (
                f"{quote(' '.join(words[:4]), safe='')},{quote(' '.join(words[-4:]), safe='')}"
            )
        else:
            fragment = quote(self.quote, safe="")
        base = self.url.split("#", 1)[0]
        return f"{base}#:~:text={fragment}"

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "n": self.n,
            "doc": self.doc,
            "title": self.title,
            "paragraph": self.paragraph,
            "section": self.section,
            "url": self.link,
            "quote": self.quote,
            "score": round(self.score, 4),
        }
        if self.page:
            body["page"] = self.page
        return body


@dataclass(frozen=True, slots=True)
class Answer:
    """A cited, extractive answer to ``question`` (or an abstention, with no citations)."""

    question: str
    text: str
    abstained: bool
    citations: tuple[Citation, ...] = ()
    index_version: int = 0
    understood_as: str = ""  # how a follow-up was read, "" when read as typed

    def __post_init__(self) -> None:
        markers = [int(m) for m in MARKER.findall(self.text)]
        numbers = [c.n for c in self.citations]
        if self.abstained and self.citations:
            raise ValueError("an abstention cites nothing")
        if sorted(set(markers)) != sorted(numbers) or len(set(numbers)) != len(numbers):
            raise ValueError(f"markers {markers} do not match citations {numbers}")
        if self.understood_as and self.understood_as == self.question:
            raise ValueError("understood_as is only set when it differs from the question")

    @classmethod
    def not_covered(cls, question: str, index_version: int = 0) -> Answer:
        return cls(question, NOT_COVERED, abstained=True, index_version=index_version)

    @classmethod
    def quoting(
        cls, question: str, citations: Sequence[Citation], index_version: int = 0
    ) -> Answer:
        """The one place an answer's text is made: each citation's quote, then its ``[n]``."""
        cited = tuple(citations)
        text = " ".join(f"{c.quote} [{c.n}]" for c in cited)
        return cls(question, text, False, cited, index_version)

    def to_json(self) -> dict[str, Any]:
        """The ``readout ask --json`` object; ``"understood_as"`` only when the question was
        read otherwise than typed, so a standalone question's JSON is as it always was."""
        body: dict[str, Any] = {
            "question": self.question,
            "answer": self.text,
            "abstained": self.abstained,
            "citations": [c.to_json() for c in self.citations],
        }
        if self.understood_as:
            body["understood_as"] = self.understood_as
        return body
