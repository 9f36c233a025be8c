"""Prophet trend forecasts: the holiday table, point-in-time fits, intervals and surges."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from riskgrid.calendar import spring_festival
from training.trend import (
    TrendConfig,
    forecast_trend,
    forecast_units,
    holiday_table,
    surges,
    unit_series,
)

pytestmark = [
    # prophet 1.5 calls DataFrame.drop/reset_index(inplace=True), deprecated in pandas 3.1.
    pytest.mark.filterwarnings(
        "ignore:The inplace keyword in DataFrame:pandas.errors.Pandas4Warning:prophet.forecaster"),
]

HOLIDAYS = {"spring_festival", "pre_spring_festival", "national_day", "new_year", "qingming",
            "labour_day", "dragon_boat", "mid_autumn"}
WEEKLY = TrendConfig(period="week")


def break_week(year: int) -> pd.Timestamp:
    """Monday of the week holding the middle of the Spring Festival break (festival day + 2)."""
    centre = pd.Timestamp(spring_festival(year)) + pd.Timedelta(days=2)
    return centre - pd.Timedelta(days=centre.day_of_week)


def weekly_series(seed: int = 0, noise: float = 3.0, slope: float = 0.3, dip: float = 40.0,
                  weeks: int = 260) -> pd.DataFrame:
    """Five years of weekly counts from 2021: trend, yearly wave, a Spring Festival dip, noise."""
    ds = pd.date_range("2021-01-04", periods=weeks, freq="7D")
    y = 100 + slope * np.arange(weeks) + 8 * np.sin(2 * np.pi * ds.day_of_year / 365.25)
    for year in range(2021, ds[-1].year + 1):
        y = y - dip * (ds == break_week(year)) - dip / 3 * (ds == break_week(year) - pd.Timedelta(
            weeks=1))
    y = y + np.random.default_rng(seed).normal(0, noise, weeks)
    return pd.DataFrame({"ds": ds, "y": np.asarray(y, dtype=float)})


def coverage(forecast: pd.DataFrame) -> float:
    held_out = forecast[forecast["is_forecast"] & forecast["y"].notna()]
    inside = (held_out["y"] >= held_out["yhat_lower"]) & (held_out["y"] <= held_out["yhat_upper"])
    return float(inside.mean())


# --- the holiday table ---------------------------------------------------------------------

def test_holiday_table_covers_every_year_including_future_ones():
    table = holiday_table(date(2022, 1, 1), date(2032, 12, 31))
    assert set(table["holiday"]) == HOLIDAYS
    for year in range(2022, 2033):
        assert set(table.loc[table["ds"].dt.year == year, "holiday"]) == HOLIDAYS, year


def test_spring_festival_falls_on_the_lunar_new_year_with_a_window():
    table = holiday_table(date(2023, 1, 1), date(2024, 12, 31))
    festival = table[table["holiday"] == "spring_festival"]
    assert festival["ds"].tolist() == [pd.Timestamp("2023-01-22"), pd.Timestamp("2024-02-10")]
    assert festival["lower_window"].tolist() == [-7, -7]
    assert festival["upper_window"].tolist() == [7, 7]
    # the wage-arrears season: the six weeks before the festival window, one effect
    before = table.loc[table["holiday"] == "pre_spring_festival", "ds"]
    assert pd.Timestamp("2024-01-15") in set(before)
    assert pd.Timestamp("2024-02-03") not in set(before)  # inside the festival window


def test_holidays_sharing_a_day_are_both_kept():
    table = holiday_table(date(2028, 1, 1), date(2028, 12, 31))  # Mid-Autumn on National Day
    assert table.loc[table["holiday"] == "mid_autumn", "ds"].tolist() == [
        pd.Timestamp("2028-10-03")]


def test_substituted_days_off_are_not_holidays():
    table = holiday_table(date(2023, 1, 1), date(2025, 12, 31))
    assert not table["holiday"].str.contains("Day off|substituted|observed").any()
    # one-off days off next to Dragon Boat 2023, Qingming 2024, Mid-Autumn 2024, Labour Day 2025
    for day in ("2023-06-23", "2024-04-05", "2024-09-16", "2025-05-05"):
        assert pd.Timestamp(day) not in set(table["ds"]), day
    labour = table.loc[table["holiday"] == "labour_day", "ds"].tolist()
    assert labour == [pd.Timestamp(f"{y}-05-01") for y in (2023, 2024, 2025)]


def test_weekly_and_monthly_tables_sit_on_period_starts():
    weekly = holiday_table(date(2023, 1, 1), date(2030, 12, 31), "week")
    assert (weekly["ds"].dt.day_of_week == 0).all()
    assert (weekly[["lower_window", "upper_window"]] == 0).all().all()
    festival = weekly.loc[weekly["holiday"] == "spring_festival+0", "ds"].tolist()
    assert festival == [break_week(y) for y in range(2023, 2031)]
    golden = weekly[weekly["holiday"].str.startswith("national_day")]
    assert golden.groupby(golden["ds"].dt.year).size().between(1, 2).all()
    monthly = holiday_table(date(2023, 1, 1), date(2024, 12, 31), "month")
    assert (monthly["ds"].dt.day == 1).all()
    assert pd.Timestamp("2024-10-01") in set(monthly.loc[monthly["holiday"] == "national_day+0",
                                                         "ds"])


# --- forecasts -----------------------------------------------------------------------------

def test_forecast_recovers_the_spring_festival_dip_and_the_trend():
    forecast = forecast_trend(weekly_series(), WEEKLY, 52, as_of=pd.Timestamp("2024-12-30"))
    by_week = forecast.set_index("ds")["yhat"]
    winter = by_week["2025-01-06":"2025-03-31"]
    assert winter.idxmin() == break_week(2025)
    assert winter.drop(break_week(2025)).median() - winter.min() > 25  # true dip: 40
    # a year apart, same season: the difference is the trend (0.3 a week)
    assert by_week["2025-06-02"] - by_week["2024-06-03"] == pytest.approx(0.3 * 52, abs=5)


@pytest.mark.parametrize(("width", "low", "high"), [(0.8, 0.6, 0.95), (0.5, 0.3, 0.7)])
def test_intervals_hold_about_the_configured_share_of_held_out_weeks(width, low, high):
    series = weekly_series(seed=0, noise=15.0, dip=0.0)
    config = TrendConfig(period="week", interval_width=width)
    assert low <= coverage(forecast_trend(series, config, 52, pd.Timestamp("2023-12-25"))) <= high


@pytest.mark.parametrize(("period", "freq", "first"), [("day", "D", "2024-07-01"),
                                                      ("month", "MS", "2024-08-01")])
def test_daily_and_monthly_series_forecast_the_next_periods(period, freq, first):
    ds = pd.date_range("2022-01-01", "2024-07-01" if period == "month" else "2024-06-30",
                       freq=freq)
    series = pd.DataFrame({"ds": ds, "y": 50.0 + np.arange(len(ds)) % 7})
    forecast = forecast_trend(series, TrendConfig(period=period), 3)
    assert forecast.loc[forecast["is_forecast"], "ds"].tolist() == list(
        pd.date_range(first, periods=3, freq=freq))
    assert forecast["y"].notna().sum() == len(ds)


def test_data_after_as_of_does_not_change_the_forecast():
    series = weekly_series()
    as_of = pd.Timestamp("2024-06-03")
    changed = series.copy()
    changed.loc[changed["ds"] > as_of, "y"] *= 5
    changed = pd.concat([changed, pd.DataFrame({"ds": [pd.Timestamp("2026-01-05")],
                                                "y": [1e6]})], ignore_index=True)
    first = forecast_trend(series, WEEKLY, 8, as_of)
    second = forecast_trend(changed, WEEKLY, 8, as_of)
    pd.testing.assert_frame_equal(first.drop(columns="y"), second.drop(columns="y"))
    known = first["ds"] <= as_of
    pd.testing.assert_series_equal(first.loc[known, "y"], second.loc[known, "y"])
    assert first["is_forecast"].tolist() == (first["ds"] > as_of).tolist()
    assert first.loc[first["is_forecast"], "ds"].tolist() == list(
        pd.date_range("2024-06-10", periods=8, freq="7D"))


def test_forecasts_are_never_negative():
    series = weekly_series(slope=-0.6, dip=0.0, noise=5.0, weeks=156)  # heads below zero
    forecast = forecast_trend(series, WEEKLY, 52)
    bounds = forecast[["yhat", "yhat_lower", "yhat_upper"]]
    assert (bounds >= 0).all().all()
    assert (forecast.loc[forecast["is_forecast"], "yhat"] == 0).any()


def test_forecasts_are_deterministic_and_leave_numpy_alone():
    series = weekly_series(seed=3, noise=10.0)
    np.random.seed(123)
    first = forecast_trend(series, WEEKLY, 12, pd.Timestamp("2024-12-30"))
    after_first = np.random.random()
    np.random.seed(123)
    second = forecast_trend(series, WEEKLY, 12, pd.Timestamp("2024-12-30"))
    pd.testing.assert_frame_equal(first, second)
    np.random.seed(123)
    assert np.random.random() == after_first  # Prophet's sampling did not move the global state


# --- units of the hierarchy and surges -----------------------------------------------------

@pytest.fixture(scope="module")
def counts() -> pd.DataFrame:
    """Hierarchy counts of two districts and the city; D2's last week surges."""
    one, two = weekly_series(seed=1, weeks=156), weekly_series(seed=2, weeks=156)
    one.loc[one.index[-1], "y"] = weekly_series(noise=0.0, weeks=156)["y"].iloc[-1]  # ordinary
    two.loc[two.index[-1], "y"] *= 2
    rows = []
    for level, unit, name, y in [("district", "D1", "鼓楼区", one["y"]),
                                 ("district", "D2", "江都区", two["y"]),
                                 ("city", "city", "city", one["y"] + two["y"])]:
        rows.append(pd.DataFrame({"level": level, "unit_id": unit, "unit_name": name,
                                  "period": one["ds"], "all": y, "dispute": y / 4}))
    return pd.concat(rows, ignore_index=True)


def test_units_are_forecast_and_only_the_surging_one_flagged(counts):
    last = counts["period"].max()
    forecast = forecast_units(counts, "district", "all", WEEKLY, 1, last - pd.Timedelta(weeks=1))
    assert forecast.groupby("unit_id").size().to_dict() == {"D1": 156, "D2": 156}
    assert forecast.loc[forecast["unit_id"] == "D2", "unit_name"].unique().tolist() == ["江都区"]
    flagged = surges(forecast)
    assert flagged[["unit_id", "ds"]].values.tolist() == [["D2", last]]
    assert (flagged["excess"] > 0).all()


def test_surges_look_at_the_last_forecast_periods_only():
    forecast = pd.DataFrame({
        "ds": pd.date_range("2025-01-06", periods=4, freq="7D"),
        "yhat": 10.0, "yhat_lower": 5.0, "yhat_upper": 15.0,
        "y": [30.0, 30.0, 12.0, np.nan], "is_forecast": [False, True, True, True],
    })
    assert surges(forecast).empty  # the last observed forecast week is within the interval
    assert surges(forecast, recent=2)["ds"].tolist() == [pd.Timestamp("2025-01-13")]


def test_unit_series_and_levels_are_checked(counts):
    assert unit_series(counts, "city", "city", "dispute")["y"].iloc[0] == pytest.approx(
        counts.loc[counts["level"] == "city", "dispute"].iloc[0])
    with pytest.raises(ValueError, match="no district with unit_id 'D9'"):
        unit_series(counts, "district", "D9")
    with pytest.raises(ValueError, match="no stream 'petitons'"):
        unit_series(counts, "district", "D1", "petitons")
    with pytest.raises(ValueError, match="not 'grid'"):
        forecast_units(counts, "grid", "all", WEEKLY, 4, None)
    with pytest.raises(ValueError, match="period must be one of"):
        TrendConfig(period="quarter")
