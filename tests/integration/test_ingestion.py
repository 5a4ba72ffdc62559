"""Issue 14 end to end: the CLI as a user runs it, with the real model and a real chromadb.

A real HTML page and a real PDF (written by the test with pypdf) are indexed beside a
Markdown page and answered from, with the right section and page; a bare `readout index`
re-indexes what the index was built from; empty input keeps the live index; a damaged vector
segment fails `health` and start-up with the repair command, which then repairs it; and bad
bytes or invisible characters in questions get a one-line answer, never a traceback.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.documents import make_pdf
from tests.support.paths import run_readout as readout

pytestmark = pytest.mark.integration

HANDBOOK = """<!doctype html><html><head><title>Expenses · Handbook</title>
<link rel="canonical" href="https://wiki.example.com/handbook/expenses"></head>
<body><nav>Home | HR | Finance | Travel policy</nav>
<main><h1>Expenses</h1>
<p>File every expense report within thirty days of the purchase.</p>
<h2>Travel</h2>
<p>Book all flights through the travel desk, which holds the company's negotiated fares.</p>
<p>Hotel stays are reimbursed up to 150 euros per night in most cities.</p>
</main><footer>© Acme Corporation · Privacy</footer></body></html>
"""


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    (folder / "guides").mkdir(parents=True)
    (folder / "handbook.html").write_text(HANDBOOK, encoding="utf-8")
    make_pdf(
        folder / "report.pdf",
        [
            [
                "Sales grew by twelve percent in the northern region during the",
                "spring quarter, driven by new retail partners.",
                "Costs were flat.",
            ],
            [
                "Outlook",
                "The board expects hiring to resume in the autumn once the new",
                "warehouse in Leeds opens its doors to staff.",
            ],
        ],
        title="Acme Quarterly Report",
        outline=[("Results", 0)],
    )
    (folder / "guides" / "onboarding.md").write_text(
        "---\nurl: https://docs.example.com/onboarding\n---\n# Onboarding\n\n"
        "## First day\n\nNew starters collect their laptop from the IT desk on the second floor.\n",
        encoding="utf-8",
    )
    return folder


def _ask(env: dict[str, str], question: str) -> dict[str, Any]:
    done = readout(env, "ask", "--json", question)
    assert done.returncode == 0, done.stderr
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


def test_html_pdf_and_markdown_are_cited_with_section_page_and_url(
    readout_env: dict[str, str], docs: Path
) -> None:
    indexed = readout(readout_env, "index", str(docs))
    assert indexed.returncode == 0, indexed.stderr

    hotel = _ask(readout_env, "How much is reimbursed for a hotel night?")["citations"][0]
    assert (hotel["doc"], hotel["title"]) == ("handbook", "Expenses · Handbook")
    assert hotel["section"] == "Expenses › Travel" and "150 euros" in hotel["quote"]
    assert hotel["url"].startswith("https://wiki.example.com/handbook/expenses#:~:text=")

    hiring = _ask(readout_env, "When will the board resume hiring?")["citations"][0]
    assert (hiring["doc"], hiring["page"], hiring["section"]) == ("report", 2, "Results › Outlook")
    assert hiring["url"].endswith("report.pdf#page=2") and "autumn" in hiring["quote"]
    shown = readout(readout_env, "ask", "When will the board resume hiring?")
    assert "p. 2, ¶1" in shown.stdout

    laptop = _ask(readout_env, "Where do new starters get their laptop?")["citations"][0]
    assert (laptop["doc"], laptop["section"]) == ("guides/onboarding", "Onboarding › First day")
    assert laptop["url"].startswith("https://docs.example.com/onboarding#:~:text=")
    paragraph = readout(readout_env, "show", f"guides/onboarding:{laptop['paragraph']}")
    assert paragraph.returncode == 0 and "IT desk" in paragraph.stdout


def test_bare_index_reindexes_recorded_paths_and_empty_input_keeps_the_index(
    readout_env: dict[str, str], docs: Path, tmp_path: Path
) -> None:
    (docs / "blob.txt").write_bytes(b"\x00\x01 binary")
    first = readout(readout_env, "index", str(docs))
    assert first.returncode == 0, first.stderr
    assert first.stderr.count("blob.txt") == 1  # the skip warning is printed once

    (docs / "guides" / "onboarding.md").write_text(
        "# Onboarding\n\nNew starters collect a badge at reception.\n", encoding="utf-8"
    )
    again = readout(readout_env, "index")
    assert again.returncode == 0, again.stderr
    assert "1 documents embedded, 2 unchanged" in again.stdout  # not the bundled article
    assert readout(readout_env, "show", "xi-biden-call:1").returncode == 2

    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "sub" / "data.txt").write_bytes(b"\x00\xff\x00")
    refused = readout(readout_env, "index", str(empty))
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "nothing to index" in refused.stderr and "data.txt looks binary" in refused.stderr
    still = _ask(readout_env, "Where do new starters collect a badge?")
    assert still["citations"][0]["doc"] == "guides/onboarding"

    demo = readout(readout_env, "index", "--demo")
    assert demo.returncode == 0 and "Index v" in demo.stdout
    assert _ask(readout_env, "What did Xi say about Taiwan?")["citations"][0]["paragraph"] == 12


def test_clashing_ids_are_refused_naming_both_files(
    readout_env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "notes.md").write_text("# Notes\n\nMarkdown notes.\n", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("Plain notes.\n", encoding="utf-8")
    done = readout(readout_env, "index", str(tmp_path))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "notes.md" in done.stderr and "notes.txt" in done.stderr and "'notes'" in done.stderr


def _vector_segment(store: Path, kind: str) -> Path:
    with sqlite3.connect(store / "chroma.sqlite3") as db:
        (segment,) = db.execute(
            "SELECT s.id FROM segments s JOIN collections c ON s.collection = c.id "
            "WHERE s.scope = 'VECTOR' AND c.name LIKE ?",
            (f"%-{kind}",),
        ).fetchone()
    return store / segment


def test_damaged_store_fails_health_and_startup_with_the_repair_command(
    readout_env: dict[str, str], tmp_path: Path
) -> None:
    corpus = tmp_path / "faq"
    corpus.mkdir()
    # Past chromadb's flush threshold (1,000 records), so the vectors live in segment files.
    lines = [f"Ticket {n} was closed by the support team on day {n % 28 + 1}." for n in range(1100)]
    (corpus / "tickets.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    built = readout(readout_env, "index", str(corpus))
    assert built.returncode == 0, built.stderr
    assert readout(readout_env, "health", "--no-load-model").returncode == 0

    data = _vector_segment(Path(readout_env["READOUT_STORE"]), "sentences") / "data_level0.bin"
    with data.open("r+b") as handle:
        handle.truncate(data.stat().st_size // 2)

    health = readout(readout_env, "health", "--no-load-model")
    assert health.returncode == 1
    report = json.loads(health.stdout)
    assert report["index"]["ok"] is False and "readout index" in report["index"]["error"]
    asked = readout(readout_env, "ask", "Who closed ticket 7?")
    assert asked.returncode == 1 and "Traceback" not in asked.stderr
    assert asked.stderr.count("\n") == 1 and "Repair it with `readout index`" in asked.stderr

    repaired = readout(readout_env, "index")
    assert repaired.returncode == 0, repaired.stderr
    assert "damaged" in repaired.stderr
    assert readout(readout_env, "health", "--no-load-model").returncode == 0


def test_bad_question_bytes_and_invisible_text_get_one_line(
    article_env: dict[str, str],
) -> None:
    readout_env = article_env
    undecodable = subprocess.run(
        [sys.executable, "-m", "bot", "ask", os.fsdecode(b"Who is caf\xe9?")],
        env=readout_env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert undecodable.returncode == 2, undecodable.stderr
    assert undecodable.stderr.count("\n") == 1 and "UTF-8" in undecodable.stderr

    invisible = readout(readout_env, "ask", "\u200b\u200d\u2060\ufeff")
    assert invisible.returncode == 2 and "ask a question" in invisible.stderr

    padded = readout(readout_env, "ask", "--json", "Who will travel to China?" + "\u200b" * 990)
    assert padded.returncode == 0, padded.stderr
    assert json.loads(padded.stdout)["question"] == "Who will travel to China?"

    batch = subprocess.run(
        [sys.executable, "-m", "bot", "ask", "--json"],
        env=readout_env,
        input=b"Who will travel to China?\nWho is caf\xe9?\n\xe2\x80\x8b\nTell me a joke\n",
        capture_output=True,
        timeout=180,
        check=False,
    )
    assert batch.returncode == 0, batch.stderr
    rows = [json.loads(line) for line in batch.stdout.decode().splitlines()]
    assert [sorted(row) for row in rows[1:3]] == [["error", "question"]] * 2
    assert rows[0]["citations"] and rows[3]["abstained"] is True
    assert b"Traceback" not in batch.stderr

    since = readout(readout_env, "stats", "--since", "800000d")
    assert since.returncode == 2 and since.stderr.count("\n") == 1
    assert "before 1970" in since.stderr
