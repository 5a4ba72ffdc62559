"""``python -m benchmarks`` (``make bench``): speed and memory, measured in one run on this
machine, as ratios.

Absolute timings mean little on shared, noisy machines; a ratio of two things measured
side by side in the same run holds up. Each row names its inputs:

1. answer overhead   warm ``ask`` ÷ one bare single-question encode (the floor)
2. embedders         warm ``ask`` on the ONNX embedder ÷ on sentence-transformers (same index);
                     answers identical on the dev set (and on ../shared/eval/squad, full runs)
3. concurrency       answers/s with 64 questions in flight ÷ answers/s one at a time
4. scale             ask latency with 1k / 10k / 100k distractor paragraphs ÷ with the article
                     alone, and dev-set top-1 with 10k distractors (real embeddings)
5. index build       paragraphs/s building the 10k corpus ÷ paragraphs/s of bare encode, and
                     ONNX build ÷ sentence-transformers build; an unchanged re-run embeds nothing
6. cold start        ``readout ask`` to its printed answer, ONNX ÷ sentence-transformers
7. memory, readiness peak RSS of ``readout ask``; time to a bot core's first answer and its
                     peak RSS serving the 10k and the 100k corpus (from the sidecar)

Distractors are real English text that needs no network: docstrings of the Python standard
library, then of the installed packages (pinned by constraints.txt), parsed with ``ast`` in a
fixed order. Encoding 100k paragraphs takes this CPU about half an hour, so the 100k row uses
seeded random unit vectors (in a 24-dimensional subspace, like real embeddings' low intrinsic
dimension) for the distractors (the article keeps real vectors) and says so.
A plain dense-only pipeline (chromadb query, top paragraph) is measured on the same run.

Targets that depend on the inputs are computed from them in the same run: the article's size
comes from its index, and the dev-set target with 10k distractors from the article alone's
top-1 (at most ``DISTRACTOR_TOP1_LOSS`` fewer). The processes timed from outside (cold start,
bot readiness) are the modules in ``benchmarks/probes``.
"""

from __future__ import annotations

import ast
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

from benchmarks.embedders import CountingEmbedder, StandInEmbedder
from bot.runtime import LoadableEmbedder, open_embedder
from bot.service import AnswerService, Asker
from bot.settings import EMBEDDER_SENTENCE_TRANSFORMERS, Settings
from index.build import build_index
from index.corpus import BUNDLED_CORPUS_DIR
from index.embedder import Embedder, SentenceTransformerEmbedder
from index.store import ChromaStore
from retrieval.answer import Answer
from retrieval.engine import Engine
from retrieval.evaluation import evaluate, parse_cases
from retrieval.sidecar import write_sidecar

FULL_SIZES = (1_000, 10_000, 100_000)
QUICK_SIZES = (100,)
STAND_IN_FROM = 100_000  # at and above this size distractors get stand-in vectors
QUALITY_SIZE = 10_000
CONCURRENT = 64
DEMO_QUESTION = "What did Xi say about Taiwan?"
DISTRACTORS_PER_FILE = 1_000
_MIN_PARAGRAPH_CHARS = 60
# How many fewer dev-set questions may lose their top-1 citation with 10k distractors than with
# the article alone (the article alone scores 24/25 today: the target is then 22/25).
DISTRACTOR_TOP1_LOSS = 2


@dataclass(frozen=True, slots=True)
class Row:
    """One measured line of the table."""

    metric: str
    inputs: str
    value: float
    unit: str
    target: str = ""
    note: str = ""

    @property
    def met(self) -> bool | None:
        """Whether the value meets the target (None when there is no target)."""
        match = re.match(r"([<>]=?)\s*([\d.]+)", self.target)
        if not match:
            return None
        op, bound = match.group(1), float(match.group(2))
        return {"<=": self.value <= bound, ">=": self.value >= bound}.get(op, None)


def run_bench(
    settings: Settings,
    *,
    workdir: Path,
    quick: bool,
    dev_set: Path | None,
    progress: Callable[[str], None],
    on_row: Callable[[Row], None] = lambda row: None,
) -> list[Row]:
    """Measure every row; ``quick`` uses one small corpus and few repetitions (a smoke test).

    ``on_row`` sees each row as soon as it is measured (a full run takes a while).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    repeats = 5 if quick else 30
    embedder = open_embedder(settings)  # what readout runs: ONNX unless configured otherwise
    embedder.load()
    reference = SentenceTransformerEmbedder(settings.model, settings.model_dir)
    reference.load()
    questions = _questions(dev_set)
    rows: list[Row] = []

    def add(*measured: Row) -> None:
        for row in measured:
            rows.append(row)
            on_row(row)

    progress("default corpus: overhead, concurrency, dense-only baseline")
    base_store = ChromaStore.open_local(workdir / "article")
    build_index([BUNDLED_CORPUS_DIR], embedder=embedder, store=base_store, sidecar=write_sidecar)
    engine = Engine(base_store, embedder)
    engine.ask(DEMO_QUESTION)  # load the snapshot, warm the caches
    article_paragraphs = len(engine.snapshot().paragraphs)
    cases = parse_cases(dev_set.read_text(encoding="utf-8").splitlines()) if dev_set else []
    article_top1 = evaluate(cases, engine.ask).top1 if cases else 0
    encode_ms, ask_ms = _paired_median_ms(
        lambda: embedder.encode([DEMO_QUESTION]), lambda: engine.ask(DEMO_QUESTION), repeats
    )
    # No target since the ONNX embedder: the encode it divides by became 4x faster, so the same
    # few milliseconds of search around it weigh more (BENCHMARKS.md); reported to watch.
    add(
        Row(
            "answer overhead",
            f"warm ask {ask_ms:.1f} ms ÷ bare encode {encode_ms:.1f} ms, "
            f"{DEMO_QUESTION!r}, medians of {repeats} alternating pairs",
            ask_ms / encode_ms,
            "×",
        )
    )
    add(*_embedder_rows(engine, Engine(base_store, reference), questions, repeats))
    if not quick and dev_set is not None and (dev_set.parent / "squad").is_dir():
        progress("embedders: squad answers, indexed by each embedder")
        add(_squad_row(workdir, dev_set.parent / "squad", embedder, reference))
    add(_concurrency_row(engine, questions, quick))
    add(*_dense_only_rows(base_store, embedder, dev_set, repeats, ask_ms))

    for size in QUICK_SIZES if quick else FULL_SIZES:
        progress(f"scale: article + {size:,} distractor paragraphs")
        stand_in = size >= STAND_IN_FROM
        corpus = _write_corpus(workdir / f"corpus-{size}", size)
        folder = workdir / f"scale-{size}"
        timed_build = not quick and size == QUALITY_SIZE
        if timed_build:
            shutil.rmtree(folder, ignore_errors=True)
        store = ChromaStore.open_local(folder)
        if timed_build:
            # The build row times a fresh build of this corpus; its index then serves the
            # latency and quality rows (building 10k real embeddings twice would double the run).
            add(*_build_rows(corpus, embedder, reference, store, workdir, progress))
        build_embedder: Any = StandInEmbedder(embedder) if stand_in else embedder
        build_index(
            [corpus],
            embedder=build_embedder,
            store=store,
            show_progress=False,
            sidecar=write_sidecar,
        )
        scaled = Engine(store, embedder)
        scaled.ask(DEMO_QUESTION)
        base_ms, scaled_ms = _paired_median_ms(
            partial(engine.ask, DEMO_QUESTION), partial(scaled.ask, DEMO_QUESTION), repeats
        )
        target = {10_000: "<= 1.5", 100_000: "<= 2"}.get(size, "")
        note = (
            "distractors use seeded random low-rank stand-in vectors"
            if stand_in
            else "real embeddings"
        )
        add(
            Row(
                f"scale {size:,}",
                f"ask {scaled_ms:.1f} ms ÷ {base_ms:.1f} ms at {article_paragraphs} "
                f"paragraphs, medians of {repeats} alternating pairs",
                scaled_ms / base_ms,
                "×",
                target,
                note,
            )
        )
        if dev_set is not None and (size == QUALITY_SIZE or quick):
            report = evaluate(cases, scaled.ask)
            floor = article_top1 - DISTRACTOR_TOP1_LOSS
            add(
                Row(
                    f"dev top-1 with {size:,} distractors",
                    f"{dev_set.name}, real embeddings; {article_top1} with the article alone",
                    report.top1,
                    f"/{report.answerable}",
                    f">= {floor}" if size == QUALITY_SIZE else "",
                )
            )
        if size in {QUALITY_SIZE, STAND_IN_FROM} or quick:
            add(*_serving_rows(settings, folder, size))

    progress("cold start and memory of `readout ask`")
    add(*_cold_start_rows(settings, workdir / "article", 1 if quick else 3))
    return rows


def render_table(rows: Sequence[Row]) -> str:
    """The rows as an aligned text table."""
    lines = [f"{'metric':<34} {'value':>10}  {'target':<8} {'met':<4} inputs"]
    for row in rows:
        met = {True: "yes", False: "NO", None: ""}[row.met]
        if row.unit in {"×", " MiB", " s"}:
            value = f"{row.value:.2f}{row.unit}"
        elif row.unit == " ms":
            value = f"{row.value:.1f}{row.unit}"
        else:
            value = f"{row.value:g}{row.unit}"
        note = f" [{row.note}]" if row.note else ""
        lines.append(f"{row.metric:<34} {value:>10}  {row.target:<8} {met:<4} {row.inputs}{note}")
    return "\n".join(lines)


def rows_to_json(rows: Sequence[Row]) -> str:
    return json.dumps([{**asdict(row), "met": row.met} for row in rows], ensure_ascii=False)


# -- rows ------------------------------------------------------------------------------------


def _embedder_rows(
    engine: Engine, reference: Engine, questions: list[str], repeats: int
) -> list[Row]:
    """Warm answers on the configured embedder ÷ on sentence-transformers, one index; and
    whether both give the same answers (same sentences cited, same abstentions)."""
    reference.ask(DEMO_QUESTION)
    ours_ms, reference_ms = _paired_median_ms(
        partial(engine.ask, DEMO_QUESTION), partial(reference.ask, DEMO_QUESTION), repeats
    )
    same = sum(_cited(engine.ask(q)) == _cited(reference.ask(q)) for q in questions)
    return [
        Row(
            "warm answer, embedder ratio",
            f"ask {ours_ms:.1f} ms "
            f"({_embedder_name(engine.embedder)}) ÷ {reference_ms:.1f} ms (sentence-transformers), "
            f"medians of {repeats} alternating pairs",
            ours_ms / reference_ms,
            "×",
            "<= 0.7",
        ),
        Row(
            "dev answers identical",
            f"{_embedder_name(engine.embedder)} vs "
            "sentence-transformers on one index, cited sentences and abstentions",
            same,
            f"/{len(questions)}",
            f">= {len(questions)}",
        ),
    ]


def _squad_row(workdir: Path, squad: Path, ours: Embedder, reference: Embedder) -> Row:
    """The squad set answered by each embedder from an index each built itself."""
    cases = parse_cases((squad / "questions.jsonl").read_text(encoding="utf-8").splitlines())
    answers = []
    for name, embedder in (("ours", ours), ("reference", reference)):
        folder = workdir / f"squad-{name}"
        shutil.rmtree(folder, ignore_errors=True)
        store = ChromaStore.open_local(folder)
        build_index([squad / "corpus"], embedder=embedder, store=store, sidecar=write_sidecar)
        engine = Engine(store, embedder)
        answers.append([_cited(engine.ask(case.question)) for case in cases])
    same = sum(a == b for a, b in zip(*answers, strict=True))
    return Row(
        "squad answers identical",
        f"{_embedder_name(ours)} vs sentence-transformers, each from the index it built",
        same,
        f"/{len(cases)}",
        f">= {len(cases)}",
    )


def _cited(answer: Answer) -> tuple[object, ...]:
    return answer.abstained, tuple((c.doc, c.paragraph, c.sentence) for c in answer.citations)


def _embedder_name(embedder: Embedder) -> str:
    return "sentence-transformers" if isinstance(embedder, SentenceTransformerEmbedder) else "onnx"


def _concurrency_row(engine: Engine, questions: list[str], quick: bool) -> Row:
    count = 16 if quick else CONCURRENT
    asked = [questions[i % len(questions)] for i in range(count)]

    async def measure() -> tuple[float, float]:
        service = AnswerService(engine, rate_limit=10_000, rate_window=1.0, timeout=120.0)
        try:
            await service.start()
            started = time.perf_counter()
            for i, question in enumerate(asked):
                await service.ask(Asker("bench", f"serial-{i}"), question)
            serial = count / (time.perf_counter() - started)
            started = time.perf_counter()
            await asyncio.gather(
                *(service.ask(Asker("bench", f"u{i}"), q) for i, q in enumerate(asked))
            )
            concurrent = count / (time.perf_counter() - started)
        finally:
            service.close()
        return serial, concurrent

    serial, concurrent = asyncio.run(measure())
    return Row(
        "concurrent throughput",
        f"{concurrent:.1f} answers/s with {count} in flight ÷ {serial:.1f} answers/s one at a "
        "time, through the async answer service",
        concurrent / serial,
        "×",
        ">= 3",
    )


def _dense_only_rows(
    store: ChromaStore,
    embedder: Embedder,
    dev_set: Path | None,
    repeats: int,
    ask_ms: float,
) -> list[Row]:
    """The plain pipeline readout improves on: encode, nearest paragraph, quote it whole."""
    pointer = store.pointer()
    assert pointer is not None

    def top_paragraph(question: str) -> int:
        hit = store.query(pointer.version, "paragraphs", embedder.encode([question]), 1)[0][0]
        return int(hit.record_id.rsplit(":", 1)[1])

    dense_ms = _median_ms(lambda: top_paragraph(DEMO_QUESTION), repeats)
    rows = [
        Row(
            "dense-only latency",
            f"encode + chromadb top paragraph {dense_ms:.1f} ms; readout ask {ask_ms:.1f} ms",
            dense_ms,
            " ms",
        )
    ]
    if dev_set is not None:
        cases = [
            c for c in parse_cases(dev_set.read_text(encoding="utf-8").splitlines()) if c.answerable
        ]
        hits = sum(top_paragraph(c.question) in c.paragraphs for c in cases)
        rows.append(
            Row(
                "dense-only dev top-1",
                f"{dev_set.name}, no abstention possible",
                hits,
                f"/{len(cases)}",
            )
        )
    return rows


def _build_rows(
    corpus: Path,
    embedder: LoadableEmbedder,
    reference: SentenceTransformerEmbedder,
    store: ChromaStore,
    workdir: Path,
    progress: Callable[[str], None],
) -> list[Row]:
    """Time a fresh build of ``corpus`` into the empty ``store`` against a bare encode and
    against a build on sentence-transformers, then an unchanged re-run (which must embed
    nothing)."""
    from index.corpus import load_documents

    documents, _ = load_documents([corpus])
    texts = [p.text for d in documents for p in d.paragraphs]
    progress(f"index build: bare encode of {len(texts):,} paragraphs")
    started = time.perf_counter()
    embedder.encode(texts)
    bare_rate = len(texts) / (time.perf_counter() - started)

    progress(f"index build: readout index of {len(texts):,} paragraphs")
    started = time.perf_counter()
    build_index([corpus], embedder=embedder, store=store, sidecar=write_sidecar)
    build_rate = len(texts) / (time.perf_counter() - started)

    progress(f"index build: the same on sentence-transformers, {len(texts):,} paragraphs")
    reference_folder = workdir / "build-reference"
    shutil.rmtree(reference_folder, ignore_errors=True)
    started = time.perf_counter()
    build_index(
        [corpus],
        embedder=reference,
        store=ChromaStore.open_local(reference_folder),
        sidecar=write_sidecar,
    )
    reference_rate = len(texts) / (time.perf_counter() - started)
    shutil.rmtree(reference_folder, ignore_errors=True)

    counting = CountingEmbedder(embedder)
    again = build_index([corpus], embedder=counting, store=store)
    name = _embedder_name(embedder)
    return [
        Row(
            "index build",
            f"{build_rate:.0f} paragraphs/s building {len(texts):,} paragraphs "
            f"÷ {bare_rate:.0f} paragraphs/s bare encode ({name})",
            build_rate / bare_rate,
            "×",
            ">= 0.8",
        ),
        Row(
            "index build, embedder ratio",
            f"{build_rate:.0f} paragraphs/s ({name}) ÷ "
            f"{reference_rate:.0f} paragraphs/s (sentence-transformers), {len(texts):,} "
            "paragraphs each",
            build_rate / reference_rate,
            "×",
            ">= 1.3",
        ),
        Row(
            "incremental re-run",
            f"unchanged {len(texts):,}-paragraph corpus (changed={again.changed})",
            counting.texts,
            " texts embedded",
            "<= 0",
        ),
    ]


def _cold_start_rows(settings: Settings, store: Path, repeats: int) -> list[Row]:
    """``readout ask`` from process start to its printed answer on each embedder, alternated."""
    env = probe_environment(settings, store)
    reference_env = dict(env, READOUT_EMBEDDER=EMBEDDER_SENTENCE_TRANSFORMERS)
    times: tuple[list[float], list[float]] = ([], [])
    rss = [0, 0]
    for _ in range(repeats):
        for side, run_env in enumerate((env, reference_env)):
            started = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-m", "benchmarks.probes.cold_start", DEMO_QUESTION],
                env=run_env,
                capture_output=True,
                text=True,
                check=True,
                timeout=300,
            )
            times[side].append(time.perf_counter() - started)
            rss[side] = max(rss[side], int(re.findall(r"maxrss (\d+)", done.stderr)[-1]))
    ours_s, reference_s = statistics.median(times[0]), statistics.median(times[1])
    name = _embedder_name(open_embedder(settings))
    return [
        Row(
            "cold start, embedder ratio",
            f"`readout ask` to its answer {ours_s:.2f} s ({name}) "
            f"÷ {reference_s:.2f} s (sentence-transformers), medians of {repeats} alternating",
            ours_s / reference_s,
            "×",
            "<= 0.35",
        ),
        Row(
            "cold start",
            f"`readout ask` to its printed answer ({name}), default corpus",
            ours_s,
            " s",
            "<= 3",
        ),
        Row(
            "memory: readout ask",
            f"peak RSS, default corpus ({name}; sentence-transformers {rss[1] / 1024:.0f} MiB)",
            rss[0] / 1024,
            " MiB",
            "<= 300",
        ),
    ]


def _serving_rows(settings: Settings, store: Path, size: int) -> list[Row]:
    """A bot core started on ``store``: seconds from process start to its first answer
    (settings, store, model, snapshot, warm-up), then its peak RSS after 16 more questions."""
    env = probe_environment(settings, store)
    started = time.perf_counter()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "benchmarks.probes.bot_ready",
            DEMO_QUESTION,
            "Who will travel to China?",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    first_line = process.stdout.readline()
    ready_s = time.perf_counter() - started
    rest, errors = process.communicate(timeout=600)
    if process.returncode != 0 or first_line.strip() != "ready":
        raise RuntimeError(f"the bot core probe failed: {errors[-2000:]}")
    rss_mib = int(rest.split()[-1]) / 1024
    return [
        Row(
            f"bot ready, {size:,} distractors",
            "process start to the bot core's first answer "
            "(model, store, snapshot from the sidecar)",
            ready_s,
            " s",
            "<= 10" if size >= STAND_IN_FROM else "",
        ),
        Row(
            f"memory: bot core, {size:,} distractors",
            "peak RSS of the answer service after 16 concurrent questions",
            rss_mib,
            " MiB",
            "<= 1536",
        ),
    ]


# -- inputs ----------------------------------------------------------------------------------


def _questions(dev_set: Path | None) -> list[str]:
    if dev_set is None:
        return [DEMO_QUESTION, "Who will travel to China?", "Did they discuss AI?"]
    return [c.question for c in parse_cases(dev_set.read_text(encoding="utf-8").splitlines())]


def distractor_paragraphs(count: int) -> list[str]:
    """``count`` distinct paragraphs of real English from installed Python docstrings.

    Standard library first, then site-packages, files in sorted order, so the same
    environment always yields the same paragraphs.
    """
    roots = [Path(sysconfig.get_paths()["stdlib"]), Path(sysconfig.get_paths()["purelib"])]
    seen: set[str] = set()
    found: list[str] = []
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            relative = path.relative_to(root).parts
            if relative and relative[0] in {"site-packages", "test", "idlelib", "lib2to3"}:
                continue
            for paragraph in _docstring_paragraphs(path):
                if paragraph not in seen:
                    seen.add(paragraph)
                    found.append(paragraph)
                    if len(found) == count:
                        return found
    raise RuntimeError(f"only {len(found):,} distinct docstring paragraphs are installed")


def _docstring_paragraphs(path: Path) -> list[str]:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (SyntaxError, UnicodeDecodeError, ValueError, OSError):
        return []
    paragraphs = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            docstring = ast.get_docstring(node)
            for block in re.split(r"\n\s*\n", docstring or ""):
                text = " ".join(block.split())
                if len(text) >= _MIN_PARAGRAPH_CHARS and text[0].isalpha() and "  " not in text:
                    paragraphs.append(text)
    return paragraphs


def _write_corpus(folder: Path, size: int) -> Path:
    """The bundled article plus ``size`` distractor paragraphs, one per line, in files."""
    marker = folder / ".complete"
    if marker.exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    shutil.copy(BUNDLED_CORPUS_DIR / "xi-biden-call.txt", folder / "xi-biden-call.txt")
    paragraphs = distractor_paragraphs(size)
    for start in range(0, size, DISTRACTORS_PER_FILE):
        chunk = paragraphs[start : start + DISTRACTORS_PER_FILE]
        (folder / f"docstrings-{start // DISTRACTORS_PER_FILE:04d}.txt").write_text(
            "\n".join(chunk) + "\n", encoding="utf-8"
        )
    marker.touch()
    return folder


def _median_ms(action: Callable[[], object], repeats: int) -> float:
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def _paired_median_ms(
    first: Callable[[], object], second: Callable[[], object], repeats: int
) -> tuple[float, float]:
    """Median milliseconds of two actions timed in alternation, so a change in the machine's
    load during the run affects both sides of a ratio alike."""
    timings: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeats):
        for action, into in ((first, timings[0]), (second, timings[1])):
            started = time.perf_counter()
            action()
            into.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings[0]), statistics.median(timings[1])


def default_workdir(settings: Settings) -> Path:
    """``READOUT_BENCH_DIR``, else a folder in the system's temporary directory."""
    return settings.bench_dir or Path(tempfile.gettempdir()) / "readout-bench"


def probe_environment(settings: Settings, store: Path) -> dict[str, str]:
    """The environment of a probe process: this one's (PATH, the venv, HOME…), with the
    store and model under test."""
    return dict(os.environ, READOUT_STORE=str(store), READOUT_MODEL_DIR=str(settings.model_dir))
