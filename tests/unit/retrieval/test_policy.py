from __future__ import annotations

import json
import logging
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from index.errors import ConfigError
from retrieval import policy
from retrieval.features import FEATURES


def test_the_shipped_calibration_fits_the_default_model_and_the_current_features() -> None:
    calibration = policy.calibration_for(policy.DEFAULT_MODEL_ID)
    assert calibration.fitted_for
    assert calibration.features == FEATURES
    assert 0.0 < calibration.threshold < 1.0


def test_the_shipped_calibration_records_what_it_was_trained_and_validated_on() -> None:
    raw = json.loads(resources.files("retrieval").joinpath("ranker.json").read_text())
    fitted = raw["calibrations"][policy.DEFAULT_MODEL_ID]
    assert "data/squad/questions.jsonl" in fitted["trained_on"]
    assert fitted["cross_validated"]["squad"]["answerable"] == 600


def test_probability_rises_with_evidence_the_fit_weighs_positively() -> None:
    calibration = policy.calibration_for(policy.DEFAULT_MODEL_ID)
    base = calibration.mean.reshape(1, -1).copy()
    strongest = int(np.argmax(calibration.coef))
    better = base.copy()
    better[0, strongest] += calibration.scale[strongest]
    low, high = calibration.probability(np.vstack([base, better]))
    assert 0.0 < low < high < 1.0
    # The rank head orders candidates; it is fitted on the same features.
    assert calibration.rank_coef.shape == calibration.coef.shape
    assert calibration.answers(calibration.threshold)
    assert not calibration.answers(calibration.threshold - 1e-6)


def test_an_uncalibrated_model_borrows_the_default_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    policy.calibration_for.cache_clear()
    with caplog.at_level(logging.WARNING, logger="retrieval.policy"):
        borrowed = policy.calibration_for("someone/other-model@abc")
    assert not borrowed.fitted_for
    assert "no ranking calibration for someone/other-model@abc" in caplog.text
    default = policy.calibration_for(policy.DEFAULT_MODEL_ID)
    assert np.array_equal(borrowed.coef, default.coef)


def test_a_calibration_for_other_features_is_refused() -> None:
    size = len(FEATURES) - 1
    with pytest.raises(ConfigError, match="make train"):
        zeros = np.zeros(size)
        policy.Calibration("m", FEATURES[:-1], zeros, np.ones(size), zeros, 0.0, zeros, 0.0, 0.5)


def test_a_missing_or_damaged_calibration_file_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(policy.resources, "files", lambda package: tmp_path)
    for content in (None, "{not json", '{"format": 1, "calibrations": {}}'):
        if content is not None:
            (tmp_path / "ranker.json").write_text(content)
        policy._calibrations.cache_clear()
        policy.calibration_for.cache_clear()
        with pytest.raises(ConfigError, match="make train"):
            policy.calibration_for(policy.DEFAULT_MODEL_ID)
    monkeypatch.undo()
    policy._calibrations.cache_clear()
    policy.calibration_for.cache_clear()
    assert policy.calibration_for(policy.DEFAULT_MODEL_ID).fitted_for
