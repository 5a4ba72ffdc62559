"""Scoring answers against a question set in the format of ``shared/eval/dev.jsonl``.

Each line is ``{"id", "question", "answerable": true, "paragraphs": [...], "phrases": [...]}``
or ``{"id", "question", "answerable": false}``; an optional ``"doc"`` names the document the
gold paragraphs belong to (without it, any document's paragraph number counts).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from index.errors import CorpusError
from retrieval.answer import Answer


@dataclass(frozen=True, slots=True)
class EvalCase:
    """One question of an eval set and what counts as right."""

    case_id: str
    question: str
    answerable: bool
    paragraphs: tuple[int, ...] = ()
    phrases: tuple[str, ...] = ()
    doc: str = ""


@dataclass(frozen=True, slots=True)
class EvalResult:
    """One case, the answer given, and which checks it passed."""

    case: EvalCase
    answer: Answer
    top1: bool
    phrase: bool
    first_holds: bool = False

    @property
    def passed(self) -> bool:
        if self.case.answerable:
            return self.top1 and self.phrase and not self.answer.abstained
        return self.answer.abstained


@dataclass(frozen=True, slots=True)
class EvalReport:
    """Totals over a question set."""

    results: tuple[EvalResult, ...] = field(default=())

    @property
    def answerable(self) -> int:
        return sum(r.case.answerable for r in self.results)

    @property
    def unanswerable(self) -> int:
        return len(self.results) - self.answerable

    @property
    def top1(self) -> int:
        return sum(r.top1 for r in self.results if r.case.answerable)

    @property
    def first_holds(self) -> int:
        """Answerable cases whose first citation quotes a gold phrase from the right document:
        independent of paragraph numbering, so it compares parsers."""
        return sum(r.first_holds for r in self.results if r.case.answerable)

    @property
    def phrase_hits(self) -> int:
        return sum(r.phrase for r in self.results if r.case.answerable)

    @property
    def abstained_correctly(self) -> int:
        return sum(r.answer.abstained for r in self.results if not r.case.answerable)

    @property
    def false_abstentions(self) -> int:
        return sum(r.answer.abstained for r in self.results if r.case.answerable)

    @property
    def failures(self) -> tuple[EvalResult, ...]:
        return tuple(r for r in self.results if not r.passed)

    def to_json(self) -> dict[str, Any]:
        return {
            "answerable": self.answerable,
            "unanswerable": self.unanswerable,
            "top1": self.top1,
            "phrase_hits": self.phrase_hits,
            "first_holds": self.first_holds,
            "abstained_correctly": self.abstained_correctly,
            "false_abstentions": self.false_abstentions,
            "failures": [
                {
                    "id": r.case.case_id,
                    "question": r.case.question,
                    "expected": list(r.case.paragraphs) or "abstain",
                    "got": r.answer.to_json(),
                }
                for r in self.failures
            ],
        }


def parse_cases(lines: Iterable[str]) -> list[EvalCase]:
    """Eval cases from JSON lines; a malformed line is a :class:`CorpusError` naming it."""
    cases = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            cases.append(
                EvalCase(
                    case_id=str(raw.get("id", number)),
                    question=str(raw["question"]),
                    answerable=bool(raw["answerable"]),
                    paragraphs=tuple(int(p) for p in raw.get("paragraphs", ())),
                    phrases=tuple(str(p).lower() for p in raw.get("phrases", ())),
                    doc=str(raw.get("doc", "")),
                )
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise CorpusError(f"line {number} of the eval file is not a valid case") from exc
    return cases


def score_case(case: EvalCase, answer: Answer) -> EvalResult:
    """Top-1: the first citation's paragraph is a gold one. Phrase: the answer holds a gold
    phrase (case-insensitive). First holds: the first citation's quote holds one."""
    first = answer.citations[0] if answer.citations else None
    top1 = (
        case.answerable
        and first is not None
        and first.paragraph in case.paragraphs
        and (not case.doc or first.doc == case.doc)
    )
    phrase = (
        case.answerable
        and not answer.abstained
        and any(p in answer.text.lower() for p in case.phrases)
    )
    first_holds = (
        case.answerable
        and first is not None
        and (not case.doc or first.doc == case.doc)
        and any(p in first.quote.lower() for p in case.phrases)
    )
    return EvalResult(case, answer, bool(top1), bool(phrase), bool(first_holds))


def evaluate(cases: Iterable[EvalCase], ask: Callable[[str], Answer]) -> EvalReport:
    """Ask every case's question and score the answers."""
    return EvalReport(tuple(score_case(case, ask(case.question)) for case in cases))
