"""Fit readout's ranking and abstention on public question sets: ``make train``.

Writes ``retrieval/ranker.json``: two logistic regressions over ``retrieval.features.FEATURES``
(a rank head that orders candidate sentences, an answer head giving the probability that the
chosen one answers) and one abstention threshold, for the configured embedding model.

Data (all in the repo, see ``data/README.md``):

* the SQuAD 2.0 subset in ``data/squad``: 16 indexed Wikipedia articles, 600 questions on them
  labelled with a paragraph, 150 on three articles that are not indexed;
* the article's question set ``data/dev.jsonl``, asked of the article alone, beside the
  Wikipedia articles, and beside the docs below;
* ``data/docs``: four projects' Markdown docs, 192 chat-style questions labelled with a verbatim
  answer, 48 the docs do not cover.

Each corpus is indexed with the real model into a temporary store; every question's candidates
are measured by the engine itself (``Engine.score_many``), so training sees exactly the features
answering will.

* Truth: a paragraph-labelled question is answered by the sentences of its paragraph (matched
  by text, so labels do not depend on how the parser numbers paragraphs); an answer-labelled
  one by the sentences holding the answer (``evaluation.holds_answer``), and its paragraph.
  The answer head learns from all of those; the rank head only from the likeliest answer
  sentence (see ``_answer_sentence_only``).
* The answer head does not see the features that compare a candidate with the others
  (``features.RELATIVE_FEATURES``: ranks, gaps, shares of the best): whether the documents
  hold an answer should not change because unrelated documents were added beside them. The
  rank head uses them all.
* Each question weighs the same, however many candidates it has, and each set its
  ``SET_SHARE``.
* Validation leaves whole documents out (``GroupKFold`` over documents; the off-corpus
  questions, which name no document, are grouped into their articles by clustering their
  vectors, or by project), never single questions. The threshold is chosen on those held-out
  predictions (``_threshold``).
* The shipped model is then fitted on everything. Small indexes are searched exactly
  (``index.exact``) and the fitting is deterministic, so a run on the same machine repeats.

Usage: ``python scripts/train_ranker.py [--out retrieval/ranker.json] [--work DIR]``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
from sklearn.cluster import KMeans
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold

from bot import runtime
from bot.settings import Settings
from retrieval import policy
from retrieval.engine import Engine, Scored
from retrieval.evaluation import holds_answer
from retrieval.features import FEATURES, RELATIVE_FEATURES
from retrieval.policy import Calibration

ROOT = Path(__file__).resolve().parent.parent


DOCS = ROOT / "data/docs"
DOCS_PROJECTS = ("attrs", "mkdocs", "starlette", "typer")


@dataclass(frozen=True)
class TrainingSet:
    """One corpus, indexed on its own, and the questions asked of it.

    Questions label either a paragraph (``paragraphs``: the SQuAD and article sets) or, with a
    ``project``, a verbatim ``answer`` in a document (``data/docs``, see its README)."""

    name: str
    paths: tuple[Path, ...]
    questions: Path
    default_doc: str = ""  # the document of questions that name none
    project: str = ""  # only this project's questions (data/docs)


SETS = (
    TrainingSet("squad", (ROOT / "data/squad/corpus",), ROOT / "data/squad/questions.jsonl"),
    TrainingSet(
        "article",
        (ROOT / "index/data/xi-biden-call.txt",),
        ROOT / "data/dev.jsonl",
        "xi-biden-call",
    ),
    # The same questions with the Wikipedia articles indexed beside the article: teams index
    # many documents, and evidence such as ranks and BM25 shares shifts with what else is
    # there. A model that only saw a 14-paragraph corpus abstained on a third of the article's
    # questions once 10,000 unrelated paragraphs were added.
    TrainingSet(
        "article-among-others",
        (ROOT / "index/data/xi-biden-call.txt", ROOT / "data/squad/corpus"),
        ROOT / "data/dev.jsonl",
        "xi-biden-call",
    ),
    # And beside the four projects' docs: technical text full of the article's words ("call",
    # "request", "said") in other senses, as in a team's mixed index.
    TrainingSet(
        "article-among-docs",
        (ROOT / "index/data/xi-biden-call.txt", *(DOCS / p / "corpus" for p in DOCS_PROJECTS)),
        ROOT / "data/dev.jsonl",
        "xi-biden-call",
    ),
    # Projects' Markdown docs: option lists, defaults, tutorials; what teams actually index.
    *(
        TrainingSet(f"docs-{p}", (DOCS / p / "corpus",), DOCS / "questions.jsonl", project=p)
        for p in DOCS_PROJECTS
    ),
)
FOLDS = 5
REGULARISATION = 1.0  # sklearn's C; the cross-validated top-1 is flat from 0.1 to 10
# How much more a refusal of an answerable question costs than an answer to one the documents do
# not cover: the user can check a quote, but cannot get an answer readout withheld.
REFUSAL_COST = 2.0
OFF_CORPUS_ARTICLES = 3
# Each set's share of the training weight. Questions on the article are few, but they are the
# product's other style (paraphrase, chat wording, statements by speakers), and a set of 33
# would otherwise count for 4% of the fit.
SET_SHARE = {
    "squad": 0.4,
    "article": 0.1,
    "article-among-others": 0.05,
    "article-among-docs": 0.05,
    **{f"docs-{p}": 0.4 / len(DOCS_PROJECTS) for p in DOCS_PROJECTS},
}


@dataclass
class Question:
    set_name: str
    case: dict[str, object]
    group: str
    scored: Scored
    features: np.ndarray
    labels: np.ndarray  # per candidate: in the passage that answers (the answer head's truth)
    answers: np.ndarray  # per candidate: a right first citation (what top-1 counts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "retrieval" / policy.CALIBRATION_FILE)
    parser.add_argument("--work", type=Path, help="keep the training indexes here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="readout-train-") as scratch:
        work = args.work or Path(scratch)
        questions, model_id = measure_all(work)
    report, threshold = cross_validate(questions, model_id)
    model = fit(questions, range(len(questions)), model_id)
    write(args.out, model_id, model, threshold, report)
    print(json.dumps(report, indent=2))


def measure_all(work: Path) -> tuple[list[Question], str]:
    questions: list[Question] = []
    model_id = ""
    for training in SETS:
        store = work / training.name
        if not store.exists():
            subprocess.run(
                [sys.executable, "-m", "bot", "index", "--store", str(store)]
                + [str(p) for p in training.paths],
                check=True,
            )
        settings = Settings.from_env({**os.environ, "READOUT_STORE": str(store)})
        engine = runtime.open_engine(settings, preload_model=True)
        model_id = engine.embedder.model_id
        lines = training.questions.read_text(encoding="utf-8").splitlines()
        cases = [json.loads(line) for line in lines if line.strip()]
        if training.project:
            cases = [c for c in cases if c.get("project") == training.project]
        scored = engine.score_many(
            [str(c["question"]) for c in cases], policy.Calibration.unfitted(model_id)
        )
        positive = _answer_labels(cases) if training.project else _paragraph_labels(training, cases)
        groups = _groups(engine, training, cases)
        snapshot = engine.snapshot()
        for case, result, is_answer, group in zip(cases, scored, positive, groups, strict=True):
            assert isinstance(result, Scored), f"question refused: {case['question']!r}"
            rows = [r.row for r in result.ranked]
            answers = np.array(
                [is_answer(snapshot.sentences[r].doc_id, snapshot.sentence_texts[r]) for r in rows],
                dtype=bool,
            )
            labels = answers
            if training.project:
                # An answer-labelled set names the sentence; the answer head learns passages,
                # as it does from the paragraph-labelled sets: the answer's whole paragraph.
                held = {
                    snapshot.paragraph_row_of[r] for r, a in zip(rows, answers, strict=True) if a
                }
                labels = np.array([snapshot.paragraph_row_of[r] in held for r in rows], bool)
            matrix = np.array([r.features for r in result.ranked]).reshape(-1, len(FEATURES))
            questions.append(Question(training.name, case, group, result, matrix, labels, answers))
    return questions, model_id


Label = Callable[[str, str], bool]  # (doc id, sentence text) -> does it answer


def _norm(text: str) -> str:
    return " ".join(text.split())


def _paragraph_labels(training: TrainingSet, cases: list[dict[str, object]]) -> list[Label]:
    """A sentence answers when it lies in the question's labelled paragraph, matched by text (so
    labels do not depend on how the parser numbers paragraphs). A paragraph is what the sets'
    READMEs say: blank-line separated (one per line in a file without blank lines), front
    matter dropped, numbered from 1."""
    files = [p for path in training.paths for p in ([path] if path.is_file() else path.iterdir())]
    wanted = {str(c.get("doc") or training.default_doc) for c in cases}
    files = [f for f in files if f.is_file() and f.stem in wanted]
    paragraphs: dict[str, list[str]] = {}
    for file in files:
        text = file.read_text(encoding="utf-8")
        if text.startswith("---"):
            text = text.split("---", 2)[2]
        blocks = re.split(r"\n\s*\n", text.strip())
        if len(blocks) == 1:
            blocks = text.strip().splitlines()
        paragraphs[file.stem] = [_norm(b) for b in blocks if b.strip()]
    labels: list[Label] = []
    for case in cases:
        if not case["answerable"]:
            labels.append(partial(_in_paragraphs, "", ()))
            continue
        doc = str(case.get("doc") or training.default_doc)
        numbers = case["paragraphs"]
        assert isinstance(numbers, list)
        texts = [paragraphs[doc][int(n) - 1] for n in numbers]
        labels.append(partial(_in_paragraphs, doc, tuple(texts)))
    return labels


def _in_paragraphs(doc: str, texts: tuple[str, ...], sentence_doc: str, sentence: str) -> bool:
    return sentence_doc == doc and any(_norm(sentence) in text for text in texts)


def _answer_labels(cases: list[dict[str, object]]) -> list[Label]:
    """A sentence answers when it is in the question's document (or a page its ``also`` lists)
    and holds the verbatim answer, or is a sentence of it (``evaluation.holds_answer``)."""
    labels: list[Label] = []
    for case in cases:
        places: list[tuple[str, str]] = []
        if case["answerable"]:
            places.append((str(case["doc"]), str(case["answer"])))
            also = case.get("also") or []
            assert isinstance(also, list)
            places += [(str(a["doc"]), str(a["answer"])) for a in also]
        labels.append(partial(_holds, tuple(places)))
    return labels


def _holds(places: tuple[tuple[str, str], ...], sentence_doc: str, sentence: str) -> bool:
    return any(sentence_doc == doc and holds_answer(sentence, answer) for doc, answer in places)


def _groups(engine: Engine, training: TrainingSet, cases: list[dict[str, object]]) -> list[str]:
    """The document each question is about: what validation holds out together.

    Off-corpus SQuAD questions by the article they were written on, recovered by clustering
    their vectors (the set does not name it); a docs project's unanswerable questions by
    project."""
    default = training.default_doc
    groups = [
        f"{training.project}/{c.get('doc') or default}" if c["answerable"] else "" for c in cases
    ]
    off = [i for i, c in enumerate(cases) if not c["answerable"]]
    if off and not default and not training.project:
        vectors = engine.embedder.encode([str(cases[i]["question"]) for i in off])
        clusters = KMeans(OFF_CORPUS_ARTICLES, n_init=10, random_state=0).fit_predict(vectors)
        for i, cluster in zip(off, clusters, strict=True):
            groups[i] = f"off-corpus-{cluster}"
    for i in off:
        groups[i] = groups[i] or (f"{training.project}/off-corpus" if training.project else default)
    return groups


def fit(questions: list[Question], indices: range | np.ndarray, model_id: str) -> Calibration:
    """Both heads fitted on ``questions[indices]``, as the engine will read them (the
    threshold is chosen afterwards, on held-out predictions)."""
    chosen = [questions[i] for i in indices if len(questions[i].labels)]
    matrix = np.vstack([q.features for q in chosen])
    labels = np.concatenate([q.labels for q in chosen])
    mean = matrix.mean(axis=0)
    scale = matrix.std(axis=0)
    scale[scale == 0] = 1.0
    standard = (matrix - mean) / scale
    # Every question weighs the same, however many candidates it brought, and each set its
    # SET_SHARE of the whole.
    per_set = {name: sum(q.set_name == name for q in chosen) for name in SET_SHARE}
    question_weight = np.concatenate(
        [
            np.full(len(q.labels), SET_SHARE[q.set_name] / per_set[q.set_name] / len(q.labels))
            for q in chosen
        ]
    )
    sentence_weight = np.concatenate([_answer_sentence_only(q) for q in chosen])
    rank_coef, rank_intercept = _head(standard, labels, question_weight * sentence_weight)
    absolute = np.array([name not in RELATIVE_FEATURES for name in FEATURES])
    answer_coef, intercept = _head(standard[:, absolute], labels, question_weight)
    coef = np.zeros(len(FEATURES))
    coef[absolute] = answer_coef
    return Calibration(
        model_id, FEATURES, mean, scale, rank_coef, rank_intercept, coef, intercept, threshold=0.5
    )


def _head(
    standard: np.ndarray, labels: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, float]:
    """One logistic regression over the standardised features: its weights and intercept."""
    learner = LogisticRegression(C=REGULARISATION, max_iter=5000)
    learner.fit(standard, labels, sample_weight=weights * len(weights) / weights.sum())
    return learner.coef_[0].copy(), float(learner.intercept_[0])


COVERAGE = FEATURES.index("coverage_sentence")
DENSE = FEATURES.index("dense_sentence")


def _answer_sentence_only(q: Question) -> np.ndarray:
    """Weights for the rank head: of the answering passage's sentences, only the one most
    likely to hold the answer counts (of those holding it, where the set names the answer; the
    one sharing most of the question's IDF weight, then the closest in meaning); the others are
    left out, neither right nor wrong.

    SQuAD labels paragraphs, but an answer quotes sentences: without this the rank head learns
    which paragraph, and is indifferent to which of its sentences comes first. Crowd questions
    are written from one sentence, and share its words.
    """
    weights = np.ones(len(q.labels))
    weights[q.labels] = 0.0
    if q.answers.any():
        closeness = q.features[:, COVERAGE] + 0.01 * q.features[:, DENSE]
        best = np.flatnonzero(q.answers)[np.argmax(closeness[q.answers])]
        weights[best] = 1.0
    return weights


def cross_validate(questions: list[Question], model_id: str) -> tuple[dict[str, object], float]:
    """Held-out-document predictions for every question; the threshold chosen on them."""
    groups = np.array([q.group for q in questions])
    best = np.zeros(len(questions))
    correct = np.zeros(len(questions), dtype=bool)
    ranks = np.full(len(questions), np.inf)
    for train, test in GroupKFold(n_splits=FOLDS).split(groups, groups=groups):
        model = fit(questions, train, model_id)
        for i in test:
            q = questions[i]
            if not len(q.labels):
                continue
            order = np.argsort(-model.preference(q.features), kind="stable")
            best[i] = float(model.probability(q.features).max())
            correct[i] = q.answers[order[0]]
            hits = np.flatnonzero(q.answers[order])
            ranks[i] = hits[0] + 1 if len(hits) else np.inf
    answerable = np.array([bool(q.case["answerable"]) for q in questions])
    names = np.array([q.set_name for q in questions])
    threshold = _threshold(best, answerable, names)
    report: dict[str, object] = {"threshold": round(threshold, 4)}
    for name in [t.name for t in SETS]:
        mine = np.array([q.set_name == name for q in questions])
        yes, no = mine & answerable, mine & ~answerable
        report[name] = {
            "answerable": int(yes.sum()),
            "top1": int(correct[yes].sum()),
            "top1_answered": int((correct & (best >= threshold))[yes].sum()),
            "mrr": round(float(np.mean(1.0 / ranks[yes])), 4),
            "false_abstentions": int((best[yes] < threshold).sum()),
            "unanswerable": int(no.sum()),
            "abstained": int((best[no] < threshold).sum()),
        }
    return report, threshold


def _threshold(best: np.ndarray, answerable: np.ndarray, names: np.ndarray) -> float:
    """The threshold with the lowest expected cost on the held-out predictions ``best``: in each
    set, the share of answerable questions refused (at ``REFUSAL_COST``) plus the share of the
    others answered, weighed by ``SET_SHARE``; the lowest such threshold."""
    candidates = np.unique(np.round(best, 3))

    def cost(threshold: float) -> float:
        total = 0.0
        for name, share in SET_SHARE.items():
            mine = names == name
            if (mine & answerable).any():
                total += share * REFUSAL_COST * float((best[mine & answerable] < threshold).mean())
            if (mine & ~answerable).any():
                total += share * float((best[mine & ~answerable] >= threshold).mean())
        return total

    costs = [cost(float(t)) for t in candidates]
    return float(candidates[int(np.argmin(costs))])


def write(
    out: Path, model_id: str, model: Calibration, threshold: float, report: dict[str, object]
) -> None:
    existing = json.loads(out.read_text()) if out.exists() else {}
    same_format = existing.get("format") == policy.CALIBRATION_FORMAT
    calibrations = existing.get("calibrations", {}) if same_format else {}
    sources = sorted(
        {p for t in SETS for p in (*_files(t.paths), t.questions)},
        key=lambda p: str(p),
    )
    calibrations[model_id] = {
        "features": list(FEATURES),
        "mean": [round(float(v), 6) for v in model.mean],
        "scale": [round(float(v), 6) for v in model.scale],
        "rank": {
            "coef": [round(float(v), 6) for v in model.rank_coef],
            "intercept": round(model.rank_intercept, 6),
        },
        "answer": {
            "coef": [round(float(v), 6) for v in model.coef],
            "intercept": round(model.intercept, 6),
        },
        "threshold": round(threshold, 6),
        "learner": f"two sklearn LogisticRegression(C={REGULARISATION}) heads, standardised "
        "features; the answer head without the relative ones",
        "threshold_rule": f"lowest held-out cost, a refusal costing {REFUSAL_COST:g}x an answer "
        "to an uncovered question, sets weighed by their training share",
        "set_share": SET_SHARE,
        "trained_on": {
            str(p.relative_to(ROOT)): hashlib.sha256(p.read_bytes()).hexdigest()[:16]
            for p in sources
        },
        "cross_validated": report,
    }
    payload = {"format": policy.CALIBRATION_FORMAT, "calibrations": calibrations}
    out.write_text(json.dumps(payload, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {out}", file=sys.stderr)


def _files(paths: tuple[Path, ...]) -> list[Path]:
    return [
        p
        for path in paths
        for p in ([path] if path.is_file() else sorted(path.rglob("*")))
        if p.is_file()
    ]


if __name__ == "__main__":
    main()
