"""The training panel: one row per grid and period, every feature point-in-time correct."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import numpy as np
import pandas as pd

from features.catalogue import FeatureSpec, catalogue_frame, count_specs
from features.counts import (
    CARRIED,
    Carry,
    Stream,
    carried_ewm,
    combine,
    known_sum,
    known_total,
    known_window,
    running_sums,
    stream,
    streams,
)
from features.engine import LOCAL, Engine, run_by_area
from features.events import IncidentIndex, index_incidents
from features.handling import handling_features
from features.informative import Declared, informative, uncovered_as_missing
from features.intensity import decay_features, intensity_features
from features.layout import Layout, complete_periods
from features.panel_update import block_of
from features.petitions import petition_streams, weak_signal_features, with_repeats
from features.spread import spatial_features
from riskgrid import vocabulary as C
from riskgrid.calendar import period_calendar
from riskgrid.errors import InputError
from riskgrid.experiment import FeaturesConfig

INCIDENT_STREAMS = ("all", "law_enforcement", "livelihood", "dispute", "group")
PETITION_STREAMS = ("petitions", "collective", "repeat", "escalated")
OUTCOME_PREFIX = "outcome_"


@dataclass(frozen=True)
class Panel:
    """The panel (area_id, period, features..., outcome_*) and its feature catalogue."""

    frame: pd.DataFrame
    catalogue: pd.DataFrame
    layout: Layout
    left_out: dict[str, list[str]] = field(default_factory=dict)
    ranges: np.ndarray | None = None  # per block of periods, each feature's finite min and max
    carried: dict[str, np.ndarray] = field(default_factory=dict)  # filters at the blocks' ends

    @property
    def feature_names(self) -> list[str]:
        return list(self.catalogue["name"])


def panel_layout(areas: pd.DataFrame, incidents: pd.DataFrame, petitions: pd.DataFrame,
                 config: FeaturesConfig) -> Layout:
    """All areas, and the periods from the first record to the last complete period."""
    # The span of what happened; reports after its end belong to no complete period.
    times = pd.concat([incidents[C.OCCURRED_AT], petitions[C.FILED_AT]]).dropna()
    if times.empty:
        raise InputError("the clean tables hold no incidents or petitions; check the ingest "
                         "summary for quarantined rows")
    periods = complete_periods(times.min(), times.max(), config.period, config.start, config.end)
    return Layout(area_ids=areas[C.AREA_ID].to_numpy(), periods=periods, period=config.period)


def incident_streams(events: IncidentIndex, layout: Layout) -> dict[str, Stream]:
    """Incident counts by occurrence period, each event known from its report period."""
    families = streams(events.area, events.occurred, events.reported, layout.shape,
                       code=events.family, n_codes=len(events.families))
    by_family = dict(zip(events.families, families))
    g = events.group
    group = stream(events.area[g], events.occurred[g], events.reported[g], layout.shape)
    return {"all": combine(families), **by_family, "group": group}


def count_features(streams: dict[str, Stream], config: FeaturesConfig,
                   composites: dict[str, tuple[str, ...]] | None = None, first: int = 0,
                   carry: Carry | None = None
                   ) -> tuple[dict[str, np.ndarray], list[FeatureSpec]]:
    """Lags, rolling sums, EWMA, long-run mean, same weeks last year and trend of each stream.

    Args:
        composites: streams that are the sum of others (every feature but the trend is linear
            in the counts, so it is the sum of the parts' features and costs one addition).
        first: the first period whose values are returned (:mod:`features.counts`).
        carry: where the EWMA filters carry on from (:class:`features.counts.Carry`).
    """
    composites = composites or {}
    short, long = config.windows[0], config.windows[-1]
    season, horizon = config.lag_for_season(), max(config.horizons)
    last_year = np.zeros(season)
    last_year[season - horizon: season] = 1.0 / horizon  # the target periods, a year earlier
    kinds = ["now", "prev", "ewm", "mean_all", "last_year"] + [f"sum_{w}" for w in config.windows]
    reach = max(season, *config.windows, 2)  # the longest window read back from a period
    values: dict[str, np.ndarray] = {}
    specs: list[FeatureSpec] = []
    for name in sorted(streams, key=lambda n: n not in composites):
        if name in composites:
            continue
        s = streams[name]
        elapsed = np.arange(first + 1, s.shape[1] + 1, dtype=np.float64)
        r = running_sums(s, first, reach)  # once for every window of the stream
        v = {"now": known_window(s, 1, running=r, first=first),
             "prev": known_window(s, 1, start_lag=1, running=r, first=first),
             "ewm": carried_ewm(values, f"{name}_ewm", s, config.ewm_halflife, first, carry),
             "mean_all": known_total(s, first) / elapsed[None, :],
             "last_year": known_sum(s, last_year, running=r, first=first)}
        v |= {f"sum_{w}": known_window(s, w, running=r, first=first) for w in config.windows}
        values |= {f"{name}_{kind}": v[kind] for kind in kinds}
    for name, parts in composites.items():
        values |= {f"{name}_{kind}": np.sum([values[f"{p}_{kind}"] for p in parts], axis=0)
                   for kind in kinds}
    for name in streams:
        values[f"{name}_trend"] = (values[f"{name}_sum_{short}"] / short + 0.5) / (
            values[f"{name}_sum_{long}"] / long + 0.5)
        specs += count_specs(name, config.windows, config.period)
    return values, specs


def static_features(areas: pd.DataFrame, covariates: dict[str, tuple[str, str]] | None = None
                    ) -> tuple[pd.DataFrame, list[FeatureSpec]]:
    """Per-grid base data and rates (counts of key persons only, never identities).

    Args:
        covariates: numeric columns of ``areas`` a mapping declared (name -> English and
            Chinese description); each is a static feature as it is.
    """
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
    for name, (en, zh) in (covariates or {}).items():
        frame[name] = a[name].astype(float)
        specs.append(FeatureSpec(name, "static", en, zh))
    return frame, specs


def area_features(events: IncidentIndex, petitions: pd.DataFrame, layout: Layout,
                  config: FeaturesConfig, first: int = 0, carry: Carry | None = None
                  ) -> tuple[dict[str, np.ndarray], list[FeatureSpec]]:
    """Every feature that depends on one area's own records, plus the outcomes, for the
    periods from ``first`` (every record is still read: windows and running sums reach back
    to the first period; the exponential filters too, unless ``carry`` says where they were).

    Areas are independent here, so this runs on any subset of areas (one partition).
    """
    short, long = config.windows[0], config.windows[-1]
    petitions = with_repeats(petitions)  # once, for the streams and the weak signals
    streams = incident_streams(events, layout) | petition_streams(petitions, layout, True)
    streams = {name: s.pending_after(first) for name, s in streams.items()}
    carry = None if carry is None else carry.rows(layout.area_ids)
    values, specs = count_features(streams, config, composites={"all": events.families},
                                   first=first, carry=carry)
    for part in (decay_features(streams, config, first, carry),
                 handling_features(events, layout, long, config.handling_deadline_days, first),
                 weak_signal_features(petitions, layout, short, config.backlog_days, True,
                                      first)):
        values |= part[0]
        specs += part[1]
    values |= {f"{OUTCOME_PREFIX}{n}": s.final[:, first:] for n, s in streams.items()}
    # The panel stores float32; casting here also halves what workers send back.
    return {name: v if name.startswith(CARRIED) else v.astype(np.float32)
            for name, v in values.items()}, specs


def outcomes_known_at(areas: pd.DataFrame, incidents: pd.DataFrame, petitions: pd.DataFrame,
                      config: FeaturesConfig, layout: Layout,
                      cutoff: pd.Timestamp) -> dict[str, np.ndarray]:
    """The ``outcome_*`` counts as they stood at ``cutoff``: records reported after it left out.

    Training at a backtest origin must learn from labels as they were known then, not as they
    were completed later by late reports.
    """
    known = incidents[incidents[C.REPORTED_AT] < cutoff]
    filed = petitions[petitions[C.FILED_AT] < cutoff]
    events = index_incidents(known, layout, config.handling_deadline_days)
    found = incident_streams(events, layout) | petition_streams(filed, layout)
    return {f"{OUTCOME_PREFIX}{n}": s.final.astype(np.float32) for n, s in found.items()}


def build_panel(areas: pd.DataFrame, incidents: pd.DataFrame, petitions: pd.DataFrame,
                config: FeaturesConfig, engine: Engine = LOCAL,
                declared: Declared | None = None, layout: Layout | None = None,
                events: IncidentIndex | None = None, periods: np.ndarray | None = None,
                ranges: np.ndarray | None = None, carry: Carry | None = None) -> Panel:
    """Every feature for every grid and period, plus the outcomes training turns into targets.

    Args:
        engine: where the per-area step runs: this process, forked workers or a Dask cluster
            (the panel is the same on every engine).
        declared: what the mappings declared (covariates, families, source spans).
        layout, events: the layout and the incidents placed on it, when the caller has them
            already (a daily update keeps them; ``incidents`` is then not read).
        periods: positions of the only periods whose rows the frame holds (the ones a daily
            update writes again); all when None. Values are computed from the first of them
            on only, which must then be the first period of a block (:func:`block_ranges`).
        ranges: the previous panel's :attr:`Panel.ranges` of the blocks before that period,
            which decide with the new values which features the catalogue keeps.
        carry: where the exponential filters carry on from (:class:`features.counts.Carry`);
            their values at the blocks' ends are then :attr:`Panel.carried`.
    """
    declared = declared or Declared()
    layout = layout or panel_layout(areas, incidents, petitions, config)
    short, long = config.windows[0], config.windows[-1]
    if events is None:
        events = index_incidents(incidents, layout, config.handling_deadline_days)
    first = int(np.min(periods)) if periods is not None and len(periods) else 0
    step = block_of(config.period)
    if first % step:
        raise ValueError(f"period {first} is not the first of a block of {step}")
    values, specs = run_by_area(partial(area_features, first=first, carry=carry), events,
                                petitions, layout, config, engine)
    carried = {name[len(CARRIED):]: values.pop(name) for name in list(values)
               if name.startswith(CARRIED)}
    outcomes = [name for name in values if name.startswith(OUTCOME_PREFIX)]
    later = Layout(area_ids=layout.area_ids, periods=layout.periods[first:], period=layout.period)
    spatial, spatial_specs = spatial_features(values, areas, short, long)
    intense, intense_specs = intensity_features(values, areas, config)
    spatial, spatial_specs = spatial | intense, spatial_specs + intense_specs
    values, specs = complete_rows(values | spatial, specs + spatial_specs, areas, later, config,
                                  declared, outcomes)
    frame = assemble(later, [s.name for s in specs], values, outcomes,
                     None if periods is None else np.asarray(periods) - first)
    found = block_ranges(specs, values, step)
    if first:
        found = np.concatenate([np.asarray(ranges)[: first // step], found])
    kept, left_out = informative_ranges(specs, found)
    return Panel(frame=frame, catalogue=catalogue_frame(kept), layout=layout, left_out=left_out,
                 ranges=found, carried=carried)


def block_ranges(specs: list[FeatureSpec], values: dict[str, np.ndarray], step: int
                 ) -> np.ndarray:
    """Per block of ``step`` periods (the values' first period starts a block), each feature's
    least and greatest finite value (inf and -inf when it has none): (blocks x features x 2).
    """
    n_periods = next(iter(values.values())).shape[1]
    cuts = np.arange(0, n_periods, step)
    out = np.empty((len(cuts), len(specs), 2))
    chunk = 32  # features at a time, as float64 (exact for float32 values; their min and max)
    for lo in range(0, len(specs), chunk):
        block = np.stack([np.asarray(values[s.name], dtype=np.float64)
                          for s in specs[lo: lo + chunk]])
        # fmin and fmax pass over missing values; only infinite ones need the masks.
        low = np.fmin.reduce(np.fmin.reduceat(block, cuts, axis=2), axis=1)
        high = np.fmax.reduce(np.fmax.reduceat(block, cuts, axis=2), axis=1)
        if np.isinf(low).any() or np.isinf(high).any():
            finite = np.isfinite(block)
            low = np.minimum.reduceat(np.where(finite, block, np.inf), cuts, axis=2).min(axis=1)
            high = np.maximum.reduceat(np.where(finite, block, -np.inf), cuts,
                                       axis=2).max(axis=1)
        out[:, lo: lo + chunk, 0] = np.where(np.isnan(low), np.inf, low).T
        out[:, lo: lo + chunk, 1] = np.where(np.isnan(high), -np.inf, high).T
    return out


def informative_ranges(specs: list[FeatureSpec], ranges: np.ndarray
                       ) -> tuple[list[FeatureSpec], dict[str, list[str]]]:
    """:func:`features.informative.informative` on the features' ranges by block (each feature
    a two-value column of its least and greatest finite value), exactly as on the values."""
    low, high = ranges[:, :, 0].min(axis=0), ranges[:, :, 1].max(axis=0)
    return informative(specs, {spec.name: np.array([lo, hi]) if lo <= hi else np.array([])
                               for spec, lo, hi in zip(specs, low, high)})


def complete_rows(values: dict[str, np.ndarray], specs: list[FeatureSpec], areas: pd.DataFrame,
                  layout: Layout, config: FeaturesConfig, declared: Declared,
                  outcomes: list[str]) -> tuple[dict[str, np.ndarray], list[FeatureSpec]]:
    """The panel's values and specs once the per-area and spatial features are in: rates per
    resident, static and calendar features, the declared words, and outcomes missing where a
    source did not cover the period.

    ``areas`` are the rows of ``layout`` (the whole city, or one block of it).
    """
    values = dict(values)
    long = config.windows[-1]
    population = areas[C.POPULATION].to_numpy(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        values[f"all_per_1k_{long}"] = values[f"all_sum_{long}"] / population[:, None] * 1000
    specs = [*specs, FeatureSpec(f"all_per_1k_{long}", "counts",
                                 f"incidents per 1,000 residents in the last {long} periods",
                                 f"近{long}期每千人事件数")]
    static, static_specs = static_features(areas, declared.covariates)
    calendar = period_calendar(layout.periods, config.period, config.calendar)
    for name in static.columns:
        values[name] = np.repeat(static[name].to_numpy(float)[:, None], layout.shape[1], axis=1)
    for name in calendar.columns:
        values[name] = np.broadcast_to(calendar[name].to_numpy(float)[None, :], layout.shape)
    specs += static_specs + calendar_specs(calendar.columns)
    specs = [declared.labelled(s) for s in specs]
    for name in outcomes:
        kind = "petitions" if name[len(OUTCOME_PREFIX):] in PETITION_STREAMS else "incidents"
        values[name] = uncovered_as_missing(values[name], layout, declared.spans.get(kind, []))
    return values, specs


def assemble(layout: Layout, features: list[str], values: dict[str, np.ndarray],
             outcomes: list[str], periods: np.ndarray | None = None) -> pd.DataFrame:
    """One float32 block (cheap to build and to slice) keyed by area_id and period (of the
    given period positions only, when given)."""
    names = features + outcomes
    chosen = slice(None) if periods is None else np.asarray(periods, dtype=np.int64)
    shown = layout.periods.to_numpy()[chosen]
    block = np.empty((len(names), layout.shape[0] * len(shown)), dtype=np.float32)
    for row, name in enumerate(names):
        block[row] = (values[name] if periods is None else values[name][:, chosen]).ravel()
    frame = pd.DataFrame(block.T, columns=names, copy=False)
    keys = pd.DataFrame({C.AREA_ID: np.repeat(layout.area_ids, len(shown)),
                         C.PERIOD: np.tile(shown, layout.shape[0])})
    keys[C.AREA_ID] = keys[C.AREA_ID].astype("str")
    return pd.concat([keys, frame], axis=1)


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
