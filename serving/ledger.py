"""The forecast ledger and its scorecard: every forecast issued, and how right it turned out.

A vintage is one batch of forecasts (source, experiment, as-of period, model version, time of
issue) for many grids and horizons; recording again adds a vintage, nothing is overwritten.
Sources: ``api`` (the service), ``batch`` (``riskgrid score``), ``report`` (a meeting pack)
and ``backtest`` (the rolling-origin backtest's out-of-sample forecasts, the only honest past
forecasts before the service has run for a while). Replaying today's champion over past
periods is not offered: the champion was trained on those periods, so its "forecasts" of them
would be in-sample and flatter the scorecard.

The scorecard compares each vintage with what happened once its target periods are observed
(docs/ledger.md defines every metric).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import poisson

from features import read_features, read_fingerprint
from riskgrid import vocabulary as C
from riskgrid.calendar import parse_day
from riskgrid.errors import InputError
from riskgrid.experiment import Experiment
from riskgrid.settings import Settings
from serving.outcomes import FLAG, panel_outcomes
from serving.promises import settle_levels
from serving.scoring import Scorer
from serving.store import SOURCES, Store
from serving.warnings import WarningsConfig, levels
from training import OUTCOME, count_metrics, read_backtest_predictions

HORIZON, TARGET_PERIOD = "horizon", "target_period"
EXPECTED, LOW, HIGH = "expected_count", "low", "high"
PROBABILITY, LEVEL = "risk_probability", "risk_level"
FORECAST_COLUMNS = (C.AREA_ID, HORIZON, TARGET_PERIOD, EXPECTED, LOW, HIGH, PROBABILITY, LEVEL)
CARD_COLUMNS = (
    "vintage_id", "source", "as_of", HORIZON, TARGET_PERIOD, "model_version", "issued_at", "n",
    "mae", "poisson_deviance", "brier", "mean_probability", "observed_rate", "hit_rate",
    "coverage", "warnings", "warnings_confirmed", "warnings_false_alarm",
)
# metric -> True when lower is better, False when higher is, None when neither (coverage
# should sit at the interval's nominal level).
TREND_METRICS: dict[str, bool | None] = {
    "mae": True, "poisson_deviance": True, "brier": True, "hit_rate": False, "coverage": None}
_BUDGET_SLACK = 1e-9  # as in serving.warnings.levels: 5% of 100 areas is 5, not 4


# --- recording -------------------------------------------------------------------------------

def record_vintage(store: Store, scores: pd.DataFrame, *, source: str, experiment: str,
                   as_of: date | str | pd.Timestamp, model_version: str, fingerprint: str,
                   period: str = "week") -> str:
    """Store one vintage of forecasts.

    Args:
        scores: one row per area and horizon: area_id, horizon, expected_count, the interval
            (low and high columns, or an ``interval`` [low, high] column as /score answers),
            risk_probability, risk_level; target_period when given, else as_of + horizon.
        source: api, batch, report or backtest.
        fingerprint: the feature panel's input_fingerprint (``ServingData.fingerprint``).
        period: the panel's period length (day, week, month), for the target periods.

    Returns:
        The new vintage's id.
    """
    (vintage_id,) = store.save_vintages([_vintage(scores, source, experiment, as_of,
                                                  model_version, fingerprint, period)])
    return vintage_id


def record_batch(store: Store, scorer: Scorer, experiment: Experiment,
                 as_of: pd.Timestamp | None = None, source: str = "batch") -> str:
    """Score every grid for every horizon with the scorer's model and record a vintage."""
    as_of = scorer.latest if as_of is None else as_of
    snap = scorer.snapshot(as_of)
    scores = pd.concat([snap.horizons[h] for h in scorer.horizons], ignore_index=True)
    return record_vintage(store, scores, source=source, experiment=experiment.name,
                          as_of=as_of, model_version=scorer.loaded.version,
                          fingerprint=scorer.data.fingerprint, period=experiment.features.period)


def record_backtest(store: Store, predictions: pd.DataFrame, *, experiment: str,
                    model_version: str, fingerprint: str, period: str = "week",
                    interval: float = 0.8, warnings: WarningsConfig | None = None) -> list[str]:
    """Record each as-of period of backtest predictions as a vintage (source backtest).

    Args:
        predictions: columns period (the origin, i.e. the as-of period), area_id, horizon,
            expected_count and risk_probability (the backtest's own model_count and
            model_probability columns are read too).
        model_version: e.g. ``backtest:<fingerprint>``; predictions already recorded under this
            version are not recorded again, so the same backtest is never counted twice.
        interval: coverage of the Poisson interval, as the service's [serving] interval.
        warnings: the levels' thresholds and alert budget (default: WarningsConfig()).

    Returns:
        The new vintages' ids (empty when this model_version was recorded before).
    """
    if not store.vintages(experiment=experiment, source="backtest",
                          model_version=model_version).empty:
        return []
    frame = _backtest_frame(predictions)
    frame[LOW], frame[HIGH] = poisson_interval(frame[EXPECTED].to_numpy(), interval)
    config = warnings or WarningsConfig()
    batches = []
    for as_of, rows in frame.groupby(C.PERIOD, sort=True):
        rows = rows.reset_index(drop=True)
        rows[LEVEL] = levels(rows, config).to_numpy()
        batches.append(_vintage(rows, "backtest", experiment, as_of, model_version, fingerprint,
                                period))
    return store.save_vintages(batches)


def record_backtest_file(store: Store, experiment: Experiment,
                         settings: Settings) -> list[str]:
    """Record DATA_DIR/NAME/backtest/predictions.parquet (written by riskgrid train), once.

    Its model version is ``backtest:`` and the first 16 hex digits of a hash of its content,
    so recording the same predictions again adds nothing.
    """
    folder = experiment.output_dir(settings)
    predictions = read_backtest_predictions(folder)
    if predictions is None:
        return []
    digest = hashlib.sha256(pd.util.hash_pandas_object(predictions, index=False).to_numpy()
                            .tobytes()).hexdigest()[:16]
    fingerprint = read_fingerprint(folder)
    config = experiment.warnings
    if config.promise:  # the levels as the service gives them: thresholds from the promises
        config, _ = settle_levels(config, predictions, read_outcomes(experiment, settings),
                                  experiment.features.period)
    return record_backtest(store, predictions, experiment=experiment.name,
                           model_version=f"backtest:{digest}", fingerprint=fingerprint,
                           period=experiment.features.period,
                           interval=experiment.serving.interval, warnings=config)


def poisson_interval(expected: np.ndarray, coverage: float) -> tuple[np.ndarray, np.ndarray]:
    """Central Poisson interval around each expected count (as the scoring service gives)."""
    tail = (1 - coverage) / 2
    return poisson.ppf(tail, expected), poisson.ppf(1 - tail, expected)


def _vintage(scores: pd.DataFrame, source: str, experiment: str, as_of: Any,
             model_version: str, fingerprint: str, period: str) -> tuple[dict, list[dict]]:
    if source not in SOURCES:
        raise InputError(f"Forecast source {source!r} is unknown; use one of "
                         f"{', '.join(SOURCES)}.")
    if not experiment or not model_version:
        raise InputError("A vintage needs its experiment and model_version; neither may be "
                         "empty.")
    day = _day(as_of, "as_of")
    meta = {"source": source, "experiment": experiment, "as_of": day.date().isoformat(),
            "model_version": str(model_version), "fingerprint": str(fingerprint or "")}
    return meta, _forecast_rows(scores, day, period)


def _forecast_rows(scores: pd.DataFrame, as_of: pd.Timestamp, period: str) -> list[dict]:
    frame = scores
    if "interval" in frame and LOW not in frame:
        bounds = np.asarray(frame["interval"].tolist(), dtype=np.float64).reshape(-1, 2)
        frame = frame.assign(**{LOW: bounds[:, 0], HIGH: bounds[:, 1]})
    missing = [c for c in FORECAST_COLUMNS if c != TARGET_PERIOD and c not in frame]
    if missing:
        raise InputError(f"The forecasts to record lack the columns {', '.join(missing)}; give "
                         "every area_id, horizon, expected_count, low, high, risk_probability "
                         "and risk_level.")
    if frame.empty:
        raise InputError(f"There are no forecasts to record for as-of {as_of.date()}; a vintage "
                         "needs at least one area and horizon.")
    horizons = frame[HORIZON].astype(np.int64)
    if (horizons < 1).any():
        raise InputError("Every forecast's horizon must be 1 or more periods ahead.")
    if TARGET_PERIOD in frame:
        targets = frame[TARGET_PERIOD].map(lambda v: _day(v, TARGET_PERIOD).date().isoformat())
    else:
        by_h = {h: shift(as_of, h, period).date().isoformat() for h in horizons.unique()}
        targets = horizons.map(by_h)
    out = pd.DataFrame({
        C.AREA_ID: frame[C.AREA_ID].astype(str).to_numpy(), HORIZON: horizons.to_numpy(),
        TARGET_PERIOD: targets.to_numpy(),
        **{c: frame[c].to_numpy(np.float64) for c in (EXPECTED, LOW, HIGH, PROBABILITY)},
        LEVEL: frame[LEVEL].astype(str).to_numpy()})
    numbers = out[[EXPECTED, LOW, HIGH, PROBABILITY]].to_numpy()
    if not np.isfinite(numbers).all():
        raise InputError("Some forecasts to record have a missing or infinite expected_count, "
                         "interval or risk_probability; record complete forecasts only.")
    duplicated = out.duplicated([C.AREA_ID, HORIZON])
    if duplicated.any():
        first = out[duplicated].iloc[0]
        raise InputError(f"Area {first[C.AREA_ID]} has more than one horizon {first[HORIZON]} "
                         f"forecast as of {as_of.date()}; a vintage holds one per area and "
                         "horizon.")
    return out.to_dict("records")


def _backtest_frame(predictions: pd.DataFrame) -> pd.DataFrame:
    frame = predictions.rename(columns={"model_count": EXPECTED,
                                        "model_probability": PROBABILITY})
    needed = (C.PERIOD, C.AREA_ID, HORIZON, EXPECTED, PROBABILITY)
    missing = [c for c in needed if c not in frame]
    if missing:
        raise InputError(f"The backtest predictions lack the columns {', '.join(missing)}; "
                         "they need period, area_id, horizon, expected_count and "
                         "risk_probability.")
    frame = frame[list(needed)].dropna(subset=[EXPECTED, PROBABILITY])
    return frame.assign(**{C.PERIOD: pd.to_datetime(frame[C.PERIOD])}).reset_index(drop=True)


def shift(as_of: pd.Timestamp, h: int, period: str) -> pd.Timestamp:
    """The period ``h`` periods after ``as_of``."""
    if period == "month":
        return as_of + pd.DateOffset(months=int(h))
    if period not in ("week", "day"):
        raise InputError(f"Period {period!r} is unknown; use day, week or month.")
    return as_of + pd.Timedelta(days=int(h) * (7 if period == "week" else 1))


def _day(value: Any, field: str) -> pd.Timestamp:
    day = parse_day(value, f"The {field}")
    return day.normalize().tz_localize(None)


# --- outcomes --------------------------------------------------------------------------------

def read_outcomes(experiment: Experiment, settings: Settings) -> pd.DataFrame:
    """:func:`panel_outcomes` of the experiment's feature panel (only the columns needed)."""
    wanted = [C.AREA_ID, C.PERIOD, *(OUTCOME + s for s in
                                     (experiment.training.target, "collective", "group"))]
    features = read_features(experiment.output_dir(settings), ("panel",), panel_columns=wanted)
    return panel_outcomes(features.panel, experiment.training)


# --- the scorecard ---------------------------------------------------------------------------

def scorecard(store: Store, experiment: str, outcomes: pd.DataFrame,
              alert_budget: float) -> pd.DataFrame:
    """Score every vintage-horizon whose target period is observed; newest first.

    Args:
        outcomes: area_id, period, count and flag, as :func:`panel_outcomes` gives.
        alert_budget: share of areas a meeting can act on (the [warnings] alert_budget).

    Returns:
        One row per vintage and horizon with the columns of CARD_COLUMNS (docs/ledger.md).
    """
    observed = _observed(outcomes)
    forecasts = store.forecasts(experiment=experiment)
    joined = forecasts.merge(observed, left_on=[C.AREA_ID, TARGET_PERIOD],
                             right_on=[C.AREA_ID, C.PERIOD], how="inner")
    if joined.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in CARD_COLUMNS})
    card = pd.DataFrame([_card_row(group, alert_budget) for _, group in
                         joined.groupby(["vintage_id", HORIZON], sort=False)])
    card = _with_warnings(card, store, observed)
    card = card.sort_values(["as_of", "issued_at", "vintage_id", HORIZON],
                            ascending=[False, False, True, True], ignore_index=True)
    return card[list(CARD_COLUMNS)]


def scorecard_trend(card: pd.DataFrame, window: int = 4) -> pd.DataFrame:
    """Per horizon and metric: the mean over the newest ``window`` vintages against the
    ``window`` before them, and whether that is an improvement (None for coverage)."""
    rows = []
    for h, group in card.groupby(HORIZON, sort=True):
        ordered = group.sort_values(["as_of", "issued_at"], ascending=False)
        recent, previous = ordered.iloc[:window], ordered.iloc[window:2 * window]
        for metric, lower_better in TREND_METRICS.items():
            now, before = recent[metric].astype(float).mean(), previous[metric].astype(float).mean()
            change = now - before
            improved = (None if lower_better is None or math.isnan(change)
                        else bool(change < 0 if lower_better else change > 0))
            rows.append({HORIZON: int(h), "metric": metric, "vintages": len(recent),
                         "recent": now, "previous": before, "change": change,
                         "improved": improved})
    return pd.DataFrame(rows, columns=[HORIZON, "metric", "vintages", "recent", "previous",
                                       "change", "improved"])


def hit_rate(area_ids: Sequence[str], probability: np.ndarray, expected: np.ndarray,
             count: np.ndarray, budget: float) -> float:
    """Share of the actual top-budget areas that the forecast put in its top-budget list.

    k = floor(budget x areas), at least 1 when the budget is positive. The forecast's list is
    its k areas ranked by risk probability, then expected count, then area id (the order of
    the alert list). The actual top areas are the k with the highest counts, areas with no
    event left out; ties at the cut go to the areas the forecast ranked higher, since any of
    them was equally right. NaN when nothing happened or the budget is 0.
    """
    n = len(area_ids)
    k = math.floor(budget * n + _BUDGET_SLACK)
    k = max(k, 1) if budget > 0 else 0
    if k == 0:
        return float("nan")
    order = pd.DataFrame({"p": probability, "e": expected, "a": list(area_ids)}).sort_values(
        ["p", "e", "a"], ascending=[False, False, True], kind="stable").index.to_numpy()
    rank = np.empty(n, np.int64)
    rank[order] = np.arange(n)
    actual = np.lexsort((rank, -np.asarray(count, np.float64)))[:k]
    actual = actual[np.asarray(count)[actual] > 0]
    if len(actual) == 0:
        return float("nan")
    return float(np.mean(rank[actual] < k))


def _observed(outcomes: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in (C.AREA_ID, C.PERIOD, C.COUNT, FLAG) if c not in outcomes]
    if missing:
        raise InputError(f"The outcomes lack the columns {', '.join(missing)}; build them with "
                         "panel_outcomes (area_id, period, count, flag).")
    return pd.DataFrame({C.AREA_ID: outcomes[C.AREA_ID].astype(str),
                         C.PERIOD: pd.to_datetime(outcomes[C.PERIOD]).dt.strftime("%Y-%m-%d"),
                         C.COUNT: outcomes[C.COUNT].astype(np.float64),
                         FLAG: outcomes[FLAG].astype(np.float64)}).dropna(subset=[C.COUNT])


def _card_row(group: pd.DataFrame, budget: float) -> dict:
    y, mu = group[C.COUNT].to_numpy(), group[EXPECTED].to_numpy()
    p, flag = group[PROBABILITY].to_numpy(), group[FLAG].to_numpy()
    first = group.iloc[0]
    counts = count_metrics(y, mu)
    return {
        **{c: first[c] for c in ("vintage_id", "source", "as_of", "model_version", "issued_at",
                                 TARGET_PERIOD)},
        HORIZON: int(first[HORIZON]), "n": len(group), "mae": counts["mae"],
        "poisson_deviance": counts["poisson_deviance"], "brier": float(np.mean((p - flag) ** 2)),
        "mean_probability": float(p.mean()), "observed_rate": float(flag.mean()),
        "hit_rate": hit_rate(group[C.AREA_ID].tolist(), p, mu, y, budget),
        "coverage": float(np.mean((group[LOW].to_numpy() <= y) & (y <= group[HIGH].to_numpy()))),
    }


def _with_warnings(card: pd.DataFrame, store: Store, observed: pd.DataFrame) -> pd.DataFrame:
    """Warnings issued with each vintage's as-of and model, on grids, and how they turned out.

    A warning about horizon h is judged with the horizon-h row; one about the as-of period
    itself (surge, weak signal, backlog: horizon 0) with the horizon-1 row, i.e. by the next
    period. Confirmed: the grid's risk flag was on in that period. False alarm: dismissed
    with the reason code false_alarm.
    """
    zero = card.assign(warnings=0, warnings_confirmed=0, warnings_false_alarm=0)
    found = [w for w in store.query_warnings() if w["as_of"] in set(card["as_of"])]
    if not found:
        return zero
    warned = pd.DataFrame(found)
    warned[HORIZON] = warned[HORIZON].clip(lower=1)
    events = store.lifecycle_events(warned["warning_id"].tolist())
    false_alarms = set(events.loc[(events["action"] == "dismiss")
                                  & (events["reason_code"] == "false_alarm"), "warning_id"])
    keys = ["as_of", "model_version", HORIZON]
    judged = warned.merge(card[[*keys, TARGET_PERIOD]].drop_duplicates(), on=keys)
    judged = judged.merge(observed, left_on=[C.AREA_ID, TARGET_PERIOD],
                          right_on=[C.AREA_ID, C.PERIOD])  # grids with an observed outcome
    tally = judged.assign(warnings=1, warnings_confirmed=(judged[FLAG] > 0).astype(int),
                          warnings_false_alarm=judged["warning_id"].isin(false_alarms)
                          .astype(int)).groupby(keys)[
        ["warnings", "warnings_confirmed", "warnings_false_alarm"]].sum().reset_index()
    merged = card.merge(tally, on=keys, how="left")
    cols = ["warnings", "warnings_confirmed", "warnings_false_alarm"]
    merged[cols] = merged[cols].fillna(0).astype(np.int64)
    return merged


# --- what the levels delivered ---------------------------------------------------------------

TALLY_COLUMNS = ("source", "level", "forecasts", "came_true", "first_target", "last_target")


def level_tally(forecasts: pd.DataFrame, outcomes: pd.DataFrame, as_of: pd.Timestamp,
                horizon: int, periods: int, period: str = "week") -> pd.DataFrame:
    """Per source and warning level: how many forecasts about the last ``periods`` observed
    periods up to ``as_of`` were at that level, and how many of them came true (flag on).

    An area and target period forecast by several vintages of one source counts once, by its
    newest vintage, so re-running a report does not count a forecast twice.

    Returns:
        Columns of TALLY_COLUMNS, one row per source and level that issued a forecast.
    """
    first = shift(as_of, -(periods - 1), period)
    rows = forecasts[(forecasts[HORIZON] == horizon)
                     & forecasts[LEVEL].isin(C.WARNING_LEVELS)]
    target = pd.to_datetime(rows[TARGET_PERIOD])
    rows = rows[(target >= first) & (target <= as_of)]
    if rows.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in TALLY_COLUMNS})
    rows = rows.sort_values("issued_at", kind="stable").drop_duplicates(
        ["source", C.AREA_ID, TARGET_PERIOD], keep="last")
    joined = rows.merge(_observed(outcomes), left_on=[C.AREA_ID, TARGET_PERIOD],
                        right_on=[C.AREA_ID, C.PERIOD])
    tally = joined.assign(hit=joined[FLAG] > 0).groupby(["source", LEVEL]).agg(
        forecasts=("hit", "size"), came_true=("hit", "sum")).reset_index()
    tally = tally.rename(columns={LEVEL: "level"}).assign(
        first_target=first.date().isoformat(), last_target=as_of.date().isoformat())
    order = {lv: i for i, lv in enumerate(C.WARNING_LEVELS)}
    tally = tally.sort_values(["source", "level"], key=lambda s: s.map(order)
                              if s.name == "level" else s, ignore_index=True)
    return tally.astype({"forecasts": "int64", "came_true": "int64"})[list(TALLY_COLUMNS)]


# --- what the meeting's overrides delivered --------------------------------------------------

LEVEL_RANK = {"none": 0, **{lv: len(C.WARNING_LEVELS) - i for i, lv in
                            enumerate(C.WARNING_LEVELS)}}
OVERRIDE_COLUMNS = ("area_id", "period", "level", "model_level", "direction", "reason_code",
                    "who", "came_true", "closer")


def override_card(overrides: list[dict], outcomes: pd.DataFrame,
                  areas: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every override in force whose forecast period has been observed, scored apart from the
    model: did the area's risk flag come on (for a unit: on any of its grids), and who was
    closer. A raised level is closer when the flag came on, a lowered one when it did not;
    the model was closer otherwise. Overrides whose model level is unknown have no ``closer``.

    Args:
        overrides: the store's overrides in force (Store.overrides).
        outcomes: area_id, period, count and flag of the grids (panel_outcomes).
        areas: the clean areas (grid and parent ids), to judge overrides of units.
    """
    observed = _observed(outcomes)
    flag = dict(zip(zip(observed[C.AREA_ID], observed[C.PERIOD]), observed[FLAG] > 0))
    grids: dict[str, list[str]] = {}
    for level in ("community", "street", "district"):
        if areas is not None and C.LEVEL_ID[level] in areas:
            for unit, rows in areas.groupby(areas[C.LEVEL_ID[level]].astype(str)):
                grids.setdefault(unit, rows[C.AREA_ID].astype(str).tolist())
    if areas is not None:
        grids.setdefault(C.CITY, areas[C.AREA_ID].astype(str).tolist())
    rows = []
    for o in overrides:
        seen = [flag[(g, o["period"])] for g in grids.get(o["area_id"], [o["area_id"]])
                if (g, o["period"]) in flag]
        if not seen:
            continue
        model = o.get("model_level")
        change = None if model is None else LEVEL_RANK[o["level"]] - LEVEL_RANK[model]
        direction = None if not change else "raised" if change > 0 else "lowered"
        hit = bool(any(seen))
        closer = None if direction is None else (
            "meeting" if hit == (direction == "raised") else "model")
        rows.append({"area_id": o["area_id"], "period": o["period"], "level": o["level"],
                     "model_level": model, "direction": direction,
                     "reason_code": o["reason_code"], "who": o["who"], "came_true": hit,
                     "closer": closer})
    return pd.DataFrame(rows, columns=list(OVERRIDE_COLUMNS), dtype=object)


def override_summary(card: pd.DataFrame) -> list[dict]:
    """Per direction (raised, lowered): overrides, how many came true, and how often the
    meeting or the model was closer."""
    return [{"direction": d, "overrides": len(rows), "came_true": int(rows["came_true"].sum()),
             "meeting_closer": int((rows["closer"] == "meeting").sum()),
             "model_closer": int((rows["closer"] == "model").sum())}
            for d in ("raised", "lowered") for rows in [card[card["direction"] == d]]
            if len(rows)]
