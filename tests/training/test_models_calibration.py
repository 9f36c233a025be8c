"""Risk calibration: probabilities right on average, without plateaus that tie the ranking."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.isotonic import IsotonicRegression

from training.metrics import expected_calibration_error
from training.models import Calibrator

RNG = np.random.default_rng(5)


def scores(n: int) -> tuple[np.ndarray, np.ndarray]:
    raw = 0.001 + 0.9 * RNG.beta(0.6, 10, n)
    return raw, (RNG.random(n) < np.clip(1.6 * raw, 0, 1)).astype(float)


@pytest.mark.parametrize("method", ["isotonic", "sigmoid"])
def test_calibrated_probabilities_keep_the_ranking_and_are_right_on_average(method):
    raw, flag = scores(60_000)
    calibrator = Calibrator(method).fit(raw[:30_000], flag[:30_000])
    held_raw, held_flag = raw[30_000:], flag[30_000:]
    p = calibrator.transform(held_raw)
    order = np.argsort(held_raw)
    assert (np.diff(p[order]) > 0).mean() > 0.999  # strictly increasing: no plateaus
    assert expected_calibration_error(held_flag, p) < 0.01
    assert ((p >= 0) & (p <= 1)).all()


def test_isotonic_calibration_spreads_what_plain_isotonic_ties():
    raw, flag = scores(20_000)
    plain = IsotonicRegression(out_of_bounds="clip").fit(raw, flag).predict(raw)
    smooth = Calibrator("isotonic").fit(raw, flag).transform(raw)
    assert len(np.unique(plain)) < 100
    assert len(np.unique(smooth)) > 19_000


def test_one_class_keeps_the_raw_scores_and_an_older_calibrator_still_works():
    raw = np.linspace(0.01, 0.5, 10)
    assert Calibrator("isotonic").fit(raw, np.zeros(10)).transform(raw) == pytest.approx(raw)
    older = Calibrator("isotonic", model=IsotonicRegression().fit(raw, raw > 0.25))
    del older.__dict__["knots"]  # as unpickled from before the knots existed
    assert older.transform(np.array([0.1, 0.4])).tolist() == [0.0, 1.0]
