"""`readout stats --html`: the page shows exactly the numbers of `readout stats --json` on the
same log and period, is self-contained (nothing to fetch), and escapes what people asked.
Rendering in a real browser: tests/integration/test_stats_page.py."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from bs4 import BeautifulSoup, Tag
from click.testing import CliRunner, Result

from bot.cli import main
from bot.questions.log import OUTCOMES, QuestionLog
from bot.questions.page import render_html
from bot.questions.stats import read_stats
from tests.support.question_logs import DAY, HOSTILE, MONDAY, write_known_log

CHARTS = ("per-day", "abstention", "feedback", "latency")
# The SVG and XLink namespaces name URLs that are identifiers, never fetched.
_NAMESPACE = re.compile(r'\sxmlns(:\w+)?="http://www\.w3\.org/[^"]*"')


def readout(*args: str) -> Result:
    result = CliRunner().invoke(main, ["stats", *args])
    assert result.exit_code == 0, result.output
    return result


def page_and_json(log: Path, tmp_path: Path, *since: str) -> tuple[BeautifulSoup, dict[str, Any]]:
    target = tmp_path / "report.html"
    written = readout("--db", str(log), *since, "--html", str(target))
    assert f"to {target}" in written.stderr
    report = json.loads(readout("--db", str(log), *since, "--json").stdout)
    return BeautifulSoup(target.read_text(encoding="utf-8"), "html.parser"), report


def stat(page: BeautifulSoup, key: str) -> str:
    [element] = page.select(f'[data-stat="{key}"]')
    return element.get_text(strip=True)


def table(page: BeautifulSoup, key: str) -> tuple[list[str], list[list[str]]]:
    found = page.find("table", id=key)
    assert isinstance(found, Tag), f"no table {key}"
    header = [th.get_text(strip=True) for th in found.select("thead th")]
    rows = [
        [td.get_text(strip=True) for td in tr.find_all("td")] for tr in found.select("tbody tr")
    ]
    return header, rows


def percent(ratio: float | None) -> str:
    return "n/a" if ratio is None else f"{100 * ratio:.1f}%"


def ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} ms"


@pytest.fixture
def log(tmp_path: Path) -> Path:
    return write_known_log(tmp_path / "questions.sqlite3")


def test_every_number_on_the_page_is_the_one_stats_json_gives(log: Path, tmp_path: Path) -> None:
    page, report = page_and_json(log, tmp_path, "--since", "all")
    assert report["questions"] == 11  # the known log, whole

    assert stat(page, "questions") == str(report["questions"])
    for outcome in OUTCOMES:
        assert stat(page, f"outcomes.{outcome}") == str(report["outcomes"][outcome])
    assert stat(page, "abstention_rate") == percent(report["abstention_rate"])
    assert stat(page, "latency_ms.p50") == ms(report["latency_ms"]["p50"])
    assert stat(page, "latency_ms.p95") == ms(report["latency_ms"]["p95"])

    # questions per day, stacked by outcome: the chart's table
    header, rows = table(page, "per-day-outcome")
    assert header[0] == "day" and header[-1] == "total"
    shown = {
        (row[0], outcome): int(count)
        for row in rows
        for outcome, count in zip(header[1:-1], row[1:-1], strict=True)
        if int(count)
    }
    assert shown == {(d["day"], d["outcome"]): d["questions"] for d in report["per_day_outcome"]}
    assert shown == {
        ("2026-01-05", "answered"): 2,
        ("2026-01-05", "abstained"): 2,
        ("2026-01-06", "abstained"): 1,
        ("2026-01-06", "answered"): 1,
        ("2026-01-06", "unavailable"): 1,
        ("2026-01-08", "answered"): 2,
        ("2026-01-08", "abstained"): 1,
        ("2026-01-08", "failed"): 1,
    }
    assert [row[0] for row in rows] == ["2026-01-05", "2026-01-06", "2026-01-08"]
    assert sum(int(row[-1]) for row in rows) == report["questions"]

    # abstention rate over time
    _, rows = table(page, "abstention-per-day")
    assert rows == [
        [d["day"], str(d["abstained"]), str(d["searched"]), percent(d["abstention_rate"])]
        for d in report["abstention_per_day"]
    ]
    assert [row[1:] for row in rows] == [
        ["2", "4", "50.0%"],
        ["1", "2", "50.0%"],
        ["1", "3", "33.3%"],
    ]

    # top coverage gaps and most cited paragraphs
    _, rows = table(page, "coverage-gaps")
    assert rows == [[g["question"], str(g["asked"])] for g in report["coverage_gaps"]]
    assert rows[0] == [HOSTILE, "2"]
    _, rows = table(page, "top-cited")
    assert rows == [[c["paragraph"], str(c["citations"])] for c in report["top_cited"]]

    # feedback share
    feedback = report["feedback"]
    assert stat(page, "feedback.up") == str(feedback["up"]) == "3"
    assert stat(page, "feedback.down") == str(feedback["down"]) == "1"
    assert stat(page, "feedback.helpful_ratio") == percent(feedback["helpful_ratio"]) == "75.0%"

    # latency p50 and p95 per platform
    _, rows = table(page, "latency-per-platform")
    assert rows == [
        [platform, ms(values["p50"]), ms(values["p95"])]
        for platform, values in report["latency_ms"]["by_platform"].items()
    ]
    assert [row[0] for row in rows] == ["cli", "discord", "slack"]

    # each of the six is drawn: four inline SVG charts, and the two tables above
    for chart in CHARTS:
        figure = page.find("figure", id=f"chart-{chart}")
        assert isinstance(figure, Tag) and figure.find("svg") is not None, chart


def test_since_applies_as_for_the_json_report(log: Path, tmp_path: Path) -> None:
    page, report = page_and_json(log, tmp_path, "--since", "2026-01-06")
    assert report["questions"] == 7
    assert stat(page, "questions") == "7"
    assert "since 2026-01-06T00:00:00Z" in page.get_text()
    _, rows = table(page, "per-day-outcome")
    assert [row[0] for row in rows] == ["2026-01-06", "2026-01-08"]
    assert stat(page, "feedback.up") == str(report["feedback"]["up"]) == "1"


def test_the_page_fetches_nothing(log: Path) -> None:
    html = render_html(read_stats(log, since=None), generated_at=MONDAY + 5 * DAY)
    page = BeautifulSoup(html, "html.parser")
    assert len(page.find_all("svg")) == len(CHARTS)
    assert page.find_all(["script", "link", "img", "iframe", "object", "embed"]) == []
    assert re.findall(r"https?://", _NAMESPACE.sub("", html)) == []
    assert re.findall(r"url\((?!#)", html) == []  # only references inside the page
    assert "@import" not in html and "<!DOCTYPE svg" not in html
    assert not [t for t in page.find_all(True) if t.has_attr("src") or t.has_attr("srcset")]
    # two charts never share an id (a clip path would then cut the wrong chart)
    ids = [tag["id"] for tag in page.find_all(id=True)]
    assert len(ids) == len(set(ids))
    # and every in-page reference finds its target
    references = set(re.findall(r'(?:url\(#|href="#)([^")]+)', html))
    assert references and references <= set(ids)


def test_what_people_asked_is_shown_as_text(log: Path) -> None:
    html = render_html(read_stats(log, since=None), generated_at=MONDAY)
    assert "<script" not in html
    assert "&lt;script&gt;alert(&quot;gap&quot;)&lt;/script&gt; &amp; $x$" in html


def test_the_same_log_gives_the_same_page(log: Path) -> None:
    stats = read_stats(log, since=None)
    assert render_html(stats, generated_at=MONDAY) == render_html(stats, generated_at=MONDAY)


@pytest.mark.parametrize("since", ["all", "2030-01-01"])
def test_no_questions_yet_still_makes_a_page(tmp_path: Path, since: str) -> None:
    empty = tmp_path / "empty.sqlite3"
    with QuestionLog(empty):
        pass
    log = empty if since == "all" else write_known_log(tmp_path / "known.sqlite3")
    target = tmp_path / "report.html"
    written = readout("--db", str(log), "--since", since, "--html", str(target))
    assert "(0 questions)" in written.stderr
    page = BeautifulSoup(target.read_text(encoding="utf-8"), "html.parser")
    assert stat(page, "empty").startswith("No questions yet")
    assert page.find("svg") is None and page.title is not None


def test_html_to_stdout_and_one_report_at_a_time(log: Path) -> None:
    out = readout("--db", str(log), "--since", "all", "--html", "-")
    assert out.stdout.startswith("<!DOCTYPE html>") and out.stdout.rstrip().endswith("</html>")
    both = CliRunner().invoke(main, ["stats", "--db", str(log), "--json", "--html", "x.html"])
    assert both.exit_code == 2 and "choose one" in both.output
    assert not Path("x.html").exists()


def test_only_the_page_loads_matplotlib() -> None:
    code = "import sys, bot.cli, bot.questions.stats; print('matplotlib' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_an_unwritable_target_is_a_clear_error(log: Path, tmp_path: Path) -> None:
    target = tmp_path / "missing-folder" / "report.html"
    result = CliRunner().invoke(main, ["stats", "--db", str(log), "--html", str(target)])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert str(target) in result.output
