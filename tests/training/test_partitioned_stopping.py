"""The cluster's early boosters are cut where a local fit stops on the inner slice."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest

from training.models import Sample, fit_local
from training.partitioned import TrainRows
from training.partitioned_stopping import round_losses, slice_losses, stopped_rounds


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


@pytest.mark.distributed
def test_a_fit_on_the_cluster_with_held_out_rows_stops_as_a_local_one(dask_cluster):
    """``riskgrid train --engine dask`` on a panel written whole: the early booster is cut
    where a local fit of it stops (its best round on the held-out rows), not left at every
    round."""
    from distributed import Client

    from training.distributed import fit_on_cluster

    rng = np.random.default_rng(5)
    X = rng.normal(size=(4000, 4))
    count = rng.poisson(np.exp(0.4 * X[:, 0])).astype(float)
    held = (X[3000:], count[3000:])
    params = {"objective": "poisson", "learning_rate": 0.3, "num_leaves": 15,
              "verbosity": -1, "seed": 1, "deterministic": True}
    sample = Sample.of(X[:3000], count[:3000], np.ones(3000), np.repeat(np.arange(30), 100),
                       ["a", "b", "c", "d"], held)
    with Client(dask_cluster) as client:
        booster = fit_on_cluster(client, sample, params, 300)
        every = fit_on_cluster(client, Sample.of(*[getattr(sample, k) for k in (
            "X", "label")], np.ones(3000), sample.area, sample.names), params, 300)
    assert every.current_iteration() == 300
    assert booster.current_iteration() < 300 - 50  # it stopped
    losses = round_losses(booster, *held, "poisson")
    # cut at its best round: the last it keeps is the best of them
    assert stopped_rounds(losses) == booster.current_iteration() == int(np.argmin(losses)) + 1
