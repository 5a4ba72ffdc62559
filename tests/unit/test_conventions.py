"""Conventions the code base promises, checked: the drawn error tree names every error, and
every integration test carries the ``integration`` mark (a ``pytestmark`` in a conftest.py
marks nothing, so each module sets its own)."""

from __future__ import annotations

import subprocess
import sys

import bot.questions.schema  # noqa: F401 - defines QuestionLogError, part of the tree
import index.errors
from index.errors import ReadoutError
from tests.support.paths import PROJECT_ROOT


def _subclasses(cls: type) -> set[type]:
    found: set[type] = set(cls.__subclasses__())
    for sub in list(found):
        found |= _subclasses(sub)
    return found


def test_the_drawn_error_tree_names_every_error() -> None:
    drawn = index.errors.__doc__ or ""
    missing = [e.__name__ for e in _subclasses(ReadoutError) if e.__name__ not in drawn]
    assert missing == []


def test_every_integration_test_is_marked_integration() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-m",
            "not integration",
            "tests/integration",
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "no tests collected" in done.stdout, done.stdout[-2000:]


def test_no_test_module_imports_another() -> None:
    offenders = []
    for path in (PROJECT_ROOT / "tests").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for line in text.splitlines():
            words = line.strip().split()
            if len(words) >= 2 and words[0] in {"from", "import"} and words[1].startswith("tests."):
                if not words[1].startswith("tests.support"):
                    offenders.append(f"{path.relative_to(PROJECT_ROOT)}: {line.strip()}")
    assert offenders == []
