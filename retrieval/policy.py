"""The scoring policy: how deep to search, how evidence is weighed, when to abstain.

This is the one place that answers "why did it rank this first?". The numbers come in two kinds:

* **Search depths** (how many nearest sentences and paragraphs each search returns), set here
  by hand: they bound the work per question, not the order of the answers.
* **Fitted parameters**, one calibration per embedding model, in ``ranker.json`` beside this
  module: two logistic regressions over the features of ``features.FEATURES``. The *rank* head
  orders the candidate sentences (which one to quote first); the *answer* head gives each the
  probability that it lies in the passage that answers the question, and readout abstains when
  no candidate reaches one fitted threshold. Two heads because the training sets label
  passages, not sentences: the answer head learns from every sentence of the labelled passage,
  the rank head only from its likeliest answer sentence. They are fitted by ``make train``
  (``scripts/train_ranker.py``) on public question sets kept in ``data/``, validated on whole
  documents held out, never set by hand.

A model with no calibration (``READOUT_MODEL`` pointing elsewhere) falls back to the default
model's, with a warning: cosine scales differ between models, so its abstention threshold is
only a guess until ``make train`` is run for that model.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
import numpy.typing as npt

from index.errors import ConfigError
from retrieval.features import FEATURES

log = logging.getLogger(__name__)

CALIBRATION_FILE = "ranker.json"
CALIBRATION_FORMAT = 2  # 2: a rank head and an answer head
DEFAULT_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2@1110a243"

# Search depths. Each search returns this many rows per question; every sentence of a returned
# paragraph is a candidate too.
DENSE_SENTENCES = 40
DENSE_PARAGRAPHS = 10
LEXICAL_SENTENCES = 40
LEXICAL_PARAGRAPHS = 10
# A question asking for a time, duration or number also takes the on-topic sentences holding one
# from this far down the meaning ranking: "When was the call?" resembles "call" in the
# programming sense more than the sentence that says the leaders spoke on Tuesday.
TYPED_DENSE_SENTENCES = 200
# ...where "on topic" is a cosine above what unrelated English text scores with this model.
TYPED_MIN_SIMILARITY = 0.30
# Acronym expansion: how many corpus phrases with the right initials are weighed, and how close
# in meaning to the acronym the chosen one must be ("AI"/"artificial intelligence" is 0.79,
# "NSC"/"National Security Council" 0.53, "AI"/"another incremental" 0.31).
ACRONYM_CANDIDATES = 20
ACRONYM_SIMILARITY = 0.40
# Composition: after the first sentence, up to two more the rank head likes nearly as much: from
# the same paragraph (usually the rest of the statement) within this share of the best's, from
# elsewhere only within the stricter one.
MAX_SENTENCES = 3
SAME_PARAGRAPH_SHARE = 0.8
OTHER_PARAGRAPH_SHARE = 0.9


@dataclass(frozen=True, slots=True)
class Calibration:
    """Fitted parameters for one embedding model: two heads and the abstention threshold."""

    model_id: str
    features: tuple[str, ...]
    mean: npt.NDArray[np.float64]
    scale: npt.NDArray[np.float64]
    rank_coef: npt.NDArray[np.float64]
    rank_intercept: float
    coef: npt.NDArray[np.float64]  # the answer head
    intercept: float
    threshold: float
    fitted_for: bool = True  # False when borrowed from another model (see module docstring)

    def __post_init__(self) -> None:
        if self.features != FEATURES:
            raise ConfigError(
                "retrieval/ranker.json was fitted on other features than this version of "
                "readout measures; refit it with `make train`."
            )
        size = len(self.features)
        shapes = {self.mean.shape, self.scale.shape, self.coef.shape, self.rank_coef.shape}
        if shapes != {(size,)}:
            raise ConfigError(
                "retrieval/ranker.json is damaged (its arrays do not match its feature list); "
                "refit it with `make train`."
            )

    def probability(self, matrix: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """P(the candidate lies in the passage that answers the question), one per row."""
        logits = ((matrix - self.mean) / self.scale) @ self.coef + self.intercept
        return 1.0 / (1.0 + np.exp(-logits))

    def preference(self, matrix: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """The rank head, as a probability: how likely each candidate is the sentence to
        quote. Orders the candidates and picks the runners-up an answer also quotes."""
        logits = ((matrix - self.mean) / self.scale) @ self.rank_coef + self.rank_intercept
        return 1.0 / (1.0 + np.exp(-logits))

    def answers(self, best_probability: float) -> bool:
        """Whether the likeliest passage is likely enough for readout to answer at all."""
        return best_probability >= self.threshold

    @classmethod
    def unfitted(cls, model_id: str) -> Calibration:
        """Every candidate at probability 0.5: for measuring features before anything is fitted
        (training), never for answering."""
        zeros = np.zeros(len(FEATURES))
        ones = np.ones(len(FEATURES))
        return cls(model_id, FEATURES, zeros, ones, zeros, 0.0, zeros, 0.0, 0.5, False)

    @classmethod
    def from_json(cls, model_id: str, raw: dict[str, Any], *, fitted_for: bool) -> Calibration:
        return cls(
            model_id=model_id,
            features=tuple(raw["features"]),
            mean=np.asarray(raw["mean"], dtype=np.float64),
            scale=np.asarray(raw["scale"], dtype=np.float64),
            rank_coef=np.asarray(raw["rank"]["coef"], dtype=np.float64),
            rank_intercept=float(raw["rank"]["intercept"]),
            coef=np.asarray(raw["answer"]["coef"], dtype=np.float64),
            intercept=float(raw["answer"]["intercept"]),
            threshold=float(raw["threshold"]),
            fitted_for=fitted_for,
        )


@cache
def _calibrations() -> dict[str, Any]:
    try:
        text = resources.files("retrieval").joinpath(CALIBRATION_FILE).read_text(encoding="utf-8")
        raw = json.loads(text)
        calibrations: dict[str, Any] = raw["calibrations"]
        if raw.get("format") != CALIBRATION_FORMAT or DEFAULT_MODEL_ID not in calibrations:
            raise ValueError("unknown format or no calibration for the default model")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(
            f"retrieval/{CALIBRATION_FILE} is missing or unreadable; restore it from the "
            "release, or refit it with `make train`."
        ) from exc
    return calibrations


@cache
def calibration_for(model_id: str) -> Calibration:
    """The fitted calibration for ``model_id``, or the default model's with a warning."""
    calibrations = _calibrations()
    if model_id in calibrations:
        return Calibration.from_json(model_id, calibrations[model_id], fitted_for=True)
    log.warning(
        "no ranking calibration for %s: using the one fitted for %s. Answers will be ranked, "
        "but when to abstain is a guess until `make train` fits this model (see README).",
        model_id,
        DEFAULT_MODEL_ID,
    )
    return Calibration.from_json(model_id, calibrations[DEFAULT_MODEL_ID], fitted_for=False)
