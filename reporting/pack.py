"""The meeting pack's content as plain data: load the model and the data, score, assemble.

The pack holds numbers and ids, never sentences: :mod:`reporting.render` words it in
English or Chinese, so one pack renders in both languages. Small counts are already suppressed
here, so the pack itself singles no one out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import poisson

from reporting.counts import is_count, suppress
from reporting.equity import equity_section, trend_rows
from reporting.geography import outlines
from reporting.headline import headline, unit_summary
from reporting.overrides import marked_units, override_section, shown
from reporting.quality import alarm_notes, freshness, ingest_notes, model_notes, next_period
from reporting.ranking import LEVEL_RANK, area_context, changes, families, ranked
from reporting.safety import safety_section
from riskgrid import vocabulary as C
from riskgrid.errors import InputError
from riskgrid.experiment import Experiment, ReportConfig, check_level
from riskgrid.settings import Settings
from riskgrid.vocabulary import DS, IS_FORECAST, TREND_LEVELS, YHAT, YHAT_LOWER, YHAT_UPPER, Y
from serving import (
    KINDS,
    SafetyIndex,
    Scorer,
    ServingData,
    Snapshot,
    Store,
    TrendService,
    equity_report,
    ledger,
    load_champion,
    load_serving_data,
    open_store,
    resolve_period,
    warnings_for,
)

CALIBRATION_BINS = 10
CALIBRATION_MIN = 20  # forecasts a probability bin needs to be drawn (fewer: noise)
SCORECARD_ROWS = 8  # newest vintages listed; the chart shows them all


@dataclass(frozen=True)
class MeetingPack:
    """Everything the meeting pack shows, as plain data (see docs/meeting_pack.md)."""

    meta: dict
    headline: list[dict]
    units: list[dict]
    outlines: dict
    grid_levels: dict[str, str]
    trends: list[dict]
    ranked: list[dict]
    changes: dict
    warnings: list[dict]
    scorecard: dict
    freshness: list[dict]
    ingest: dict
    model: dict
    features: dict[str, dict[str, str]]  # feature -> {"en": ..., "zh": ...}
    places: dict[str, str]  # any area or unit id -> its name
    overrides: dict  # the meeting's own levels (reporting.overrides)
    alarms: list[dict]  # data alarms as of the as-of period (serving.DataQuality)
    safety: dict  # the safety index of the units (reporting.safety)
    equity: dict  # where the warnings go (reporting.equity)


def default_out(settings: Settings, experiment: Experiment, pack: MeetingPack,
                lang: str) -> Path:
    """DATA_DIR/NAME/reports/AS_OF-LEVEL-LANG/."""
    return (experiment.output_dir(settings) / "reports"
            / f"{pack.meta['as_of']}-{pack.meta['level']}-{lang}")


def report_config(experiment: Experiment) -> ReportConfig:
    # The [report] section, once Experiment carries it; the defaults until then.
    return getattr(experiment, "report", None) or ReportConfig()


def build_pack(experiment: Experiment, settings: Settings, *, level: str = "district",
               as_of: str | None = None, since: str | None = None,
               config: ReportConfig | None = None, store: Store | None = None,
               data: ServingData | None = None, record: bool = True) -> MeetingPack:
    """Score the as-of period and assemble every section of the meeting pack.

    Args:
        experiment: the experiment, with its [serving], [warnings] and [report] sections.
        settings: where the data, the registry and the store are.
        level: district, street or community: the units of the map and the trend charts.
        as_of: a date in the as-of period (default: the latest complete period).
        since: a date in the period of the last meeting (default: the period before as-of).
        config: overrides the experiment's [report] section.
        store: the service store holding the forecast ledger (default: Settings' store).
        data: the serving data, when already loaded.
        record: record the pack's forecasts in the ledger as a vintage (source "report").
    """
    check_level(level)
    config = config or report_config(experiment)
    data = data or load_serving_data(experiment, settings)
    periods = pd.DatetimeIndex(sorted(data.panel[C.PERIOD].unique()))
    when = resolve_period(periods, as_of, "--as-of")
    position = periods.get_loc(when)
    before = periods[position - 1] if position > 0 else None
    if since is not None:
        before = resolve_period(periods, since, "--since")
        if before >= when:
            raise InputError(f"--since {since} must be a date before the as-of period "
                             f"{when.date()}")
    loaded = load_champion(settings, experiment.name)
    scorer = Scorer(loaded, data, experiment)
    h = config.horizon
    if h not in scorer.model.horizons:
        raise InputError(f"[report] horizon {h} is not forecast by model version "
                         f"{loaded.version}; use one of {scorer.horizons}")
    now = scorer.snapshot(when)
    earlier = scorer.snapshot(before) if before is not None else None
    trends = TrendService(data.counts, experiment)
    issued = warnings_for(scorer, trends, experiment, when)
    context = area_context(data.areas)
    target = _stream(scorer.model.target, trends.streams)
    interval = experiment.serving.interval
    store = store or open_store(settings.store_url())
    held, places = store.overrides(experiment.name), _places(context)
    forecast = ledger.shift(when, h, experiment.features.period)
    view = shown(now, h, held, forecast)  # the grids as shown: at the meeting's own levels
    units = marked_units(unit_summary(context, level, view, h, issued, data.counts, target,
                                      interval, config.min_count, scorer.units(now, level, h)),
                         held, forecast)
    grid_levels = dict(zip(view.area_ids, view.horizons[h]["risk_level"].astype(str)))
    lag = experiment.features.lag_for_season()
    last_year = periods[position - lag] if position >= lag else None
    names = scorer.model.horizons[h].features
    alarms = alarm_notes(experiment, settings, places, when)
    ledger.record_backtest_file(store, experiment, settings)  # once: the first past vintages
    fairness = equity_section(equity_report(experiment, settings, store, scorer, when), level,
                              before)
    card = {**_scorecard(store, experiment, data, when, h),
            **_levels(scorer, store, experiment, data, when, h)}
    card["trend"] = card["trend"] + trend_rows(fairness, h)
    pack = MeetingPack(
        meta=_meta(experiment, loaded.version, when, before, level, h, interval, config,
                   scorer.horizons, target),
        headline=headline(data.counts, {"as_of": when, "previous": before,
                                        "last_year": last_year}, now, earlier, h, interval,
                          config.min_count),
        units=units, outlines=outlines(context, level, grid_levels), grid_levels=grid_levels,
        trends=_trends(trends, data.counts, units, level, now, scorer, context, target,
                       interval, config, experiment.features.period),
        ranked=ranked(view, h, names, data.catalogue, data.panel, context, config),
        changes=changes(now, earlier, h, names, data.catalogue, context, config),
        warnings=_warnings(issued, data.catalogue, config),
        scorecard=card,
        freshness=freshness(experiment.output_dir(settings) / "clean", data.counts, when,
                            experiment.features.period, alarms),
        ingest=ingest_notes(experiment.output_dir(settings) / "clean"),
        model=model_notes(loaded, data.fingerprint),
        features=_feature_labels(data.catalogue), places=places, alarms=alarms,
        overrides=override_section(held, scorer, now, experiment, data, when, forecast,
                                   places),
        safety=safety_section(SafetyIndex.of(data.panel, data.areas, experiment), scorer, when,
                              before, level), equity=fairness)
    if record:
        scores = pd.concat([now.horizons[k] for k in scorer.horizons], ignore_index=True)
        ledger.record_vintage(store, scores, source="report", experiment=experiment.name,
                              as_of=when, model_version=loaded.version,
                              fingerprint=data.fingerprint, period=experiment.features.period)
    return pack


def _stream(target: str, streams: list[str]) -> str:
    return target if target in streams else "all"


def _meta(experiment: Experiment, version: str, as_of: pd.Timestamp,
          before: pd.Timestamp | None, level: str, h: int, interval: float,
          config: ReportConfig, horizons: list[int], target: str) -> dict:
    period = experiment.features.period
    forecast = as_of
    for _ in range(h):
        forecast = next_period(forecast, period)
    return {"experiment": experiment.name, "description": experiment.description or "",
            "as_of": as_of.date().isoformat(),
            "as_of_end": (next_period(as_of, period) - pd.Timedelta(days=1)).date().isoformat(),
            "since": None if before is None else before.date().isoformat(),
            "forecast_period": forecast.date().isoformat(), "period": period, "level": level,
            "horizon": h, "horizons": horizons, "interval": interval,
            "min_count": config.min_count, "model_version": version, "target": target,
            "generated_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")}


def _feature_labels(catalogue: pd.DataFrame) -> dict[str, dict[str, str]]:
    return {str(r.name): {"en": str(r.en), "zh": str(r.zh)}
            for r in catalogue[["name", "en", "zh"]].itertuples(index=False)}


def _places(context: pd.DataFrame) -> dict[str, str]:
    found = {C.CITY: C.CITY}
    for level in ("district", "street", "community", "grid"):
        pairs = context.reset_index()[[C.LEVEL_ID[level], C.LEVEL_NAME[level]]]
        found.update(zip(pairs.iloc[:, 0].astype(str), pairs.iloc[:, 1].astype(str)))
    return found


# --- trends ------------------------------------------------------------------------------------


def _trends(trends: TrendService, counts: pd.DataFrame, units: list[dict], level: str,
            snap: Snapshot, scorer: Scorer, context: pd.DataFrame, target: str,
            interval: float, config: ReportConfig, period: str) -> list[dict]:
    """The city's chart and those of the ``trend_units`` units at highest risk.

    Streets, districts and the city get a Prophet trend (one fit each); communities, too sparse
    for one, get their observed counts. Every chart also shows the risk model's own forecast
    for the unit: the sum of its grids' expected counts, with a Poisson interval.
    """
    grids = pd.Series(context.index, index=context.index)
    shown = [{"level": C.CITY, "unit_id": C.CITY, "name": C.CITY, "risk_level": None,
              "grids": grids.tolist()}]
    for unit in units[:config.trend_units]:
        members = grids[context[C.LEVEL_ID[level]].astype(str) == unit["unit_id"]].tolist()
        shown.append({"level": level, "unit_id": unit["unit_id"], "name": unit["name"],
                      "risk_level": unit["level"], "grids": members})
    out = []
    for chart in shown:
        points = _trend_points(trends, counts, chart["level"], chart["unit_id"], target,
                               snap.as_of, max(scorer.horizons), config.history)
        model = _bottom_up(snap, chart.pop("grids"), scorer.horizons, interval, period)
        out.append({**chart, "points": points, "model": model,
                    "prophet": chart["level"] in TREND_LEVELS})
    return out


def _trend_points(trends: TrendService, counts: pd.DataFrame, level: str, unit: str,
                  stream: str, as_of: pd.Timestamp, horizon: int, history: int) -> list[dict]:
    if level in TREND_LEVELS:
        frame = trends.frame(level, unit, stream, horizon, as_of).tail(history + horizon)
        return [{"period": str(r[DS].date()), "observed": _maybe(r[Y]), "fit": float(r[YHAT]),
                 "low": float(r[YHAT_LOWER]), "high": float(r[YHAT_UPPER]),
                 "is_forecast": bool(r[IS_FORECAST])} for _, r in frame.iterrows()]
    rows = counts[(counts["level"] == level) & (counts["unit_id"].astype(str) == unit)
                  & (counts[C.PERIOD] <= as_of)].sort_values(C.PERIOD).tail(history)
    return [{"period": str(p.date()), "observed": float(v), "fit": None, "low": None,
             "high": None, "is_forecast": False}
            for p, v in zip(rows[C.PERIOD], rows[stream])]


def _maybe(value: float) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) \
        else float(value)


def _bottom_up(snap: Snapshot, grids: list[str], horizons: list[int], interval: float,
               period: str) -> list[dict]:
    where = [snap.position[g] for g in grids if g in snap.position]
    tail = (1 - interval) / 2
    out, target = [], snap.as_of
    for h in range(1, max(horizons) + 1):
        target = next_period(target, period)
        if h not in snap.horizons:
            continue
        expected = float(snap.horizons[h]["expected_count"].to_numpy()[where].sum())
        out.append({"period": str(target.date()), "horizon": h, "expected": expected,
                    "low": float(poisson.ppf(tail, expected)),
                    "high": float(poisson.ppf(1 - tail, expected))})
    return out


# --- warnings ----------------------------------------------------------------------------------

_TRIGGER_COUNTS = ("observed", "collective_now", "repeat_same_topic_max")
_EVIDENCE_COUNTS = 4  # non-zero panel counts shown with a warning


def _warnings(issued: list[dict], catalogue: pd.DataFrame, config: ReportConfig) -> list[dict]:
    """The as-of period's warnings by kind (in the order of KINDS), highest level first."""
    family = families(catalogue)
    groups = []
    for kind in KINDS:
        rows = sorted((w for w in issued if w["kind"] == kind),
                      key=lambda w: (-LEVEL_RANK[w["level"]], -w["score"], w["area_id"]))
        items = [_warning_item(w, family, config.min_count)
                 for w in rows[:config.warnings_per_kind]]
        groups.append({"kind": kind, "count": len(rows),
                       "by_level": {lv: sum(w["level"] == lv for w in rows)
                                    for lv in ("red", "orange", "yellow", "blue")},
                       "items": items, "more": max(0, len(rows) - config.warnings_per_kind)})
    return groups


def _warning_item(w: dict, family: dict[str, str], min_count: int) -> dict:
    trigger = w["evidence"].get("trigger", {})
    facts = {}
    for key, value in trigger.items():
        if isinstance(value, list):
            value = value[-1] if value else None  # a rise: its latest value
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        counted = key in _TRIGGER_COUNTS or is_count(key, family.get(key, ""))
        facts[key] = suppress(float(value), min_count) if counted else float(value)
    counts = {k: (suppress(v, min_count) if is_count(k, family.get(k, "")) else v)
              for k, v in (w["evidence"].get("counts") or {}).items()
              if k in family and k not in facts and isinstance(v, int | float) and v}
    counts = dict(list(counts.items())[:_EVIDENCE_COUNTS])
    return {"area_id": w["area_id"], "level": w["level"], "rule": w["rule"],
            "period": w["period"], "horizon": w["horizon"], "facts": facts, "counts": counts,
            "drivers": [d["feature"] for d in w["evidence"].get("drivers", [])][:3],
            "response_en": w["response_en"], "response_zh": w["response_zh"]}


# --- scorecard ---------------------------------------------------------------------------------


def _scorecard(store: Store, experiment: Experiment, data: ServingData,
               as_of: pd.Timestamp, h: int) -> dict:
    """Past vintages scored against what happened by the as-of period, at the report horizon."""
    outcomes = ledger.panel_outcomes(data.panel, experiment.training)
    outcomes = outcomes[outcomes[C.PERIOD] <= as_of]
    card = ledger.scorecard(store, experiment.name, outcomes, experiment.warnings.alert_budget)
    card = card[(card[ledger.HORIZON] == h)
                & (pd.to_datetime(card[ledger.TARGET_PERIOD]) <= as_of)]
    if card.empty:
        return {"rows": [], "history": [], "trend": [], "calibration": [], "totals": None}
    numeric = ["n", "mae", "brier", "mean_probability", "observed_rate", "hit_rate", "coverage",
               "warnings", "warnings_confirmed", "warnings_false_alarm"]
    card = card.assign(**{c: card[c].astype(float) for c in numeric})
    rows = [{"as_of": r.as_of, "target_period": r.target_period, "source": r.source,
             "model_version": str(r.model_version), **{c: _maybe(getattr(r, c)) for c in numeric}}
            for r in card.head(SCORECARD_ROWS).itertuples(index=False)]
    history = (card.groupby("as_of", sort=True)[["hit_rate", "brier", "coverage"]].mean()
               .reset_index().to_dict("records"))
    trend = ledger.scorecard_trend(card)
    totals = {"vintages": int(card["vintage_id"].nunique()),
              "hit_rate": _maybe(float(card["hit_rate"].mean())),
              "warnings": int(card["warnings"].sum()),
              "confirmed": int(card["warnings_confirmed"].sum()),
              "false_alarms": int(card["warnings_false_alarm"].sum()),
              "brier": _maybe(float(card["brier"].mean())),
              "coverage": _maybe(float(card["coverage"].mean()))}
    return {"rows": rows, "history": history,
            "trend": [{k: (_maybe(v) if isinstance(v, float) else v) for k, v in row.items()}
                      for row in trend.to_dict("records")],
            "calibration": _calibration(store, experiment.name, outcomes, h), "totals": totals}


def _levels(scorer: Scorer, store: Store, experiment: Experiment, data: ServingData,
            as_of: pd.Timestamp, h: int) -> dict:
    """What each level promises and what the backtest showed, and how each level's forecasts
    of the last ``track_periods`` periods turned out (one row per source and level)."""
    config = experiment.warnings
    outcomes = ledger.panel_outcomes(data.panel, experiment.training)
    outcomes = outcomes[outcomes[C.PERIOD] <= as_of]
    tally = ledger.level_tally(store.forecasts(experiment=experiment.name), outcomes, as_of, h,
                               config.track_periods, experiment.features.period)
    return {"levels": [{**row, "threshold": _maybe(row["threshold"])
                        if math.isfinite(row["threshold"]) else None}
                       for row in scorer.promises],
            "tally": tally.to_dict("records"), "track_periods": config.track_periods}


def _calibration(store: Store, experiment: str, outcomes: pd.DataFrame, h: int) -> list[dict]:
    """Observed share of flagged periods per bin of forecast probability (all vintages)."""
    forecasts = store.forecasts(experiment=experiment)
    forecasts = forecasts[forecasts[ledger.HORIZON] == h]
    observed = outcomes.assign(**{C.PERIOD: outcomes[C.PERIOD].dt.strftime("%Y-%m-%d")})
    joined = forecasts.merge(observed, left_on=[C.AREA_ID, ledger.TARGET_PERIOD],
                             right_on=[C.AREA_ID, C.PERIOD])
    if joined.empty:
        return []
    p = joined[ledger.PROBABILITY].to_numpy(np.float64)
    bins = np.minimum((p * CALIBRATION_BINS).astype(int), CALIBRATION_BINS - 1)
    table = pd.DataFrame({"bin": bins, "p": p, "flag": joined[ledger.FLAG].to_numpy(np.float64)})
    grouped = table.groupby("bin").agg(probability=("p", "mean"), observed=("flag", "mean"),
                                       n=("p", "size")).reset_index()
    grouped = grouped[grouped["n"] >= CALIBRATION_MIN]
    return [{"probability": float(r.probability), "observed": float(r.observed), "n": int(r.n)}
            for r in grouped.itertuples(index=False)]
