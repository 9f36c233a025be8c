"""Targets: the count and the high-risk flag of period t+h, for each panel row t and horizon h."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from riskgrid import vocabulary as C
from riskgrid.calendar import period_calendar
from riskgrid.experiment import TrainingConfig

OUTCOME = "outcome_"
TARGET_CALENDAR = ("holiday_days", "spring_festival_days", "pre_spring_festival_days",
                   "national_day_days", "days_to_spring_festival", "week_of_year")


def grid(panel: pd.DataFrame, column: str) -> np.ndarray:
    """A panel column as an (areas x periods) array; the panel is area-major and complete."""
    n_areas = panel[C.AREA_ID].nunique()
    return panel[column].to_numpy(np.float64).reshape(n_areas, -1)


def ahead(values: np.ndarray, h: int) -> np.ndarray:
    """``values`` shifted so that column t holds period t+h (NaN past the end)."""
    out = np.full(values.shape, np.nan)
    if h < values.shape[1]:
        out[:, : values.shape[1] - h] = values[:, h:]
    return out


def target_counts(panel: pd.DataFrame, config: TrainingConfig, h: int) -> np.ndarray:
    """Count of the target stream in period t+h, for each row (flattened, panel order)."""
    return ahead(grid(panel, OUTCOME + config.target), h).ravel()


def flag_streams(panel: pd.DataFrame, config: TrainingConfig) -> np.ndarray:
    """Per row, the count whose positivity (or excess) makes a period high-risk."""
    if config.risk_flag == "collective_or_group":
        columns = [c for c in (OUTCOME + "collective", OUTCOME + "group") if c in panel]
        return sum(grid(panel, c) for c in columns)
    return grid(panel, OUTCOME + config.target)


def flag_threshold(panel: pd.DataFrame, config: TrainingConfig,
                   before: pd.Timestamp | None = None) -> np.ndarray:
    """Per area, the count above which a period is high-risk (0 for the event-based flag).

    For the quantile flag, each area's own quantile over the periods before ``before`` only,
    so a fold's labels never depend on its future.
    """
    values = flag_streams(panel, config)
    if config.risk_flag == "collective_or_group":
        return np.zeros(values.shape[0])
    periods = panel[C.PERIOD].unique()
    keep = np.ones(len(periods), bool) if before is None else periods < before
    # Periods a source does not cover are missing (NaN), not zero.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an area with no covered period
        return np.nanquantile(values[:, keep], config.flag_quantile, axis=1)


def target_flags(panel: pd.DataFrame, config: TrainingConfig, h: int,
                 threshold: np.ndarray) -> np.ndarray:
    """1.0 where period t+h is high-risk, 0.0 where not, NaN past the end of the data."""
    future = ahead(flag_streams(panel, config), h)
    flags = (future > threshold[:, None]).astype(np.float64)
    flags[np.isnan(future)] = np.nan
    return flags.ravel()


def target_calendar(panel: pd.DataFrame, period: str, h: int,
                    country: str = "CN") -> pd.DataFrame:
    """Calendar of the target period t+h (known in advance, so a valid input for row t)."""
    periods = pd.DatetimeIndex(panel[C.PERIOD].unique())
    step = {"day": pd.Timedelta(days=h), "week": pd.Timedelta(weeks=h)}.get(period)
    targets = periods + step if step is not None else periods + pd.DateOffset(months=h)
    found = period_calendar(targets, period, country)
    cal = found[[c for c in TARGET_CALENDAR if c in found.columns]]
    cal = cal.add_prefix("target_")
    cal.index = periods
    rows = cal.reindex(pd.DatetimeIndex(panel[C.PERIOD]))
    return pd.DataFrame(rows.to_numpy(), columns=cal.columns, index=panel.index)


def input_catalogue(catalogue: pd.DataFrame) -> pd.DataFrame:
    """The feature catalogue plus the target-period calendar inputs the models also read."""
    calendar = catalogue[catalogue["name"].isin(TARGET_CALENDAR)]
    target = calendar.assign(name="target_" + calendar["name"], family="target_calendar",
                             en="forecast period: " + calendar["en"],
                             zh="预测期" + calendar["zh"])
    return pd.concat([catalogue, target], ignore_index=True)
