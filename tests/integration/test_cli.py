"""The `readout` command line, run as a user runs it: a subprocess, the real model and store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.paths import DEV_SET
from tests.support.paths import run_readout as readout

pytestmark = pytest.mark.integration


def test_ask_answers_with_sources(article_env: dict[str, str]) -> None:
    done = readout(article_env, "ask", "What did Xi say about Taiwan?")
    assert done.returncode == 0, done.stderr
    assert "first red line" in done.stdout and "[1]" in done.stdout
    assert "Sources:" in done.stdout and "¶12" in done.stdout
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "command", [("ask", "What did Xi say?"), ("quote", "xi"), ("source", "12"), ("chat",)]
)
def test_reading_commands_never_build_an_index(
    readout_env: dict[str, str], command: tuple[str, ...]
) -> None:
    done = readout(readout_env, *command, stdin="")
    assert done.returncode == 1, done.stdout
    assert done.stderr.strip().splitlines() == [
        f"error: there is no index in {readout_env['READOUT_STORE']} yet: run "
        "`readout index PATH ...` to index your documents, or `readout index --demo` for the "
        "bundled article."
    ]
    # A mistyped --store is not created as a new empty folder (nor a question log in it).
    assert not Path(readout_env["READOUT_STORE"]).exists()


def test_a_store_setting_naming_a_file_is_refused_without_deleting_advice(
    readout_env: dict[str, str], tmp_path: Path
) -> None:
    mine = tmp_path / "notes.txt"
    mine.write_text("my own notes\n", encoding="utf-8")
    for command in (("ask", "What did Xi say?"), ("index", "--demo"), ("health",)):
        done = readout({**readout_env, "READOUT_STORE": str(mine)}, *command)
        assert done.returncode in (1, 2), done.stdout
        shown = done.stderr + done.stdout
        assert "is a file, not an index folder" in shown, shown
        assert "Delete" not in shown and "Traceback" not in shown
    assert mine.read_text(encoding="utf-8") == "my own notes\n"


def test_a_reader_that_stops_early_ends_the_batch_quietly(article_env: dict[str, str]) -> None:
    import subprocess
    import sys

    batch = "What did Xi say about Taiwan?\n" * 400
    with subprocess.Popen(
        [sys.executable, "-m", "bot", "ask", "--json", "--no-log"],
        env=article_env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stdin is not None and process.stdout is not None
        assert process.stderr is not None
        process.stdin.write(batch)
        process.stdin.close()
        assert "first red line" in process.stdout.readline()  # like `| head -1`
        process.stdout.close()
        errors = process.stderr.read()
        process.wait(timeout=120)
    assert "unexpected" not in errors and "Traceback" not in errors, errors


def test_make_runs_index_demo_only_when_missing(readout_env: dict[str, str]) -> None:
    first = readout(readout_env, "index", "--demo", "--if-missing")
    assert first.returncode == 0 and "Index v1:" in first.stdout
    again = readout(readout_env, "index", "--demo", "--if-missing")
    assert again.returncode == 0 and again.stdout == ""  # left as it was: no v2


def test_json_contract_and_stdin_batch(article_env: dict[str, str]) -> None:
    readout_env = article_env
    single = readout(readout_env, "ask", "--json", "What did Xi say about Taiwan?")
    assert single.returncode == 0, single.stderr
    payload = json.loads(single.stdout)
    assert set(payload) == {"question", "answer", "abstained", "citations"}
    assert set(payload["citations"][0]) == {
        "n",
        "doc",
        "title",
        "paragraph",
        "section",
        "url",
        "quote",
        "score",
    }
    assert payload["citations"][0]["paragraph"] == 12 and payload["abstained"] is False

    batch = readout(
        readout_env, "ask", "--json", stdin="Who will travel to China?\n\nTell me a joke\n"
    )
    assert batch.returncode == 0, batch.stderr
    lines = [json.loads(line) for line in batch.stdout.splitlines()]
    assert [line["question"] for line in lines] == ["Who will travel to China?", "Tell me a joke"]
    assert lines[0]["citations"][0]["paragraph"] == 7
    assert lines[1]["abstained"] is True and lines[1]["citations"] == []


def test_bad_questions_exit_2_with_a_message(readout_env: dict[str, str]) -> None:
    empty = readout(readout_env, "ask", "   ")
    assert empty.returncode == 2 and "ask a question" in empty.stderr
    missing = readout(readout_env, "ask")
    assert missing.returncode == 2 and "give a question" in missing.stderr
    long = readout(readout_env, "ask", "x" * 1001)
    assert long.returncode == 2 and "limit is 1,000" in long.stderr
    for done in (empty, missing, long):
        assert "Traceback" not in done.stderr


def test_index_own_folder_incrementally_with_warnings(
    readout_env: dict[str, str], tmp_path: Path
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "notes.md").write_text(
        "---\ntitle: Team notes\nurl: https://example.com/notes\n---\n# Notes\n\n"
        "The offsite is in Lisbon in May.\n",
        encoding="utf-8",
    )
    (docs / "blob.txt").write_bytes(b"\x00\xff binary")
    first = readout(readout_env, "index", str(docs))
    assert first.returncode == 0, first.stderr
    assert (
        "skipped" in first.stderr and "blob.txt" in first.stderr and "looks binary" in first.stderr
    )
    again = readout(readout_env, "index", str(docs))
    assert again.returncode == 0 and "up to date: nothing to embed" in again.stdout

    answer = readout(readout_env, "ask", "--json", "Where is the offsite?")
    citation = json.loads(answer.stdout)["citations"][0]
    assert (citation["doc"], citation["title"], citation["paragraph"]) == ("notes", "Team notes", 1)

    shown = readout(readout_env, "show", "notes:1")
    assert shown.returncode == 0 and "Lisbon" in shown.stdout

    missing = readout(readout_env, "index", str(tmp_path / "nope"))
    assert missing.returncode == 2 and "nope" in missing.stderr


def test_quote_source_and_corrupt_store(article_env: dict[str, str], tmp_path: Path) -> None:
    readout_env = article_env
    assert readout(readout_env, "quote", "xi").stdout == readout(readout_env, "quotes", "xi").stdout
    quotes = readout(readout_env, "quote", "xi")
    assert quotes.returncode == 0, quotes.stderr
    assert "first red line" in quotes.stdout and "¶12" in quotes.stdout
    shown = readout(readout_env, "source", "12")
    assert shown.returncode == 0 and "first red line" in shown.stdout
    assert readout(readout_env, "show", "12").stdout == shown.stdout  # the older name

    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "chroma.sqlite3").write_bytes(b"this is not a database")
    env = dict(readout_env, READOUT_STORE=str(corrupt))
    broken = readout(env, "ask", "What did Xi say about Taiwan?")
    assert broken.returncode == 1
    assert str(corrupt) in broken.stderr and "rebuild" in broken.stderr
    assert "Traceback" not in broken.stderr


def test_wrong_model_says_to_rebuild(readout_env: dict[str, str], tmp_path: Path) -> None:
    built = readout(readout_env, "index", "--demo")
    assert built.returncode == 0, built.stderr
    other_model = tmp_path / "other-model"
    other_model.mkdir()
    (other_model / "config.json").write_text("{}", encoding="utf-8")
    env = dict(readout_env, READOUT_MODEL=str(other_model))
    done = readout(env, "ask", "What did Xi say about Taiwan?")
    assert done.returncode == 1
    assert "Rebuild it with `readout index`" in done.stderr
    assert "Traceback" not in done.stderr


def test_eval_prints_the_scores(article_env: dict[str, str]) -> None:
    readout_env = article_env
    done = readout(readout_env, "eval", str(DEV_SET))
    assert done.returncode == 0, done.stderr
    lines = {
        label: line
        for line in done.stdout.splitlines()
        for label in ("top-1 citation", "abstained (unansw.)")
        if line.startswith(label)
    }
    # Issue 11 asks for top-1 and phrase >= 24/25; the fitted model gets 21/25 after abstention
    # (23 ranked first; BENCHMARKS.md). A floor one below, as a guard against breakage.
    top1 = int(lines["top-1 citation"].split()[-1].split("/")[0])
    assert top1 >= 20 and "/25" in lines["top-1 citation"]
    assert lines["abstained (unansw.)"].split()[-1] == "8/8"
    # The baselines are scored in the same run, beside readout.
    for method in ("readout", "bm25", "dense", "hybrid"):
        assert any(line.strip().startswith(method) for line in done.stdout.splitlines())
    as_json = readout(readout_env, "eval", "--json", str(DEV_SET))
    report = json.loads(as_json.stdout)
    assert report["top1"] == top1
    assert set(report["methods"]) == {"readout", "bm25", "dense", "hybrid"}
    assert report["methods"]["readout"]["cases"] == 25
    assert 0 < report["methods"]["bm25"]["mrr"] <= 1
    assert sum(g["cases"] for g in report["by_question_word"].values()) == 25
