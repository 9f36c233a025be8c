"""Rates that move over time: grid regimes, district trends, weather shocks, street campaigns."""

from __future__ import annotations

from datetime import date

import numpy as np

from features.synthetic_city.config import CityConfig
from riskgrid import vocabulary as C

# How strongly each family follows its grid's regime: construction sites, new rental compounds
# and a change of property management move law enforcement and disputes most.
REGIME_LOADING = {"law_enforcement": 1.0, "livelihood": 0.6, "dispute": 1.0}
REGIME_COMMUNITY_SHARE = 0.5  # share of a grid's regime variance that its community shares
GROWING_DISTRICT, DECLINING_DISTRICT = 1, 0  # D02: the new town; D01: the old centre
# City-wide weather shocks to livelihood requests, each summer: how many (uniform in the
# range), the window (month, day) they start in, and how many days they last.
WEATHER = {
    "heat_wave": {"per_year": (1, 2), "window": ((6, 15), (8, 20)), "days": (7, 21)},
    "rainstorm": {"per_year": (1, 3), "window": ((5, 20), (9, 10)), "days": (2, 5)},
}
# What the extra requests of a shock are about (livelihood sub-categories).
SHOCK_MIX = {"heat_wave": {"utilities": 0.85, "other": 0.15},
             "rainstorm": {"road_facilities": 0.40, "sanitation": 0.30, "utilities": 0.30}}
CAMPAIGN_TARGETS = ("street_vending", "illegal_construction", "fire_hazard", "noise", "traffic",
                    "pollution")
CAMPAIGN_DAYS = (28, 56)


def rate_dynamics(grid: dict[str, np.ndarray], days: np.ndarray, config: CityConfig,
                  rng: np.random.Generator) -> dict:
    """Day x grid rate multipliers of each incident family, and the shocks behind them.

    Returns ``multiplier`` (family -> day x grid array, mean about 1 before the shocks),
    ``shift`` (family -> (share, which, mixes): the share of a cell's events that the shock
    added, which row of ``mixes`` (sub-category probabilities) they follow) and ``events``
    (heat waves, rainstorms and campaigns, JSON-ready).
    """
    n_days, n = len(days), len(grid["pop_k"])
    regime = _regimes(grid, days, config, rng)
    trend = _district_trend(grid, n_days, config)
    weather, weather_events = _weather(days, config, rng)
    campaign, campaign_events = _campaigns(grid, days, config, rng)
    # the regime's log-normal factor has mean 1, so regimes do not change the volumes
    multiplier = {f: np.exp(b * regime - (b * config.regime_sd) ** 2 / 2 + trend)
                  for f, b in REGIME_LOADING.items()}
    multiplier["livelihood"] *= weather["multiplier"][:, None]
    multiplier["law_enforcement"] *= campaign["multiplier"]
    shift = {"livelihood": (np.broadcast_to(weather["share"][:, None], (n_days, n)),
                            np.broadcast_to(weather["which"][:, None], (n_days, n)),
                            weather["mixes"]),
             "law_enforcement": (campaign["share"], campaign["which"], campaign["mixes"])}
    return {"multiplier": multiplier, "shift": shift,
            "events": {**weather_events, "campaigns": campaign_events}}


def _regimes(grid: dict[str, np.ndarray], days: np.ndarray, config: CityConfig,
             rng: np.random.Generator) -> np.ndarray:
    """Latent log-rate of each grid and day: weekly AR(1), half shared by the community.

    Each week's components are centred across communities and across grids: regimes move
    risk between places, the city's total follows the calendar, trends and shocks.
    """
    week = (config.start.weekday() + np.arange(len(days))) // 7  # weeks start on Monday
    n_weeks = int(week[-1]) + 1
    share = REGIME_COMMUNITY_SHARE
    community = _ar1(n_weeks, int(grid["community"].max()) + 1, config.regime_persistence, rng)
    own = _ar1(n_weeks, len(grid["pop_k"]), config.regime_persistence, rng)
    z = np.sqrt(share) * community[:, grid["community"]] + np.sqrt(1 - share) * own
    return config.regime_sd * z[week]


def _ar1(n_weeks: int, n_series: int, phi: float, rng: np.random.Generator) -> np.ndarray:
    """Stationary AR(1) series with unit variance, one column per series."""
    shocks = rng.normal(0, 1, (n_weeks, n_series))
    z = np.empty((n_weeks, n_series))
    z[0] = shocks[0]
    scale = np.sqrt(1 - phi**2)
    for w in range(1, n_weeks):
        z[w] = phi * z[w - 1] + scale * shocks[w]
    if n_series > 1:
        z = (z - z.mean(axis=1, keepdims=True)) * np.sqrt(n_series / (n_series - 1))
    return z


def _district_trend(grid: dict[str, np.ndarray], n_days: int, config: CityConfig) -> np.ndarray:
    """Log-rate trend centred on the middle of the span: the new town grows, the centre shrinks."""
    years = (np.arange(n_days) - (n_days - 1) / 2) / 365.25
    slope = np.where(grid["district"] == GROWING_DISTRICT, config.district_growth,
                     np.where(grid["district"] == DECLINING_DISTRICT, -config.district_decline,
                              0.0))
    return years[:, None] * slope[None, :]


def _weather(days: np.ndarray, config: CityConfig, rng: np.random.Generator
             ) -> tuple[dict[str, np.ndarray], dict[str, list[dict]]]:
    """City-wide heat waves and rainstorms: livelihood multiplier and the mix of extra requests."""
    day_list = days.astype("datetime64[D]")
    first, n_days = day_list[0], len(days)
    effect = {"heat_wave": config.heat_wave_effect, "rainstorm": config.rainstorm_effect}
    active = {k: np.zeros(n_days, bool) for k in WEATHER}
    events: dict[str, list[dict]] = {"heat_waves": [], "rainstorms": []}
    for year in range(config.start.year, config.end.year + 1):
        for kind, spec in WEATHER.items():
            lo, hi = (np.datetime64(date(year, m, d)) for m, d in spec["window"])
            for _ in range(rng.integers(spec["per_year"][0], spec["per_year"][1] + 1)):
                start = lo + rng.integers(0, int((hi - lo).astype(int)) + 1)
                length = int(rng.integers(spec["days"][0], spec["days"][1] + 1))
                a = int((start - first).astype(int))
                if effect[kind] <= 0 or a + length <= 0 or a >= n_days:
                    continue
                active[kind][max(a, 0):a + length] = True
                events[f"{kind}s"].append({"start": str(day_list[max(a, 0)]),
                                           "end": str(day_list[min(a + length, n_days) - 1])})
    for listed in events.values():
        listed.sort(key=lambda e: e["start"])
    heat = 1 + effect["heat_wave"] * active["heat_wave"]
    rain = 1 + effect["rainstorm"] * active["rainstorm"]
    multiplier = heat * rain
    mixes = np.array([_livelihood_mix(SHOCK_MIX["heat_wave"]),
                      _livelihood_mix(SHOCK_MIX["rainstorm"])])
    # a day with both: the extra requests split by each shock's excess
    both = (effect["heat_wave"] * mixes[0] + effect["rainstorm"] * mixes[1])
    mixes = np.vstack([mixes, both / max(both.sum(), 1e-12)])
    which = np.select([active["heat_wave"] & active["rainstorm"], active["rainstorm"]], [2, 1], 0)
    return {"multiplier": multiplier, "share": 1 - 1 / multiplier, "which": which,
            "mixes": mixes}, events


def _livelihood_mix(mix: dict[str, float]) -> np.ndarray:
    return np.array([mix.get(sub, 0.0) for sub in C.SUB_CATEGORIES["livelihood"]])


def _campaigns(grid: dict[str, np.ndarray], days: np.ndarray, config: CityConfig,
               rng: np.random.Generator) -> tuple[dict[str, np.ndarray], list[dict]]:
    """Street enforcement campaigns (专项整治): 4-8 weeks of extra law-enforcement reports on one
    target, strongest at the start (1 + effect) and fading to 1 + effect / 2 at the end."""
    n_days, n_streets = len(days), int(grid["street"].max()) + 1
    day_list = days.astype("datetime64[D]")
    street_m = np.ones((n_days, n_streets))
    street_which = np.zeros((n_days, n_streets), dtype=int)
    counts = rng.poisson(config.campaigns_per_street_year * n_days / 365.25, n_streets)
    events = []
    for street in np.repeat(np.arange(n_streets), counts):
        start = int(rng.integers(0, n_days))
        length = int(rng.integers(CAMPAIGN_DAYS[0], CAMPAIGN_DAYS[1] + 1))
        target = int(rng.integers(0, len(CAMPAIGN_TARGETS)))
        if config.campaign_effect <= 0:
            continue
        span = np.arange(start, min(start + length, n_days))
        lift = 1 + config.campaign_effect * (1 - 0.5 * (span - start) / length)
        street_m[span, street] = np.maximum(street_m[span, street], lift)
        street_which[span, street] = target
        events.append({C.STREET_ID: str(grid["street_ids"][street]),
                       "start": str(day_list[start]), "end": str(day_list[span[-1]]),
                       "target": f"law_enforcement.{CAMPAIGN_TARGETS[target]}"})
    events.sort(key=lambda e: (e["start"], e[C.STREET_ID]))
    subs = list(C.SUB_CATEGORIES["law_enforcement"])
    mixes = np.eye(len(subs))[[subs.index(t) for t in CAMPAIGN_TARGETS]]
    multiplier = street_m[:, grid["street"]]
    return {"multiplier": multiplier, "share": 1 - 1 / multiplier,
            "which": street_which[:, grid["street"]], "mixes": mixes}, events
