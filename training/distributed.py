"""Booster fits on a Dask cluster: LightGBM's Dask estimator on the rows, cut into area blocks.

Only the boosting runs on the cluster. Targets, sampling, shrinkage, calibration and SHAP stay
in this process, and each fit comes back as a plain ``lgb.Booster``, so the model is saved,
logged, registered and served exactly like one fitted here.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial

import lightgbm as lgb
import numpy as np

from features import Engine
from riskgrid.cluster import connect
from training.models import BoosterFit, Sample, fit_local, truncated
from training.partitioned_stopping import round_losses, stopped_rounds

BLOCKS_PER_WORKER = 3  # dealt out in turn, so every worker holds areas from all over the city
# The scikit-learn names of native parameters: the Dask estimator is a scikit-learn estimator,
# whose own defaults (min_child_samples=20, ...) would otherwise sit beside the native names.
SKLEARN_NAMES = {"min_data_in_leaf": "min_child_samples", "feature_fraction": "colsample_bytree",
                 "min_sum_hessian_in_leaf": "min_child_weight", "lambda_l2": "reg_lambda",
                 "bagging_fraction": "subsample", "bagging_freq": "subsample_freq",
                 "seed": "random_state"}


@contextmanager
def booster_fit(engine: Engine) -> Iterator[BoosterFit]:
    """:func:`training.models.fit_local`, or fits on the engine's Dask cluster while open."""
    if engine.scheduler is None:
        yield fit_local
        return
    with connect(engine.scheduler) as client:
        yield partial(fit_on_cluster, client)


def fit_on_cluster(client, sample: Sample, params: dict, rounds: int) -> lgb.Booster:
    """Data-parallel LightGBM over the cluster's workers; the booster comes back here.

    Close to a local fit, not equal: each worker finds the bins of some inputs on its own
    rows, and which worker does which follows LightGBM's order of the workers, which can
    change from one fit to the next (docs/distributed.md gives the measured difference).

    With held-out rows it is fitted every round and cut where a local fit, seeing their
    loss after each round, would have stopped (:mod:`training.partitioned_stopping`).

    Every objective, ``binary`` included, uses the regressor: the classifier re-encodes the
    labels on each worker separately, so a worker holding only flagged rows would learn them
    as unflagged. With objective ``binary`` the regressor's booster is the same kind of
    booster the classifier has (it predicts probabilities).
    """
    workers = sorted(client.nthreads())
    shares = worker_shares(sample.area, len(workers))
    X, y = (_scatter(client, values, shares, workers) for values in (sample.X, sample.label))
    weight = None if sample.weight is None else _scatter(client, sample.weight, shares, workers)
    booster = fit_arrays(client, X, y, weight, sample.names, params, rounds)
    if sample.held_out is None:
        return booster
    # LightGBM's Dask estimator cannot stop early: cut where a local fit would have stopped.
    return truncated(booster, stopped_rounds(round_losses(booster, *sample.held_out,
                                                          params["objective"])))


def fit_arrays(client, X, y, weight, names: list[str], params: dict,
               rounds: int) -> lgb.Booster:
    """LightGBM's Dask estimator on Dask arrays whose chunks are on the workers (one chunk
    per worker, for fits that do not depend on the order chunks arrive in)."""
    from lightgbm.dask import DaskLGBMRegressor

    model = DaskLGBMRegressor(client=client, **estimator_params(params, rounds))
    with client.as_current(), warnings.catch_warnings():
        # LightGBM 4.7 warns on every Dask fit that the default n_jobs is ignored
        # (LightGBM issue 6797); each worker uses its own threads, as intended.
        warnings.filterwarnings("ignore", "Parameter n_jobs will be ignored", UserWarning)
        model.fit(X, y, sample_weight=weight, feature_name=names)
    return model.to_local().booster_


def estimator_params(params: dict, rounds: int) -> dict:
    """The native parameters under the estimator's names; each worker uses its own threads."""
    named = {SKLEARN_NAMES.get(k, k): v for k, v in params.items() if k != "num_threads"}
    return named | {"n_estimators": rounds}


def worker_shares(area: np.ndarray, workers: int) -> list[np.ndarray]:
    """Each worker's rows: blocks of whole areas, a few per worker, dealt out in turn.

    Dealt, not cut in one piece per worker: LightGBM finds each input's bins on one worker's
    rows, so each worker must see areas from all over the city, not only its busiest corner.
    One share per worker, in a fixed order: LightGBM joins a worker's pieces in an order that
    varies from run to run, which would change the rows each round's bagging draws.
    """
    blocks = area_blocks(area, workers * BLOCKS_PER_WORKER)
    return [np.concatenate([np.arange(lo, hi) for lo, hi in blocks[w::workers]])
            for w in range(min(workers, len(blocks)))]


def area_blocks(area: np.ndarray, n: int) -> list[tuple[int, int]]:
    """About ``n`` row ranges of about equal size, each a run of whole areas."""
    edges = np.r_[np.flatnonzero(np.r_[True, area[1:] != area[:-1]]), len(area)]
    cuts = edges[np.searchsorted(edges, np.linspace(0, len(area), n + 1))]
    return list(itertools.pairwise(np.unique(cuts)))


def _scatter(client, values: np.ndarray, shares: list[np.ndarray], workers: list[str]):
    """``values`` as a Dask array with one chunk per share, share i sent to workers[i]."""
    pieces = [values[rows] for rows in shares]
    futures = [client.scatter(piece, workers=[worker], hash=False)
               for piece, worker in zip(pieces, workers, strict=False)]
    return from_futures(futures, [p.shape for p in pieces], values.dtype)


def from_futures(futures: list, shapes: list[tuple], dtype):
    """One Dask array of the arrays ``futures`` hold (of ``shapes``), stacked in order."""
    import dask
    import dask.array as da

    return da.concatenate([da.from_delayed(dask.delayed(f), shape=shape, dtype=dtype)
                           for f, shape in zip(futures, shapes, strict=True)])
