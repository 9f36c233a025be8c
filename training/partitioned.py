"""Fits from the panel's parts, on the workers: the final fit, the backtest's, TreeSHAP.

With the Dask engine, `riskgrid features` writes the panel as ``panel.parquet/area-NNNNN``
parts, each a block of whole areas (:mod:`features.panel_dataset`). Here every step of
:func:`training.models.fit_horizon` that touches rows runs on the worker that reads the
part: targets, flags and thresholds (each area's own), the design matrix, the zero-row
sampling (each area's draws are the same in any block), the shrinkage anchors
(:mod:`training.partitioned_anchors`: the kernel maps' from the neighbouring parts' rows), the
boosters' rows and labels (:func:`train_rows`, :func:`fold_piece`). Each worker joins its parts into one
piece and LightGBM's Dask estimator fits on those pieces
(:func:`training.distributed.fit_arrays`), so no design matrix passes through here. The final
fit (:func:`fit_final_partitioned`) and each origin of the backtest
(:mod:`training.partitioned_backtest`) fit the same way (:func:`fit_blocks`).

What comes back here is small: row counts and periods, the boosters, the early boosters'
inner-slice loss after each round (where a local fit would stop them:
:mod:`training.partitioned_stopping`), each area's flag threshold, and two stated samples:

- the nested choices (rounds, shrinkage weight and anchor), the count's dispersion and the
  calibrator are made from the inner validation slice's forecasts of a sample of whole areas,
  about ``SAMPLE_ROWS`` rows (all areas when the slice is smaller);
- TreeSHAP runs on the workers over the latest periods of every area, and only the sums of
  the absolute contributions (and a few rows for the summary plot) come back.

bench/calibration_sample.py measures what calibrating on such a sample changes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from features import Engine, read_clean
from riskgrid import vocabulary as C
from riskgrid.cluster import Deadline, connect
from riskgrid.experiment import Experiment
from training.backtest import Fold, design, row_thresholds
from training.distributed import fit_arrays, from_futures
from training.models import (
    Calibrator,
    Fitted,
    HorizonModel,
    best_risk_rounds,
    booster_params,
    fitted_rounds,
    round_candidates,
    staged,
    truncated,
)
from training.partitioned_anchors import (
    area_smoothers,
    city_anchors,
    held_blocks,
    long_run,
    map_columns,
    map_names,
    read_part,
)
from training.partitioned_stopping import slice_losses, stopped_rounds
from training.riskmodel import RiskModel, contributions
from training.shrinkage import (
    LONG_RUN,
    MAP_ANCHORS,
    Choice,
    TrainingRows,
    choose,
    sample_weights,
    shrunk_labels,
)
from training.targets import (
    OUTCOME,
    flag_threshold,
    input_catalogue,
    target_counts,
    target_flags,
)
from training.uncertainty import exceedance, fit_dispersion

SAMPLE_ROWS = 200_000  # rows of the calibration slice the calibrator fits on, at most about
PLOT_ROWS = 2_000  # rows of TreeSHAP values that come back for the summary plot


def panel_parts(folder: Path) -> list[Path]:
    """The panel's parts (one, when the panel was written whole in one process)."""
    path = folder / "features" / "panel.parquet"
    return sorted(path.glob("area-*.parquet")) if path.is_dir() else [path]


def panel_rows(folder: Path) -> int:
    """The panel's rows, from its parts' metadata."""
    return sum(pq.read_metadata(part).num_rows for part in panel_parts(folder))


def latest_rows(folder: Path, n: int) -> pd.DataFrame:
    """The first ``n`` rows of the latest period, from the first part (an input example)."""
    panel = pd.read_parquet(panel_parts(folder)[0])
    return panel[panel[C.PERIOD] == panel[C.PERIOD].max()].head(n).reset_index(drop=True)


def upper_counts(folder: Path) -> pd.DataFrame:
    """The counts of the units above the grids (what the Prophet comparison reads), from the
    counts' parts (the grids' rows are left in the parts)."""
    path = folder / "features" / "counts.parquet"
    parts = sorted(path.glob("*.parquet")) if path.is_dir() else [path]
    return pd.concat([pd.read_parquet(p, filters=[(C.UNIT_LEVEL, "!=", "grid")])
                      for p in parts], ignore_index=True)


def join(*pieces: tuple) -> tuple:
    """One worker's pieces of a booster's rows, in block order: one chunk per worker."""
    X, label, weight = zip(*pieces, strict=True)
    return (np.concatenate(X), np.concatenate(label),
            None if weight[0] is None else np.concatenate(weight))


def take(piece: tuple, i: int):
    return piece[i]


def shape_of(piece: tuple) -> tuple:
    return piece[0].shape, piece[1].shape


def part_periods(part: str) -> np.ndarray:
    return np.sort(read_part(part, [C.PERIOD])[C.PERIOD].unique())


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


def train_rows(origin: Origin, features: list[str], experiment: Experiment, fold: Fold | None,
               h: int, city: pd.DataFrame, anchors: dict[str, str],
               step: pd.Timedelta, maps: pd.DataFrame | None = None) -> TrainRows:
    """The rows :func:`training.backtest.run_backtest` trains on at ``fold`` and ``h``, of one
    block: labels as known at the origin, targets before it; with no fold, the rows of the
    final fit (:func:`training.pipeline.fit_final`): every row whose targets are known.

    Args:
        city: per period, the whole city's sums of the target's recent counts and of each
            anchor's column (the city's level the anchors are brought to).
        anchors: the column of each anchor's rate, by name: the panel's, or ``maps``'.
        maps: the block's map anchors before the city's level (:func:`block_maps`).
    """
    config, fc = experiment.training, experiment.features
    panel, known = origin.panel, origin.known
    count = target_counts(known, config, h)
    flag = target_flags(known, config, h, origin.threshold)
    period = panel[C.PERIOD]
    train = ~np.isnan(count) & ~np.isnan(flag)
    if fold is not None:
        train &= (period + h * step < fold.start).to_numpy()
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
        anchors={name: long_run(panel, city, config.target, fc.windows[-1], column,
                                None if maps is None or column not in maps else
                                maps[column].to_numpy(np.float64))[train]
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
               risk: lgb.Booster | None, candidates: list[int],
               risk_candidates: list[int]) -> dict:
    """The inner slice's rows of the sampled areas (every row, kept or not, as in
    :func:`training.models.fit_horizon`): targets, context, and the early boosters' scores
    after each of their candidate numbers of rounds."""
    late = (rows.period >= late_from) & np.isin(rows.area, list(sampled))
    X = rows.X[late]
    out = {"count": rows.count[late], "flag": rows.flag[late], "period": rows.period[late],
           "area": rows.area[late], "size": rows.size[late],
           "threshold": None if rows.threshold is None else rows.threshold[late],
           "anchors": {k: v[late] for k, v in rows.anchors.items()},
           # The count objectives (poisson, tweedie) have a log link.
           "forecasts": {r: np.exp(raw) for r, raw in staged(early_count, X, candidates).items()}}
    if risk is not None:
        out["risk_raw"] = staged(risk, X, risk_candidates)
    return out


def origin_thresholds(origin: Origin) -> pd.Series:
    """Each area's flag threshold from the final labels before the origin."""
    return pd.Series(origin.final_threshold, origin.panel[C.AREA_ID].unique())


class Fitter:
    """The boosters of one horizon fitted on the blocks' rows, where the rows are."""

    def __init__(self, client, engine: Engine, experiment: Experiment, deadline: Deadline):
        self.client, self.experiment, self.deadline = client, experiment, deadline
        self.workers = sorted(client.nthreads())
        self.retries = engine.retries

    def submit(self, fn, *args, worker: str | None = None):
        where = {} if worker is None else {"workers": [worker], "allow_other_workers": True}
        return self.client.submit(fn, *args, retries=self.retries, pure=False, **where)

    def gather(self, futures: list, what: str) -> list:
        return self.deadline.gather(self.client, futures, what)

    def fit_pieces(self, pieces: list, names: list[str], loss: str, rounds: int,
                   weighted: bool, role: str) -> lgb.Booster:
        """A booster of ``rounds`` rounds on the blocks' (X, label, weight) ``pieces``
        (futures, in block order), joined into one piece per worker and fitted there."""
        n = min(len(self.workers), len(pieces))
        shares = [self.submit(join, *pieces[w::n], worker=self.workers[w]) for w in range(n)]
        shapes = self.gather([self.submit(shape_of, s) for s in shares], f"the {role} rows")
        columns = [[self.submit(take, s, i, worker=self.workers[w]) for w, s in enumerate(shares)]
                   for i in range(3)]
        X = from_futures(columns[0], [s[0] for s in shapes], np.float32)
        y = from_futures(columns[1], [s[1] for s in shapes], np.float64)
        weight = from_futures(columns[2], [s[1] for s in shapes], np.float64) \
            if weighted else None
        size = sum(s[1][0] for s in shapes)
        config = self.experiment.training
        return fit_arrays(self.client, X, y, weight, names, booster_params(config, loss, size),
                          rounds)


def fit_blocks(fitter: Fitter, rows: list, area_ids: np.ndarray, h: int
               ) -> tuple[Fitted, dict]:
    """One horizon's models from the blocks' :class:`TrainRows` (futures), as
    :func:`training.models.fit_horizon` makes them, and the inner slice's sample (rows,
    areas). The nested choices, the dispersion and the calibrator come from the inner
    slice's scores, of a sample of whole areas when the slice is large (:func:`sample_areas`)."""
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

    def stopped(fitted: lgb.Booster, label: str, loss: str) -> lgb.Booster:
        """The booster cut where a local fit stops on the slice (every area's rows)."""
        losses = fitter.gather([fitter.submit(slice_losses, r, late_from, fitted, label, loss)
                                for r in rows], f"the inner slice's losses of horizon {h}")
        return truncated(fitted, stopped_rounds(np.sum(losses, axis=0)))

    by_loss = config.choose_rounds and config.rounds_by == "loss"
    risk = booster("risk", objective if by_count else "binary", most)
    if by_loss if by_count else config.choose_rounds:  # as fit_horizon's early boosters stop
        risk = stopped(risk, "count", objective) if by_count else stopped(risk, "flag", "binary")
    # Always fitted: the count's dispersion is learned around its forecasts.
    early_count = risk if by_count else booster("early_count", objective, most)
    if by_loss and not by_count:
        early_count = stopped(early_count, "count", objective)
    candidates = fitted_rounds(early_count, config)
    total = sum(f[1] for f in found)
    sampled = sample_areas(area_ids, int(total * config.calibration_share), config.seed)
    late = fitter.gather([fitter.submit(late_slice, r, late_from, sampled, early_count,
                                        None if by_count else risk, candidates,
                                        fitted_rounds(risk, config)) for r in rows],
                         f"the inner slice of horizon {h}")
    late = _joined(late)
    anchors = late["anchors"]
    context = TrainingRows(late["period"], late["area"], late["size"], anchors[LONG_RUN],
                           late["threshold"], {k: v for k, v in anchors.items() if k != LONG_RUN})
    forecasts = late["forecasts"]
    if len(round_candidates(config)) > 1 or len(set(config.shrinkage_weights)) > 1:
        choice = choose(forecasts, late["count"], context, config)
    else:
        choice = Choice(most, config.shrinkage_weights[0], float("nan"))
    # At weight 0 the booster learns the anchor itself and gets every round to do so.
    count_rounds = most if choice.weight == 0 else choice.rounds
    count_model = booster("count", objective, count_rounds, choice)
    # The slice's forecasts of the final count model, out of sample (as fit_horizon's).
    late_forecast = shrunk_labels(forecasts[choice.rounds], context.anchor(choice.anchor),
                                  choice.weight)
    dispersion = fit_dispersion(late["count"], late_forecast, None)
    if by_count:
        risk = count_model
        raw = exceedance(late_forecast, late["threshold"], dispersion)
    else:
        rounds = best_risk_rounds(late["risk_raw"], late["flag"], config)
        risk = truncated(risk, rounds)
        raw = 1 / (1 + np.exp(-late["risk_raw"][rounds]))
    model = HorizonModel(horizon=h, features=names, count=count_model, risk=risk,
                         calibrator=Calibrator(config.calibration).fit(raw, late["flag"]),
                         by_count=by_count, dispersion=dispersion)
    stated = {"rows": len(late["flag"]), "areas": len(sampled), "of_areas": len(area_ids)}
    return Fitted(model, choice.weight, count_rounds, risk.current_iteration(),
                  choice.anchor), stated


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


def final_origin(part: str, columns: list[str], areas: pd.DataFrame,
                 experiment: Experiment) -> Origin:
    """A block's rows for the final fit: the final labels, each area's threshold from all."""
    panel = read_part(part, columns)
    threshold = flag_threshold(panel, experiment.training)
    return Origin(panel=panel, known=panel, threshold=threshold, final_threshold=threshold,
                  areas=areas)


def fit_final_partitioned(experiment: Experiment, folder: Path, engine: Engine
                          ) -> tuple[RiskModel, dict]:
    """:func:`training.pipeline.fit_final` from the panel's parts, on ``engine``'s cluster,
    and what was sampled (the inner slice's rows and areas, per horizon)."""
    catalogue = pd.read_json(folder / "features" / "catalogue.json")
    parts = [str(p) for p in panel_parts(folder)]
    present = set(pq.read_schema(parts[0]).names)
    features = [name for name in catalogue["name"] if name in present]
    config, fc = experiment.training, experiment.features
    areas = read_clean(folder, events=False).areas
    with connect(engine.scheduler) as client:
        fitter = Fitter(client, engine, experiment, Deadline(engine.timeout))
        ids = fitter.gather([fitter.submit(part_areas, p) for p in parts], "the panel's parts")
        periods = fitter.gather([fitter.submit(part_periods, parts[0])], "the periods")[0]
        step = pd.Timedelta(periods[1] - periods[0])
        area_ids = np.concatenate(ids)
        # The kernel maps' smoothers the anchors need (on a worker), the rows within reach.
        kernels = {MAP_ANCHORS[n] for n in config.anchors if MAP_ANCHORS.get(n)}
        smoothers = fitter.submit(area_smoothers, str(folder.resolve()), area_ids, kernels)
        names = fitter.gather([fitter.submit(list, smoothers)], "the kernel maps")[0]
        held = held_blocks(fitter, parts, np.r_[0, np.cumsum([len(i) for i in ids])],
                           area_ids, smoothers, map_columns(config.target)) \
            if map_names(experiment, names) else []
        anchors, maps, city = city_anchors(fitter, parts, held, experiment, names)
        columns = [C.AREA_ID, C.PERIOD, *features, *outcome_columns(experiment)]
        origins = [fitter.submit(final_origin, p, columns, block_areas(areas, i), experiment)
                   for p, i in zip(parts, ids, strict=True)]
        models, sampled = {}, {}
        for h in fc.horizons:
            rows = [fitter.submit(train_rows, o, features, experiment, None, h, city, anchors,
                                  step, None if maps is None else maps[b])
                    for b, o in enumerate(origins)]
            fitted, sampled[h] = fit_blocks(fitter, rows, area_ids, h)
            models[h] = fitted.model
            client.cancel(rows)
        found = pd.concat(fitter.gather([fitter.submit(origin_thresholds, o) for o in origins],
                                        "the flag thresholds"))
    by_count = config.risk_flag == "above_quantile"
    thresholds = dict(zip(found.index, map(float, found), strict=True)) if by_count else {}
    model = RiskModel(experiment=experiment.name, period=fc.period, target=config.target,
                      risk_flag=config.risk_flag, features=features, horizons=models,
                      thresholds=thresholds, calendar=fc.calendar)
    return model, {"calibration_sample": sampled, "parts": len(parts)}


def part_areas(part: str) -> np.ndarray:
    return read_part(part, [C.AREA_ID])[C.AREA_ID].unique()


def block_areas(areas: pd.DataFrame, ids: np.ndarray) -> pd.DataFrame:
    """The areas table's id and km2 of a block's areas, in the block's order."""
    return areas.set_index(C.AREA_ID).loc[list(ids)].reset_index()[[C.AREA_ID, C.AREA_KM2]]


def outcome_columns(experiment: Experiment) -> list[str]:
    return [f"{OUTCOME}{s}" for s in (experiment.training.target, "collective", "group")]


def sample_areas(area_ids: np.ndarray, late_rows: int, seed: int,
                 limit: int | None = None) -> set:
    """Whole areas whose calibration rows number about ``limit`` (``SAMPLE_ROWS``); every
    area when the slice is no larger."""
    limit = SAMPLE_ROWS if limit is None else limit
    if late_rows <= limit:
        return set(area_ids)
    drawn = np.random.default_rng(seed).random(len(area_ids)) < limit / late_rows
    return set(area_ids[drawn])


def shap_sums(part: str, model: RiskModel, last: np.ndarray, plot_rows: int, seed: int
              ) -> tuple[pd.Series, int, pd.DataFrame, pd.DataFrame]:
    """A block's TreeSHAP at horizon 1 on the periods ``last``: the sums of the absolute
    contributions, their rows, and ``plot_rows`` rows of values and inputs for the plot."""
    h = min(model.horizons)
    panel = read_part(part, [C.AREA_ID, C.PERIOD, *model.features])
    X = model.inputs(panel, h)[panel[C.PERIOD].isin(last).to_numpy()]
    values = contributions(model.horizons[h], X).drop(columns="base_value")
    pick = np.sort(np.random.default_rng(seed).permutation(len(X))[:plot_rows])
    return values.abs().sum(), len(values), values.iloc[pick], X.iloc[pick]


def shap_importance_partitioned(model: RiskModel, folder: Path, engine: Engine,
                                recent: int = 13) -> tuple[pd.DataFrame, pd.DataFrame,
                                                           pd.DataFrame]:
    """:func:`training.pipeline.shap_importance` on the workers: the mean absolute TreeSHAP
    contribution of each input over every area's latest ``recent`` periods (exact: sums
    come back), and ``PLOT_ROWS`` rows of values and inputs drawn for the summary plot."""
    parts = [str(p) for p in panel_parts(folder)]
    with connect(engine.scheduler) as client:
        deadline = Deadline(engine.timeout)
        periods = deadline.gather(client, [client.submit(part_periods, parts[0], pure=False)],
                                  "the panel's periods")[0]
        found = deadline.gather(client, [client.submit(
            shap_sums, part, model, periods[-recent:], PLOT_ROWS // len(parts) + 1, i,
            retries=engine.retries, pure=False) for i, part in enumerate(parts)], "TreeSHAP")
    mean = sum(f[0] for f in found) / sum(f[1] for f in found)
    catalogue = input_catalogue(pd.read_json(folder / "features" / "catalogue.json"))
    names = dict(zip(catalogue["name"], catalogue["en"], strict=True))
    table = mean.sort_values(ascending=False).rename("mean_abs_shap").to_frame()
    table["description"] = [names.get(n, n) for n in table.index]
    values = pd.concat([f[2] for f in found], ignore_index=True)
    X = pd.concat([f[3] for f in found], ignore_index=True)
    return table.rename_axis("feature").reset_index(), values, X
