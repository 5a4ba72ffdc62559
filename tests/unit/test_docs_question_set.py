"""The training question set on real projects' Markdown docs (``data/docs/``) holds what its
README promises: every answerable question names a document that exists in its project's
corpus and quotes its answer verbatim from that document, outside code (readout never quotes
code, so an answer inside a fence could never be found), and so does each ``also`` (another page
that states the same answer); unanswerable ones name no answer."""

from __future__ import annotations

import json
import re

import pytest

from tests.support.paths import PROJECT_ROOT

DOCS = PROJECT_ROOT / "data" / "docs"
FENCE = re.compile(r"^ *(```|~~~).*?^ *\1", re.MULTILINE | re.DOTALL)
ANSWERABLE_KEYS = {"id", "project", "doc", "question", "answerable", "answer", "phrases"}
OPTIONAL_KEYS = {"also"}
UNANSWERABLE_KEYS = {"id", "project", "question", "answerable"}


def _cases() -> list[dict[str, object]]:
    lines = (DOCS / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _prose(project: str, doc: str) -> str:
    """The document's Markdown with fenced code blocks blanked out."""
    text = (DOCS / project / "corpus" / f"{doc}.md").read_text(encoding="utf-8")
    return FENCE.sub("", text)


def test_ids_are_unique_and_every_project_has_its_licence() -> None:
    cases = _cases()
    assert len({c["id"] for c in cases}) == len(cases)
    for project in {str(c["project"]) for c in cases}:
        assert list((DOCS / project).glob("LICENSE*")), project
        assert (DOCS / project / "corpus").is_dir(), project


@pytest.mark.parametrize("case", _cases(), ids=lambda c: str(c["id"]))
def test_each_question_is_well_formed_and_its_answer_is_in_its_document(
    case: dict[str, object],
) -> None:
    question = case["question"]
    assert isinstance(question, str) and question.strip()
    if not case["answerable"]:
        assert set(case) == UNANSWERABLE_KEYS
        return
    assert ANSWERABLE_KEYS <= set(case) <= ANSWERABLE_KEYS | OPTIONAL_KEYS
    project = str(case["project"])
    also = case.get("also", [])
    assert isinstance(also, list)
    for where in [{"doc": case["doc"], "answer": case["answer"]}, *also]:
        doc, answer = str(where["doc"]), str(where["answer"])
        # Document ids are readout's: the path under corpus/, no extension, lower case.
        assert doc == doc.lower() and not doc.endswith(".md")
        assert answer.strip() and "\n" not in answer
        assert answer in _prose(project, doc)
    phrases = case["phrases"]
    assert isinstance(phrases, list) and phrases
    assert all(isinstance(p, str) and p for p in phrases)
    # A phrase is short answer text the document holds (often beside the quoted clause).
    text = _prose(project, str(case["doc"])).lower()
    assert all(p.lower() in text for p in phrases)
