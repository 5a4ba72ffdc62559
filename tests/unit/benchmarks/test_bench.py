"""The benchmark's pure parts: the table, the targets, and the embedders it wraps."""

from __future__ import annotations

import json

import numpy as np

from benchmarks.bench import Row, render_table, rows_to_json
from benchmarks.embedders import CountingEmbedder, StandInEmbedder
from bot.settings import Settings
from index.corpus import BUNDLED_CORPUS_DIR
from tests.support.fakes import FakeEmbedder


def test_rows_render_with_their_targets_and_whether_they_were_met() -> None:
    rows = [
        Row("scale 10,000", "ask 2.0 ms ÷ 1.6 ms", 1.25, "×", "<= 1.5"),
        Row("dev top-1 with 10,000 distractors", "dev.jsonl", 21, "/25", ">= 22"),
        Row("cold start", "readout ask", 1.5, " s"),
    ]
    assert render_table(rows).splitlines()[1:] == [
        f"{'scale 10,000':<34} {'1.25×':>10}  <= 1.5   yes  ask 2.0 ms ÷ 1.6 ms",
        f"{'dev top-1 with 10,000 distractors':<34} {'21/25':>10}  >= 22    NO   dev.jsonl",
        f"{'cold start':<34} {'1.50 s':>10}                readout ask",
    ]
    assert [row["met"] for row in json.loads(rows_to_json(rows))] == [True, False, None]


def test_the_counting_embedder_counts_what_reaches_the_model() -> None:
    counting = CountingEmbedder(FakeEmbedder())
    counting.encode(["a", "b"])
    counting.encode([])
    assert counting.texts == 2 and counting.model_id == FakeEmbedder.model_id


def test_stand_in_vectors_are_real_for_the_article_and_seeded_for_the_rest() -> None:
    real = FakeEmbedder()
    stand_in = StandInEmbedder(real)
    article = (BUNDLED_CORPUS_DIR / "xi-biden-call.txt").read_text(encoding="utf-8")
    sentence = article.splitlines()[0]
    vectors = stand_in.encode([sentence, "a distractor docstring", "a distractor docstring"])
    assert np.allclose(vectors[0], real.encode([sentence])[0])
    assert np.allclose(vectors[1], vectors[2])  # the same text, the same seeded vector
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0)


def test_the_work_folder_is_a_setting() -> None:
    from pathlib import Path

    from benchmarks.bench import default_workdir

    assert default_workdir(Settings.from_env({"READOUT_BENCH_DIR": "/data/b"})) == Path("/data/b")
    assert default_workdir(Settings.from_env({})).name == "readout-bench"
