"""Boosting rounds: a fit with held-out rows stops once their loss no longer improves."""

from __future__ import annotations

import numpy as np
import pytest

from riskgrid.experiment import TrainingConfig
from training.models import PATIENCE, Sample, booster_params, fit_local, fitted_rounds

NAMES = [f"x{i}" for i in range(4)]


def sample(signal: float, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, len(NAMES))).astype(np.float32)
    return X, rng.poisson(np.exp(signal * X[:, 0] - 0.5 * signal * X[:, 1])).astype(float)


def fit(signal: float, held_out: bool, rounds: int = 300):
    X, y = sample(signal, 4000, 0)
    kept = sample(signal, 2000, 1) if held_out else None
    rows = Sample.of(X, y, np.ones(len(y)), np.zeros(len(y)), NAMES, kept)
    return fit_local(rows, booster_params(TrainingConfig(), "poisson", len(y)), rounds)


def test_without_a_signal_the_fit_stops_early_and_keeps_its_best_rounds():
    """Noise: the held-out loss is best after a few rounds; the fit stops PATIENCE rounds
    later and keeps only the trees up to its best round."""
    stopped = fit(0.0, held_out=True)
    assert stopped.current_iteration() < PATIENCE
    assert fit(0.0, held_out=False).current_iteration() == 300
    X, _ = sample(0.0, 100, 2)
    # It predicts with every tree it kept, like any other booster.
    np.testing.assert_allclose(stopped.predict(X), stopped.predict(
        X, num_iteration=stopped.current_iteration()))


def test_with_a_signal_the_fit_goes_on_while_the_held_out_loss_improves():
    assert fit(1.0, held_out=True).current_iteration() > 2 * PATIENCE


@pytest.mark.parametrize(("trained", "expected"), [(300, [25, 50, 75, 100, 150, 200, 300]),
                                                   (137, [25, 50, 75, 100, 137])])
def test_the_candidate_rounds_are_those_the_booster_has_trees_for(trained, expected):
    class Booster:
        def current_iteration(self) -> int:
            return trained

    assert fitted_rounds(Booster(), TrainingConfig()) == expected
