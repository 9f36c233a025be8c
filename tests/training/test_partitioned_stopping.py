"""The cluster's early boosters are cut where a local fit stops on the inner slice."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest

from training.models import Sample, fit_local
from training.partitioned import TrainRows
from training.partitioned_stopping import slice_losses, stopped_rounds


def block(X: np.ndarray, count: np.ndarray, period: np.ndarray) -> TrainRows:
    n = len(count)
    return TrainRows(X=X, count=count, flag=(count > 1).astype(float), weight=np.ones(n),
                     period=period, area=np.zeros(n), size=np.ones(n), threshold=None,
                     anchors={}, names=[f"x{i}" for i in range(X.shape[1])])


@pytest.mark.parametrize(("loss", "label"), [("poisson", "count"), ("tweedie", "count"),
                                             ("binary", "flag")])
def test_the_cut_is_where_a_local_fit_stops(loss, label):
    rng = np.random.default_rng(3)
    n = 3000
    X = rng.normal(size=(n, 4))
    count = rng.poisson(np.exp(0.4 * X[:, 0])).astype(float)
    period = np.repeat(np.arange(30), n // 30).astype("datetime64[W]")
    late_from = period[int(0.8 * n)]
    late = period >= late_from
    rows = block(X, count, period)
    y = rows.flag if label == "flag" else count
    params = {"objective": loss, "learning_rate": 0.3, "num_leaves": 15, "verbosity": -1,
              "num_threads": 1, "seed": 1, "deterministic": True, "bagging_fraction": 0.8,
              "bagging_freq": 1}
    names = rows.names
    local = fit_local(Sample.of(X[~late], y[~late], np.ones((~late).sum()), np.zeros(
        (~late).sum()), names, (X[late], y[late])), params, 300)
    whole = lgb.train(params, lgb.Dataset(X[~late], label=y[~late], feature_name=names), 300)
    # the slice's rows in two blocks, their losses added up
    halves = [block(X[s], count[s], period[s]) for s in (slice(0, n // 2), slice(n // 2, n))]
    losses = sum(slice_losses(b, late_from, whole, label, loss) for b in halves)
    assert len(losses) == 300 and local.current_iteration() < 250  # it did stop early
    assert stopped_rounds(losses) == local.current_iteration()


def test_stopping_keeps_the_best_round_and_waits_patience_rounds():
    assert stopped_rounds(np.array([3.0, 2.0, 2.0, 2.5, 1.0]), patience=2) == 2
    assert stopped_rounds(np.array([3.0, 2.0, 2.5, 1.0]), patience=3) == 4
    assert stopped_rounds(np.array([1.0, 1.0, 1.0])) == 1  # equal is not better
