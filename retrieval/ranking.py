"""Ranking: order candidate sentences by their fitted probability, then compose the answer.

Pure functions, no I/O. The probabilities come from ``policy.Calibration`` over the features of
``features.measure``; this module only sorts them, explains them in words, and picks the
sentences an answer quotes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from retrieval import policy
from retrieval.features import FEATURES

_COLUMN = {name: i for i, name in enumerate(FEATURES)}


@dataclass(frozen=True, slots=True)
class Ranked:
    """A candidate sentence row, how strongly the rank head prefers it (``score``), the
    probability that it answers (``answers``), and its measured features."""

    row: int
    score: float
    features: tuple[float, ...] = ()
    answers: float = 0.0

    def feature(self, name: str) -> float:
        return self.features[_COLUMN[name]] if self.features else 0.0

    def reason(self) -> str:
        """Why this sentence was chosen, in words."""
        parts = [
            f"meaning {self.feature('dense_sentence'):.2f} "
            f"(paragraph {self.feature('dense_paragraph'):.2f})",
            f"shared words {self.feature('lexical_sentence'):.2f} "
            f"(paragraph {self.feature('lexical_paragraph'):.2f})",
        ]
        if self.feature("speaker_credited"):
            parts.append("attributed to the speaker asked about")
        if self.feature("answer_type_held"):
            parts.append("holds the kind of answer asked for")
        parts.append(f"probability {self.answers:.2f}")
        return "; ".join(parts)


def rank(
    rows: Sequence[int],
    preferences: npt.NDArray[np.float64],
    matrix: npt.NDArray[np.float64] | None = None,
    answers: npt.NDArray[np.float64] | None = None,
) -> list[Ranked]:
    """Candidates best first by ``preferences`` (ties by row, so results are stable)."""
    ranked = [
        Ranked(
            row,
            float(preferences[i]),
            tuple(matrix[i].tolist()) if matrix is not None else (),
            float(answers[i]) if answers is not None else float(preferences[i]),
        )
        for i, row in enumerate(rows)
    ]
    ranked.sort(key=lambda r: (-r.score, r.row))
    return ranked


def select_sentences(
    ranked: Sequence[Ranked],
    *,
    texts: Sequence[str],
    paragraph_of: Sequence[int],
    max_sentences: int = policy.MAX_SENTENCES,
    same_paragraph_ratio: float = policy.SAME_PARAGRAPH_SHARE,
    other_paragraph_ratio: float = policy.OTHER_PARAGRAPH_SHARE,
) -> list[Ranked]:
    """The best sentence, plus up to ``max_sentences - 1`` others nearly as good.

    A runner-up is kept when its score is close to the best one's: from the same paragraph
    (usually the rest of the same statement) within ``same_paragraph_ratio``, from elsewhere
    (a second source saying the same) only within the stricter ``other_paragraph_ratio``. A tail
    of weaker matches would only dilute the answer. Duplicate texts are skipped.
    """
    if not ranked:
        return []
    best = ranked[0]
    chosen = [best]
    seen = {texts[best.row]}
    for candidate in ranked[1:]:
        if len(chosen) >= max_sentences or candidate.score < same_paragraph_ratio * best.score:
            break
        same_paragraph = paragraph_of[candidate.row] == paragraph_of[best.row]
        if not same_paragraph and candidate.score < other_paragraph_ratio * best.score:
            continue
        if texts[candidate.row] in seen:
            continue
        chosen.append(candidate)
        seen.add(texts[candidate.row])
    return chosen
