"""``readout stats``: what the question log says about the last days, and its raw export.

Read-only over the log ``bot.questions.log`` writes: questions per day, by platform and by
outcome, how often readout abstained (overall and per day), which paragraphs it cites most,
the questions it most often could not answer (where the documents have gaps), how people
voted, and answer latency (p50/p95). Days are UTC. ``export_csv`` writes one row per question
for a spreadsheet; ``bot.questions.page`` draws the same :class:`Stats` as an HTML page.
"""

from __future__ import annotations

import csv
import math
import re
import sqlite3
from collections import Counter
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from bot.questions.log import (
    ABSTAINED,
    ANSWERED,
    FAILED,
    OUTCOMES,
    SECONDS_PER_DAY,
    UNAVAILABLE,
    QuestionLogError,
    connect,
)
from index.errors import ConfigError

DEFAULT_SINCE = "7d"
TOP = 10
_AGE = re.compile(r"^(\d+)\s*([mhdw])$")
_UNITS = {"m": 60.0, "h": 3600.0, "d": SECONDS_PER_DAY, "w": 7 * SECONDS_PER_DAY}
# A spreadsheet runs a cell starting with one of these as a formula: a question must not.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
EXPORT_COLUMNS = (
    "asked_at",
    "platform",
    "user_hash",
    "channel_kind",
    "question",
    "outcome",
    "abstained",
    "citations",
    "latency_ms",
    "index_version",
    "answer_id",
    "votes_up",
    "votes_down",
)


@dataclass(frozen=True, slots=True)
class DayCount:
    day: str  # YYYY-MM-DD, UTC
    platform: str
    questions: int


@dataclass(frozen=True, slots=True)
class DayOutcome:
    day: str  # YYYY-MM-DD, UTC
    outcome: str  # one of bot.questions.log.OUTCOMES
    questions: int


@dataclass(frozen=True, slots=True)
class DayAbstention:
    day: str  # YYYY-MM-DD, UTC; only days on which a question was searched
    abstained: int
    searched: int  # answered + abstained

    @property
    def rate(self) -> float:
        return self.abstained / self.searched


@dataclass(frozen=True, slots=True)
class Stats:
    """The report ``readout stats`` prints (``to_json`` is its ``--json`` form)."""

    since: float | None  # epoch seconds; None: everything in the log
    questions: int
    outcomes: dict[str, int]
    per_day: tuple[DayCount, ...]
    top_cited: tuple[tuple[str, int], ...]  # ("doc:¶N", answers citing it)
    coverage_gaps: tuple[tuple[str, int], ...]  # (unanswered question, times asked)
    votes_up: int
    votes_down: int
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    latency_by_platform: tuple[tuple[str, float, float], ...] = ()  # (platform, p50, p95)
    per_day_outcome: tuple[DayOutcome, ...] = ()

    @property
    def abstention_per_day(self) -> tuple[DayAbstention, ...]:
        """The abstention rate of each day on which a question was searched."""
        counts: dict[str, dict[str, int]] = {}
        for row in self.per_day_outcome:
            counts.setdefault(row.day, {})[row.outcome] = row.questions
        days = (
            (day, c.get(ABSTAINED, 0), c.get(ANSWERED, 0) + c.get(ABSTAINED, 0))
            for day, c in sorted(counts.items())
        )
        return tuple(DayAbstention(day, out, searched) for day, out, searched in days if searched)

    @property
    def abstention_rate(self) -> float | None:
        """Abstentions among questions that were searched and got a reply from the documents."""
        answered = self.outcomes.get(ANSWERED, 0) + self.outcomes.get(ABSTAINED, 0)
        return self.outcomes.get(ABSTAINED, 0) / answered if answered else None

    @property
    def helpful_ratio(self) -> float | None:
        """👍 among all votes."""
        votes = self.votes_up + self.votes_down
        return self.votes_up / votes if votes else None

    def to_json(self) -> dict[str, Any]:
        return {
            "since": iso(self.since) if self.since is not None else None,
            "questions": self.questions,
            "outcomes": self.outcomes,
            "abstention_rate": _round(self.abstention_rate),
            "per_day": [
                {"day": d.day, "platform": d.platform, "questions": d.questions}
                for d in self.per_day
            ],
            "per_day_outcome": [
                {"day": d.day, "outcome": d.outcome, "questions": d.questions}
                for d in self.per_day_outcome
            ],
            "abstention_per_day": [
                {
                    "day": d.day,
                    "abstained": d.abstained,
                    "searched": d.searched,
                    "abstention_rate": _round(d.rate),
                }
                for d in self.abstention_per_day
            ],
            "top_cited": [{"paragraph": ref, "citations": n} for ref, n in self.top_cited],
            "coverage_gaps": [{"question": q, "asked": n} for q, n in self.coverage_gaps],
            "feedback": {
                "up": self.votes_up,
                "down": self.votes_down,
                "helpful_ratio": _round(self.helpful_ratio),
            },
            "latency_ms": {
                "p50": _round(self.latency_p50_ms),
                "p95": _round(self.latency_p95_ms),
                "by_platform": {
                    platform: {"p50": _round(p50), "p95": _round(p95)}
                    for platform, p50, p95 in self.latency_by_platform
                },
            },
        }


def parse_since(text: str, now: float) -> float | None:
    """``7d``, ``24h``, ``30m``, ``2w``, a UTC date (``2026-01-31``) or ``all`` (None)."""
    value = text.strip().lower()
    if value == "all":
        return None
    match = _AGE.match(value)
    if match:
        seconds = int(match[1]) * _UNITS[match[2]]
        if seconds > now:  # before 1970: no log reaches that far, and dates would overflow
            raise ConfigError(
                f"--since {text.strip()} reaches back before 1970; use --since all for "
                "the whole log"
            )
        return now - seconds
    try:
        day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise ConfigError(
            f"--since takes an age like 7d, 24h, 30m or 2w, a date like 2026-01-31, or 'all' "
            f"(got {text!r})"
        ) from None
    return day.timestamp()


def open_log(path: Path) -> sqlite3.Connection:
    """The question log at ``path``, for reading; a clear error if there is none yet."""
    if not path.is_file():
        raise QuestionLogError(
            f"no question log at {path} yet: it is created when readout answers its first "
            "question (set READOUT_QUESTION_LOG if the bots write it elsewhere)."
        )
    return connect(path)


def read_stats(path: Path, *, since: float | None, top: int = TOP) -> Stats:
    """The report over questions asked (and votes cast) at or after ``since``."""
    start = since if since is not None else -math.inf
    with closing(open_log(path)) as db:
        outcomes = dict(
            db.execute(
                "SELECT outcome, COUNT(*) FROM questions WHERE asked_at >= ? GROUP BY outcome",
                (start,),
            ).fetchall()
        )
        per_day = tuple(
            DayCount(day, platform, count)
            for day, platform, count in db.execute(
                "SELECT date(asked_at, 'unixepoch') AS day, platform, COUNT(*) FROM questions "
                "WHERE asked_at >= ? GROUP BY day, platform ORDER BY day, platform",
                (start,),
            )
        )
        per_day_outcome = tuple(
            DayOutcome(day, outcome, count)
            for day, outcome, count in db.execute(
                "SELECT date(asked_at, 'unixepoch') AS day, outcome, COUNT(*) FROM questions "
                "WHERE asked_at >= ? GROUP BY day, outcome ORDER BY day, outcome",
                (start,),
            )
        )
        top_cited = tuple(
            (f"{doc}:¶{paragraph}", count)
            for doc, paragraph, count in db.execute(
                "SELECT c.doc, c.paragraph, COUNT(DISTINCT c.question_id) AS n FROM citations c "
                "JOIN questions q ON q.id = c.question_id WHERE q.asked_at >= ? "
                "GROUP BY c.doc, c.paragraph ORDER BY n DESC, c.doc, c.paragraph LIMIT ?",
                (start, top),
            )
        )
        unanswered = [
            question
            for (question,) in db.execute(
                "SELECT question FROM questions WHERE asked_at >= ? AND outcome = ? "
                "ORDER BY asked_at",
                (start, ABSTAINED),
            )
        ]
        votes = dict(
            db.execute(
                "SELECT vote, COUNT(*) FROM feedback WHERE voted_at >= ? GROUP BY vote", (start,)
            ).fetchall()
        )
        timed = db.execute(
            "SELECT platform, latency_ms FROM questions WHERE asked_at >= ? AND outcome IN (?, ?) "
            "ORDER BY latency_ms",
            (start, ANSWERED, ABSTAINED),
        ).fetchall()
    return Stats(
        since=since,
        questions=sum(outcomes.values()),
        outcomes={name: outcomes.get(name, 0) for name in OUTCOMES},
        per_day=per_day,
        top_cited=top_cited,
        coverage_gaps=coverage_gaps(unanswered, top),
        votes_up=votes.get(1, 0),
        votes_down=votes.get(-1, 0),
        latency_p50_ms=percentile([latency for _, latency in timed], 50),
        latency_p95_ms=percentile([latency for _, latency in timed], 95),
        latency_by_platform=_latency_by_platform(timed),
        per_day_outcome=per_day_outcome,
    )


def _latency_by_platform(
    timed: Sequence[tuple[str, float]],
) -> tuple[tuple[str, float, float], ...]:
    by_platform: dict[str, list[float]] = {}
    for platform, latency in timed:  # ascending, so each list is sorted too
        by_platform.setdefault(platform, []).append(latency)
    return tuple(
        (platform, float(percentile(values, 50) or 0), float(percentile(values, 95) or 0))
        for platform, values in sorted(by_platform.items())
    )


def coverage_gaps(questions: Sequence[str], top: int = TOP) -> tuple[tuple[str, int], ...]:
    """The most frequent questions among ``questions``, counting "What is X?" and "what is x"
    as one (shown as first asked)."""
    counts: Counter[str] = Counter()
    first_form: dict[str, str] = {}
    for question in questions:
        key = " ".join(re.sub(r"[^\w\s]", " ", question.casefold()).split())
        counts[key] += 1
        first_form.setdefault(key, question)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return tuple((first_form[key], count) for key, count in ranked[:top])


def percentile(sorted_values: Sequence[float], p: float) -> float | None:
    """The nearest-rank ``p``-th percentile of ascending ``sorted_values`` (None if empty)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return float(sorted_values[rank - 1])


def render_stats(stats: Stats) -> str:
    """The report as text for a terminal."""
    period = f"since {iso(stats.since)}" if stats.since is not None else "in the whole log"
    lines = [f"Questions {period}: {stats.questions}"]
    if not stats.questions and not (stats.votes_up or stats.votes_down):
        return lines[0]
    o = stats.outcomes
    lines.append(
        f"  answered {o[ANSWERED]} · abstained {o[ABSTAINED]} · unavailable {o[UNAVAILABLE]}"
        f" · failed {o[FAILED]}"
    )
    rate = stats.abstention_rate
    searched = o[ANSWERED] + o[ABSTAINED]
    lines.append(
        f"Abstention rate: {rate:.0%} ({o[ABSTAINED]} of {searched} questions searched)"
        if rate is not None
        else "Abstention rate: n/a (no question was searched)"
    )
    if stats.latency_p50_ms is not None and stats.latency_p95_ms is not None:
        lines.append(
            f"Latency: p50 {stats.latency_p50_ms:.0f} ms · p95 {stats.latency_p95_ms:.0f} ms"
        )
        if len(stats.latency_by_platform) > 1:
            lines += [
                f"  {platform:<10} p50 {p50:.0f} ms · p95 {p95:.0f} ms"
                for platform, p50, p95 in stats.latency_by_platform
            ]
    ratio = stats.helpful_ratio
    lines.append(
        f"Feedback: {stats.votes_up} helpful · {stats.votes_down} not helpful"
        + (f" ({ratio:.0%} helpful)" if ratio is not None else "")
    )
    if stats.per_day:
        lines += ["", *_day_table(stats.per_day)]
    if stats.top_cited:
        lines += ["", "Most cited paragraphs"]
        lines += [f"  {count:>5}  {ref}" for ref, count in stats.top_cited]
    if stats.coverage_gaps:
        lines += ["", "Coverage gaps: questions most often not answered from the documents"]
        lines += [f"  {count:>5}  {_one_line(question)}" for question, count in stats.coverage_gaps]
    return "\n".join(lines)


def export_csv(path: Path, out: TextIO, *, since: float | None) -> int:
    """Write the raw log (one row per question, with its votes) as CSV; the number of rows."""
    start = since if since is not None else -math.inf
    writer = csv.writer(out)
    writer.writerow(EXPORT_COLUMNS)
    rows = 0
    with closing(open_log(path)) as db:
        cursor = db.execute(
            "SELECT q.asked_at, q.platform, q.user_hash, q.channel_kind, q.question, q.outcome, "
            "q.abstained, "
            "(SELECT group_concat(doc || ':' || paragraph, ' ') FROM "
            "   (SELECT doc, paragraph FROM citations WHERE question_id = q.id ORDER BY n)), "
            "q.latency_ms, q.index_version, q.answer_id, "
            "(SELECT COUNT(*) FROM feedback f WHERE f.answer_id = q.answer_id AND f.vote = 1), "
            "(SELECT COUNT(*) FROM feedback f WHERE f.answer_id = q.answer_id AND f.vote = -1) "
            "FROM questions q WHERE q.asked_at >= ? ORDER BY q.asked_at, q.id",
            (start,),
        )
        for (
            asked_at,
            platform,
            user_hash,
            channel_kind,
            question,
            outcome,
            abstained,
            cited,
            latency_ms,
            index_version,
            answer_id,
            votes_up,
            votes_down,
        ) in cursor:
            writer.writerow(
                [
                    iso(asked_at),
                    platform,
                    user_hash,
                    channel_kind,
                    _inert_cell(question),
                    outcome,
                    "" if abstained is None else abstained,
                    cited or "",
                    round(latency_ms, 1),
                    "" if index_version is None else index_version,
                    answer_id or "",
                    votes_up,
                    votes_down,
                ]
            )
            rows += 1
    return rows


def _inert_cell(text: str) -> str:
    """A question as a spreadsheet shows it, never runs it (CSV formula injection)."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def _day_table(per_day: Sequence[DayCount]) -> list[str]:
    platforms = sorted({d.platform for d in per_day})
    days = sorted({d.day for d in per_day})
    counts = {(d.day, d.platform): d.questions for d in per_day}
    width = max(7, *(len(p) for p in platforms))
    header = "Questions per day (UTC)".ljust(24) + "".join(
        p.rjust(width + 2) for p in [*platforms, "total"]
    )
    lines = [header]
    for day in days:
        row = [counts.get((day, p), 0) for p in platforms]
        cells = "".join(str(n).rjust(width + 2) for n in [*row, sum(row)])
        lines.append(f"  {day}".ljust(24) + cells)
    return lines


def _one_line(text: str, limit: int = 100) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def iso(epoch: float) -> str:
    """A UTC time as the reports write it (2026-01-31T12:00:00Z)."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
