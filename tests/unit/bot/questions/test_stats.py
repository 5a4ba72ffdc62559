"""`readout stats`: the numbers over a known log, the text and JSON reports, the CSV export."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot import runtime
from bot.cli import main
from bot.questions.log import QuestionLog
from bot.questions.stats import (
    EXPORT_COLUMNS,
    coverage_gaps,
    export_csv,
    parse_since,
    percentile,
    read_stats,
    render_stats,
)
from bot.service import UNAVAILABLE, Asker, Reply, ReplyKind
from index.errors import ConfigError
from tests.support.fakes import FakeEngine
from tests.support.question_logs import DAY, MONDAY, Clock, answer

ALICE = Asker("slack", "U0ALICE", "channel")
BOB = Asker("discord", "4242", "dm")


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    """A log of a known week: Monday on Slack, Tuesday on Discord, a vote or two."""
    path = tmp_path / "questions.sqlite3"
    clock = Clock(MONDAY + 3600)
    with QuestionLog(path, clock=clock, retention_days=3650) as qlog:
        qlog.record_answer(ALICE, answer("What did Xi say?", 12, 12), 0.100, answer_id="a1")
        qlog.record_answer(ALICE, answer("What about Biden?", 12, 3), 0.200, answer_id="a2")
        qlog.record_answer(ALICE, answer("What is the weather?"), 0.050, answer_id="a3")
        qlog.record_answer(BOB, answer("what is the WEATHER"), 0.040, answer_id="a4")
        qlog.record("a1", ALICE, 1)
        qlog.record("a1", BOB, 1)
        clock.now += DAY
        qlog.record_answer(BOB, answer("=HYPERLINK(1)"), 0.030, answer_id="a5")
        qlog.record_answer(BOB, answer("Who called whom?", 3), 1.000, answer_id="a6")
        qlog.record_question(BOB, "Down?", Reply(ReplyKind.UNAVAILABLE, UNAVAILABLE), 4.0)
        qlog.record("a6", BOB, -1)
    return path


def test_the_report_over_a_known_week(log_path: Path) -> None:
    stats = read_stats(log_path, since=None)

    assert stats.questions == 7
    assert stats.outcomes == {"answered": 3, "abstained": 3, "unavailable": 1, "failed": 0}
    assert stats.abstention_rate == 0.5
    assert [(d.day, d.platform, d.questions) for d in stats.per_day] == [
        ("2026-01-05", "discord", 1),
        ("2026-01-05", "slack", 3),
        ("2026-01-06", "discord", 3),
    ]
    # ¶12 is cited by two answers (twice by one of them), ¶3 by two
    assert stats.top_cited == (("call:¶3", 2), ("call:¶12", 2))  # ties: in document order
    assert stats.coverage_gaps == (("What is the weather?", 2), ("=HYPERLINK(1)", 1))
    assert (stats.votes_up, stats.votes_down, stats.helpful_ratio) == (2, 1, 2 / 3)
    # answered and abstained only: 30, 40, 50, 100, 200, 1000 ms (the outage is not latency)
    assert (stats.latency_p50_ms, stats.latency_p95_ms) == (50.0, 1000.0)
    assert stats.latency_by_platform == (("discord", 40.0, 1000.0), ("slack", 100.0, 200.0))


def test_since_keeps_only_the_later_questions_and_votes(log_path: Path) -> None:
    stats = read_stats(log_path, since=MONDAY + DAY)
    assert stats.questions == 3
    assert stats.top_cited == (("call:¶3", 1),)
    assert (stats.votes_up, stats.votes_down) == (0, 1)


def test_the_text_report(log_path: Path) -> None:
    text = render_stats(read_stats(log_path, since=MONDAY))
    assert text.splitlines()[:6] == [
        "Questions since 2026-01-05T00:00:00Z: 7",
        "  answered 3 · abstained 3 · unavailable 1 · failed 0",
        "Abstention rate: 50% (3 of 6 questions searched)",
        "Latency: p50 50 ms · p95 1000 ms",
        "  discord    p50 40 ms · p95 1000 ms",
        "  slack      p50 100 ms · p95 200 ms",
    ]
    assert "Feedback: 2 helpful · 1 not helpful (67% helpful)" in text
    assert "  2026-01-06" in text and "call:¶12" in text
    assert "Coverage gaps" in text and "What is the weather?" in text


def test_an_empty_period_says_so(log_path: Path) -> None:
    stats = read_stats(log_path, since=MONDAY + 30 * DAY)
    assert render_stats(stats) == "Questions since 2026-02-04T00:00:00Z: 0"
    assert stats.to_json()["latency_ms"]["p50"] is None


def test_the_json_report(log_path: Path) -> None:
    report = read_stats(log_path, since=None).to_json()
    assert report["since"] is None and report["questions"] == 7
    assert report["abstention_rate"] == 0.5
    assert report["top_cited"][0] == {"paragraph": "call:¶3", "citations": 2}
    assert report["coverage_gaps"][0] == {"question": "What is the weather?", "asked": 2}
    assert report["feedback"] == {"up": 2, "down": 1, "helpful_ratio": 0.6667}
    assert report["latency_ms"]["by_platform"]["slack"] == {"p50": 100.0, "p95": 200.0}
    json.dumps(report)


def test_the_csv_export_is_the_raw_log_and_inert_in_a_spreadsheet(log_path: Path) -> None:
    out = io.StringIO()
    assert export_csv(log_path, out, since=None) == 7
    table = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert tuple(table[0]) == EXPORT_COLUMNS
    assert [row["answer_id"] for row in table[:2]] == ["a2", "a1"]  # in the order asked
    first = table[1]
    assert first["asked_at"] == "2026-01-05T00:59:59Z"  # when asked: 0.1 s before answered
    assert (first["platform"], first["channel_kind"], first["outcome"]) == (
        "slack",
        "channel",
        "answered",
    )
    assert first["citations"] == "call:12 call:12"
    assert (first["latency_ms"], first["votes_up"], first["votes_down"]) == ("100.0", "2", "0")
    assert "U0ALICE" not in out.getvalue() and "4242" not in out.getvalue()
    assert [row["question"] for row in table if "HYPERLINK" in row["question"]] == [
        "'=HYPERLINK(1)"
    ]
    [down] = [row for row in table if row["question"] == "Down?"]
    assert (down["outcome"], down["abstained"], down["answer_id"]) == ("unavailable", "", "")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7d", MONDAY - 7 * DAY),
        ("24h", MONDAY - DAY),
        ("30m", MONDAY - 1800),
        ("2w", MONDAY - 14 * DAY),
        ("2026-01-01", MONDAY - 4 * DAY),
        ("all", None),
    ],
)
def test_since_forms(text: str, expected: float | None) -> None:
    assert parse_since(text, MONDAY) == expected


def test_a_bad_since_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="7d"):
        parse_since("last tuesday", MONDAY)


def test_a_since_before_1970_is_a_config_error_not_an_overflow() -> None:
    for huge in ("800000d", "9" * 40 + "w"):
        with pytest.raises(ConfigError, match="before 1970"):
            parse_since(huge, MONDAY)


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 50) is None
    assert percentile([5.0], 95) == 5.0
    values = [float(n) for n in range(1, 101)]
    assert (percentile(values, 50), percentile(values, 95)) == (50.0, 95.0)


def test_coverage_gaps_merge_case_and_punctuation() -> None:
    asked = ["Who won?", "who won", "WHO WON!", "Why?", "Why", "Huh"]
    assert coverage_gaps(asked, top=2) == (("Who won?", 3), ("Why?", 2))


# -- the command ---------------------------------------------------------------------------


def test_readout_stats_text_json_and_export(log_path: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    text = runner.invoke(main, ["stats", "--db", str(log_path), "--since", "all"])
    assert text.exit_code == 0, text.output
    assert text.output.startswith("Questions in the whole log: 7\n")

    as_json = runner.invoke(
        main, ["stats", "--json", "--since", "all"], env={"READOUT_DB": str(log_path)}
    )
    assert as_json.exit_code == 0 and json.loads(as_json.output)["questions"] == 7

    target = tmp_path / "export.csv"
    exported = runner.invoke(main, ["stats", "--db", str(log_path), "--export", str(target)])
    assert exported.exit_code == 0
    assert "Wrote 7 questions" in exported.output
    assert len(target.read_text(encoding="utf-8").splitlines()) == 8


def test_readout_stats_without_a_log_or_with_a_bad_since(tmp_path: Path) -> None:
    missing = CliRunner().invoke(main, ["stats", "--store", str(tmp_path / "nothing")])
    assert missing.exit_code == 1
    assert "no question log at" in missing.output and "Traceback" not in missing.output
    assert not (tmp_path / "nothing").exists()  # reading stats creates nothing
    bad = CliRunner().invoke(main, ["stats", "--db", str(tmp_path / "x"), "--since", "soon"])
    assert bad.exit_code == 2 and "--since takes" in bad.output


def test_readout_ask_logs_unless_no_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "open_engine", lambda settings, **options: FakeEngine())
    monkeypatch.setenv("READOUT_DB", str(tmp_path / "q.sqlite3"))
    monkeypatch.setenv("READOUT_STORE", str(tmp_path))  # a folder that exists: not "no index"
    runner = CliRunner()
    assert runner.invoke(main, ["ask", "Logged?"]).exit_code == 0
    assert runner.invoke(main, ["ask", "--no-log", "Not logged?"]).exit_code == 0
    assert runner.invoke(main, ["ask", "--json"], input="One?\n\nTwo?\n").exit_code == 0
    assert runner.invoke(main, ["chat"], input="Chatted?\n/quit\n").exit_code == 0
    assert runner.invoke(main, ["chat", "--no-log"], input="Secret?\n/quit\n").exit_code == 0

    out = io.StringIO()
    export_csv(tmp_path / "q.sqlite3", out, since=None)
    table = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [(r["platform"], r["question"].strip()) for r in table] == [
        ("cli", "Logged?"),
        ("cli", "One?"),
        ("cli", "Two?"),
        ("chat", "Chatted?"),
    ]
