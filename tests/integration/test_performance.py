"""Behaviour behind the benchmark: the event loop stays free while the model encodes, and
`python -m benchmarks --quick` keeps working. No timing targets are asserted here (see
BENCHMARKS.md); the only clock is asyncio's own slow-callback detector."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from bot.service import AnswerService, Asker, ReplyKind
from retrieval.engine import Engine
from tests.support.paths import DEV_SET, PROJECT_ROOT

pytestmark = pytest.mark.integration

QUESTIONS = [
    "What did Xi say about Taiwan?",
    "Who will travel to China?",
    "Did they discuss AI?",
    "What did Biden say about TikTok?",
]


async def test_answering_never_blocks_the_event_loop(
    article_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    loop = asyncio.get_running_loop()
    loop.set_debug(True)
    # Any callback holding the loop for 50 ms is logged by asyncio as "Executing ... took".
    loop.slow_callback_duration = 0.05
    service = AnswerService(article_engine, rate_limit=1000)
    # A full garbage collection over the whole test session's heap (the model, every index
    # loaded so far) can pause any step for ~100 ms: collect now and set those objects aside,
    # so what is measured is the service's own work on the loop.
    gc.collect()
    gc.freeze()
    try:
        await service.start()
        with caplog.at_level(logging.WARNING, logger="asyncio"):
            replies = await asyncio.gather(
                *(service.ask(Asker("test", f"u{i}"), QUESTIONS[i % 4]) for i in range(32))
            )
    finally:
        service.close()
        loop.set_debug(False)
        gc.unfreeze()
    assert all(reply.kind is ReplyKind.ANSWER for reply in replies)
    slow = [
        r.getMessage() for r in caplog.records if r.name == "asyncio" and "took" in r.getMessage()
    ]
    assert slow == []


def test_bench_quick_smoke(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks",
            "--quick",
            "--json",
            "--dir",
            str(tmp_path),
            "--dev-set",
            str(DEV_SET),
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        cwd=PROJECT_ROOT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows = {row["metric"]: row for row in json.loads(done.stdout)}
    for metric in (
        "answer overhead",
        "concurrent throughput",
        "cold start",
        "dense-only dev top-1",
    ):
        assert rows[metric]["value"] > 0
    assert "Traceback" not in done.stderr
