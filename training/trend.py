"""Prophet trend forecasts of district- and city-level counts, with the Chinese holiday calendar."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from typing import TYPE_CHECKING

import holidays
import numpy as np
import pandas as pd

from riskgrid import vocabulary as C
from riskgrid.calendar import (
    PERIOD_FREQ,
    SPRING_FESTIVAL_BREAK,
    WAGE_SEASON_DAYS,
    period_start,
    spring_festival,
)
from riskgrid.vocabulary import (
    DS,
    EXCESS,
    IS_FORECAST,
    TREND_LEVELS,
    UNIT_ID,
    UNIT_NAME,
    YHAT,
    YHAT_LOWER,
    YHAT_UPPER,
    Y,
)

if TYPE_CHECKING:
    from prophet import Prophet

LEVEL = C.UNIT_LEVEL
HOLIDAY_COLUMNS = ("holiday", "ds", "lower_window", "upper_window")
HOLIDAY_YEARS_AHEAD = 5  # a fitted model knows the holidays this far past its last period


@dataclass(frozen=True)
class _Rule:
    """A holiday: its name, the day it is anchored on, and the days around it that it covers."""

    name: str
    lower: int = 0
    upper: int = 0
    flat: bool = False  # one effect for every day/period covered, not one per offset
    centre: int | None = None  # offset of the day whose week/month is "+0"; the middle if None

    def centre_offset(self) -> int:
        """Offset of the day whose period the weekly and monthly effects are counted from."""
        return (self.lower + self.upper) // 2 if self.centre is None else self.centre


# Base names in the `holidays` package (English) of the one-day statutory holidays.
_BASE_NAMES = {
    "new_year": "New Year's Day", "qingming": "Tomb-Sweeping Day", "labour_day": "Labor Day",
    "dragon_boat": "Dragon Boat Festival", "mid_autumn": "Mid-Autumn Festival",
}
_BASE_KEYS = {base: key for key, base in _BASE_NAMES.items()}
# Weekly/monthly effects count from the middle of the official break (eve to day 6), so the
# "+0" week always holds at least four days of the break, whatever the festival's weekday.
_SPRING_FESTIVAL = _Rule("spring_festival", -7, 7, centre=sum(SPRING_FESTIVAL_BREAK) // 2)
# Wage-arrears season: the six weeks before the festival window, as one level effect.
_PRE_SPRING_FESTIVAL = _Rule("pre_spring_festival", -WAGE_SEASON_DAYS, _SPRING_FESTIVAL.lower - 1,
                             flat=True)
_NATIONAL_DAY = _Rule("national_day", 0, 6)  # golden week, Oct 1-7
_DEFAULT_YEARLY_ORDER = {"day": 10, "week": 6, "month": 4}

# Prophet logs an ERROR on import when plotly is missing; plots are not used here.
logging.getLogger("prophet.plot").setLevel(logging.CRITICAL)


def _prophet() -> type[Prophet]:
    """The Prophet class, imported on first use (it is slow to import), its INFO logs silenced."""
    from cmdstanpy.utils import get_logger
    from prophet import Prophet

    # Both log every fit at INFO; cmdstanpy sets its level when its logger is first fetched.
    get_logger().setLevel(logging.WARNING)
    logging.getLogger("prophet").setLevel(logging.WARNING)
    return Prophet


@cache
def _base_dates(year: int) -> dict[str, date]:
    """First day of each one-day holiday in ``year`` (never the one-off substituted days off)."""
    found: dict[str, date] = {}
    for day, names in sorted(holidays.China(years=year, language="en_US").items()):
        for name in names.split("; "):  # holidays on the same day are joined with "; "
            key = _BASE_KEYS.get(name)
            if key is not None and key not in found:
                found[key] = day
    return found


def _anchors(year: int) -> list[tuple[_Rule, date]]:
    """Every holiday of ``year`` with the day it is anchored on."""
    festival = spring_festival(year)
    found = [(_SPRING_FESTIVAL, festival), (_PRE_SPRING_FESTIVAL, festival),
             (_NATIONAL_DAY, date(year, 10, 1))]
    return found + [(_Rule(key), day) for key, day in _base_dates(year).items()]


def _period_offset(starts: pd.DatetimeIndex, day: pd.Timestamp, period: str) -> np.ndarray:
    """How many periods each period start lies after the period holding ``day``."""
    origin = period_start(pd.DatetimeIndex([day]), period).iloc[0]
    if period == "month":
        return (starts.year - origin.year) * 12 + starts.month - origin.month
    return ((starts - origin).days // (1 if period == "day" else 7)).to_numpy()


def _rows(rule: _Rule, anchor: date, period: str) -> list[tuple[str, pd.Timestamp, int, int]]:
    """The holiday-table rows of one holiday occurrence for series of ``period``."""
    if period == "day" and not rule.flat:
        return [(rule.name, pd.Timestamp(anchor), rule.lower, rule.upper)]
    days = pd.date_range(anchor + timedelta(rule.lower), anchor + timedelta(rule.upper))
    starts = pd.DatetimeIndex(period_start(days, period).unique())
    if rule.flat or rule.lower == rule.upper:
        return [(rule.name, start, 0, 0) for start in starts]
    centre = pd.Timestamp(anchor + timedelta(rule.centre_offset()))
    offsets = _period_offset(starts, centre, period)
    return [(f"{rule.name}{k:+d}", start, 0, 0) for start, k in zip(starts, offsets, strict=True)]


def holiday_table(start: date, end: date, period: str = "day") -> pd.DataFrame:
    """Prophet ``holidays`` frame of the Chinese holidays touching ``start``..``end``.

    Built from rules, so it exists for future years: Spring Festival (-7..+7 days), the
    wage-arrears season before it (``pre_spring_festival``, 42..8 days before, one effect),
    National Day golden week (Oct 1-7) and the one-day holidays on their base dates. The
    State Council's one-off substituted days off are left out: they are unknown for the future.

    Prophet only sees a holiday on the ``ds`` values it falls on, so for weekly and monthly
    series every holiday is expanded into the period starts its window touches (windows 0). A
    holiday spanning several periods gets one effect per period, counted from the period holding
    its middle (for Spring Festival, the middle of the official break: ``spring_festival-1``,
    ``spring_festival+0``, ...), so each effect sees the same part of the holiday every year.

    Args:
        start: First day the table must cover.
        end: Last day the table must cover.
        period: "day", "week" or "month": the ``ds`` spacing of the series it is for.

    Returns:
        Columns holiday, ds, lower_window, upper_window.
    """
    _check_period(period)
    rows = []
    for year in range(start.year - 1, end.year + 2):
        for rule, anchor in _anchors(year):
            first, last = anchor + timedelta(rule.lower), anchor + timedelta(rule.upper)
            if first <= end and last >= start:
                rows += _rows(rule, anchor, period)
    table = pd.DataFrame(rows, columns=list(HOLIDAY_COLUMNS))
    table["ds"] = pd.to_datetime(table["ds"]).astype("datetime64[ns]")
    return table.sort_values(["ds", "holiday"], ignore_index=True)


def _check_period(period: str) -> None:
    if period not in PERIOD_FREQ:
        raise ValueError(f"period must be one of {sorted(PERIOD_FREQ)}, not {period!r}.")


@dataclass(frozen=True)
class TrendConfig:
    """How trend models are fitted.

    ``yearly_order``/``weekly_order`` are Fourier orders; None picks by period (yearly: 10 for
    days, 6 for weeks, 4 for months, and off for less than two years of history; weekly: 3 for
    daily series only). 0 turns a seasonality off.
    """

    period: str = "week"
    interval_width: float = 0.8
    changepoint_prior_scale: float = 0.05
    changepoint_range: float = 0.8
    n_changepoints: int = 25
    seasonality_mode: str = "additive"
    seasonality_prior_scale: float = 10.0
    holidays_prior_scale: float = 10.0
    yearly_order: int | None = None
    weekly_order: int | None = None
    uncertainty_samples: int = 500
    seed: int = 0

    def __post_init__(self) -> None:
        _check_period(self.period)
        if not 0 < self.interval_width < 1:
            raise ValueError(f"interval_width must be between 0 and 1, not {self.interval_width}.")
        if self.seasonality_mode not in ("additive", "multiplicative"):
            raise ValueError("seasonality_mode must be 'additive' or 'multiplicative', "
                             f"not {self.seasonality_mode!r}.")

    def yearly(self, history_days: int) -> int:
        """Fourier order of the yearly seasonality for a history of ``history_days`` days."""
        if self.yearly_order is not None:
            return self.yearly_order
        return _DEFAULT_YEARLY_ORDER[self.period] if history_days >= 730 else 0

    def weekly(self) -> int:
        """Fourier order of the day-of-week seasonality."""
        if self.weekly_order is not None:
            return self.weekly_order
        return 3 if self.period == "day" else 0


def _observed(series: pd.DataFrame) -> pd.DataFrame:
    """The ``ds``, ``y`` rows with a value, sorted, as Prophet wants them."""
    missing = {DS, Y} - set(series.columns)
    if missing:
        raise ValueError(f"series needs columns ds and y; missing {sorted(missing)}.")
    frame = pd.DataFrame({DS: pd.to_datetime(series[DS]).astype("datetime64[ns]"),
                          Y: series[Y].astype(float)})
    return frame.dropna().sort_values(DS, ignore_index=True)


def _future_end(last: pd.Timestamp) -> pd.Timestamp:
    return last + pd.DateOffset(years=HOLIDAY_YEARS_AHEAD)


def fit_trend(series: pd.DataFrame, config: TrendConfig) -> Prophet:
    """Fit a Prophet model with the Chinese holidays to ``series`` (columns ds, y).

    The model knows the holidays up to ``HOLIDAY_YEARS_AHEAD`` years after the last period.
    """
    history = _observed(series)
    if len(history) < 2:
        raise ValueError(f"a trend needs at least two observed periods; got {len(history)}.")
    first, last = history[DS].iloc[0], history[DS].iloc[-1]
    model = _prophet()(
        growth="linear", n_changepoints=config.n_changepoints,
        changepoint_range=config.changepoint_range,
        changepoint_prior_scale=config.changepoint_prior_scale,
        yearly_seasonality=config.yearly((last - first).days),
        weekly_seasonality=config.weekly(), daily_seasonality=False,
        holidays=holiday_table(first.date(), _future_end(last).date(), config.period),
        seasonality_mode=config.seasonality_mode,
        seasonality_prior_scale=config.seasonality_prior_scale,
        holidays_prior_scale=config.holidays_prior_scale,
        interval_width=config.interval_width,
        uncertainty_samples=config.uncertainty_samples,
    )
    # The initial values are fixed, so the optimiser is deterministic; the seed is for Stan.
    return model.fit(history, seed=config.seed)


def _predict(model: Prophet, ds: pd.Series, seed: int) -> pd.DataFrame:
    """Prophet's prediction with its uncertainty sampling seeded, leaving numpy's state alone."""
    state = np.random.get_state()
    np.random.seed(seed)  # Prophet samples from numpy's global (legacy) generator
    try:
        return model.predict(pd.DataFrame({DS: ds}))
    finally:
        np.random.set_state(state)


def forecast_trend(series: pd.DataFrame, config: TrendConfig, horizon: int,
                   as_of: pd.Timestamp | None = None) -> pd.DataFrame:
    """Fit on the periods up to ``as_of`` and forecast the ``horizon`` periods after it.

    Point in time: nothing after ``as_of`` is used to fit or forecast. Later observations, when
    the series has them, are only copied into ``y`` so forecasts can be checked (see surges).

    Args:
        series: Columns ds (period starts) and y.
        config: The model settings; ``config.period`` must match the spacing of ``ds``.
        horizon: Number of periods to forecast after the period holding ``as_of``.
        as_of: Last period the model may see; the series' last period when None.

    Returns:
        One row per observed period up to ``as_of`` (the in-sample fit) and per forecast
        period, with columns ds, yhat, yhat_lower, yhat_upper (clipped at 0), y, is_forecast.
    """
    if horizon < 0:
        raise ValueError(f"horizon must be 0 or more periods, not {horizon}.")
    observed = _observed(series)
    as_of = observed[DS].iloc[-1] if as_of is None else pd.Timestamp(as_of)
    history = observed[observed[DS] <= as_of]
    origin = period_start(pd.DatetimeIndex([as_of]), config.period).iloc[0]
    future = pd.date_range(origin, periods=horizon + 1, freq=PERIOD_FREQ[config.period])[1:]
    if len(history) and len(future) and future[-1] > _future_end(history[DS].iloc[-1]):
        raise ValueError(f"horizon {horizon} reaches past {HOLIDAY_YEARS_AHEAD} years after the "
                         "last observed period; shorten it.")
    model = fit_trend(history, config)
    ds = pd.concat([history[DS], pd.Series(future, dtype="datetime64[ns]")], ignore_index=True)
    predicted = _predict(model, ds, config.seed)
    out = pd.DataFrame({DS: ds})
    for column in (YHAT, YHAT_LOWER, YHAT_UPPER):
        out[column] = predicted[column].clip(lower=0).to_numpy()
    out[Y] = out[DS].map(observed.set_index(DS)[Y])
    out[IS_FORECAST] = out[DS] > as_of
    return out


def unit_series(counts: pd.DataFrame, level: str, unit_id: str,
                stream: str = "all") -> pd.DataFrame:
    """The ``ds``, ``y`` series of one unit's ``stream`` in the hierarchy counts table."""
    _check_counts(counts, level, stream)
    rows = counts[(counts[LEVEL] == level) & (counts[UNIT_ID] == unit_id)]
    if rows.empty:
        raise ValueError(f"counts have no {level} with unit_id {unit_id!r}.")
    frame = pd.DataFrame({DS: rows[C.PERIOD].to_numpy(), Y: rows[stream].astype(float).to_numpy()})
    return frame.sort_values(DS, ignore_index=True)


def _check_counts(counts: pd.DataFrame, level: str, stream: str) -> None:
    if level not in C.LEVELS:
        raise ValueError(f"level must be one of {list(C.LEVELS)}, not {level!r}.")
    keys = {LEVEL, UNIT_ID, C.PERIOD}
    if stream in keys | {UNIT_NAME} or stream not in counts.columns:
        streams = [c for c in counts.columns if c not in keys | {UNIT_NAME}]
        raise ValueError(f"counts have no stream {stream!r}; streams are {streams}.")


def forecast_units(counts: pd.DataFrame, level: str, stream: str, config: TrendConfig,
                   horizon: int, as_of: pd.Timestamp | None = None) -> pd.DataFrame:
    """:func:`forecast_trend` of every unit of ``level`` (street, district or city).

    Returns:
        The forecasts stacked, with columns unit_id and unit_name first.
    """
    if level not in TREND_LEVELS:
        raise ValueError(f"trend forecasts are made for {list(TREND_LEVELS)}, not {level!r}: "
                         "finer levels are too sparse and too many for one model per unit.")
    _check_counts(counts, level, stream)
    units = counts.loc[counts[LEVEL] == level, [UNIT_ID, UNIT_NAME]].drop_duplicates(UNIT_ID)
    frames = []
    for unit_id, unit_name in units.sort_values(UNIT_ID).itertuples(index=False):
        frame = forecast_trend(unit_series(counts, level, unit_id, stream), config, horizon, as_of)
        frame.insert(0, UNIT_ID, unit_id)
        frame.insert(1, UNIT_NAME, unit_name)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def surges(forecast: pd.DataFrame, recent: int = 1) -> pd.DataFrame:
    """Forecast periods whose observed ``y`` came in above the forecast's ``yhat_upper``.

    Looks at the last ``recent`` forecast periods with an observation (per unit). The check is
    point in time when the forecast was made before them: for the latest period ``t``, call
    ``forecast_trend(series, config, horizon=recent, as_of=t - recent periods)``.

    Returns:
        The surging periods (unit_id and unit_name if present), ds, y, yhat, yhat_upper and
        excess (y - yhat_upper).
    """
    checked = forecast[forecast[IS_FORECAST] & forecast[Y].notna()]
    units = [c for c in (UNIT_ID, UNIT_NAME) if c in forecast.columns]
    checked = checked.sort_values([*units[:1], DS])
    checked = checked.groupby(units[:1]).tail(recent) if units else checked.tail(recent)
    out = checked[checked[Y] > checked[YHAT_UPPER]]
    out = out[[*units, DS, Y, YHAT, YHAT_UPPER]].reset_index(drop=True)
    out[EXCESS] = out[Y] - out[YHAT_UPPER]
    return out
