"""Where a local fit of an early booster stops, for the boosters fitted on the workers.

:func:`training.models.fit_local` stops an early booster (one whose rounds are chosen by its
loss on the inner validation slice) once that loss has not improved for
:data:`training.models.PATIENCE` rounds, and LightGBM leaves it with the trees up to its best
round: the candidate rounds are then those up to it, and it. LightGBM's Dask estimator
cannot stop early, so the cluster's booster is fitted every round, each block sums the loss
of its slice rows after each round (:func:`slice_losses`, the metric LightGBM stops on, as a
sum), and the booster is cut where the local fit, seeing those losses, would have stopped
(:func:`stopped_rounds`). The losses are the cluster booster's own: it stops where a local
fit of it would, not where the local booster (whose trees differ a little) does.
"""

from __future__ import annotations

import numpy as np

from training.models import PATIENCE

_FLOOR = 1e-10  # LightGBM's floor of a count forecast in its poisson and tweedie metrics
_EPSILON = 1e-15  # and of a probability in its binary log-loss
TWEEDIE_POWER = 1.5  # LightGBM's default tweedie_variance_power (booster_params keeps it)


def slice_losses(rows, late_from: np.datetime64, booster, label: str, loss: str) -> np.ndarray:
    """The sum over a block's inner-slice rows (every row of the slice, as the local fit's
    held-out rows) of LightGBM's ``loss`` metric after each of the booster's rounds.

    Args:
        rows: the block's :class:`training.partitioned.TrainRows`.
        label: ``"count"`` or ``"flag"``, the booster's label.
        loss: its objective: ``poisson``, ``tweedie`` or ``binary``.
    """
    late = rows.period >= late_from
    return round_losses(booster, rows.X[late], (rows.flag if label == "flag" else
                                                 rows.count)[late], loss)


def round_losses(booster, X: np.ndarray, y: np.ndarray, loss: str) -> np.ndarray:
    """The sum over rows ``X``, ``y`` of LightGBM's ``loss`` metric after each round."""
    raw = np.zeros(len(y))
    out = np.zeros(booster.current_iteration())
    if not len(y):
        return out
    for i in range(len(out)):
        raw += booster.predict(X, start_iteration=i, num_iteration=1, raw_score=True)
        out[i] = point_losses(raw, y, loss).sum()
    return out


def point_losses(raw: np.ndarray, y: np.ndarray, loss: str) -> np.ndarray:
    """LightGBM's per-row metric of raw scores: poisson and tweedie on the count forecast
    (floored at 1e-10), binary log-loss on the probability (floored at 1e-15 on either side)."""
    if loss == "binary":
        p = 1 / (1 + np.exp(-raw))
        chance = np.where(y > 0, p, 1 - p)
        return -np.log(np.where(chance > _EPSILON, chance, _EPSILON))
    mu = np.maximum(np.exp(raw), _FLOOR)
    if loss == "poisson":
        return mu - y * np.log(mu)
    rho = TWEEDIE_POWER
    return -y * mu ** (1 - rho) / (1 - rho) + mu ** (2 - rho) / (2 - rho)


def stopped_rounds(losses: np.ndarray, patience: int = PATIENCE) -> int:
    """The rounds a local fit keeps, given its slice's loss after each round: LightGBM's
    early stopping (a round is better only if its loss is strictly lower) stops ``patience``
    rounds after the best and keeps the trees up to it; at the last round, it keeps those too."""
    best, best_loss = 0, np.inf
    for i, value in enumerate(losses):
        if value < best_loss:
            best, best_loss = i, value
        elif i - best >= patience:
            break
    return best + 1
