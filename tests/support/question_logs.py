"""A question log with a known history, written through the real ``QuestionLog`` (SQLite), for
the tests of ``readout stats`` and its HTML page."""

from __future__ import annotations

from pathlib import Path

from bot.questions.log import QuestionLog
from bot.service import FAILED, UNAVAILABLE, Asker, Reply, ReplyKind
from retrieval.answer import Answer, Citation

DAY = 86_400.0
MONDAY = 1_767_571_200.0  # 2026-01-05T00:00:00Z
SLACK = Asker("slack", "U0ALICE", "channel")
DISCORD = Asker("discord", "4242", "dm")
CLI = Asker("cli", "local", "terminal")
# Asked where readout has no answer, with what a page must show as text and never run
HOSTILE = '<script>alert("gap")</script> & $x$ {{not}}'


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def answer(question: str, *paragraphs: int) -> Answer:
    """An answer citing ``paragraphs`` of the document "call", or an abstention."""
    if not paragraphs:
        return Answer.not_covered(question, 1)
    citations = tuple(
        Citation(n, "call", "Call", paragraph, 1, f"Sentence {n}.", 0.7)
        for n, paragraph in enumerate(paragraphs, start=1)
    )
    text = " ".join(f"Sentence {c.n}. [{c.n}]" for c in citations)
    return Answer(question, text, False, citations, 1)


def write_known_log(path: Path) -> Path:
    """Three days of questions over four (Wednesday is quiet): every outcome, three platforms,
    repeated gaps, votes both ways."""
    clock = Clock(MONDAY + 3600)
    with QuestionLog(path, clock=clock, retention_days=3650) as qlog:
        # Monday
        qlog.record_answer(SLACK, answer("What did Xi say?", 12, 12), 0.100, answer_id="a1")
        qlog.record_answer(SLACK, answer("What about Biden?", 12, 3), 0.200, answer_id="a2")
        qlog.record_answer(SLACK, answer("What is the weather?"), 0.050, answer_id="a3")
        qlog.record_answer(DISCORD, answer("what is the WEATHER"), 0.040, answer_id="a4")
        qlog.record("a1", SLACK, 1)
        qlog.record("a1", DISCORD, 1)
        # Tuesday
        clock.now += DAY
        qlog.record_answer(DISCORD, answer(HOSTILE), 0.030, answer_id="a5")
        qlog.record_answer(DISCORD, answer("Who called whom?", 3), 1.000, answer_id="a6")
        qlog.record_question(DISCORD, "Down?", Reply(ReplyKind.UNAVAILABLE, UNAVAILABLE), 4.0)
        qlog.record("a6", DISCORD, -1)
        # Thursday
        clock.now += 2 * DAY
        qlog.record_answer(CLI, answer("Who will travel to China?", 7), 0.300, answer_id="a7")
        qlog.record_answer(CLI, answer(HOSTILE), 0.020, answer_id="a8")
        qlog.record_answer(SLACK, answer("When was the call?", 1), 0.150, answer_id="a9")
        qlog.record_question(SLACK, "Broken?", Reply(ReplyKind.FAILED, FAILED), 0.5)
        qlog.record("a9", SLACK, 1)
    return path
