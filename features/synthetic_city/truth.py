"""The ground truth: weekly expected and observed counts, grievance episodes, planted drivers."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.synthetic_city.config import CityConfig
from features.synthetic_city.dynamics import (
    DECLINING_DISTRICT,
    GROWING_DISTRICT,
    REGIME_COMMUNITY_SHARE,
    REGIME_LOADING,
)
from features.synthetic_city.petitions import TOPICS
from features.synthetic_city.rates import CALENDAR
from riskgrid import vocabulary as C

TRUTH_FAMILIES = ("law_enforcement", "livelihood", "dispute", "petitions", "group",
                  "collective")


def weekly_truth(static: dict[str, dict], disputes: dict, petitions: dict, areas: pd.DataFrame,
                 config: CityConfig) -> pd.DataFrame:
    """Weekly expected (summed daily intensity) and observed (true, pre-reporting) counts.

    ``group`` counts incidents with 5+ people (always reported): disputes that drew a crowd and
    the mass disputes of culminating episodes (expected: each episode's end with its
    probability); ``collective`` counts collective petitions the same way.
    """
    mass = np.zeros_like(disputes["true"])
    np.add.at(mass, (petitions["mass"]["day"], petitions["mass"]["grid"]), 1)
    daily = {
        "law_enforcement": (static["law_enforcement"]["intensity"],
                            static["law_enforcement"]["true"]),
        "livelihood": (static["livelihood"]["intensity"], static["livelihood"]["true"]),
        "dispute": (disputes["intensity"], disputes["true"] + mass),
        "petitions": (petitions["intensity"], petitions["observed"]),
        "group": (disputes["group_intensity"] + petitions["culmination"],
                  disputes["group_true"] + mass),
        "collective": (petitions["culmination"], petitions["collective"]),
    }
    offset = config.start.weekday()
    n_days, n = mass.shape
    n_weeks = (offset + n_days + 6) // 7
    monday = pd.Timestamp(config.start) - pd.Timedelta(days=offset)
    periods = pd.date_range(monday, periods=n_weeks, freq="7D").to_numpy("datetime64[ns]")
    frames = []
    for family in TRUTH_FAMILIES:
        expected, observed = (_weekly(x, offset, n_weeks) for x in daily[family])
        frames.append(pd.DataFrame({
            C.AREA_ID: np.tile(areas[C.AREA_ID].to_numpy(), n_weeks),
            C.PERIOD: np.repeat(periods, n), C.FAMILY: family,
            "expected": expected.ravel(), "observed": observed.ravel().astype(np.int64)}))
    return pd.concat(frames, ignore_index=True)


def episode_table(table: pd.DataFrame, areas: pd.DataFrame, config: CityConfig) -> pd.DataFrame:
    """Grievance episodes in calendar terms; ``culminated`` only if the end lies in the data."""
    start = pd.Timestamp(config.start) + pd.to_timedelta(table["start"], unit="D")
    end = start + pd.to_timedelta(table["duration"], unit="D")
    return pd.DataFrame({
        C.AREA_ID: areas[C.AREA_ID].to_numpy()[table["grid"]],
        "start": start.dt.date.astype(str), "end": end.dt.date.astype(str),
        C.TOPIC: np.array(TOPICS)[table["topic"]], "members": table["members"],
        "culminated": table["culminates"] & (end <= pd.Timestamp(config.end)),
    }).sort_values(["start", C.AREA_ID], kind="stable").reset_index(drop=True)


def _weekly(daily: np.ndarray, offset: int, n_weeks: int) -> np.ndarray:
    padded = np.zeros((n_weeks * 7, daily.shape[1]), dtype=float)
    padded[offset:offset + len(daily)] = daily
    return padded.reshape(n_weeks, 7, -1).sum(axis=1)


DRIVERS = (  # "strength" and the other config-valued keys name CityConfig fields
    {"driver": "floating_population_share", "affects": ["dispute", "law_enforcement"],
     "inputs": [C.FLOATING_POPULATION, C.POPULATION],
     "mechanism": "log-linear: rate x exp(b * (floating_population / population - 0.2))",
     "strength": "floating_share_effect", "unit": "log-rate per unit of share"},
    {"driver": "rental_units", "affects": ["dispute", "law_enforcement"],
     "inputs": [C.RENTAL_UNITS, C.HOUSEHOLDS],
     "mechanism": "log-linear: rate x exp(b * (rental_units / households - 0.25))",
     "strength": "rental_effect", "unit": "log-rate per rental unit per household"},
    {"driver": "enterprises", "affects": ["dispute", "petitions"], "inputs": [C.ENTERPRISES],
     "mechanism": "wage-arrears disputes, wage-arrears petitions and grievance-episode starts "
                  "scale with ((1 + enterprises) / 16) ** b",
     "strength": "enterprise_effect", "unit": "elasticity"},
    {"driver": "key_persons", "affects": ["dispute"],
     "inputs": [C.KEY_CORRECTIONS, C.KEY_MENTAL, C.KEY_DRUG, C.POPULATION],
     "mechanism": "log-linear: dispute rate x exp(b * (key persons per 1,000 residents - 3))",
     "strength": "key_person_effect", "unit": "log-rate per key person per 1,000 residents"},
    {"driver": "neighbour_spread", "affects": ["dispute"],
     "inputs": ["dispute counts of the 8 queen neighbours over the last 7 days"],
     "mechanism": "self-exciting: each dispute adds b / 7 to the daily dispute rate of each "
                  "neighbouring grid for the next 7 days (branching ratio at most 8 b)",
     "strength": "neighbour_spread", "unit": "events per neighbour per dispute"},
    {"driver": "backlog", "affects": ["petitions"],
     "inputs": ["open overdue disputes: reported more than 30 days ago and not closed"],
     "mechanism": "petition and grievance-episode rates x (1 + backlog) ** b; escalation "
                  "log-odds + c * log(1 + backlog)",
     "strength": "backlog_effect", "escalation_strength": "backlog_escalation",
     "unit": "elasticity"},
    {"driver": "officer_load", "affects": ["backlog"], "inputs": [C.POPULATION, C.GRID_OFFICERS],
     "mechanism": "load = residents per grid officer / 1,000; disputes take sqrt(load) times "
                  "longer to close, 3% x load close after 30-240 days, 0.8% x load ** b never",
     "strength": "officer_load_power", "unit": "power"},
    {"driver": "weak_signal_repeat_petitions",
     "affects": ["petitions", "dispute", "group", "collective"],
     "inputs": ["repeat petitions by the same persons on one topic in one grid"],
     "mechanism": "grievance episodes (3-8 weeks, 2-4 people) file repeat petitions at a rate "
                  "rising `rise`-fold; a share end in a collective petition (5+ people, often "
                  "escalated) and a mass dispute (5+ people) the day the episode ends",
     "strength": "collective_share", "episodes_per_grid_year": "episodes_per_grid_year",
     "petitions_per_episode": "episode_petitions", "rise": "episode_rise",
     "unit": "share of episodes that culminate"},
    {"driver": "pre_spring_festival_wage_arrears", "affects": ["dispute", "petitions"],
     "inputs": ["days_to_spring_festival", C.ENTERPRISES],
     "mechanism": "wage-arrears rates x (1 + b * (0.25 + 0.75 * progress)) in the 6 weeks "
                  "before Spring Festival, progress going 0 -> 1 towards New Year's Eve",
     "strength": "wage_season_peak", "unit": "extra multiple at the peak"},
    {"driver": "seasonality_holidays", "affects": list(TRUTH_FAMILIES[:4]),
     "inputs": ["day_of_year", "weekend", "makeup_workday", "statutory_holiday",
                "spring_festival_break", "national_day_week"],
     "mechanism": "rate x exp(amplitude * cos(2 pi (day of year - peak) / 365.25)) x the "
                  "weekend/holiday, Spring Festival and National Day multipliers of `calendar`",
     "strength": "holiday_effect", "seasonality": "seasonality",
     "unit": "scale of the log multipliers"},
    {"driver": "grid_regimes", "affects": ["law_enforcement", "livelihood", "dispute"],
     "inputs": [("latent: shows as lasting rises and falls of a grid's and its community's "
                "recent counts")],
     "mechanism": "rate x exp(loading * z - (loading * sd) ** 2 / 2), z = sd * (sqrt(s) * "
                  "community AR(1) + sqrt(1 - s) * grid AR(1)), weekly, unit variance, "
                  "week-to-week persistence phi (construction sites, new rental compounds, "
                  "changes of property management)",
     "strength": "regime_sd", "persistence": "regime_persistence",
     "unit": "stationary sd of the log-rate (loading 1)"},
    {"driver": "district_trends", "affects": ["law_enforcement", "livelihood", "dispute"],
     "inputs": [C.DISTRICT_ID, "date"],
     "mechanism": "log-rate + b * years from the middle of the span in the growing new town, "
                  "- c * years in the declining old centre",
     "strength": "district_growth", "decline": "district_decline",
     "unit": "log-rate per year"},
    {"driver": "heat_waves", "affects": ["livelihood"],
     "inputs": ["city-wide: the days of each heat wave (events)"],
     "mechanism": "livelihood requests x (1 + b) in every grid during a heat wave (1-2 a "
                  "summer, 7-21 days, mid-June to August); 85% of the extra requests are "
                  "about utilities",
     "strength": "heat_wave_effect", "unit": "extra multiple"},
    {"driver": "rainstorms", "affects": ["livelihood"],
     "inputs": ["city-wide: the days of each rainstorm (events)"],
     "mechanism": "livelihood requests x (1 + b) in every grid during a rainstorm (1-3 a "
                  "year, 2-5 days, late May to early September); the extra requests are about "
                  "roads (40%), sanitation (30%) and utilities (30%)",
     "strength": "rainstorm_effect", "unit": "extra multiple"},
    {"driver": "enforcement_campaigns", "affects": ["law_enforcement"],
     "inputs": [C.STREET_ID, "the days of each campaign (events)"],
     "mechanism": "专项整治: law-enforcement reports in every grid of one street x (1 + b * (1 - "
                  "0.5 * progress)) for 4-8 weeks, the extra reports all in the campaign's "
                  "target category; Poisson, `per_street_year` campaigns per street and year",
     "strength": "campaign_effect", "per_street_year": "campaigns_per_street_year",
     "unit": "extra multiple at the start"},
    {"driver": "group_incidents_background", "affects": ["group", "dispute"],
     "inputs": ["disputes"],
     "mechanism": "a share b of disputes draws 5+ people at random (group incidents are "
                  "always reported)",
     "strength": "group_background", "unit": "share of disputes"},
    {"driver": "group_incidents_backlog", "affects": ["group", "dispute"],
     "inputs": ["open overdue disputes of the grid (backlog)"],
     "mechanism": "chance that a dispute draws 5+ people + b * backlog (at most 0.5 in all)",
     "strength": "group_backlog_effect", "unit": "share per open overdue dispute"},
    {"driver": "group_incidents_surge", "affects": ["group", "dispute"],
     "inputs": [("disputes of the grid and its 8 neighbours: the last 7 days against the "
                "weekly mean of the last 364 days")],
     "mechanism": "chance that a dispute draws 5+ people + b * max(0, surge - 1), surge = "
                  "(disputes of the last 7 days + 1) / (weekly mean of the last year + 1)",
     "strength": "group_surge_effect", "unit": "share per unit of surge"},
    {"driver": "group_incidents_wage_arrears", "affects": ["group", "dispute"],
     "inputs": ["days_to_spring_festival", C.ENTERPRISES],
     "mechanism": "wage-arrears disputes in the 6 weeks before Spring Festival draw 5+ people "
                  "with an extra chance b * (0.25 + 0.75 * progress), most in enterprise-heavy "
                  "grids where wage disputes are frequent",
     "strength": "wage_group_share", "unit": "extra share on New Year's Eve"},
)
_NOT_CONFIG = {"driver", "affects", "inputs", "mechanism", "unit"}


EVENTS = {"heat_waves": "heat_waves", "rainstorms": "rainstorms",
          "enforcement_campaigns": "campaigns"}


def drivers(config: CityConfig, events: dict[str, list[dict]] | None = None) -> list[dict]:
    """The mechanisms planted in the city, with their strengths (truth/drivers.json).

    Args:
        config: the city's configuration.
        events: the drawn shocks (heat waves, rainstorms, campaigns), listed under their
            drivers when given.
    """
    out = []
    for spec in DRIVERS:
        entry = {k: v if k in _NOT_CONFIG else getattr(config, v) for k, v in spec.items()}
        if events is not None and entry["driver"] in EVENTS:
            entry["events"] = events[EVENTS[entry["driver"]]]
        if entry["driver"] == "grid_regimes":
            entry["loadings"] = dict(REGIME_LOADING)
            entry["community_share"] = REGIME_COMMUNITY_SHARE
        if entry["driver"] == "district_trends":
            entry["growing_district"] = f"D{GROWING_DISTRICT + 1:02d}"
            entry["declining_district"] = f"D{DECLINING_DISTRICT + 1:02d}"
        if entry["driver"] == "neighbour_spread":
            entry["branching_ratio"] = round(8 * config.neighbour_spread, 3)
        if entry["driver"] == "seasonality_holidays":
            names = ("amplitude", "peak_day", "weekend_holiday", "spring_festival",
                     "national_day")
            entry["calendar"] = {k: dict(zip(names, v)) for k, v in CALENDAR.items()}
        out.append(entry)
    return out
