"""The training panel: one row per grid and period, every feature point-in-time correct."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features import columns as C
from features.calendar import period_calendar
from features.catalogue import FeatureSpec, catalogue_frame, count_specs
from features.counts import Stream, ewm_weights, known_sum, known_total, known_window, stream
from features.experiment import FeaturesConfig
from features.handling import handling_features
from features.layout import Layout, complete_periods
from features.petitions import petition_streams, weak_signal_features
from features.spread import spatial_features

INCIDENT_STREAMS = ("all", "law_enforcement", "livelihood", "dispute", "group")
PETITION_STREAMS = ("petitions", "collective", "repeat", "escalated")
GROUP_MIN_PEOPLE = 5
OUTCOME_PREFIX = "outcome_"
EWM_LAGS = 26


@dataclass(frozen=True)
class Panel:
    """The panel (area_id, period, features..., outcome_*) and its feature catalogue."""

    frame: pd.DataFrame
    catalogue: pd.DataFrame
    layout: Layout

    @property
    def feature_names(self) -> list[str]:
        return list(self.catalogue["name"])


def panel_layout(areas: pd.DataFrame, incidents: pd.DataFrame, petitions: pd.DataFrame,
                 config: FeaturesConfig) -> Layout:
    """All areas, and the periods from the first record to the last complete period."""
    times = pd.concat([incidents[C.OCCURRED_AT], incidents[C.REPORTED_AT],
                       petitions[C.FILED_AT]]).dropna()
    if times.empty:
        raise ValueError("no incidents or petitions to build a panel from")
    periods = complete_periods(times.min(), times.max(), config.period, config.start, config.end)
    return Layout(area_ids=areas[C.AREA_ID].to_numpy(), periods=periods, period=config.period)


def incident_streams(incidents: pd.DataFrame, layout: Layout) -> dict[str, Stream]:
    """Incident counts by occurrence period, each event known from its report period."""
    area = layout.rows(incidents[C.AREA_ID])
    occurred = layout.index(incidents[C.OCCURRED_AT])
    reported = np.maximum(layout.index(incidents[C.REPORTED_AT]), occurred)
    family = incidents[C.FAMILY].to_numpy()
    masks = {"all": np.ones(len(incidents), bool),
             "group": incidents[C.PEOPLE_INVOLVED].to_numpy() >= GROUP_MIN_PEOPLE}
    masks |= {fam: family == fam for fam in C.FAMILIES}
    return {name: stream(area[masks[name]], occurred[masks[name]], reported[masks[name]],
                         layout.shape) for name in INCIDENT_STREAMS}


def count_features(streams: dict[str, Stream], config: FeaturesConfig
                   ) -> tuple[dict[str, np.ndarray], list[FeatureSpec]]:
    """Lags, rolling sums, EWMA, long-run mean, same weeks last year and trend of each stream."""
    short, long = config.windows[0], config.windows[-1]
    season, horizon = config.lag_for_season(), max(config.horizons)
    last_year = np.zeros(season)
    last_year[season - horizon: season] = 1.0 / horizon  # the target periods, a year earlier
    values: dict[str, np.ndarray] = {}
    specs: list[FeatureSpec] = []
    for name, s in streams.items():
        n_periods = s.shape[1]
        elapsed = np.arange(1, n_periods + 1, dtype=np.float64)
        v = {f"{name}_now": known_window(s, 1), f"{name}_prev": known_window(s, 1, start_lag=1),
             f"{name}_ewm": known_sum(s, ewm_weights(config.ewm_halflife, EWM_LAGS)),
             f"{name}_mean_all": known_total(s) / elapsed[None, :],
             f"{name}_last_year": known_sum(s, last_year)}
        for w in config.windows:
            v[f"{name}_sum_{w}"] = known_window(s, w)
        v[f"{name}_trend"] = (v[f"{name}_sum_{short}"] / short + 0.5) / (
            v[f"{name}_sum_{long}"] / long + 0.5)
        values |= v
        specs += count_specs(name, config.windows, config.period)
    return values, specs


def static_features(areas: pd.DataFrame) -> tuple[pd.DataFrame, list[FeatureSpec]]:
    """Per-grid base data and rates (counts of key persons only, never identities)."""
    a = areas.set_index(C.AREA_ID)
    pop = a[C.POPULATION].where(a[C.POPULATION] > 0)
    keys = a[[C.KEY_CORRECTIONS, C.KEY_MENTAL, C.KEY_DRUG]].sum(axis=1, min_count=1)
    frame = pd.DataFrame({
        "population": a[C.POPULATION],
        "floating_share": a[C.FLOATING_POPULATION] / pop,
        "rental_per_household": a[C.RENTAL_UNITS] / a[C.HOUSEHOLDS].where(a[C.HOUSEHOLDS] > 0),
        "enterprises": a[C.ENTERPRISES],
        "key_persons_per_1k": keys / pop * 1000,
        "officers_per_1k": a[C.GRID_OFFICERS] / pop * 1000,
        "area_km2": a[C.AREA_KM2],
        "density": pop / a[C.AREA_KM2],
        "urban": a[C.URBAN].astype("Float64").astype(float),
    }, index=a.index)
    text = {
        "population": ("registered population", "户籍人口"),
        "floating_share": ("floating population as a share of registered", "流动人口占比"),
        "rental_per_household": ("rental units per household", "每户出租房数"),
        "enterprises": ("enterprises and shops", "企业和商户数"),
        "key_persons_per_1k": ("key persons under care per 1,000 residents", "每千人重点人员数"),
        "officers_per_1k": ("grid officers per 1,000 residents", "每千人网格员数"),
        "area_km2": ("area in km2", "面积(平方公里)"),
        "density": ("residents per km2", "人口密度(每平方公里)"),
        "urban": ("urban grid (1) or rural (0)", "城镇网格(1)或农村(0)"),
    }
    specs = [FeatureSpec(n, "static", *text[n]) for n in frame.columns]
    return frame, specs


def build_panel(areas: pd.DataFrame, incidents: pd.DataFrame, petitions: pd.DataFrame,
                config: FeaturesConfig) -> Panel:
    """Every feature for every grid and period, plus the outcomes training turns into targets."""
    layout = panel_layout(areas, incidents, petitions, config)
    short, long = config.windows[0], config.windows[-1]
    streams = incident_streams(incidents, layout) | petition_streams(petitions, layout)
    values, specs = count_features(streams, config)
    for part in (handling_features(incidents, layout, long, config.handling_deadline_days),
                 weak_signal_features(petitions, layout, short, config.backlog_days)):
        values |= part[0]
        specs += part[1]
    spatial, spatial_specs = spatial_features(values, areas, short, long)
    values |= spatial
    specs += spatial_specs
    population = areas[C.POPULATION].to_numpy(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        values[f"all_per_1k_{long}"] = values[f"all_sum_{long}"] / population[:, None] * 1000
    specs.append(FeatureSpec(f"all_per_1k_{long}", "counts",
                             f"incidents per 1,000 residents in the last {long} periods",
                             f"近{long}期每千人事件数"))
    frame = pd.DataFrame({name: values[s.name].astype(np.float32).ravel()
                          for name, s in ((s.name, s) for s in specs)},
                         index=layout.long_index())
    static, static_specs = static_features(areas)
    calendar = period_calendar(layout.periods, config.period)
    frame = frame.join(static.astype(np.float32), on=C.AREA_ID)
    frame = frame.join(calendar.astype(np.float32), on=C.PERIOD)
    specs += static_specs + calendar_specs(calendar.columns)
    outcomes = {f"{OUTCOME_PREFIX}{n}": s.final.astype(np.float32).ravel()
                for n, s in streams.items()}
    frame = frame.assign(**outcomes).reset_index()
    return Panel(frame=frame, catalogue=catalogue_frame(specs), layout=layout)


def calendar_specs(names: pd.Index) -> list[FeatureSpec]:
    text = {
        "holiday_days": ("statutory holiday days in the period", "本期法定节假日天数"),
        "spring_festival_days": ("Spring Festival break days in the period", "本期春节假期天数"),
        "pre_spring_festival_days": ("days in the six weeks before Spring Festival",
                                     "本期处于春节前六周的天数"),
        "national_day_days": ("National Day golden-week days in the period", "本期国庆黄金周天数"),
        "days_to_spring_festival": ("days to (negative) or since Spring Festival",
                                    "距春节天数(负数为节前)"),
        "week_of_year": ("week of the year", "全年第几周"),
        "month": ("month", "月份"),
        "season_sin": ("annual cycle (sine)", "年周期(正弦)"),
        "season_cos": ("annual cycle (cosine)", "年周期(余弦)"),
    }
    return [FeatureSpec(n, "calendar", *text[n]) for n in names]
