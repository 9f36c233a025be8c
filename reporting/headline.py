"""Headline figures of the city and the summary of each unit at the chosen level."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import poisson

from reporting.counts import change, suppress
from reporting.ranking import LEVEL_RANK
from riskgrid import vocabulary as C
from serving import LEVELS, Snapshot

# Streams a meeting looks at first, in this order (those in the counts table are shown).
HEADLINE_STREAMS = ("all", "dispute", "group", "petitions", "collective")


def _count_at(table: pd.DataFrame, stream: str, period: pd.Timestamp | None) -> float | None:
    if period is None or period not in table.index:
        return None
    return float(table.at[period, stream])


def _interval(expected: float, interval: float) -> tuple[float, float]:
    tail = (1 - interval) / 2
    return float(poisson.ppf(tail, expected)), float(poisson.ppf(1 - tail, expected))


def _compare(key: str, now: float | None, previous: float | None, last_year: float | None,
             min_count: int | None) -> dict:
    """A headline row; counts are suppressed when ``min_count`` is given."""
    shown = (lambda v: v) if min_count is None else (lambda v: suppress(v, min_count))
    floor = min_count or 0
    return {"key": key, "now": shown(now), "previous": shown(previous),
            "last_year": shown(last_year), "change": change(now, previous, floor),
            "change_year": change(now, last_year, floor)}


def headline(counts: pd.DataFrame, periods: dict[str, pd.Timestamp | None], now: Snapshot,
             before: Snapshot | None, h: int, interval: float, min_count: int) -> list[dict]:
    """City figures of the as-of period against the previous period and the same one last year.

    Args:
        counts: the hierarchy counts table (level, unit_id, period, one column per stream).
        periods: "as_of", "previous" and "last_year" periods (None when outside the data).
        now, before: the snapshots of the as-of and the previous period (None if none).
        h: the report's horizon.
        interval: coverage of the forecast interval.
        min_count: counts below it (and above 0) are suppressed.
    """
    city = counts[counts["level"] == C.CITY].set_index(C.PERIOD)
    rows = [_compare(f"stream:{s}", *(_count_at(city, s, periods[p]) for p in
                                      ("as_of", "previous", "last_year")), min_count)
            for s in HEADLINE_STREAMS if s in city.columns]
    expected = float(now.horizons[h]["expected_count"].sum())
    earlier = None if before is None else float(before.horizons[h]["expected_count"].sum())
    low, high = _interval(expected, interval)
    rows.append({**_compare("forecast", expected, earlier, None, None), "low": low, "high": high})
    for level in LEVELS:
        grids = float((now.horizons[h]["risk_level"] == level).sum())
        was = None if before is None else float((before.horizons[h]["risk_level"] == level).sum())
        rows.append({**_compare(f"level:{level}", grids, was, None, None), "change": None})
    return rows


def unit_summary(context: pd.DataFrame, level: str, snap: Snapshot, h: int,
                 warnings: list[dict], counts: pd.DataFrame, target: str, interval: float,
                 min_count: int, scored: pd.DataFrame | None = None) -> list[dict]:
    """Every unit of ``level``: its risk level, grids by level, count now and forecast.

    A unit's level is the highest of its grids' levels and of the warnings on the unit itself
    (surges of a street or district), so one red grid makes its street red. ``scored`` (the
    units' scores as /score gives them, serving.units) adds the chance that any of its grids
    is high-risk, the level that chance reaches and its rank among the units.
    """
    id_col, name_col = C.LEVEL_ID[level], C.LEVEL_NAME[level]
    frame = snap.horizons[h].assign(unit=context[id_col].reindex(snap.area_ids).to_numpy())
    own = {}
    for w in warnings:
        own[w["area_id"]] = max(own.get(w["area_id"], 0), LEVEL_RANK[w["level"]])
    table = counts[(counts["level"] == level) & (counts[C.PERIOD] == snap.as_of)]
    observed = dict(zip(table["unit_id"].astype(str), table[target].astype(float)))
    names = context.drop_duplicates(id_col).set_index(id_col)[name_col]
    by_rank = {v: k for k, v in LEVEL_RANK.items()}
    out = []
    for unit, rows in frame.groupby("unit", sort=True):
        ranks = rows["risk_level"].map(LEVEL_RANK)
        expected = float(rows["expected_count"].sum())
        low, high = _interval(expected, interval)
        out.append({"unit_id": str(unit), "name": str(names.get(unit, unit)), "grids": len(rows),
                    "level": by_rank[int(max(ranks.max(), own.get(str(unit), 0)))],
                    "by_level": {lv: int((rows["risk_level"] == lv).sum()) for lv in LEVELS},
                    "observed": suppress(observed.get(str(unit), np.nan), min_count),
                    "expected": expected, "low": low, "high": high,
                    **_scored(scored, str(unit))})
    out.sort(key=lambda u: (-LEVEL_RANK[u["level"]], -u["expected"], u["unit_id"]))
    return out


def _scored(scored: pd.DataFrame | None, unit: str) -> dict:
    if scored is None or unit not in set(scored[C.AREA_ID].astype(str)):
        return {"probability": None, "score_level": None, "rank": None}
    row = scored[scored[C.AREA_ID].astype(str) == unit].iloc[0]
    return {"probability": float(row["risk_probability"]),
            "score_level": str(row["risk_level"]), "rank": int(row["rank"])}
