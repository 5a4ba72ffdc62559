"""Scoring answers against a question set in the format of ``shared/eval/dev.jsonl``.

Each line is ``{"id", "question", "answerable": true, "paragraphs": [...], "phrases": [...]}``
or ``{"id", "question", "answerable": false}``; an optional ``"doc"`` names the document the
gold paragraphs belong to (without it, any document's paragraph number counts).

A conversation set (``tests/data/conversations.jsonl``) has one conversation per line,
``{"id", "turns": [TURN, TURN, ...]}``, each turn a case as above without its ``id``
(``"answerable"`` defaults to true). Every turn after the first is scored twice: asked alone,
and read with the conversation so far (the answers readout gave to the turns before it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from index.errors import CorpusError
from retrieval.answer import Answer
from retrieval.conversation import Turn


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
            # A set without phrases (SQuAD's) is scored on the paragraph alone.
            phrase = self.phrase or not self.case.phrases
            return self.top1 and phrase and not self.answer.abstained
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
    def with_phrases(self) -> int:
        """Answerable cases that name phrases (0 for a set labelled with paragraphs only)."""
        return sum(bool(r.case.phrases) for r in self.results if r.case.answerable)

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


# A quote shorter than this ("Example:") is not taken as a sentence of a longer answer.
_MIN_ANSWER_SENTENCE = 15


def _loose(text: str) -> str:
    """Text as readout quotes it, loosely: no link targets, emphasis, code ticks or tags (the
    Markdown an answer copied from the source still carries)."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)  # [text](url)
    text = re.sub(r"\[([^\]]*)\](\[[^\]]*\])?", r"\1", text)  # [text][ref], [text]
    text = re.sub(r"<[^>]+>", "", text)
    text = re.sub(r"[*_`]", "", text)
    return " ".join(text.lower().split())


def holds_answer(quote: str, answer: str) -> bool:
    """Whether ``quote`` holds a verbatim ``answer`` copied from the source, or is one of its
    sentences (an answer may span two): how answer-labelled sets (``data/docs``) are scored."""
    q, a = _loose(quote), _loose(answer)
    return a in q or (len(q) >= _MIN_ANSWER_SENTENCE and q in a)


def parse_cases(lines: Iterable[str]) -> list[EvalCase]:
    """Eval cases from JSON lines; a malformed line is a :class:`CorpusError` naming it."""
    cases = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            cases.append(_case(raw, str(raw.get("id", number)), default_answerable=None))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise CorpusError(f"line {number} of the eval file is not a valid case") from exc
    return cases


def _case(raw: Mapping[str, Any], case_id: str, *, default_answerable: bool | None) -> EvalCase:
    answerable = (
        raw["answerable"]
        if default_answerable is None
        else raw.get("answerable", default_answerable)
    )
    return EvalCase(
        case_id=case_id,
        question=str(raw["question"]),
        answerable=bool(answerable),
        paragraphs=tuple(int(p) for p in raw.get("paragraphs", ())),
        phrases=tuple(str(p).lower() for p in raw.get("phrases", ())),
        doc=str(raw.get("doc", "")),
    )


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


# -- conversations: follow-up turns with and without the turns before them ---------------------
@dataclass(frozen=True, slots=True)
class Conversation:
    """Turns asked one after another in one conversation (case ids ``ID.1``, ``ID.2``, ...)."""

    conversation_id: str
    turns: tuple[EvalCase, ...]


@dataclass(frozen=True, slots=True)
class FollowUpResult:
    """A turn after the first: scored asked alone, and read with the conversation so far."""

    alone: EvalResult
    in_context: EvalResult

    @property
    def rewritten(self) -> bool:
        return bool(self.in_context.answer.understood_as)


@dataclass(frozen=True, slots=True)
class ConversationReport:
    """First turns (always asked as typed) and follow-up turns, alone and in context."""

    first: EvalReport
    follow_ups: tuple[FollowUpResult, ...]

    @property
    def alone(self) -> EvalReport:
        return EvalReport(tuple(f.alone for f in self.follow_ups))

    @property
    def in_context(self) -> EvalReport:
        return EvalReport(tuple(f.in_context for f in self.follow_ups))

    @property
    def first_read_as_typed(self) -> int:
        """First turns whose answer has no ``understood_as``: nothing before them to read."""
        return sum(not r.answer.understood_as for r in self.first.results)

    @property
    def rewritten(self) -> int:
        return sum(f.rewritten for f in self.follow_ups)

    def to_json(self) -> dict[str, Any]:
        def scores(report: EvalReport) -> dict[str, int]:
            return {
                "turns": len(report.results),
                "right": len(report.results) - len(report.failures),
                "top1": report.top1,
                "phrase_hits": report.phrase_hits,
                "answerable": report.answerable,
                "abstained_correctly": report.abstained_correctly,
                "unanswerable": report.unanswerable,
            }

        return {
            "first_turns": {**scores(self.first), "read_as_typed": self.first_read_as_typed},
            "follow_ups_alone": scores(self.alone),
            "follow_ups_in_context": {**scores(self.in_context), "rewritten": self.rewritten},
            "follow_ups": [
                {
                    "id": f.in_context.case.case_id,
                    "question": f.in_context.case.question,
                    "understood_as": f.in_context.answer.understood_as or None,
                    "expected": list(f.in_context.case.paragraphs) or "abstain",
                    "alone": _got(f.alone.answer),
                    "in_context": _got(f.in_context.answer),
                    "right_alone": f.alone.passed,
                    "right_in_context": f.in_context.passed,
                }
                for f in self.follow_ups
            ],
        }


def _got(answer: Answer) -> list[int] | str:
    return "abstained" if answer.abstained else [c.paragraph for c in answer.citations]


def parse_conversations(lines: Iterable[str]) -> list[Conversation]:
    """Conversations from JSON lines (format in the module docstring); a malformed line is a
    :class:`CorpusError` naming it."""
    conversations = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            conversation_id = str(raw.get("id", number))
            turns = tuple(
                _case(turn, f"{conversation_id}.{position}", default_answerable=True)
                for position, turn in enumerate(raw["turns"], start=1)
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise CorpusError(f"line {number} of the conversations file is not valid") from exc
        if not turns:
            raise CorpusError(f"line {number} of the conversations file has no turns")
        conversations.append(Conversation(conversation_id, turns))
    return conversations


def evaluate_conversations(
    conversations: Iterable[Conversation],
    ask: Callable[[str, Sequence[Turn]], Answer],
    remember: Callable[[Answer], Turn],
) -> ConversationReport:
    """Ask each conversation's turns in order, every later turn both alone (``ask(q, ())``) and
    with the turns readout answered before it (``remember`` makes a turn of an answer)."""
    first: list[EvalResult] = []
    follow_ups: list[FollowUpResult] = []
    for conversation in conversations:
        history: list[Turn] = []
        for position, case in enumerate(conversation.turns):
            answer = ask(case.question, tuple(history))
            if position == 0:
                first.append(score_case(case, answer))
            else:
                alone = score_case(case, ask(case.question, ()))
                follow_ups.append(FollowUpResult(alone, score_case(case, answer)))
            history.append(remember(answer))
    return ConversationReport(EvalReport(tuple(first)), tuple(follow_ups))


# -- comparisons: readout beside plain baselines, on the same index in the same run -----------
_QUESTION_WORD = re.compile(
    r"\b(how (?:many|much|long|far|old)|who|whom|whose|when|where|which|why|what|how)\b",
    re.IGNORECASE,
)


def question_word(question: str) -> str:
    """The question word a breakdown groups by ("how many", "who", ...; "other" if none)."""
    match = _QUESTION_WORD.search(question)
    return match.group(1).lower().replace("whom", "who") if match else "other"


@dataclass(frozen=True, slots=True)
class MethodScores:
    """Paragraph-ranking quality of one method over the answerable cases."""

    top1: int
    top3: int
    mrr: float
    cases: int

    def to_json(self) -> dict[str, Any]:
        return {
            "top1": self.top1,
            "top3": self.top3,
            "mrr": round(self.mrr, 4),
            "cases": self.cases,
        }


def _gold_rank(case: EvalCase, ranking: Sequence[tuple[str, int]]) -> int | None:
    for position, (doc, number) in enumerate(ranking, start=1):
        if number in case.paragraphs and (not case.doc or doc == case.doc):
            return position
    return None


def compare_methods(
    cases: Sequence[EvalCase], rankings: Sequence[Mapping[str, Sequence[tuple[str, int]]]]
) -> dict[str, MethodScores]:
    """Top-1, top-3 and MRR@10 of every method's paragraph ranking (answerable cases only).

    These rank paragraphs and never abstain; readout's own row here is its candidate order
    before abstention, so the baselines and readout are compared on ranking alone.
    """
    methods = list(rankings[0]) if rankings else []
    scores: dict[str, MethodScores] = {}
    for method in methods:
        ranks = [
            _gold_rank(case, ranking[method])
            for case, ranking in zip(cases, rankings, strict=True)
            if case.answerable
        ]
        scores[method] = MethodScores(
            top1=sum(r == 1 for r in ranks),
            top3=sum(r is not None and r <= 3 for r in ranks),
            mrr=sum(1.0 / r for r in ranks if r) / max(1, len(ranks)),
            cases=len(ranks),
        )
    return scores


def breakdown(report: EvalReport, key: Callable[[EvalResult], str]) -> dict[str, dict[str, int]]:
    """Answerable cases, readout's top-1 and its false abstentions, grouped by ``key``."""
    groups: dict[str, dict[str, int]] = {}
    for result in report.results:
        if not result.case.answerable:
            continue
        group = groups.setdefault(key(result), {"cases": 0, "top1": 0, "abstained": 0})
        group["cases"] += 1
        group["top1"] += result.top1
        group["abstained"] += result.answer.abstained
    return dict(sorted(groups.items(), key=lambda item: -item[1]["cases"]))
