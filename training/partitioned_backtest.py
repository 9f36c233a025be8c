"""The rolling-origin backtest from the panel's parts, on the workers.

:func:`training.backtest.run_backtest` with the panel left where the workers wrote it
(``panel.parquet/area-NNNNN`` parts, blocks of whole areas). At each origin every block reads
its part and its own areas' incidents (a Parquet filter, as the feature build reads them) and
recomputes its labels as they were known then; at each horizon it makes its training rows,
zero-row draws and shrinkage anchors (each area's own, the city's level from the parts' sums
per period), and LightGBM's Dask estimator fits the boosters on those rows where they are
(:class:`training.partitioned.Fitter`). The inner validation slice's forecasts at every
candidate round come back here for the nested choices (a stated sample of whole areas when
the slice is large, as in the final fit); the models then go to the workers, which forecast
their test rows and run the baselines on them (the kernel maps read the rows of the areas
within the kernel's reach, from the neighbouring parts). Only the test rows' forecasts come
back: one row per area, test period and horizon, which :func:`training.backtest.score` scores.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from scipy import stats

from features import Engine, Layout, outcomes_known_at, read_clean
from riskgrid import vocabulary as C
from riskgrid.cluster import Deadline, connect
from riskgrid.experiment import Experiment
from training.backtest import (
    BacktestResult,
    Fold,
    _predictions,
    design,
    make_folds,
    row_thresholds,
    score,
)
from training.baselines import (
    FLAG_STREAMS,
    MAP_PERIODS,
    baseline_forecasts,
    baseline_names,
    hotspot_smoothers,
)
from training.metrics import risk_metrics
from training.models import (
    Calibrator,
    Fitted,
    HorizonModel,
    round_candidates,
    staged,
    truncated,
)
from training.partitioned import (
    Fitter,
    add_frames,
    long_run,
    panel_parts,
    part_periods,
    period_sums,
    read_part,
    sample_areas,
)
from training.shrinkage import (
    ANCHORS,
    LONG_RUN,
    Choice,
    TrainingRows,
    choose,
    sample_weights,
    shrunk_labels,
)
from training.targets import OUTCOME, flag_threshold, target_counts, target_flags
from training.uncertainty import fit_dispersion


@dataclass(frozen=True)
class Origin:
    """One block at one origin, kept on its worker: its rows with the final labels, the labels
    as known at the origin, each area's flag threshold from those, and from the final ones."""

    panel: pd.DataFrame
    known: pd.DataFrame
    threshold: np.ndarray
    final_threshold: np.ndarray
    areas: pd.DataFrame  # the block's areas: id and km2


@dataclass(frozen=True)
class TrainRows:
    """One block's training rows of one origin and horizon (targets before the origin)."""

    X: np.ndarray
    count: np.ndarray
    flag: np.ndarray
    weight: np.ndarray
    period: np.ndarray
    area: np.ndarray
    size: np.ndarray
    threshold: np.ndarray | None
    anchors: dict[str, np.ndarray]  # the long-run rate and the other anchors the panel has
    names: list[str]  # the inputs: features and the target period's calendar


@dataclass(frozen=True)
class Held:
    """The baselines' columns of a block's areas and of those within its kernel's reach, the
    kernel maps' smoothers on those areas, and where the block's own areas sit among them."""

    panel: pd.DataFrame
    smoothers: dict
    lo: int
    hi: int


# --- tasks: what each worker runs ---------------------------------------------------------

def part_areas(part: str) -> np.ndarray:
    return read_part(part, [C.AREA_ID])[C.AREA_ID].unique()


def read_records(clean: str, name: str, area_ids: list[str] | None = None) -> pd.DataFrame:
    """A clean table (a file, or a folder of monthly parts read in order), only the rows of
    ``area_ids`` when given (a Parquet filter: a block reads its own incidents)."""
    path = Path(clean) / f"{name}.parquet"
    filters = None if area_ids is None else [(C.AREA_ID, "in", area_ids)]
    parts = sorted(path.glob("*.parquet")) if path.is_dir() else [path]
    return pd.concat([pd.read_parquet(part, filters=filters) for part in parts],
                     ignore_index=True)


def at_origin(part: str, columns: list[str], incidents: pd.DataFrame, petitions: pd.DataFrame,
              layout: Layout, areas: pd.DataFrame, experiment: Experiment,
              origin: pd.Timestamp) -> Origin:
    """A block's rows and its labels as they were known at ``origin``."""
    config = experiment.training
    panel = read_part(part, columns)
    found = outcomes_known_at(areas, incidents, petitions, experiment.features, layout, origin)
    # Periods a source does not cover stay missing (NaN) in the labels known at the origin.
    known = panel.assign(**{name: np.where(np.isnan(panel[name]), np.nan, values.ravel())
                            for name, values in found.items() if name in panel})
    return Origin(panel=panel, known=known, areas=areas,
                  threshold=flag_threshold(known, config, before=origin),
                  final_threshold=flag_threshold(panel, config, before=origin))


def train_rows(origin: Origin, features: list[str], experiment: Experiment, fold: Fold, h: int,
               city: pd.DataFrame, anchors: dict[str, str], step: pd.Timedelta) -> TrainRows:
    """The rows :func:`training.backtest.run_backtest` trains on at ``fold`` and ``h``, of one
    block: labels as known at the origin, targets before it."""
    config, fc = experiment.training, experiment.features
    panel, known = origin.panel, origin.known
    count = target_counts(known, config, h)
    flag = target_flags(known, config, h, origin.threshold)
    period = panel[C.PERIOD]
    train = ((period + h * step < fold.start).to_numpy() & ~np.isnan(count)
             & ~np.isnan(flag))
    inputs = design(panel, features, fc.period, h, fc.calendar)
    X = inputs[train].to_numpy(np.float32)
    area = panel[C.AREA_ID].to_numpy()[train]
    thresholds = row_thresholds(known, config, origin.threshold)
    sizes = origin.areas.set_index(C.AREA_ID)[C.AREA_KM2].astype(np.float64).fillna(1.0)
    return TrainRows(
        X=X, names=list(inputs.columns), count=count[train], flag=flag[train], period=period.to_numpy()[train], area=area,
        weight=sample_weights(count[train], flag[train], config, area=area),
        size=sizes.reindex(area).to_numpy(np.float64),
        threshold=None if thresholds is None else thresholds[train],
        anchors={name: long_run(panel, city, config.target, fc.windows[-1], column)[train]
                 for name, column in anchors.items()})


def rows_periods(rows: TrainRows) -> tuple[np.ndarray, int, list[str]]:
    return np.unique(rows.period), len(rows.count), rows.names


def fold_piece(rows: TrainRows, late_from: np.datetime64, role: str, by_count: bool,
               shrink: float = 1.0, anchor: str = LONG_RUN
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rows, label and weight of one booster, as :func:`training.models.fit_horizon`
    gives them: ``risk`` and ``early_count`` on the kept rows before the inner slice,
    ``count`` on every kept row, its labels shrunk by ``shrink`` toward ``anchor``."""
    kept = rows.weight > 0
    if role == "count":
        return (rows.X[kept], shrunk_labels(rows.count[kept], rows.anchors[anchor][kept],
                                            shrink), rows.weight[kept])
    early = kept & (rows.period < late_from)
    label = rows.flag[early] if role == "risk" and not by_count else rows.count[early]
    return rows.X[early], label, rows.weight[early]


def late_slice(rows: TrainRows, late_from: np.datetime64, sampled: set, early_count: lgb.Booster,
               risk: lgb.Booster | None, candidates: list[int]) -> dict:
    """The inner slice's rows of the sampled areas (every row, kept or not, as in
    :func:`training.models.fit_horizon`): targets, context, and the early boosters' scores
    after each candidate number of rounds."""
    late = (rows.period >= late_from) & np.isin(rows.area, list(sampled))
    X = rows.X[late]
    out = {"count": rows.count[late], "flag": rows.flag[late], "period": rows.period[late],
           "area": rows.area[late], "size": rows.size[late],
           "threshold": None if rows.threshold is None else rows.threshold[late],
           "anchors": {k: v[late] for k, v in rows.anchors.items()},
           # The count objectives (poisson, tweedie) have a log link.
           "forecasts": {r: np.exp(raw) for r, raw in staged(early_count, X, candidates).items()}}
    if risk is not None:
        out["risk_raw"] = staged(risk, X, candidates)
    return out


def held_rows(area_ids: np.ndarray, smoothers: dict, lo: int, hi: int,
              *frames: pd.DataFrame) -> Held:
    """:class:`Held` from the parts' baseline columns that hold ``area_ids``."""
    frame = pd.concat(frames, ignore_index=True)
    return Held(frame[frame[C.AREA_ID].isin(area_ids)].reset_index(drop=True), smoothers, lo, hi)


def fold_predictions(origin: Origin, held: Held, fitted: Fitted, features: list[str],
                     experiment: Experiment, fold: Fold, h: int, names: list[str],
                     step: pd.Timedelta) -> pd.DataFrame:
    """A block's test rows of ``fold`` and ``h``: the model's forecasts and the baselines',
    the frame :func:`training.backtest.run_backtest` makes of them."""
    config, fc = experiment.training, experiment.features
    panel = origin.panel
    count = target_counts(panel, config, h)
    flag = target_flags(panel, config, h, origin.threshold)
    period = panel[C.PERIOD]
    test = (((period >= fold.start) & (period < fold.stop)).to_numpy() & ~np.isnan(count)
            & ~np.isnan(flag))
    if fold.targets_before is not None:
        test &= (period + h * step < fold.targets_before).to_numpy()
    threshold = np.zeros(held.panel[C.AREA_ID].nunique())
    threshold[held.lo:held.hi] = origin.threshold
    periods = panel[C.PERIOD].nunique()
    found = baseline_forecasts(held.panel, held.smoothers, config, h, fc.lag_for_season(),
                               fc.windows, threshold, names)
    rows = slice(held.lo * periods, held.hi * periods)
    baselines = {name: (c[rows], p[rows]) for name, (c, p) in found.items()}
    thresholds = row_thresholds(origin.known, config, origin.threshold)
    X = design(panel, features, fc.period, h, fc.calendar)
    return _predictions(panel, origin.areas, fitted, X, test, count, flag, baselines, fold, h,
                        None if thresholds is None else thresholds[test])


def origin_thresholds(origin: Origin) -> pd.Series:
    """Each area's flag threshold from the final labels before the origin."""
    return pd.Series(origin.final_threshold, origin.panel[C.AREA_ID].unique())


# --- the driver -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Partitioned:
    """What the backtest from the parts gives: the result, and per fold each area's flag
    threshold from the final labels (count-threshold flags only; what the oracle reads)."""

    result: BacktestResult
    thresholds: dict[int, pd.Series] | None
    step: pd.Timedelta  # between the panel's first two periods


def run_backtest_partitioned(experiment: Experiment, folder: Path, engine: Engine,
                             progress=None) -> Partitioned:
    """:func:`training.backtest.run_backtest` from the panel's parts on ``engine``'s cluster.

    Args:
        progress: called as ``progress(message, (i, n))`` before step i of the n folds x
            horizons.
    """
    config, fc = experiment.training, experiment.features
    catalogue = pd.read_json(folder / "features" / "catalogue.json")
    parts = [str(p) for p in panel_parts(folder)]
    present = set(pq.read_schema(parts[0]).names)
    features = [name for name in catalogue["name"] if name in present]
    areas = read_clean(folder, events=False).areas
    clean = str((folder / "clean").resolve())
    anchors = {LONG_RUN: f"{config.target}_mean_all"} | {
        name: ANCHORS[name].format(stream=config.target) for name in config.anchors
        if name != LONG_RUN and ANCHORS[name].format(stream=config.target) in present}
    with connect(engine.scheduler) as client:
        fitter = Fitter(client, engine, experiment, Deadline(engine.timeout))
        ids = fitter.gather([fitter.submit(part_areas, p) for p in parts], "the panel's parts")
        periods = pd.DatetimeIndex(fitter.gather([fitter.submit(part_periods, parts[0])],
                                                 "the panel's periods")[0])
        folds = make_folds(periods, config)
        area_ids = np.concatenate(ids)
        smoothers = hotspot_smoothers(areas, area_ids)
        first = int(np.searchsorted(periods, folds[0].start))
        names = baseline_names(fc.windows, smoothers, first >= fc.lag_for_season())
        edges = np.r_[0, np.cumsum([len(i) for i in ids])]
        window = fc.windows[-1]
        city = fitter.submit(add_frames, *[fitter.submit(
            period_sums, p, [f"{config.target}_sum_{window}", *anchors.values()])
            for p in parts])
        held = _held(fitter, parts, edges, area_ids, smoothers, _baseline_columns(experiment))
        incidents = [fitter.submit(read_records, clean, "incidents", list(map(str, i)))
                     for i in ids]
        petitions = fitter.submit(read_records, clean, "petitions")
        columns = [C.AREA_ID, C.PERIOD, *features, *_outcomes(experiment)]
        step = pd.Timedelta(periods[1] - periods[0])
        block_areas = [areas.set_index(C.AREA_ID).loc[list(i)].reset_index()[
            [C.AREA_ID, C.AREA_KM2]] for i in ids]
        frames, thresholds = [], {}
        steps = len(folds) * len(fc.horizons)
        for fold in folds:
            origins = [fitter.submit(at_origin, p, columns, incidents[b], petitions,
                                     Layout(area_ids=ids[b], periods=periods, period=fc.period),
                                     block_areas[b], experiment, fold.start)
                       for b, p in enumerate(parts)]
            if config.risk_flag == "above_quantile":
                thresholds[fold.number] = pd.concat(fitter.gather(
                    [fitter.submit(origin_thresholds, o) for o in origins],
                    f"the thresholds of fold {fold.number}"))
            for h in fc.horizons:
                if progress:
                    progress(f"fold {fold.number}/{len(folds)}, horizon {h}",
                             (len(frames) + 1, steps))
                rows = [fitter.submit(train_rows, o, features, experiment, fold, h, city, anchors,
                                      step) for o in origins]
                fitted = _fit(fitter, rows, area_ids, h)
                model = client.scatter([fitted], hash=False)[0]
                found = fitter.gather([fitter.submit(
                    fold_predictions, o, held[b], model, features, experiment, fold, h, names,
                    step) for b, o in enumerate(origins)],
                    f"the forecasts of fold {fold.number}, horizon {h}")
                frames.append(pd.concat(found, ignore_index=True))
                client.cancel(rows + [model])
            client.cancel(origins)
    predictions = pd.concat(frames, ignore_index=True)
    result = score(predictions, folds, fc.horizons, config.primary_metric, names,
                   config.hotspot_km2)
    return Partitioned(result, thresholds or None, step)


def _outcomes(experiment: Experiment) -> list[str]:
    config = experiment.training
    return [f"{OUTCOME}{s}" for s in (config.target, *FLAG_STREAMS)]


def _baseline_columns(experiment: Experiment) -> list[str]:
    """The panel columns :func:`training.baselines.baseline_forecasts` reads."""
    config, fc = experiment.training, experiment.features
    streams = [config.target] + (list(FLAG_STREAMS) if config.risk_flag == "collective_or_group"
                                 else [])
    windows = sorted({*fc.windows, MAP_PERIODS})
    return [C.AREA_ID, C.PERIOD, *[c for s in streams for c in (
        f"{s}_now", f"{OUTCOME}{s}", f"{s}_mean_all", *(f"{s}_sum_{w}" for w in windows))]]


def _held(fitter: Fitter, parts: list[str], edges: np.ndarray, area_ids: np.ndarray,
          smoothers: dict, columns: list[str]) -> list:
    """Per block, a :class:`Held` on the workers (once: it does not depend on the origin)."""
    frames = [fitter.submit(read_part, p, columns) for p in parts]
    held = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        reach = np.unique(np.r_[np.arange(lo, hi), *[
            s[lo:hi].indices for s in smoothers.values()]]).astype(int)
        mine = [b for b in range(len(parts)) if ((reach >= edges[b]) & (reach < edges[b + 1])).any()]
        local = {name: s[reach][:, reach].tocsr() for name, s in smoothers.items()}
        start = int(np.searchsorted(reach, lo))
        held.append(fitter.submit(held_rows, area_ids[reach], local, start, start + hi - lo,
                                  *[frames[b] for b in mine]))
    return held


def _fit(fitter: Fitter, rows: list, area_ids: np.ndarray, h: int) -> Fitted:
    """One origin's and horizon's models from the blocks' rows, as
    :func:`training.models.fit_horizon` makes them; the nested choices from the inner
    slice's scores (of a sample of whole areas when the slice is large)."""
    config = fitter.experiment.training
    found = fitter.gather([fitter.submit(rows_periods, r) for r in rows], f"horizon {h}'s rows")
    unique = np.unique(np.concatenate([f[0] for f in found]))
    late_from = unique[int(len(unique) * (1 - config.calibration_share))]
    names = found[0][2]
    objective = "poisson" if config.objective == "poisson" else "tweedie"
    by_count = config.risk_flag == "above_quantile"
    weighted = config.zero_share < 1
    most = config.num_boost_round

    def booster(role: str, loss: str, rounds: int, choice: Choice | None = None) -> lgb.Booster:
        shrink = (choice.weight, choice.anchor) if choice else (1.0, LONG_RUN)
        pieces = [fitter.submit(fold_piece, r, late_from, role, by_count, *shrink) for r in rows]
        return fitter.fit_pieces(pieces, names, loss, rounds, weighted, role)

    risk = booster("risk", objective if by_count else "binary", most)
    # Always fitted: the count's dispersion is learned around its forecasts.
    early_count = risk if by_count else booster("early_count", objective, most)
    candidates = round_candidates(config)
    total = sum(f[1] for f in found)
    sampled = sample_areas(area_ids, int(total * config.calibration_share), config.seed)
    late = fitter.gather([fitter.submit(late_slice, r, late_from, sampled, early_count,
                                        None if by_count else risk, candidates) for r in rows],
                         f"the inner slice of horizon {h}")
    late = _joined(late)
    anchors = late["anchors"]
    context = TrainingRows(late["period"], late["area"], late["size"], anchors[LONG_RUN],
                           late["threshold"], {k: v for k, v in anchors.items() if k != LONG_RUN})
    forecasts = late["forecasts"]
    if len(candidates) > 1 or len(set(config.shrinkage_weights)) > 1:
        choice = choose(forecasts, late["count"], context, config)
    else:
        choice = Choice(most, config.shrinkage_weights[0], float("nan"))
    rounds = choice.rounds if by_count else risk_rounds(late["risk_raw"], late["flag"], config)
    risk = truncated(risk, rounds)
    count_model = booster("count", objective, choice.rounds, choice)
    # The count's dispersion around the early booster's forecasts, shrunk as the final one is.
    dispersion = fit_dispersion(late["count"], shrunk_labels(
        forecasts[choice.rounds], context.anchor(choice.anchor), choice.weight), None)
    if by_count:
        raw = stats.poisson.sf(np.floor(late["threshold"]),
                               np.maximum(forecasts[choice.rounds], 1e-9))
    else:
        raw = 1 / (1 + np.exp(-late["risk_raw"][rounds]))
    model = HorizonModel(horizon=h, features=names, count=count_model, risk=risk,
                         calibrator=Calibrator(config.calibration).fit(raw, late["flag"]),
                         by_count=by_count, dispersion=dispersion)
    return Fitted(model, choice.weight, choice.rounds, risk.current_iteration(), choice.anchor)


def _joined(pieces: list[dict]) -> dict:
    """The blocks' inner-slice pieces as one, in block order (the panel's row order)."""
    out = {}
    for key, first in pieces[0].items():
        if first is None:
            out[key] = None
        elif isinstance(first, dict):
            out[key] = {k: np.concatenate([p[key][k] for p in pieces]) for k in first}
        else:
            out[key] = np.concatenate([p[key] for p in pieces])
    return out


def risk_rounds(raw: dict[int, np.ndarray], flag: np.ndarray, config) -> int:
    """:func:`training.models.risk_rounds` from the classifier's raw scores on the inner slice
    after each candidate number of rounds (computed where the rows are)."""
    candidates = sorted(raw)
    if len(candidates) == 1 or len(np.unique(flag)) < 2:
        return candidates[-1]
    metric = config.primary_metric
    higher = metric in ("roc_auc", "pr_auc")
    best, best_score = candidates[-1], np.inf
    for rounds in candidates:
        p = np.clip(1 / (1 + np.exp(-raw[rounds])), 1e-9, 1 - 1e-9)
        if metric in ("roc_auc", "pr_auc", "brier"):
            value = risk_metrics(flag, p)[metric]
        else:
            value = -np.mean(flag * np.log(p) + (1 - flag) * np.log(1 - p))
        value = -value if higher else value
        if value < best_score:
            best, best_score = rounds, value
    return best
