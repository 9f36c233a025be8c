"""The Chinese holiday calendar and period arithmetic."""

from __future__ import annotations

from datetime import date

import pandas as pd

from riskgrid.calendar import (
    daily_calendar,
    period_calendar,
    period_index,
    period_start,
    spring_festival,
)


def test_spring_festival_dates_follow_the_lunar_calendar():
    assert [spring_festival(y) for y in (2023, 2024, 2025, 2030)] == [
        date(2023, 1, 22), date(2024, 2, 10), date(2025, 1, 29), date(2030, 2, 3)]


def test_daily_flags_around_spring_festival_and_national_day():
    days = daily_calendar(date(2024, 1, 1), date(2024, 10, 31)).set_index("day")
    assert days.loc["2024-02-10", "days_to_spring_festival"] == 0
    assert days.loc["2024-02-09", "spring_festival_break"]  # New Year's Eve
    assert days.loc["2024-01-15", "pre_spring_festival"]
    assert not days.loc["2023-12-01":"2023-12-30"].get("pre_spring_festival", pd.Series()).any()
    assert days.loc["2024-10-03", "national_day_week"] and days.loc["2024-10-03",
                                                                    "statutory_holiday"]
    assert days.loc["2024-02-04", "makeup_workday"]  # a Sunday worked to lengthen the break
    assert not days.loc["2024-02-04", "weekend"]


def test_future_years_have_rule_based_holidays():
    days = daily_calendar(date(2031, 1, 1), date(2031, 12, 31)).set_index("day")
    assert days["spring_festival_break"].sum() == 8
    assert days["national_day_week"].sum() == 7


def test_weeks_start_on_monday_and_months_on_the_first():
    times = pd.Series(pd.to_datetime(["2024-02-11 23:59", "2024-02-12 00:00"]))
    assert period_start(times, "week").dt.day_name().tolist() == ["Monday", "Monday"]
    assert period_start(times, "month").dt.day.tolist() == [1, 1]
    origin = pd.Timestamp("2024-01-01")
    assert period_index(times, origin, "week").tolist() == [5, 6]
    assert period_index(times, origin, "month").tolist() == [1, 1]
    assert period_index(times, origin, "day").tolist() == [41, 42]


def test_period_calendar_counts_holiday_days_per_week():
    weeks = pd.date_range("2024-02-05", periods=3, freq="7D")
    cal = period_calendar(weeks, "week")
    assert cal["spring_festival_days"].tolist() == [3.0, 5.0, 0.0]  # 02-09..02-16
    assert cal.loc["2024-02-19", "days_to_spring_festival"] == 9


def test_parse_day_refuses_what_is_not_a_day_pandas_can_hold():
    import pytest

    from riskgrid.calendar import parse_day
    from riskgrid.errors import InputError

    assert parse_day("2023-12-18", "as_of") == pd.Timestamp("2023-12-18")
    # a time zone is dropped: the date as written counts, never a naive/aware comparison
    assert parse_day("2025-12-22T00:00:00Z", "as_of") == pd.Timestamp("2025-12-22")
    assert parse_day("2025-12-22T23:30:00+08:00", "as_of").tzinfo is None
    for value, words in [("1677-09-21", "outside the dates"), ("2262-04-12", "outside the dates"),
                         ("yesterday", "not a date"), ("2" * 300_000, "300,000 characters"),
                         ("2023-13-45", "not a date")]:
        with pytest.raises(InputError, match=words) as caught:
            parse_day(value, "as_of")
        assert "as_of" in str(caught.value) and len(str(caught.value)) < 200
