"""The planted rates: base rates, per-grid covariate factors and per-day calendar multipliers."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.synthetic_city.config import CityConfig
from riskgrid import vocabulary as C
from riskgrid.calendar import WAGE_SEASON_DAYS, daily_calendar

# Daily rate per 1,000 residents at the reference covariates, on an ordinary workday, before
# the annual cycle and the shocks (calibrated to ~70,000 reported incidents and ~4,500
# petitions a year).
BASE_RATE = {"law_enforcement": 0.053, "livelihood": 0.045, "dispute": 0.014,
             "wage_arrears": 0.0022, "petitions": 0.0050, "wage_petitions": 0.0008}
# family: (annual amplitude, peak day of year, weekend/holiday, Spring Festival break,
# National Day week); the last three are rate multipliers.
CALENDAR = {
    "law_enforcement": (0.30, 200, 0.75, 0.55, 0.70),
    "livelihood": (0.35, 205, 0.60, 0.45, 0.60),
    "dispute": (0.20, 190, 0.85, 1.00, 0.90),
    "wage_arrears": (0.00, 0, 0.85, 0.30, 0.90),
    "petitions": (0.00, 0, 0.25, 0.20, 0.30),
}
REFERENCE = {"floating_share": 0.2, "rentals_per_household": 0.25, "enterprises": 15.0,
             "key_per_1000": 3.0}


def grid_arrays(areas: pd.DataFrame) -> dict[str, np.ndarray]:
    """The per-grid quantities the mechanisms use, as arrays in area order."""
    pop = areas[C.POPULATION].to_numpy(float)
    key = areas[[C.KEY_CORRECTIONS, C.KEY_MENTAL, C.KEY_DRUG]].to_numpy(float).sum(axis=1)
    ids = areas[C.AREA_ID].to_numpy()
    position = {a: i for i, a in enumerate(ids)}
    nb = [[position[x] for x in s.split(";") if x] for s in areas[C.NEIGHBOURS]]
    padded = np.full((len(ids), max(8, max(map(len, nb), default=0))), len(ids))
    for i, row in enumerate(nb):
        padded[i, :len(row)] = row
    return {
        "pop_k": pop / 1000,
        "floating_share": areas[C.FLOATING_POPULATION].to_numpy(float) / pop,
        "rentals_per_household": (areas[C.RENTAL_UNITS].to_numpy(float)
                                  / areas[C.HOUSEHOLDS].to_numpy(float)),
        "enterprises": areas[C.ENTERPRISES].to_numpy(float),
        "key_per_1000": key / pop * 1000,
        "load": pop / areas[C.GRID_OFFICERS].to_numpy(float) / 1000,
        "urban": areas[C.URBAN].to_numpy(bool),
        "district": pd.factorize(areas[C.DISTRICT_ID])[0],
        "street": pd.factorize(areas[C.STREET_ID])[0],
        "street_ids": pd.unique(areas[C.STREET_ID]),
        "community": pd.factorize(areas[C.COMMUNITY_ID])[0],
        "neighbours": padded,
    }


def covariate_factor(grid: dict[str, np.ndarray], config: CityConfig) -> np.ndarray:
    """exp(b_f (floating share - 0.2) + b_r (rentals per household - 0.25)) per grid."""
    return np.exp(
        config.floating_share_effect * (grid["floating_share"] - REFERENCE["floating_share"])
        + config.rental_effect * (grid["rentals_per_household"]
                                  - REFERENCE["rentals_per_household"]))


def enterprise_factor(grid: dict[str, np.ndarray], config: CityConfig) -> np.ndarray:
    return ((1 + grid["enterprises"]) / (1 + REFERENCE["enterprises"])) ** config.enterprise_effect


def calendar_effects(config: CityConfig) -> dict[str, np.ndarray]:
    """Per-day rate multipliers of each stream: annual cycle, weekends and holidays, wage season."""
    cal = daily_calendar(config.start, config.end)
    off = (cal["weekend"] | cal["statutory_holiday"]).to_numpy()
    sf, nd = cal["spring_festival_break"].to_numpy(), cal["national_day_week"].to_numpy()
    angle = 2 * np.pi * cal["day"].dt.day_of_year.to_numpy() / 365.25
    out = {"day": cal["day"].to_numpy()}
    for name, (amp, peak, off_m, sf_m, nd_m) in CALENDAR.items():
        log_m = config.seasonality * amp * np.cos(angle - 2 * np.pi * peak / 365.25)
        log_m = log_m + config.holiday_effect * (off * np.log(off_m) + sf * np.log(sf_m)
                                                 + nd * np.log(nd_m))
        out[name] = np.exp(log_m)
    to_sf = cal["days_to_spring_festival"].to_numpy()
    progress = np.clip((WAGE_SEASON_DAYS + to_sf) / (WAGE_SEASON_DAYS - 2), 0, 1)
    season = cal["pre_spring_festival"].to_numpy() * (0.25 + 0.75 * progress)
    out["wage_position"] = season  # 0 outside the season, 0.25 -> 1 within it
    out["wage_season"] = 1 + config.wage_season_peak * season
    return out

