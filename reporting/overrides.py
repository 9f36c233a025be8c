"""The meeting's own levels in the pack: the forecasts as shown (overridden grids at the level
the meeting set), the list of overrides with the model's level beside each, and how the past
ones turned out against the model's."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd

from riskgrid import vocabulary as C
from riskgrid.experiment import Experiment
from serving import Scorer, ServingData, Snapshot, ledger, overrides


def shown(snap: Snapshot, h: int, held: list[dict], forecast: pd.Timestamp) -> Snapshot:
    """``snap`` with its horizon-``h`` grids at the level the meeting set for ``forecast``,
    where it set one (the model's snapshot itself is left as it is: the ledger keeps it)."""
    levels = {o["area_id"]: o["level"] for o in held if o["period"] == str(forecast.date())}
    frame = snap.horizons[h]
    hit = frame[C.AREA_ID].isin(levels)
    if not hit.any():
        return snap
    frame = frame.assign(risk_level=frame["risk_level"].where(
        ~hit, frame[C.AREA_ID].map(levels)))
    return replace(snap, horizons={**snap.horizons, h: frame})


def marked_units(units: list[dict], held: list[dict], forecast: pd.Timestamp) -> list[dict]:
    """The map table's units, each overridden one at the level the meeting set for it."""
    levels = {o["area_id"]: o["level"] for o in held if o["period"] == str(forecast.date())}
    return [{**u, "level": levels.get(u["unit_id"], u["level"])} for u in units]


def override_section(held: list[dict], scorer: Scorer, now: Snapshot, experiment: Experiment,
                     data: ServingData, as_of: pd.Timestamp, forecast: pd.Timestamp,
                     places: dict[str, str]) -> dict:
    """The overrides for periods after ``as_of`` (``rows``), each with the model's level for
    it now; ``marks``: those for the ``forecast`` period by area, for the forecast tables; and
    the scorecard of the overrides whose period is observed (``card``, ``summary``:
    serving.ledger.override_card)."""
    period = experiment.features.period
    ahead = overrides.forecast_periods(as_of, scorer.horizons, period)
    reasons = experiment.warnings.override_reasons
    rows = []
    for o in held:
        day = pd.Timestamp(o["period"])
        if day <= as_of:
            continue
        model = _model_level(scorer, now, o["area_id"], ahead.get(day)) or o["model_level"]
        reason = reasons.get(o["reason_code"])
        rows.append({"area_id": o["area_id"], "name": places.get(o["area_id"], o["area_id"]),
                     "period": o["period"], "level": o["level"], "model_level": model,
                     "reason_code": o["reason_code"], "reason_en": reason.en if reason else
                     o["reason_code"], "reason_zh": reason.zh if reason else o["reason_code"],
                     "note": o["note"], "who": o["who"],
                     "at": o["at"].strftime("%Y-%m-%d %H:%M")})
    outcomes = ledger.panel_outcomes(data.panel, experiment.training)
    card = ledger.override_card(held, outcomes[outcomes[C.PERIOD] <= as_of], data.areas)
    return {"rows": rows,
            "marks": {r["area_id"]: r for r in rows if r["period"] == str(forecast.date())},
            "card": card.to_dict("records"), "summary": ledger.override_summary(card)}


def _model_level(scorer: Scorer, now: Snapshot, area: str, h: int | None) -> str | None:
    """The model's level for ``area`` at horizon ``h`` of the pack's snapshot (None when the
    period is not one it forecasts)."""
    if h is None:
        return None
    if area in now.position:
        return str(now.horizons[h]["risk_level"].iat[now.position[area]])
    level, _ = scorer.members(now).get(area, (None, None))
    if level is None:
        return None
    units = scorer.units(now, level, h).set_index(C.AREA_ID)
    return str(units.at[area, "risk_level"]) if area in units.index else None
