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

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

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
)
from training.models import Fitted
from training.partitioned import (
    Fitter,
    Origin,
    block_areas,
    fit_blocks,
    origin_thresholds,
    outcome_columns,
    panel_parts,
    part_areas,
    part_periods,
    train_rows,
)
from training.partitioned_anchors import (
    Held,
    area_smoothers,
    city_anchors,
    held_blocks,
    read_part,
)
from training.targets import OUTCOME, flag_threshold, target_counts, target_flags

# --- tasks: what each worker runs ---------------------------------------------------------

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
    with connect(engine.scheduler) as client:
        fitter = Fitter(client, engine, experiment, Deadline(engine.timeout))
        ids = fitter.gather([fitter.submit(part_areas, p) for p in parts], "the panel's parts")
        periods = pd.DatetimeIndex(fitter.gather([fitter.submit(part_periods, parts[0])],
                                                 "the panel's periods")[0])
        folds = make_folds(periods, config)
        area_ids = np.concatenate(ids)
        # The kernel maps' smoothers stay on the workers; only their names come here.
        smoothers = fitter.submit(area_smoothers, str(folder.resolve()), area_ids)
        kernels = fitter.gather([fitter.submit(list, smoothers)], "the kernel maps")[0]
        first = int(np.searchsorted(periods, folds[0].start))
        names = baseline_names(fc.windows, kernels, first >= fc.lag_for_season())
        edges = np.r_[0, np.cumsum([len(i) for i in ids])]
        held = held_blocks(fitter, parts, edges, area_ids, smoothers,
                           _baseline_columns(experiment))
        # The map anchors from the rows the baselines read (the kernel's from its reach).
        anchors, maps, city = city_anchors(fitter, parts, held, experiment, kernels)
        incidents = [fitter.submit(read_records, clean, "incidents", list(map(str, i)))
                     for i in ids]
        petitions = fitter.submit(read_records, clean, "petitions")
        columns = [C.AREA_ID, C.PERIOD, *features, *outcome_columns(experiment)]
        step = pd.Timedelta(periods[1] - periods[0])
        blocks = [block_areas(areas, i) for i in ids]
        frames, thresholds = [], {}
        steps = len(folds) * len(fc.horizons)
        for fold in folds:
            origins = [fitter.submit(at_origin, p, columns, incidents[b], petitions,
                                     Layout(area_ids=ids[b], periods=periods, period=fc.period),
                                     blocks[b], experiment, fold.start)
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
                                      step, None if maps is None else maps[b])
                        for b, o in enumerate(origins)]
                fitted, _ = fit_blocks(fitter, rows, area_ids, h)
                model = client.scatter([fitted], hash=False, broadcast=True)[0]
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


def _baseline_columns(experiment: Experiment) -> list[str]:
    """The panel columns :func:`training.baselines.baseline_forecasts` reads."""
    config, fc = experiment.training, experiment.features
    streams = [config.target] + (list(FLAG_STREAMS) if config.risk_flag == "collective_or_group"
                                 else [])
    windows = sorted({*fc.windows, MAP_PERIODS})
    return [C.AREA_ID, C.PERIOD, *[c for s in streams for c in (
        f"{s}_now", f"{OUTCOME}{s}", f"{s}_mean_all", *(f"{s}_sum_{w}" for w in windows))]]
