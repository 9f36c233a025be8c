"""The final fit and its explanation read from the panel's parts, on the workers.

With the Dask engine, `riskgrid features` writes the panel as ``panel.parquet/area-NNNNN``
parts, each a block of whole areas (:mod:`features.panel_dataset`). Here every step of
:func:`training.pipeline.fit_final` that touches rows runs on the worker that reads the
part: targets, flags and thresholds (each area's own), the design matrix, the zero-row
sampling (each row gets the draw it gets in the whole panel), the boosters' rows and labels.
Each worker joins its parts into one piece and LightGBM's Dask estimator fits on those
pieces (:func:`training.distributed.fit_arrays`), so no design matrix passes through here.

What comes back here is small: row counts and periods, the boosters, each area's flag
threshold, and two stated samples:

- the calibrator fits on the calibration slice of a sample of whole areas, about
  ``SAMPLE_ROWS`` rows (all areas when the slice is smaller); with several shrinkage
  candidates, the weight is chosen on the same sample;
- TreeSHAP runs on the workers over the latest periods of every area, and only the sums of
  the absolute contributions (and a few rows for the summary plot) come back.

bench/calibration_sample.py measures what calibrating on such a sample changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from features import Engine
from riskgrid import vocabulary as C
from riskgrid.cluster import Deadline, connect
from riskgrid.experiment import Experiment
from training.backtest import design, row_thresholds
from training.distributed import fit_arrays, from_futures
from training.models import Calibrator, HorizonModel, booster_params, raw_risk
from training.riskmodel import RiskModel, contributions
from training.shrinkage import (
    TrainingRows,
    choose_weight,
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

SAMPLE_ROWS = 200_000  # rows of the calibration slice the calibrator fits on, at most about
PLOT_ROWS = 2_000  # rows of TreeSHAP values that come back for the summary plot


@dataclass(frozen=True)
class Rows:
    """One block's rows of one horizon whose targets are known, kept on its worker."""

    X: np.ndarray
    count: np.ndarray
    flag: np.ndarray
    period: np.ndarray
    area: np.ndarray
    threshold: np.ndarray | None  # per row, count-threshold flags only
    area_threshold: np.ndarray  # per area of the block
    long_run: np.ndarray | None  # per row, when a shrinkage weight below 1 is possible
    size: np.ndarray  # per row, the area's km2 (1 where unknown), for hotspot metrics
    names: list[str]  # the inputs: features and the target period's calendar
    area_ids: np.ndarray  # the block's areas, in order


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


def read_part(part: str, columns: list[str]) -> pd.DataFrame:
    present = set(pq.read_schema(part).names)
    return pd.read_parquet(part, columns=list(dict.fromkeys(c for c in columns if c in present)))


def period_sums(part: str, columns: list[str]) -> pd.DataFrame:
    """Per period, the sums of ``columns`` over the part's areas (in float64: the blocks'
    sums add up to the city's to within float32's rounding of the one in-process sum)."""
    frame = read_part(part, [C.PERIOD, *columns])
    return frame.astype(dict.fromkeys(columns, np.float64)).groupby(C.PERIOD, sort=True).sum()


def horizon_rows(part: str, features: list[str], experiment: Experiment, h: int,
                 city: pd.DataFrame | None) -> Rows:
    """A block's known rows for horizon ``h``, as :func:`training.pipeline.fit_final` makes
    them from the whole panel.

    Args:
        city: per period, the whole city's sums of the target's recent and long-run counts
            (for the long-run rate the count model may be shrunk toward), or None.
    """
    config, fc = experiment.training, experiment.features
    outcomes = [f"{OUTCOME}{s}" for s in (config.target, "collective", "group")]
    panel = read_part(part, [C.AREA_ID, C.PERIOD, *features, *outcomes,
                             f"{config.target}_mean_all", "area_km2"])
    threshold = flag_threshold(panel, config)
    count, flag = target_counts(panel, config, h), target_flags(panel, config, h, threshold)
    known = ~np.isnan(count) & ~np.isnan(flag)
    inputs = design(panel, features, fc.period, h, fc.calendar)
    rows = row_thresholds(panel, config, threshold)
    return Rows(X=inputs[known].to_numpy(np.float32), names=list(inputs.columns),
                area_ids=panel[C.AREA_ID].unique(), count=count[known], flag=flag[known],
                period=panel[C.PERIOD].to_numpy()[known],
                area=panel[C.AREA_ID].to_numpy()[known],
                size=panel["area_km2"].fillna(1.0).to_numpy(np.float64)[known],
                threshold=None if rows is None else rows[known], area_threshold=threshold,
                long_run=None if city is None else long_run(panel, city, config.target,
                                                             fc.windows[-1])[known])


def long_run(panel: pd.DataFrame, city: pd.DataFrame, stream: str, window: int,
             column: str | None = None) -> np.ndarray:
    """:func:`training.shrinkage.long_run_rate` of a block, from the whole city's sums (of
    ``column``, the area's rate, default its long-run mean)."""
    column = column or f"{stream}_mean_all"
    by_period = city.reindex(pd.DatetimeIndex(panel[C.PERIOD]))
    recent = by_period[f"{stream}_sum_{window}"].to_numpy(np.float64) / window
    total = by_period[column].to_numpy(np.float64)
    level = np.divide(recent, total, out=np.ones_like(total), where=total > 0)
    return np.nan_to_num(panel[column].to_numpy(np.float64) * level)


def rows_summary(rows: Rows) -> tuple:
    """Known rows, their periods, each area's threshold, the inputs' names, the areas."""
    return (len(rows.count), np.unique(rows.period), rows.area_threshold, rows.names,
            rows.area_ids)


@dataclass(frozen=True)
class Plan:
    """The whole panel's facts each block needs: where the calibration slice starts and the
    number of known rows before the block (its offset in the zero-row draws)."""

    late_from: np.datetime64
    offset: int
    weighted: bool


def plans_of(summary: list[tuple], config) -> list[Plan]:
    """Each block's :class:`Plan`, from the blocks' :func:`rows_summary`, in block order."""
    counts = np.array([s[0] for s in summary])
    periods = np.unique(np.concatenate([s[1] for s in summary]))
    late_from = periods[int(len(periods) * (1 - config.calibration_share))]
    return [Plan(late_from, int(offset), config.zero_share < 1)
            for offset in np.r_[0, np.cumsum(counts)[:-1]]]


def booster_rows(rows: Rows, plan: Plan, experiment: Experiment, role: str,
                 shrink: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The rows, label and weight one booster learns from, as in
    :func:`training.models.fit_horizon`: ``risk`` (the earlier periods), ``early_count``, or
    ``count`` (every kept row, labels shrunk by ``shrink``)."""
    config = experiment.training
    weight = sample_weights(rows.count, rows.flag, config, plan.offset, area=rows.area)
    kept = weight > 0
    early = kept & (rows.period < plan.late_from)
    if role == "count":
        label = shrunk_labels(rows.count[kept], None if rows.long_run is None
                              else rows.long_run[kept], shrink)
        keep = kept
    else:
        keep = early
        label = rows.count[early] if role == "early_count" or rows.threshold is not None \
            else rows.flag[early]
    return rows.X[keep], label, weight[keep] if plan.weighted else None


def late_rows(rows: Rows, plan: Plan, experiment: Experiment, risk: lgb.Booster,
              early_count: lgb.Booster | None, sampled: set) -> dict[str, np.ndarray]:
    """The calibration slice's rows of the sampled areas: raw risk, flag, weight, and what
    choosing a shrinkage weight reads."""
    weight = sample_weights(rows.count, rows.flag, experiment.training, plan.offset,
                            area=rows.area)
    late = (weight > 0) & (rows.period >= plan.late_from) & np.isin(rows.area, list(sampled))
    threshold = None if rows.threshold is None else rows.threshold[late]
    out = {"raw": raw_risk(risk, rows.X[late], threshold is not None, threshold),
           "flag": rows.flag[late], "weight": weight[late], "count": rows.count[late],
           "period": rows.period[late], "area": rows.area[late], "size": rows.size[late]}
    if early_count is not None:
        out["forecast"] = early_count.predict(rows.X[late])
        out["long_run"] = rows.long_run[late]
    return out


def join(*pieces: tuple) -> tuple:
    """One worker's pieces of a booster's rows, in block order: one chunk per worker."""
    X, label, weight = zip(*pieces, strict=True)
    return (np.concatenate(X), np.concatenate(label),
            None if weight[0] is None else np.concatenate(weight))


def take(piece: tuple, i: int):
    return piece[i]


def shape_of(piece: tuple) -> tuple:
    return piece[0].shape, piece[1].shape


def add_frames(*frames: pd.DataFrame) -> pd.DataFrame:
    return sum(frames[1:], frames[0])


def part_periods(part: str) -> np.ndarray:
    return np.sort(read_part(part, [C.PERIOD])[C.PERIOD].unique())


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

    def booster(self, rows: list, plans: list[Plan], names: list[str], role: str, loss: str,
                shrink: float = 1.0) -> lgb.Booster:
        """Each block's rows for ``role``, joined into one piece per worker, fitted there."""
        pieces = [self.submit(booster_rows, r, p, self.experiment, role, shrink)
                  for r, p in zip(rows, plans, strict=True)]
        return self.fit_pieces(pieces, names, loss, self.experiment.training.num_boost_round,
                               plans[0].weighted, role)

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


def fit_final_partitioned(experiment: Experiment, folder: Path, engine: Engine
                          ) -> tuple[RiskModel, dict]:
    """:func:`training.pipeline.fit_final` from the panel's parts, on ``engine``'s cluster,
    and what was sampled (the calibration rows and areas)."""
    catalogue = pd.read_json(folder / "features" / "catalogue.json")
    parts = [str(p) for p in panel_parts(folder)]
    present = set(pq.read_schema(parts[0]).names)
    features = [name for name in catalogue["name"] if name in present]
    config, fc = experiment.training, experiment.features
    with connect(engine.scheduler) as client:
        fitter = Fitter(client, engine, experiment, Deadline(engine.timeout))
        city = None
        if min(config.shrinkage_weights) < 1:
            window = fc.windows[-1]
            city = fitter.submit(add_frames, *[fitter.submit(
                period_sums, p, [f"{config.target}_sum_{window}", f"{config.target}_mean_all"])
                for p in parts])
        models, sampled = {}, {}
        for h in fc.horizons:
            models[h], sampled[h], areas = _horizon(fitter, parts, features, h, city)
    by_count = config.risk_flag == "above_quantile"
    thresholds = dict(zip(areas[0], map(float, areas[1]), strict=True)) if by_count else {}
    model = RiskModel(experiment=experiment.name, period=fc.period, target=config.target,
                      risk_flag=config.risk_flag, features=features, horizons=models,
                      thresholds=thresholds, calendar=fc.calendar)
    return model, {"calibration_sample": sampled, "parts": len(parts)}


def _horizon(fitter: Fitter, parts: list[str], features: list[str], h: int, city):
    config = fitter.experiment.training
    rows = [fitter.submit(horizon_rows, p, features, fitter.experiment, h, city) for p in parts]
    summary = fitter.gather([fitter.submit(rows_summary, r) for r in rows], f"horizon {h}")
    plans = plans_of(summary, config)
    counts = np.array([s[0] for s in summary])
    names = summary[0][3]
    area_ids = np.concatenate([s[4] for s in summary])
    area_thresholds = np.concatenate([s[2] for s in summary])
    objective = "poisson" if config.objective == "poisson" else "tweedie"
    by_count = config.risk_flag == "above_quantile"
    risk = fitter.booster(rows, plans, names, "risk", objective if by_count else "binary")
    choose = len(set(config.shrinkage_weights)) > 1
    early_count = None
    if choose:
        early_count = risk if by_count else fitter.booster(rows, plans, names, "early_count",
                                                           objective)
    chosen = sample_areas(area_ids, int(counts.sum() * config.calibration_share), config.seed)
    late = fitter.gather([fitter.submit(late_rows, r, p, fitter.experiment, risk, early_count,
                                        chosen) for r, p in zip(rows, plans, strict=True)],
                         f"the calibration rows of horizon {h}")
    late = {k: np.concatenate([piece[k] for piece in late]) for k in late[0]}
    shrink = config.shrinkage_weights[0]
    if choose:
        shrink = choose_weight(late["forecast"], late["count"], TrainingRows(
            late["period"], late["area"], late["size"], late["long_run"]),
            config)
    count_model = fitter.booster(rows, plans, names, "count", objective, shrink)
    calibrator = Calibrator(config.calibration).fit(
        late["raw"], late["flag"], None if config.zero_share >= 1 else late["weight"])
    fitter.client.cancel(rows)
    model = HorizonModel(horizon=h, features=names, count=count_model, risk=risk,
                         calibrator=calibrator, by_count=by_count)
    stated = {"rows": len(late["flag"]), "areas": len(chosen), "of_areas": len(area_ids)}
    return model, stated, (area_ids, area_thresholds)


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
