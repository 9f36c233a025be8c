"""Rolling-origin backtest: the model and every baseline, per horizon, on the same rows."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features import Layout, outcomes_known_at
from riskgrid import vocabulary as C
from riskgrid.experiment import FeaturesConfig, TrainingConfig
from training.baselines import baseline_forecasts, baseline_names, hotspot_smoothers
from training.metrics import (
    count_metrics,
    hotspot_area_metrics,
    hotspot_metrics,
    risk_metrics,
    skill,
    tied_share,
)
from training.models import BoosterFit, Fitted, fit_horizon, fit_local
from training.oracle import gap_closed
from training.shrinkage import MAP_ANCHORS, TrainingRows, anchor_rates, long_run_rate, map_rates
from training.targets import flag_threshold, target_calendar, target_counts, target_flags
from training.uncertainty import uncertainty_metrics


@dataclass(frozen=True)
class Fold:
    """Test rows are periods [start, stop); the models see only labels known before start.

    ``targets_before``, set on validation folds, also drops test rows whose target period
    falls on or after it, so no reported period is looked at while choosing settings.
    """

    number: int
    start: pd.Timestamp
    stop: pd.Timestamp
    targets_before: pd.Timestamp | None = None


@dataclass
class BacktestResult:
    horizons: list[int]
    folds: list[Fold]
    primary_metric: str
    model: dict[int, dict[str, float]]
    baselines: dict[str, dict[int, dict[str, float]]]
    per_fold: list[dict] = field(default_factory=list)
    predictions: pd.DataFrame | None = None
    coherence: dict | None = None
    choices: list[dict] = field(default_factory=list)
    hotspot_km2: float | None = None
    oracle: dict[int, dict[str, float]] | None = None  # the synthetic city's truth, if scored

    def as_json(self) -> dict:
        """The documented JSON layout; horizons are string keys."""
        return {
            "horizons": self.horizons, "folds": len(self.folds),
            "primary_metric": self.primary_metric,
            "model": {str(h): m for h, m in self.model.items()},
            "baselines": {n: {str(h): m for h, m in b.items()} for n, b in self.baselines.items()},
            "skill": {str(h): skill(self.model[h], {n: b[h] for n, b in self.baselines.items()},
                                    self.primary_metric) for h in self.horizons},
            "fold_periods": [[str(f.start.date()), str(f.stop.date())] for f in self.folds],
            **({"coherence": self.coherence} if self.coherence else {}),
            "choices": self.choices,
            **({"oracle": {str(h): m for h, m in self.oracle.items()},
                "gap_closed": {str(h): gap_closed(
                    self.model[h], {n: b[h] for n, b in self.baselines.items()}, m)
                    for h, m in self.oracle.items()}} if self.oracle else {}),
        }

    def score_oracle(self, count: np.ndarray, probability: np.ndarray) -> None:
        """Score the truth's forecasts of the prediction rows (in their order) beside the model.

        Rows the truth does not cover are left out of the oracle's scores only.
        """
        self.predictions = self.predictions.assign(oracle_count=count,
                                                   oracle_probability=probability)
        self.oracle = {h: _metrics(rows, "oracle", self.hotspot_km2) for h, rows in
                       self.predictions.groupby("horizon", sort=True)}


def make_folds(periods: pd.DatetimeIndex, config: TrainingConfig) -> list[Fold]:
    """The last ``folds`` blocks of ``fold_step`` periods, after ``min_train_periods``.

    With ``config.validation``, the ``folds`` blocks before those instead.
    """
    n = len(periods)
    span = config.folds * config.fold_step
    end = n - span if config.validation else n
    starts = [end - span + k * config.fold_step for k in range(config.folds)]
    if starts[0] < config.min_train_periods:
        needed = "twice " if config.validation else ""
        raise ValueError(
            f"{n} periods are too few for {needed}{config.folds} folds of {config.fold_step} "
            f"after {config.min_train_periods} periods of history; lower [training] folds, "
            "fold_step or min_train_periods")
    bounds = [*starts, end]
    far = periods[-1] + (periods[-1] - periods[-2])
    limit = periods[end] if config.validation else None
    return [Fold(k + 1, periods[bounds[k]], periods[bounds[k + 1]] if bounds[k + 1] < n else far,
                 limit) for k in range(config.folds)]


def feature_columns(panel: pd.DataFrame, catalogue: pd.DataFrame) -> list[str]:
    return [name for name in catalogue["name"] if name in panel.columns]


def design(panel: pd.DataFrame, features: list[str], period: str, h: int,
           calendar: str = "CN") -> pd.DataFrame:
    """Model inputs for horizon h: the row's features and the calendar of period t+h."""
    return pd.concat([panel[features], target_calendar(panel, period, h, calendar)], axis=1)


def run_backtest(panel: pd.DataFrame, catalogue: pd.DataFrame, areas: pd.DataFrame,
                 features_config: FeaturesConfig, config: TrainingConfig,
                 records: tuple[pd.DataFrame, pd.DataFrame] | None = None,
                 progress=None, fit: BoosterFit = fit_local) -> BacktestResult:
    """Fit at every origin and horizon, forecast the next block, score model and baselines.

    Args:
        records: the clean incidents and petitions. With them, each origin trains on labels
            as they were known at the origin (late reports left out); without them, on the
            final labels, which lets reports made after the origin leak into training.
        fit: fits each booster (in this process, or on a Dask cluster).
        progress: called as ``progress(message, (i, n))`` before step i of the n folds x
            horizons.
    """
    periods = pd.DatetimeIndex(np.sort(panel[C.PERIOD].unique()))
    folds = make_folds(periods, config)
    features = feature_columns(panel, catalogue)
    first = int(np.searchsorted(periods, folds[0].start))
    # once: the kernel maps' smoothers depend on the areas only
    smoother = hotspot_smoothers(areas, panel[C.AREA_ID].unique())
    names = baseline_names(features_config.windows, smoother,
                           first >= features_config.lag_for_season())
    layout = Layout(area_ids=panel[C.AREA_ID].unique(), periods=periods,
                    period=features_config.period)
    rows = []
    steps = len(folds) * len(features_config.horizons)
    for fold in folds:
        # Periods a source does not cover stay missing (NaN) in the labels known at the origin.
        known = panel if records is None else panel.assign(**{
            name: np.where(np.isnan(panel[name]), np.nan, values.ravel())
            for name, values in outcomes_known_at(
                areas, *records, features_config, layout, fold.start).items()})
        threshold = flag_threshold(known, config, before=fold.start)
        for h in features_config.horizons:
            if progress:
                progress(f"fold {fold.number}/{len(folds)}, horizon {h}", (len(rows) + 1, steps))
            rows.append(_fold_horizon(panel, known, areas, smoother, features, features_config,
                                      config, fold, h, threshold, names, fit))
    predictions = pd.concat(rows, ignore_index=True)
    return score(predictions, folds, features_config.horizons, config.primary_metric, names,
                 config.hotspot_km2)


def _fold_horizon(panel, known, areas, smoother, features, features_config, config, fold, h,
                  threshold, names, fit) -> pd.DataFrame:
    period = panel[C.PERIOD]
    count, flag = target_counts(panel, config, h), target_flags(panel, config, h, threshold)
    known_count = target_counts(known, config, h)
    known_flag = target_flags(known, config, h, threshold)
    X = design(panel, features, features_config.period, h, features_config.calendar)
    step = periods_step(period)
    # NaN counts or flags: periods a source did not cover (or past the end of the data).
    train = ((period + h * step < fold.start).to_numpy() & ~np.isnan(known_count)
             & ~np.isnan(known_flag))
    test = (((period >= fold.start) & (period < fold.stop)).to_numpy() & ~np.isnan(count)
            & ~np.isnan(flag))
    if fold.targets_before is not None:
        test &= (period + h * step < fold.targets_before).to_numpy()
    rows = training_rows(known, areas, config, threshold, features_config.windows[-1], smoother)
    fitted = fit_horizon(X[train], known_count[train], known_flag[train], rows.take(train),
                         config, h, fit)
    baselines = baseline_forecasts(panel, smoother, config, h, features_config.lag_for_season(),
                                   features_config.windows, threshold, names)
    return _predictions(panel, areas, fitted, X, test, count, flag, baselines, fold, h,
                        None if rows.threshold is None else rows.threshold[test])


def training_rows(panel: pd.DataFrame, areas: pd.DataFrame, config: TrainingConfig,
                  threshold: np.ndarray, window: int,
                  smoothers: dict | None = None) -> TrainingRows:
    """Each panel row's period, area, area size, long-run rate, flag threshold and anchors.

    Args:
        window: the periods over which the city's recent level is measured (the panel's
            longest rolling window).
        smoothers: the kernel maps' smoothers of the panel's areas (computed when None and
            a kernel anchor needs them).
    """
    if smoothers is None and any(a in MAP_ANCHORS for a in config.anchors):
        smoothers = hotspot_smoothers(areas, panel[C.AREA_ID].unique())
    return TrainingRows(
        period=panel[C.PERIOD].to_numpy(), area_id=panel[C.AREA_ID].to_numpy(),
        area_size=area_sizes(areas).reindex(panel[C.AREA_ID]).to_numpy(np.float64),
        long_run=long_run_rate(panel, config.target, window),
        threshold=row_thresholds(panel, config, threshold),
        anchors={**anchor_rates(panel, config.target, window, config.anchors),
                 **map_rates(panel, config.target, window, config.anchors, smoothers or {})})


def area_sizes(areas: pd.DataFrame) -> pd.Series:
    """Area in km2 by area id (1 where unknown): hotspot maps rank events per unit of area."""
    return areas.set_index(C.AREA_ID)[C.AREA_KM2].astype(np.float64).fillna(1.0)


def row_thresholds(panel: pd.DataFrame, config: TrainingConfig,
                   threshold: np.ndarray) -> np.ndarray | None:
    """Each row's area threshold, for count-threshold flags (None for event flags)."""
    if config.risk_flag != "above_quantile":
        return None
    return np.repeat(threshold, panel[C.PERIOD].nunique())


def periods_step(period: pd.Series) -> pd.Timedelta:
    unique = np.sort(period.unique())
    return pd.Timedelta(unique[1] - unique[0])


def _predictions(panel, areas, fitted: Fitted, X, test, count, flag, baselines, fold,
                 h, threshold) -> pd.DataFrame:
    model = fitted.model
    size = area_sizes(areas)
    out = pd.DataFrame({
        "fold": fold.number, "horizon": h, C.AREA_ID: panel.loc[test, C.AREA_ID].to_numpy(),
        C.PERIOD: panel.loc[test, C.PERIOD].to_numpy(), "y": count[test], "flag": flag[test],
        "model_count": model.expected_count(X[test]),
        "model_probability": model.risk_probability(X[test], threshold),
        **{f"model_{k}": v for k, v in fitted.choices().items()},
        "model_dispersion": model.dispersion,
    })
    out["area_size"] = size.reindex(out[C.AREA_ID]).to_numpy()
    for name, (expected, probability) in baselines.items():
        out[f"{name}_count"] = expected[test]
        out[f"{name}_probability"] = probability[test]
    return out


def _metrics(frame: pd.DataFrame, prefix: str,
             hotspot_km2: float | None = None) -> dict[str, float]:
    rows = frame.dropna(subset=[f"{prefix}_count"])
    # Hotspot maps at a share of the area flag the densest areas: events per unit of area;
    # at a fixed area (NIJ rules) they flag the highest expected counts.
    hotspot = pd.DataFrame({C.PERIOD: rows[C.PERIOD], C.AREA_ID: rows[C.AREA_ID],
                            "y_true": rows["y"],
                            "score": rows[f"{prefix}_count"] / rows["area_size"],
                            "area_size": rows["area_size"]})
    by_area = ({} if hotspot_km2 is None else hotspot_area_metrics(
        hotspot.assign(score=rows[f"{prefix}_count"]), hotspot_km2))
    # The model's own negative-binomial law; a Poisson law around each baseline's forecast.
    dispersion = rows.get(f"{prefix}_dispersion", 0.0)
    return {**count_metrics(rows["y"].to_numpy(), rows[f"{prefix}_count"].to_numpy()),
            **uncertainty_metrics(rows["y"].to_numpy(), rows[f"{prefix}_count"].to_numpy(),
                                  np.asarray(dispersion, np.float64)),
            **risk_metrics(rows["flag"].to_numpy(), rows[f"{prefix}_probability"].to_numpy()),
            "tied_share": tied_share(rows[C.PERIOD], rows[f"{prefix}_probability"]),
            **hotspot_metrics(hotspot), **by_area}


def score(predictions: pd.DataFrame, folds: list[Fold], horizons: list[int], primary: str,
          names: list[str], hotspot_km2: float | None = None) -> BacktestResult:
    """Metrics per horizon, pooled over folds, and per fold for the model.

    Args:
        hotspot_km2: the area flagged by the NIJ-style hotspot metrics (none when None).
    """
    model, baselines, per_fold = {}, {n: {} for n in names}, []
    for h in horizons:
        rows = predictions[predictions["horizon"] == h]
        model[h] = _metrics(rows, "model", hotspot_km2)
        for name in names:
            baselines[name][h] = _metrics(rows, name, hotspot_km2)
        for number, fold_rows in rows.groupby("fold"):
            per_fold.append({"fold": int(number), "horizon": h,
                             **_metrics(fold_rows, "model", hotspot_km2)})
    return BacktestResult(horizons=list(horizons), folds=folds, primary_metric=primary,
                          model=model, baselines=baselines, per_fold=per_fold,
                          predictions=predictions, hotspot_km2=hotspot_km2,
                          choices=fold_choices(predictions, folds))


CHOICES = ("shrinkage", "anchor", "count_rounds", "risk_rounds")


def fold_choices(predictions: pd.DataFrame, folds: list[Fold]) -> list[dict]:
    """What each origin and horizon chose on its inner validation slice."""
    columns = [f"model_{c}" for c in CHOICES if f"model_{c}" in predictions]
    starts = {f.number: str(f.start.date()) for f in folds}
    first = predictions.groupby(["fold", "horizon"], sort=True)[columns].first()
    return [{"fold": int(fold), "origin": starts[int(fold)], "horizon": int(h),
             **{c[len("model_"):]: _plain(row[c]) for c in columns}}
            for (fold, h), row in first.iterrows()]


def _plain(value):
    """A NumPy scalar as the Python value JSON writes."""
    return value.item() if isinstance(value, np.generic) else value
