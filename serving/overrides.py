"""Level overrides as the service, the command line and the meeting pack use them.

A meeting sets an area's level for a forecast period itself, with a reason code from the
experiment's list ([warnings] override_reasons) and a note; the store keeps every override set
or cleared (serving/store/overrides.py). Here: the checks a request must pass, and the scores as
shown: ``risk_level`` is the override's level, ``model_level`` the model's own, ``override``
who set it, when and why. docs/warnings.md explains the rules.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import pandas as pd

from riskgrid.calendar import parse_day, period_start
from riskgrid.errors import InputError
from riskgrid.experiment import Experiment
from serving.ledger import LEVEL_RANK, shift
from serving.scoring import Scorer
from serving.store import OVERRIDE_LEVELS, KeyRecord, Store

MARK_FIELDS = ("level", "reason_code", "reason_en", "reason_zh", "note", "who", "at")


def forecast_periods(latest: pd.Timestamp, horizons: list[int], period: str
                     ) -> dict[pd.Timestamp, int]:
    """The periods the forecasts of ``latest`` are for, each with its horizon."""
    return {shift(latest, h, period): h for h in sorted(horizons)}


def checked_period(value: str, latest: pd.Timestamp, horizons: list[int], period: str
                   ) -> tuple[pd.Timestamp, int]:
    """The forecast period holding the date ``value`` and its horizon; an override is set for
    a period still to come, one the model forecasts (so it is made before its outcome)."""
    day = period_start(pd.DatetimeIndex([parse_day(value, "period")]), period).iloc[0]
    ahead = forecast_periods(latest, horizons, period)
    if day not in ahead:
        first, last = min(ahead).date(), max(ahead).date()
        raise InputError(f"The period {value} is not one the forecasts are for ({first} to "
                         f"{last}, as of {latest.date()}); an override is set for a period "
                         "still to come.")
    return day, ahead[day]


def check_override(experiment: Experiment, area_id: str, level: str, reason_code: str,
                   model_level: str | None) -> None:
    """The level and the reason code, and that the reason fits the direction of the change."""
    if level not in OVERRIDE_LEVELS:
        raise InputError(f"The level {level!r} of the override of {area_id} is not a level; use "
                         f"one of {', '.join(OVERRIDE_LEVELS)}.")
    reasons = experiment.warnings.override_reasons
    if reason_code not in reasons:
        raise InputError(f"The reason code {reason_code!r} is not one of the experiment's "
                         f"override reasons ({', '.join(reasons)}); [warnings] "
                         "override_reasons lists them.")
    if model_level is None:
        return
    change = LEVEL_RANK[level] - LEVEL_RANK[model_level]
    if change == 0:
        raise InputError(f"The model already has {area_id} at {model_level} for that period; "
                         "an override sets a different level.")
    direction = reasons[reason_code].direction
    if (direction == "up" and change < 0) or (direction == "down" and change > 0):
        verb, side = ("raising", "below") if direction == "up" else ("lowering", "above")
        raise InputError(f"The reason {reason_code} is for {verb} a level, but {level} is "
                         f"{side} the model's {model_level} for {area_id}; choose a reason "
                         "that fits.")


def ledger_level(store: Store, experiment: str, area_id: str, period: pd.Timestamp
                 ) -> tuple[str | None, str | None]:
    """The level and model version of the newest forecast in the ledger for ``area_id`` and
    ``period`` (what was issued, backtests aside); (None, None) when there is none."""
    rows = store.forecasts(experiment=experiment)
    rows = rows[(rows["area_id"] == area_id) & (rows["source"] != "backtest")
                & (rows["target_period"] == period.date().isoformat())]
    if rows.empty:
        return None, None
    newest = rows.sort_values(["issued_at", "horizon"], ascending=[False, True]).iloc[0]
    return str(newest["risk_level"]), str(newest["model_version"])


def override_request(store: Store, experiment: Experiment, area_id: str, period: str, *,
                     level: str | None, reason_code: str | None, note: str, who: str,
                     clear: bool, latest: pd.Timestamp, horizons: list[int],
                     model: Callable[[pd.Timestamp, int], tuple[str | None, str | None]]
                     ) -> dict:
    """Set (or clear) an override after every check; ``model`` gives the model's level and
    version for a forecast period and its horizon (None when unknown).

    Returns:
        ``{"override": the new row, "history": every row of the area and period}``.
    """
    day, h = checked_period(period, latest, horizons, experiment.features.period)
    if clear:
        if level is not None or reason_code is not None:
            raise InputError("Clearing an override takes no level or reason code, only a "
                             "note saying why.")
        event = store.clear_override(experiment.name, area_id, day.date(), who, note)
    else:
        if level is None or reason_code is None:
            raise InputError(f"Setting the level of {area_id} needs a level and a reason_code "
                             "(and a note); to go back to the model's level, clear it.")
        model_level, version = model(day, h)
        check_override(experiment, area_id, level, reason_code, model_level)
        event = store.set_override(experiment.name, area_id, day.date(), level, reason_code,
                                   note, who, model_level=model_level, model_version=version)
    history = store.override_history(experiment.name, area_id, day.date())
    return {"override": described(event, experiment),
            "history": [described(e, experiment) for e in history]}


def served_override(store: Store, experiment: Experiment, scorer: Scorer, key: KeyRecord,
                    area_id: str, period: str, level: str | None, reason_code: str | None,
                    note: str, clear: bool) -> dict:
    """:func:`override_request` as the service makes it: the model's level from the scorer,
    the key (its id and label) as who set it."""
    def model(day: pd.Timestamp, h: int) -> tuple[str, str]:
        (score,) = scorer.score([area_id], [h], scorer.latest, 1)
        return score["risk_level"], scorer.loaded.version

    who = f"key:{key.key_id}" + (f" ({key.label})" if key.label else "")
    return override_request(store, experiment, area_id, period, level=level,
                            reason_code=reason_code, note=note, who=who, clear=clear,
                            latest=scorer.latest, horizons=scorer.horizons, model=model)


def described(event: dict, experiment: Experiment) -> dict:
    """A stored override as the API answers it: its reason in words, its time in ISO."""
    reason = experiment.warnings.override_reasons.get(event.get("reason_code") or "")
    return {**event, "at": event["at"].isoformat(timespec="seconds"),
            "reason_en": reason.en if reason else None, "reason_zh": reason.zh if reason else None}


class HeldOverrides:
    """The overrides in force for one experiment, kept in memory so that ``/score`` does not
    read the store on every request. They are read again after this process sets or clears
    one (:meth:`changed`) and at most ``max_age`` seconds after the last read, which bounds how
    long an override set elsewhere (the command line, another worker) takes to show."""

    def __init__(self, experiment: Experiment, max_age: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.experiment, self.max_age, self.clock = experiment, max_age, clock
        self._held: dict[tuple[str, str], dict] = {}
        self._read_at: float | None = None

    def held(self, store: Store) -> Mapping[tuple[str, str], dict]:
        """Each override in force, by (area id, ISO period), as :func:`described` gives it."""
        now = self.clock()
        if self._read_at is None or now - self._read_at >= self.max_age:
            found = store.overrides(self.experiment.name)
            self._held = {(o["area_id"], o["period"]): described(o, self.experiment)
                          for o in found}  # one assignment: readers see the old or the new
            self._read_at = now
        return self._held

    def changed(self) -> None:
        """This process set or cleared an override: the next request reads them again."""
        self._read_at = None


def with_overrides(held: Mapping[tuple[str, str], dict], scores: list[dict],
                   as_of: pd.Timestamp, period: str) -> list[dict]:
    """Each score with its ``model_level`` and, where an override in ``held`` (see
    :class:`HeldOverrides`) holds for its area and forecast period, the override's level in
    ``risk_level`` and the override itself."""
    targets = {h: shift(as_of, h, period).date().isoformat()
               for h in {s["horizon"] for s in scores}}
    for score in scores:
        score["model_level"] = score["risk_level"]
        mark = held.get((score["area_id"], targets[score["horizon"]]))
        score["override"] = None if mark is None else {k: mark[k] for k in MARK_FIELDS}
        if mark is not None:
            score["risk_level"] = mark["level"]
    return scores
