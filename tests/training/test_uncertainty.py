"""The predictive distribution: learned dispersion, intervals that hold their level, CRPS."""

from __future__ import annotations

import numpy as np
import pytest

from training.uncertainty import (
    coverage,
    crps,
    exceedance,
    fit_dispersion,
    interval,
    uncertainty_metrics,
)

RNG = np.random.default_rng(3)


def overdispersed(n: int, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    mu = RNG.gamma(2.0, 1.0, n)
    return RNG.poisson(mu * RNG.gamma(1 / alpha, alpha, n)), mu


@pytest.mark.parametrize(("low", "high"), [(0.3, 1.5), (1, 5), (5, 40)])
def test_intervals_of_a_calibrated_forecast_hold_their_level_even_for_small_counts(low, high):
    mu = RNG.uniform(low, high, 50_000)
    lo, hi = interval(mu, 0.0, 0.8)
    assert coverage(RNG.poisson(mu), lo, hi) == pytest.approx(0.8, abs=0.03)
    assert (lo <= np.floor(mu) + 1).all() and (hi >= np.floor(mu) - 1).all()


def test_the_dispersion_is_learned_and_its_intervals_cover_where_poissons_fall_short():
    y, mu = overdispersed(40_000, 0.4)
    alpha = fit_dispersion(y, mu)
    assert alpha == pytest.approx(0.4, rel=0.15)
    assert coverage(y, *interval(mu, alpha)) == pytest.approx(0.8, abs=0.03)
    assert coverage(y, *interval(mu, 0.0)) < 0.75
    assert crps(y, mu, alpha) < crps(y, mu, 0.0)


def test_the_chance_of_exceeding_a_threshold_is_the_served_laws():
    """Overdispersed counts: the share above each area's threshold is what the learned
    negative binomial says, where the Poisson law promises too little of the tail."""
    rng = np.random.default_rng(11)
    mu = rng.gamma(2.0, 1.0, 60_000)
    y = rng.poisson(mu * rng.gamma(1 / 0.4, 0.4, len(mu)))
    threshold = rng.integers(0, 4, len(y)).astype(float)
    above = y > threshold
    alpha = fit_dispersion(y, mu)
    served = exceedance(mu, threshold, alpha)
    for band in (served < 0.2, (served >= 0.2) & (served < 0.5), served >= 0.5):
        assert above[band].mean() == pytest.approx(served[band].mean(), abs=0.01)
    poisson = exceedance(mu, threshold, 0.0)
    tail = served < 0.2
    assert above[tail].mean() > 1.15 * poisson[tail].mean()
    # 2.5 thresholds are 2: the count must be 3 or more
    assert exceedance(np.array([1.0]), np.array([2.5]))[0] == pytest.approx(
        exceedance(np.array([1.0]), np.array([2.0]))[0])


def test_poisson_counts_and_counts_without_events_learn_no_dispersion():
    mu = RNG.uniform(0.5, 4, 20_000)
    assert fit_dispersion(RNG.poisson(mu), mu) < 0.02
    assert fit_dispersion(np.zeros(10), np.ones(10)) == 0.0


def test_crps_matches_a_hand_computation():
    # Poisson(1), outcome 1: sum over k of (F(k) - 1{k >= 1})^2.
    f = np.cumsum([np.exp(-1) / np.prod(range(1, k + 1)) for k in range(30)])
    expected = f[0] ** 2 + np.sum((f[1:] - 1) ** 2)
    assert crps(np.array([1.0]), np.array([1.0])) == pytest.approx(expected)
    assert crps(np.array([0.0]), np.array([1e-12])) == pytest.approx(0.0, abs=1e-9)


def test_metrics_take_one_dispersion_per_row_and_name_the_level():
    y, mu = overdispersed(4_000, 0.4)
    alpha = np.where(np.arange(y.size) % 2, 0.4, 0.0)
    out = uncertainty_metrics(y, mu, alpha, level=0.8)
    assert set(out) == {"crps", "coverage@80%", "width@80%"}
    halves = [uncertainty_metrics(y[alpha == a], mu[alpha == a], a) for a in (0.0, 0.4)]
    assert out["crps"] == pytest.approx(np.mean([h["crps"] for h in halves]), rel=1e-3)
    with pytest.raises(ValueError, match="level"):
        interval(mu, 0.0, 1.2)
