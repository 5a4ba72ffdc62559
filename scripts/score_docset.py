"""Score readout on the docs question set (``data/docs/questions.jsonl``), one project at a time.

A tool, not runtime: it runs the ``readout`` CLI as a user would, indexing each project's
``corpus/`` into its own store and asking that project's questions in one ``ask --json``
batch. Per project it prints: answerable questions whose first citation holds the ``answer``
(``[1] hit``), whose any citation does (``any hit``), answerable ones abstained on, and
unanswerable ones abstained on (the right call).

"Holds the answer" is ``retrieval.evaluation.holds_answer``: after undoing the Markdown
readout undoes (links and emphasis become their text, HTML tags go), the quote contains the
answer, or is a sentence of it (an answer may span two sentences). The citation must be from
the question's document, or from a page listed in its ``also`` with that page's answer.

Usage: ``python scripts/score_docset.py [--store-dir DIR] [--project NAME] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from retrieval.evaluation import holds_answer

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "data" / "docs"
READOUT = Path(sys.executable).with_name("readout")


def score(project: str, cases: list[dict[str, object]], store: Path) -> dict[str, object]:
    corpus = DOCS / project / "corpus"
    subprocess.run(
        [str(READOUT), "index", "--store", str(store), str(corpus)],
        check=True,
        capture_output=True,
    )
    batch = "".join(str(c["question"]) + "\n" for c in cases)
    done = subprocess.run(
        [str(READOUT), "ask", "--json", "--no-log", "--store", str(store)],
        input=batch,
        check=True,
        capture_output=True,
        text=True,
    )
    results = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    assert len(results) == len(cases), (len(results), len(cases))
    row: dict[str, Any] = {"answerable": 0, "first_hit": 0, "any_hit": 0}
    row |= {"answerable_abstained": 0, "unanswerable": 0, "unanswerable_abstained": 0}
    misses: list[str] = []
    for case, result in zip(cases, results, strict=True):
        abstained = bool(result.get("abstained")) or "error" in result
        if not case["answerable"]:
            row["unanswerable"] += 1
            row["unanswerable_abstained"] += abstained
            continue
        row["answerable"] += 1
        row["answerable_abstained"] += abstained
        also = case.get("also") or []
        assert isinstance(also, list)
        places = [(str(case["doc"]), str(case["answer"]))]
        places += [(str(a["doc"]), str(a["answer"])) for a in also]
        found = [
            any(c["doc"] == doc and holds_answer(c["quote"], answer) for doc, answer in places)
            for c in result.get("citations", [])
        ]
        row["first_hit"] += bool(found and found[0])
        row["any_hit"] += any(found)
        if not any(found):
            misses.append(str(case["id"]))
    row["misses"] = misses
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store-dir", type=Path, help="Where the stores go (default a temp dir).")
    parser.add_argument("--project", action="append", help="Only this project (repeatable).")
    parser.add_argument("--json", action="store_true", help="Print the rows as JSON.")
    args = parser.parse_args()
    lines = (DOCS / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    cases = [json.loads(line) for line in lines if line.strip()]
    projects = args.project or sorted({str(c["project"]) for c in cases})
    with tempfile.TemporaryDirectory() as tmp:
        base = args.store_dir or Path(tmp)
        rows = {
            p: score(p, [c for c in cases if c["project"] == p], base / f"docset-{p}")
            for p in projects
        }
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print("project     [1] hit   any hit   answerable abstained   unanswerable abstained")
    for p, r in rows.items():
        n, u = r["answerable"], r["unanswerable"]
        print(
            f"{p:<11} {r['first_hit']:>3}/{n:<5} {r['any_hit']:>3}/{n:<5} "
            f"{r['answerable_abstained']:>10}/{n:<11} {r['unanswerable_abstained']:>10}/{u}"
        )


if __name__ == "__main__":
    main()
