"""The predictive distribution of a forecast count: negative binomial around the expected count.

A forecast is an expected count mu and a dispersion alpha (variance mu + alpha mu^2; alpha 0
is the Poisson law). The dispersion is learned by maximum likelihood from forecasts made for
periods their model did not see, so it carries the model's own error as well as the noise of
the counts. From the distribution come the interval served with every forecast, the CRPS
and the interval's coverage in the backtest.

Counts are integers, so an interval [low, high] cannot hold exactly 80% of the probability:
the served interval is the shortest run of counts around the most likely ones whose
probability is nearest the nominal level (above or below it), so that over many forecasts
the share of outcomes inside is the nominal level, not the 90% or more that integer quantiles
give for small counts.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize, special, stats

_MIN_MEAN = 1e-9
MAX_DISPERSION = 50.0
# CRPS sums (F(k) - 1{y <= k})^2 over k; the terms past this upper tail are negligible.
_TAIL = 1e-10


def _pmf(k: np.ndarray, mu: np.ndarray, alpha: float) -> np.ndarray:
    if alpha <= 0:
        return stats.poisson.pmf(k, mu)
    size = 1 / alpha
    return stats.nbinom.pmf(k, size, size / (size + mu))


def _cdf(k: np.ndarray, mu: np.ndarray, alpha: float) -> np.ndarray:
    if alpha <= 0:
        return stats.poisson.cdf(k, mu)
    size = 1 / alpha
    return stats.nbinom.cdf(k, size, size / (size + mu))


def exceedance(mu: np.ndarray, threshold: np.ndarray, alpha: float = 0.0) -> np.ndarray:
    """P(count > threshold) under the law around each expected count ``mu`` (the served
    interval's law: negative binomial with dispersion ``alpha``, Poisson when it is 0)."""
    mu, k = np.maximum(np.asarray(mu, float), _MIN_MEAN), np.floor(threshold)
    if alpha <= 0:
        return stats.poisson.sf(k, mu)
    size = 1 / alpha
    return stats.nbinom.sf(k, size, size / (size + mu))


def _ppf(q: float, mu: np.ndarray, alpha: float) -> np.ndarray:
    if alpha <= 0:
        return stats.poisson.ppf(q, mu)
    size = 1 / alpha
    return stats.nbinom.ppf(q, size, size / (size + mu))


def log_likelihood(y: np.ndarray, mu: np.ndarray, alpha: float,
                   weight: np.ndarray | None = None) -> float:
    """Weighted negative-binomial log-likelihood of counts ``y`` (Poisson when alpha is 0)."""
    y, mu = np.asarray(y, float), np.maximum(np.asarray(mu, float), _MIN_MEAN)
    if alpha <= 0:
        terms = y * np.log(mu) - mu - special.gammaln(y + 1)
    else:
        size = 1 / alpha
        terms = (special.gammaln(y + size) - special.gammaln(size) - special.gammaln(y + 1)
                 + size * np.log(size / (size + mu)) + y * np.log(mu / (size + mu)))
    return float(np.sum(terms if weight is None else weight * terms))


def fit_dispersion(y: np.ndarray, mu: np.ndarray, weight: np.ndarray | None = None) -> float:
    """The dispersion alpha that makes counts ``y`` most likely around forecasts ``mu``.

    ``mu`` must be out-of-sample forecasts (their model did not see ``y``). Returns 0 (the
    Poisson law) when that is as likely, or when there are no events to learn from.
    """
    y, mu = np.asarray(y, float), np.asarray(mu, float)
    if y.size == 0 or not (y > 0).any():
        return 0.0
    w = None if weight is None else np.asarray(weight, float)
    found = optimize.minimize_scalar(
        lambda log_alpha: -log_likelihood(y, mu, float(np.exp(log_alpha)), w),
        bounds=(np.log(1e-4), np.log(MAX_DISPERSION)), method="bounded",
        options={"xatol": 1e-3})
    alpha = float(np.exp(found.x))
    return alpha if -found.fun > log_likelihood(y, mu, 0.0, w) else 0.0


def interval(mu: np.ndarray, alpha: float = 0.0,
             level: float = 0.8) -> tuple[np.ndarray, np.ndarray]:
    """Per forecast, the counts [low, high] of the shortest interval nearest ``level``.

    Grown from the median one count at a time, on the side of the likelier next count, until
    it holds ``level``; the last interval short of ``level`` replaces it when nearer.
    """
    if not 0 < level < 1:
        raise ValueError(f"the interval's level must lie in (0, 1); got {level}.")
    mu = np.maximum(np.asarray(mu, float), _MIN_MEAN)
    low = _ppf(0.5, mu, alpha)
    high = low.copy()
    mass = _pmf(low, mu, alpha)
    short = np.zeros(mu.shape, bool)
    short_low, short_high, short_mass = low.copy(), high.copy(), mass.copy()
    growing = mass < level
    while growing.any():
        i = np.flatnonzero(growing)
        below = np.where(low[i] > 0, _pmf(low[i] - 1, mu[i], alpha), -1.0)
        above = _pmf(high[i] + 1, mu[i], alpha)
        short[i], short_low[i], short_high[i], short_mass[i] = True, low[i], high[i], mass[i]
        down = below >= above
        low[i] -= down
        high[i] += ~down
        mass[i] += np.where(down, below, above)
        growing[i] = mass[i] < level
    nearer = short & (level - short_mass < mass - level)
    return np.where(nearer, short_low, low), np.where(nearer, short_high, high)


def coverage(y: np.ndarray, low: np.ndarray, high: np.ndarray) -> float:
    """Share of outcomes inside their interval."""
    y = np.asarray(y, float)
    return float(np.mean((y >= low) & (y <= high)))


def crps(y: np.ndarray, mu: np.ndarray, alpha: float = 0.0) -> float:
    """Mean continuous ranked probability score of the forecasts (lower is better).

    For a count distribution F and outcome y: sum over k >= 0 of (F(k) - 1{y <= k})^2.
    """
    y = np.asarray(y, float)
    mu = np.maximum(np.asarray(mu, float), _MIN_MEAN)
    if y.size == 0:
        return float("nan")
    top = int(max(y.max(), _ppf(1 - _TAIL, np.array([mu.max()]), alpha)[0]))
    total = np.zeros(y.size)
    for k in range(top + 1):
        total += (_cdf(np.full(1, k), mu, alpha) - (y <= k)) ** 2
    return float(total.mean())


def uncertainty_metrics(y: np.ndarray, mu: np.ndarray, alpha: float | np.ndarray = 0.0,
                        level: float = 0.8) -> dict[str, float]:
    """``crps``, ``coverage@80%`` and ``width@80%`` (mean high - low) of count forecasts.

    ``alpha`` may differ by row (forecasts of several models, e.g. one per fold).
    """
    y, mu = np.asarray(y, float), np.asarray(mu, float)
    alphas = np.broadcast_to(np.asarray(alpha, float), y.shape)
    score, inside, width = 0.0, 0.0, 0.0
    for a in np.unique(alphas):
        rows = alphas == a
        low, high = interval(mu[rows], float(a), level)
        score += crps(y[rows], mu[rows], float(a)) * rows.sum()
        inside += coverage(y[rows], low, high) * rows.sum()
        width += float(np.sum(high - low))
    key = f"{round(level * 100, 6):g}%"
    return {"crps": float(score / y.size), f"coverage@{key}": float(inside / y.size),
            f"width@{key}": float(width / y.size)}
