"""The ranked grids with their reasons in plain words, and what changed since the last meeting."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from reporting.counts import Shown, is_count, suppress
from riskgrid import vocabulary as C
from riskgrid.experiment import ReportConfig
from serving import Snapshot

LEVEL_RANK = {"none": 0, "blue": 1, "yellow": 2, "orange": 3, "red": 4}
CHANGE_KINDS = ("new", "escalated", "de_escalated")
# Families whose "usual" value says nothing: fixed traits of a grid, or the calendar.
_NO_USUAL = ("static", "calendar", "target_calendar")
_EXPLAINING = 2  # contribution changes shown per changed area


def families(catalogue: pd.DataFrame) -> dict[str, str]:
    return dict(zip(catalogue["name"].astype(str), catalogue["family"].astype(str)))


def usual_means(panel: pd.DataFrame, as_of: pd.Timestamp, area_ids: list[str],
                features: list[str]) -> pd.DataFrame:
    """Each area's own mean of each feature over its history up to ``as_of`` (areas x features)."""
    columns = sorted({f for f in features if f in panel.columns})
    rows = panel[(panel[C.PERIOD] <= as_of) & panel[C.AREA_ID].astype(str).isin(area_ids)]
    return rows.groupby(rows[C.AREA_ID].astype(str))[columns].mean()


def _number(value: float) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


def shown_value(name: str, value: float, family: str, min_count: int) -> Shown:
    """A feature's value as the pack may show it (counts suppressed)."""
    return suppress(value, min_count) if is_count(name, family) else _number(value)


def reasons(names: list[str], contrib: np.ndarray, values: np.ndarray, usual: pd.Series | None,
            family: dict[str, str], config: ReportConfig) -> list[dict]:
    """The features pushing a grid's forecast up the most, with their value and usual value.

    Features that push it up come first; a grid no feature pushes up gets its largest pulls.
    """
    order = np.argsort(-contrib, kind="stable")
    picked = [j for j in order if contrib[j] > 0][:config.reasons]
    if not picked:
        picked = list(np.argsort(-np.abs(contrib), kind="stable")[:config.reasons])
    out = []
    for j in picked:
        name, fam = names[j], family.get(names[j], "")
        typical = None
        if fam not in _NO_USUAL and usual is not None and name in usual.index:
            typical = _number(float(usual[name]))
        out.append({"feature": name, "value": shown_value(name, values[j], fam, config.min_count),
                    "usual": typical, "contribution": float(contrib[j])})
    return out


def area_context(areas: pd.DataFrame) -> pd.DataFrame:
    """Per grid id: its name and the names of its community, street and district."""
    frame = areas.copy()
    for level in ("grid", "community", "street", "district"):
        id_col, name_col = C.LEVEL_ID[level], C.LEVEL_NAME[level]
        if id_col not in frame:
            frame[id_col] = frame[C.AREA_ID]
        if name_col not in frame:
            frame[name_col] = frame[id_col]
        frame[name_col] = frame[name_col].fillna(frame[id_col]).astype(str)
    frame[C.AREA_ID] = frame[C.AREA_ID].astype(str)
    return frame.set_index(C.AREA_ID)


def _place(context: pd.DataFrame, area_id: str) -> dict:
    if area_id not in context.index:
        return {"area_id": area_id, "name": area_id, "community": "", "street": ""}
    row = context.loc[area_id]
    return {"area_id": area_id, "name": str(row[C.AREA_NAME]),
            "community": str(row[C.COMMUNITY_NAME]), "street": str(row[C.STREET_NAME])}


def ranked(snap: Snapshot, h: int, names: list[str], catalogue: pd.DataFrame,
           panel: pd.DataFrame, context: pd.DataFrame, config: ReportConfig) -> list[dict]:
    """The ``top_areas`` grids by rank at horizon ``h``, with their top reasons."""
    frame = snap.horizons[h]
    top = frame.nsmallest(config.top_areas, "rank")
    ids = top[C.AREA_ID].astype(str).tolist()
    usual = usual_means(panel, snap.as_of, ids, names)
    family = families(catalogue)
    out = []
    for i, row in zip(top.index, top.itertuples(index=False)):
        area = str(row.area_id)
        out.append({**_place(context, area), "rank": int(row.rank), "level": str(row.risk_level),
                    "expected": float(row.expected_count), "low": float(row.low),
                    "high": float(row.high), "probability": float(row.risk_probability),
                    "reasons": reasons(names, snap.contributions[h][i, :-1], snap.inputs[h][i],
                                       usual.loc[area] if area in usual.index else None, family,
                                       config)})
    return out


def _kind(before: str, now: str) -> str | None:
    b, n = LEVEL_RANK[before], LEVEL_RANK[now]
    if b == 0 and n > 0:
        return "new"
    if n > b:
        return "escalated"
    if n < b:
        return "de_escalated"
    return None


def _explaining(diff: np.ndarray, now: np.ndarray, before: np.ndarray, sign: float
                ) -> list[int]:
    """Features whose contribution moved the most in the direction of the change, those whose
    own value changed first (a feature that stayed put moved only through its interactions)."""
    order = [k for k in np.argsort(-sign * diff, kind="stable") if sign * diff[k] > 0]
    moved = [k for k in order if not (now[k] == before[k] or
                                      (np.isnan(now[k]) and np.isnan(before[k])))]
    return (moved + [k for k in order if k not in moved])[:_EXPLAINING]


def changes(now: Snapshot, before: Snapshot | None, h: int, names: list[str],
            catalogue: pd.DataFrame, context: pd.DataFrame, config: ReportConfig) -> dict:
    """Grids newly at a warning level, escalated or de-escalated since ``before``.

    Each comes with the contribution changes that explain it: the features whose push on the
    forecast grew the most (new, escalated) or shrank the most (de-escalated).

    Returns:
        ``{"new": [...], "escalated": [...], "de_escalated": [...], "more": {kind: n}}``.
    """
    found: dict[str, list[dict]] = {k: [] for k in CHANGE_KINDS}
    if before is None:
        return {**found, "more": dict.fromkeys(CHANGE_KINDS, 0)}
    family = families(catalogue)
    frame, old = now.horizons[h], before.horizons[h]
    for i, area in enumerate(now.area_ids):
        j = before.position.get(area)
        if j is None:
            continue
        kind = _kind(str(old["risk_level"].iat[j]), str(frame["risk_level"].iat[i]))
        if kind is None:
            continue
        diff = now.contributions[h][i, :-1] - before.contributions[h][j, :-1]
        explained = [{"feature": names[k],
                      "before": shown_value(names[k], before.inputs[h][j, k],
                                            family.get(names[k], ""), config.min_count),
                      "now": shown_value(names[k], now.inputs[h][i, k],
                                         family.get(names[k], ""), config.min_count),
                      "change": float(diff[k])}
                     for k in _explaining(diff, now.inputs[h][i], before.inputs[h][j],
                                          -1.0 if kind == "de_escalated" else 1.0)]
        found[kind].append({
            **_place(context, str(area)), "level_before": str(old["risk_level"].iat[j]),
            "level": str(frame["risk_level"].iat[i]),
            "probability_before": float(old["risk_probability"].iat[j]),
            "probability": float(frame["risk_probability"].iat[i]), "explained": explained})
    more = {}
    for kind, rows in found.items():
        rows.sort(key=lambda r: (-abs(r["probability"] - r["probability_before"]), r["area_id"]))
        more[kind] = max(0, len(rows) - config.changes)
        found[kind] = rows[:config.changes]
    return {**found, "more": more}
