"""Incidents day by day: static streams, self-exciting disputes with their backlog, handling."""

from __future__ import annotations

import numpy as np

from features import columns as C
from features.synthetic_city.config import CityConfig
from features.synthetic_city.rates import BASE_RATE, REFERENCE, covariate_factor, enterprise_factor
from features.synthetic_city.sampling import expand

REPORT_SHARE = {"law_enforcement": 0.85, "livelihood": 0.90, "dispute": 0.80}
# family: (median days to close, slow share and never-close share per unit of officer load)
HANDLING = {"law_enforcement": (2.5, 0.010, 0.003), "livelihood": (1.5, 0.008, 0.002),
            "dispute": (4.0, 0.030, 0.008)}
SUB_MIX = {
    "law_enforcement": {"illegal_construction": 0.10, "street_vending": 0.20, "pollution": 0.07,
                        "noise": 0.15, "public_security": 0.12, "fire_hazard": 0.06,
                        "traffic": 0.12, "vehicle_theft": 0.03, "burglary": 0.04,
                        "street_crime": 0.03, "other": 0.08},
    "livelihood": {"utilities": 0.25, "property_service": 0.22, "road_facilities": 0.15,
                   "sanitation": 0.20, "social_assistance": 0.08, "other": 0.10},
    "dispute": {"neighbour": 0.33, "family": 0.20, "land_demolition": 0.07, "property": 0.18,
                "consumer": 0.12, "other": 0.10},
}
POLICE_SUBS = ("public_security", "vehicle_theft", "burglary", "street_crime")


def static_events(family: str, grid: dict[str, np.ndarray], effects: dict[str, np.ndarray],
                  config: CityConfig, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Law-enforcement or livelihood events: intensity, true and reported counts (day x grid)."""
    per_grid = BASE_RATE[family] * grid["pop_k"]
    if family == "law_enforcement":
        per_grid = per_grid * covariate_factor(grid, config)
    intensity = effects[family][:, None] * per_grid[None, :]
    true = rng.poisson(intensity)
    share = REPORT_SHARE[family] if config.under_reporting else 1.0
    return {"intensity": intensity, "true": true, "reported": rng.binomial(true, share)}


def simulate_disputes(grid: dict[str, np.ndarray], effects: dict[str, np.ndarray],
                      config: CityConfig, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Disputes day by day: covariates, wage season, neighbour spread and the growing backlog.

    Returns day x grid arrays (intensity, true and backlog at the start of each day) and the
    reported disputes (day, grid, wage flag, reporting lag and days to close).
    """
    n_days, n = len(effects["day"]), len(grid["pop_k"])
    core = (BASE_RATE["dispute"] * grid["pop_k"] * covariate_factor(grid, config)
            * np.exp(config.key_person_effect * (grid["key_per_1000"] - REFERENCE["key_per_1000"])))
    mu_core = effects["dispute"][:, None] * core[None, :]
    wage = BASE_RATE["wage_arrears"] * grid["pop_k"] * enterprise_factor(grid, config)
    mu_wage = (effects["wage_arrears"] * effects["wage_season"])[:, None] * wage[None, :]
    true = np.zeros((n_days, n), dtype=np.int64)
    intensity, backlog = np.zeros((n_days, n)), np.zeros((n_days, n), dtype=np.int32)
    delta = np.zeros((n_days + 64, n), dtype=np.int32)
    window, open_late = np.zeros(n + 1), np.zeros(n, dtype=np.int32)
    share = REPORT_SHARE["dispute"] if config.under_reporting else 1.0
    reported = []
    for t in range(n_days):
        open_late += delta[t]
        backlog[t] = open_late
        spread = config.neighbour_spread / 7 * window[grid["neighbours"]].sum(axis=1)
        lam_core = mu_core[t] + spread
        n_core, n_wage = rng.poisson(lam_core), rng.poisson(mu_wage[t])
        intensity[t] = lam_core + mu_wage[t]
        true[t] = n_core + n_wage
        window[:n] += true[t] - (true[t - 7] if t >= 7 else 0)
        reported.append(_report_disputes(t, n_core, n_wage, share, grid["load"], config, delta,
                                         rng))
    records = {k: np.concatenate([r[k] for r in reported]) for k in reported[0]}
    return {"intensity": intensity, "true": true, "backlog": backlog, "reported": records}


def _report_disputes(t: int, n_core: np.ndarray, n_wage: np.ndarray, share: float,
                     load: np.ndarray, config: CityConfig, delta: np.ndarray,
                     rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Thin one day's disputes to the reported ones, draw their handling, and book the backlog.

    A reported dispute joins its grid's backlog 30 days after its report and leaves it when it
    closes (never, for the share that does not close within the data).
    """
    r_core, r_wage = rng.binomial(n_core, share), rng.binomial(n_wage, share)
    idx = np.arange(len(n_core))
    g = np.concatenate([np.repeat(idx, r_core), np.repeat(idx, r_wage)])
    lag, delay = _handling(rng, "dispute", load[g], config.officer_load_power)
    join = t + np.ceil(lag + 30).astype(int)
    late = (delay > 30) & (join < len(delta))
    np.add.at(delta, (join[late], g[late]), 1)
    leave = np.ceil(t + lag + delay)
    ends = late & (leave < len(delta))
    np.add.at(delta, (leave[ends].astype(int), g[ends]), -1)
    wage_flag = np.concatenate([np.zeros(r_core.sum(), bool), np.ones(r_wage.sum(), bool)])
    return {"day": np.full(len(g), t), "grid": g, "wage": wage_flag, "lag": lag, "delay": delay}


def _handling(rng: np.random.Generator, family: str, load: np.ndarray,
              power: float) -> tuple[np.ndarray, np.ndarray]:
    """Reporting lag and days from report to close (inf: never closes) of each incident.

    Lag: 89% within hours, 10% 1-7 days, 1% 2-6 weeks. Closing: log-normal around the
    family's median, slower where each grid officer serves more residents; a slow share
    (30-240 days) and a never-closing share grow with the officer load.
    """
    n = len(load)
    u = rng.random(n)
    lag = np.where(u < 0.89, np.minimum(rng.exponential(1.5 / 24, n), 0.5),
                   np.where(u < 0.99, rng.uniform(1, 7, n), rng.uniform(14, 42, n)))
    median, slow_base, never_base = HANDLING[family]
    delay = np.exp(rng.normal(np.log(median * np.sqrt(load)), 1.0))
    v = rng.random(n)
    p_never = np.clip(never_base * load**power, 0, 0.5)
    p_slow = np.clip(slow_base * load, 0, 0.5)
    delay = np.where(v < p_slow + p_never, rng.uniform(30, 240, n), delay)
    delay = np.where(v < p_never, np.inf, delay)
    return lag, np.maximum(delay, 0.02)


def _sub_probs(family: str) -> np.ndarray:
    mix = SUB_MIX[family]
    return np.array([mix.get(sub, 0.0) for sub in C.SUB_CATEGORIES[family]])


def _category_index(family: str, subs: np.ndarray) -> np.ndarray:
    first = C.CATEGORIES.index(f"{family}.{next(iter(C.SUB_CATEGORIES[family]))}")
    return first + subs


def incident_records(static: dict[str, dict], disputes: dict, mass: dict[str, np.ndarray],
                     grid: dict[str, np.ndarray], config: CityConfig,
                     rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Every reported incident: day, grid, category, people, reporting lag, days to close."""
    parts = []
    for family, events in static.items():
        day, g = expand(events["reported"])
        category = _category_index(family, rng.choice(len(_sub_probs(family)), len(g),
                                                      p=_sub_probs(family)))
        lag, delay = _handling(rng, family, grid["load"][g], config.officer_load_power)
        parts.append({"day": day, "grid": g, "category": category, "lag": lag, "delay": delay})
    rep = disputes["reported"]
    subs = rng.choice(len(_sub_probs("dispute")), len(rep["grid"]), p=_sub_probs("dispute"))
    wage_sub = list(C.SUB_CATEGORIES["dispute"]).index("wage_arrears")
    parts.append({"day": rep["day"], "grid": rep["grid"], "lag": rep["lag"],
                  "delay": rep["delay"],
                  "category": _category_index("dispute", np.where(rep["wage"], wage_sub, subs))})
    lag, delay = _handling(rng, "dispute", grid["load"][mass["grid"]], config.officer_load_power)
    parts.append({"day": mass["day"], "grid": mass["grid"], "category": mass["category"],
                  "lag": np.minimum(lag, 0.1), "delay": delay})
    records = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    records["people"] = _people_involved(records["category"], rng)
    records["people"][len(records["day"]) - len(mass["day"]):] = mass["people"]
    return records


def _people_involved(category: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    family = np.array([C.family_of(c) for c in C.CATEGORIES])[category]
    n = len(category)
    wage = category == C.CATEGORIES.index("dispute.wage_arrears")
    police = np.isin(category, [C.CATEGORIES.index(f"law_enforcement.{s}") for s in POLICE_SUBS])
    extra = np.select([wage, family == "dispute", police, family == "law_enforcement"],
                      [1 + rng.poisson(1.5, n), 2 + rng.poisson(0.5, n), 1 + rng.poisson(0.5, n),
                       1 + rng.poisson(0.15, n)], default=1)
    return extra

