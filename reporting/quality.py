"""Data freshness, quality notes and data alarms, and the model's version and backtest skill."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

from features import read_clean
from riskgrid import vocabulary as C
from riskgrid.calendar import period_start
from riskgrid.experiment import Experiment
from riskgrid.settings import Settings
from serving import DataQuality, LoadedModel

# Clean table of each kind of source -> (time of the event, time it was reported; None if
# the table has no report time) and the stream of the counts table it feeds.
SOURCE_TIMES = {"incidents": (C.OCCURRED_AT, C.REPORTED_AT, "all"),
                "petitions": (C.FILED_AT, None, "petitions")}
_USUAL_PERIODS = 13
_REASON_COLUMN = re.compile(r"^column (\w+)")


def next_period(start: pd.Timestamp, period: str) -> pd.Timestamp:
    if period == "month":
        return start + pd.DateOffset(months=1)
    return start + pd.Timedelta(days=7 if period == "week" else 1)


def _periods_between(first: pd.Timestamp, last: pd.Timestamp, period: str) -> int:
    if period == "month":
        return (last.year - first.year) * 12 + last.month - first.month
    return int((last - first).days // (7 if period == "week" else 1))


def freshness(clean: Path, counts: pd.DataFrame, as_of: pd.Timestamp, period: str,
              alarms: list[dict] = ()) -> list[dict]:
    """Per source table: its newest record up to the as-of period, how late it is, its volume.

    A source is late by N periods when its newest record falls N periods before the as-of
    period; its volume is low when one of the data ``alarms`` (serving.DataQuality) says the
    whole source dropped or went silent in the as-of period.
    """
    end = next_period(as_of, period)
    city = counts[counts["level"] == C.CITY].set_index(C.PERIOD).sort_index()
    out = []
    tables = read_clean(clean.parent, columns={
        source: [c for c in (event_time, report_time) if c]
        for source, (event_time, report_time, _) in SOURCE_TIMES.items()})
    for source, (event_time, report_time, stream) in SOURCE_TIMES.items():
        times = getattr(tables, source)
        happened = times[event_time][times[event_time] < end]
        newest = happened.max() if len(happened) else None
        reported = None
        if report_time:
            seen = times[report_time][times[report_time] < end]
            reported = seen.max() if len(seen) else None
        last_period = None if newest is None else period_start(pd.DatetimeIndex([newest]),
                                                               period).iloc[0]
        now = usual = None
        if stream in city.columns and as_of in city.index:
            now = float(city.at[as_of, stream])
            before = city.loc[city.index < as_of, stream].tail(_USUAL_PERIODS)
            usual = float(before.mean()) if len(before) else None
        out.append({
            "source": source,
            "newest": None if newest is None else str(newest)[:16],
            "newest_report": None if reported is None else str(reported)[:16],
            "last_period": None if last_period is None else str(last_period.date()),
            "late_periods": None if last_period is None else
            max(0, _periods_between(last_period, as_of, period)),
            "records": now, "usual": usual,
            "low_volume": any(a["source"] == source and a["channel"] is None
                              and a["area_id"] == C.CITY and a["kind"] in ("late", "drop")
                              and a["until"] == str(as_of.date()) for a in alarms)})
    return out


def alarm_notes(experiment: Experiment, settings: Settings, places: dict[str, str],
                as_of: pd.Timestamp) -> list[dict]:
    """The data alarms listed as of ``as_of``, each with its sentence in both languages."""
    return DataQuality.load(experiment, settings, places).at(as_of)


def ingest_notes(clean: Path) -> dict:
    """The ingest's row accounting per source and the quarantined rows by offending column."""
    summary_path = clean / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    reasons: dict[str, dict[str, int]] = {}
    for path in sorted((clean / "quarantine").glob("*.csv")):
        found = pd.read_csv(path, usecols=["reason"], dtype=str)["reason"].fillna("")
        column = found.str.extract(_REASON_COLUMN, expand=False).fillna("other")
        reasons[path.stem] = {str(k): int(v) for k, v in column.value_counts().items()}
    return {"sources": summary.get("sources", {}), "total": summary.get("total"),
            "quarantine": reasons}


def model_notes(loaded: LoadedModel, fingerprint: str) -> dict:
    """Name, version, where it was loaded from, and its backtest skill against the baselines."""
    backtest = loaded.backtest or {}
    skill = [{"horizon": int(h), **s} for h, s in sorted((backtest.get("skill") or {}).items(),
                                                         key=lambda kv: int(kv[0]))]
    return {**loaded.summary(), "primary_metric": backtest.get("primary_metric"),
            "folds": backtest.get("folds"), "skill": skill,
            "data_fingerprint": fingerprint}
