"""Periods and holiday calendars: China's (Spring Festival, National Day, make-up workdays) or
any other country's public holidays."""

from __future__ import annotations

import re
from datetime import date
from functools import cache

import holidays
import numpy as np
import pandas as pd

from riskgrid.errors import InputError

PERIOD_FREQ = {"day": "D", "week": "W-MON", "month": "MS"}
SPRING_FESTIVAL_BREAK = (-1, 6)  # New Year's Eve to the 6th day of the first month
WAGE_SEASON_DAYS = 42  # wage-arrears disputes peak in the six weeks before Spring Festival
GOLDEN_WEEK = (date(2000, 10, 1), date(2000, 10, 7))
_SUBSTITUTED = re.compile(r"substituted from (\d{2})/(\d{2})/(\d{4})")


def period_start(times: pd.Series | pd.DatetimeIndex, period: str) -> pd.Series:
    """The start of the period holding each timestamp (weeks start on Monday)."""
    times = pd.Series(pd.DatetimeIndex(times)).dt.normalize()
    if period == "day":
        return times
    if period == "week":
        return times - pd.to_timedelta(times.dt.day_of_week, unit="D")
    return times - pd.to_timedelta(times.dt.day - 1, unit="D")


def period_range(start: pd.Timestamp, end: pd.Timestamp, period: str) -> pd.DatetimeIndex:
    """Every period start from the period holding ``start`` to the one holding ``end``."""
    first = period_start(pd.DatetimeIndex([start]), period).iloc[0]
    last = period_start(pd.DatetimeIndex([end]), period).iloc[0]
    step = {"day": pd.Timedelta(days=1), "week": pd.Timedelta(weeks=1)}.get(period)
    if step is not None:
        return pd.date_range(first, last, freq=step)
    return pd.date_range(first, last, freq="MS")


def period_end(starts: pd.DatetimeIndex, period: str) -> pd.DatetimeIndex:
    """The exclusive end (the cutoff) of each period."""
    if period == "month":
        return starts + pd.offsets.MonthBegin(1)
    return starts + pd.Timedelta(days=1 if period == "day" else 7)


@cache
def spring_festival(year: int) -> date:
    """First day of the lunar new year (春节) in ``year``."""
    for day, name in sorted(holidays.China(years=year).items()):
        if name == "Chinese New Year (Spring Festival)":
            return day
    raise ValueError(f"no Spring Festival known for {year}")


@cache
def _official(year: int) -> tuple[frozenset[date], frozenset[date]]:
    """Statutory days off and make-up workdays (调休) that the State Council published."""
    days_off, workdays = set(), set()
    for day, name in holidays.China(years=year).items():
        days_off.add(day)
        for month, dom, yr in _SUBSTITUTED.findall(name):
            workdays.add(date(int(yr), int(month), int(dom)))
    return frozenset(days_off), frozenset(workdays)


def daily_calendar(start: date, end: date) -> pd.DataFrame:
    """One row per day with the holiday indicators the models and the synthetic city use.

    The Spring Festival break and National Day golden week are built from their rules, so they
    exist for every year, including future ones. Make-up workdays are one-off decisions; they are
    flagged only where published, and are not used as a regressor for the future.
    """
    days = pd.date_range(start, end, freq="D")
    years = range(days[0].year - 1, days[-1].year + 2)
    festivals = pd.DatetimeIndex([pd.Timestamp(spring_festival(y)) for y in years])
    position = np.searchsorted(festivals.values, days.values)
    next_sf = festivals[np.minimum(position, len(festivals) - 1)]
    prev_sf = festivals[np.maximum(position - 1, 0)]
    to_next = (next_sf - days).days.to_numpy()
    from_prev = (days - prev_sf).days.to_numpy()
    nearest = np.where(to_next <= from_prev, -to_next, from_prev)
    official = [_official(y) for y in years]
    off = set().union(*(o[0] for o in official))
    makeup = set().union(*(o[1] for o in official))
    frame = pd.DataFrame({"day": days})
    frame["days_to_spring_festival"] = nearest
    frame["spring_festival_break"] = (nearest >= SPRING_FESTIVAL_BREAK[0]) & (
        nearest <= SPRING_FESTIVAL_BREAK[1])
    frame["pre_spring_festival"] = (nearest < SPRING_FESTIVAL_BREAK[0]) & (
        nearest >= -WAGE_SEASON_DAYS)
    frame["national_day_week"] = (days.month == 10) & (days.day <= 7)
    frame["statutory_holiday"] = frame["spring_festival_break"] | frame["national_day_week"] | \
        days.to_series(index=frame.index).dt.date.isin(off)
    frame["makeup_workday"] = days.to_series(index=frame.index).dt.date.isin(makeup)
    frame["weekend"] = (days.day_of_week >= 5) & ~frame["makeup_workday"]
    return frame


CHINA = "CN"
CHINA_ONLY = ("spring_festival_days", "pre_spring_festival_days", "national_day_days",
              "days_to_spring_festival")


def country_days(start: date, end: date, country: str) -> pd.DataFrame:
    """One row per day with ``statutory_holiday``: the public holidays of ``country``."""
    days = pd.date_range(start, end, freq="D")
    official = holidays.country_holidays(country, years=range(days[0].year, days[-1].year + 1))
    return pd.DataFrame({"day": days,
                         "statutory_holiday": days.to_series().dt.date.isin(set(official))
                         .to_numpy()})


def period_calendar(periods: pd.DatetimeIndex, period: str,
                    country: str = CHINA) -> pd.DataFrame:
    """Calendar features of each period: holiday days in it, distance to Spring Festival, season.

    Only the calendar, which is known in advance, so these are valid for future target periods.
    Outside China (``country`` not CN) the Chinese terms (:data:`CHINA_ONLY`) are left out and
    ``holiday_days`` counts the country's public holidays.
    """
    periods = pd.DatetimeIndex(periods)
    ends = period_end(periods, period)
    first, last = periods.min().date(), (ends.max() - pd.Timedelta(days=1)).date()
    china = country == CHINA
    daily = daily_calendar(first, last) if china else country_days(first, last, country)
    # Each day's position among the periods (-1: a day of no period asked for).
    at = pd.Index(periods).get_indexer(period_start(daily["day"], period).to_numpy())
    terms = {"holiday_days": ("statutory_holiday", "sum")}
    if china:
        terms |= {"spring_festival_days": ("spring_festival_break", "sum"),
                  "pre_spring_festival_days": ("pre_spring_festival", "sum"),
                  "national_day_days": ("national_day_week", "sum"),
                  "days_to_spring_festival": ("days_to_spring_festival", "first")}
    kept = np.flatnonzero(at >= 0)
    days = np.bincount(at[kept], minlength=len(periods))
    out = pd.DataFrame(index=periods)
    for name, (column, how) in terms.items():
        values = daily[column].to_numpy(dtype=np.float64)[kept]
        if how == "sum":
            found = np.bincount(at[kept], weights=values, minlength=len(periods))
        else:  # the period's first day's value: the later days' written first, then over
            found = np.full(len(periods), np.nan)
            found[at[kept][::-1]] = values[::-1]
        out[name] = np.where(days > 0, found, np.nan)
    out["week_of_year"] = periods.isocalendar().week.to_numpy().astype(int)
    out["month"] = periods.month
    angle = 2 * np.pi * periods.day_of_year.to_numpy() / 365.25
    out["season_sin"], out["season_cos"] = np.sin(angle), np.cos(angle)
    out.index.name = "period"
    return out.astype(float)


def period_index(times: pd.Series, origin: pd.Timestamp, period: str) -> np.ndarray:
    """Index of the period holding each timestamp, counted from the period starting at ``origin``.

    Missing timestamps get a very large index (never reached), so "closed at" intervals of
    records that are still open run to the end of the panel.
    """
    return period_index_ns(np.asarray(pd.DatetimeIndex(times).as_unit("ns").asi8), origin, period)


def period_index_ns(values: np.ndarray, origin: pd.Timestamp, period: str) -> np.ndarray:
    """:func:`period_index` of int64 nanoseconds since the epoch (NaT as the int64 minimum)."""
    missing = values == np.iinfo(np.int64).min
    if period == "month":
        months = values.view("datetime64[ns]").astype("datetime64[M]").astype(np.int64)
        index = months - (origin.year - 1970) * 12 - (origin.month - 1)
    else:
        length = 86_400 * 10**9 * (1 if period == "day" else 7)
        index = np.floor_divide(values - origin.as_unit("ns").value, length)
    return np.where(missing, np.iinfo(np.int32).max, index)


# An ISO date, optionally with a time and a time zone; checked before pandas parses anything,
# whose parser is slow on long strings. Days outside FIRST_DAY..LAST_DAY do not fit pandas'
# nanosecond timestamps (1677-09-21 to 2262-04-11) with room for a period or two of arithmetic.
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?"
                      r"(Z|[+-]\d{2}(:?\d{2})?)?)?")
_DAY_CHARS = 40
FIRST_DAY, LAST_DAY = date(1678, 1, 1), date(2261, 12, 31)


def parse_day(value: object, name: str) -> pd.Timestamp:
    """``value`` as a naive timestamp (a time zone is dropped: the date as written counts), or
    InputError naming ``name`` and the format to use."""
    if isinstance(value, str) and not _ISO_DAY.fullmatch(value[:_DAY_CHARS + 1]):
        shown = value if len(value) <= _DAY_CHARS else f"{value[:_DAY_CHARS]}... " \
            f"({len(value):,} characters)"
        raise InputError(f"{name} {shown!r} is not a date; write it as YYYY-MM-DD")
    try:
        day = pd.Timestamp(value)
    except (ValueError, TypeError, OverflowError):
        day = pd.NaT
    if pd.isna(day):
        raise InputError(f"{name} {value!r} is not a date; write it as YYYY-MM-DD")
    if day.tzinfo is not None:
        day = day.tz_localize(None)
    if not FIRST_DAY <= day.date() <= LAST_DAY:
        raise InputError(f"{name} {value!r} is outside the dates riskgrid handles "
                         f"({FIRST_DAY} to {LAST_DAY})")
    return day
