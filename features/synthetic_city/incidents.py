"""Incidents day by day: static streams, self-exciting disputes with their backlog, handling."""

from __future__ import annotations

import numpy as np

from features.synthetic_city.config import CityConfig
from features.synthetic_city.rates import BASE_RATE, REFERENCE, covariate_factor, enterprise_factor
from features.synthetic_city.sampling import draw_rows, expand
from riskgrid import vocabulary as C

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
YEAR_DAYS = 364  # the local surge compares the last week with the last year's weekly mean
SURGE_MIN_DAYS = 28  # before four weeks of history, no surge
MAX_GROUP_SHARE = 0.5
GROUP_MIN_PEOPLE = 5


def static_events(family: str, grid: dict[str, np.ndarray], effects: dict[str, np.ndarray],
                  multiplier: np.ndarray, config: CityConfig,
                  rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Law-enforcement or livelihood events: intensity, true and reported counts (day x grid).

    ``multiplier`` (day x grid) carries the regimes, trends and shocks of ``dynamics``.
    """
    per_grid = BASE_RATE[family] * grid["pop_k"]
    if family == "law_enforcement":
        per_grid = per_grid * covariate_factor(grid, config)
    intensity = effects[family][:, None] * per_grid[None, :] * multiplier
    true = rng.poisson(intensity)
    share = REPORT_SHARE[family] if config.under_reporting else 1.0
    return {"intensity": intensity, "true": true, "reported": rng.binomial(true, share)}


def simulate_disputes(grid: dict[str, np.ndarray], effects: dict[str, np.ndarray],
                      multiplier: np.ndarray, config: CityConfig,
                      rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Disputes day by day: covariates, dynamics, wage season, neighbour spread, the growing
    backlog, and the disputes that draw a crowd (5+ people: group incidents).

    Returns day x grid arrays (intensity, true, backlog at the start of each day, and the
    expected and true group incidents) and the reported disputes (day, grid, wage and group
    flags, reporting lag and days to close). Group incidents are always reported.
    """
    n_days, n = len(effects["day"]), len(grid["pop_k"])
    core = (BASE_RATE["dispute"] * grid["pop_k"] * covariate_factor(grid, config)
            * np.exp(config.key_person_effect * (grid["key_per_1000"] - REFERENCE["key_per_1000"])))
    mu_core = effects["dispute"][:, None] * core[None, :] * multiplier
    wage = BASE_RATE["wage_arrears"] * grid["pop_k"] * enterprise_factor(grid, config)
    mu_wage = (effects["wage_arrears"] * effects["wage_season"])[:, None] * wage[None, :]
    mu_wage = mu_wage * multiplier
    true = np.zeros((n_days, n), dtype=np.int64)
    intensity, backlog = np.zeros((n_days, n)), np.zeros((n_days, n), dtype=np.int32)
    group_intensity, group_true = np.zeros((n_days, n)), np.zeros((n_days, n), dtype=np.int64)
    delta = np.zeros((n_days + 64, n), dtype=np.int32)
    window, year = np.zeros(n + 1), np.zeros(n + 1)
    open_late = np.zeros(n, dtype=np.int32)
    block = np.c_[np.arange(n), grid["neighbours"]]  # each grid and its neighbours
    share = REPORT_SHARE["dispute"] if config.under_reporting else 1.0
    reported = []
    for t in range(n_days):
        open_late += delta[t]
        backlog[t] = open_late
        spread = config.neighbour_spread / 7 * window[grid["neighbours"]].sum(axis=1)
        lam_core = mu_core[t] + spread
        n_core, n_wage = rng.poisson(lam_core), rng.poisson(mu_wage[t])
        p_core, p_wage = _group_probability(t, window, year, backlog[t], block, effects,
                                             config)
        g_core, g_wage = rng.binomial(n_core, p_core), rng.binomial(n_wage, p_wage)
        intensity[t] = lam_core + mu_wage[t]
        group_intensity[t] = lam_core * p_core + mu_wage[t] * p_wage
        true[t] = n_core + n_wage
        group_true[t] = g_core + g_wage
        window[:n] += true[t] - (true[t - 7] if t >= 7 else 0)
        year[:n] += true[t] - (true[t - YEAR_DAYS] if t >= YEAR_DAYS else 0)
        reported.append(_report_disputes(t, (n_core, n_wage), (g_core, g_wage), share,
                                         grid["load"], config, delta, rng))
    records = {k: np.concatenate([r[k] for r in reported]) for k in reported[0]}
    return {"intensity": intensity, "true": true, "backlog": backlog, "reported": records,
            "group_intensity": group_intensity, "group_true": group_true}


def _group_probability(t: int, window: np.ndarray, year: np.ndarray, backlog: np.ndarray,
                       block: np.ndarray, effects: dict[str, np.ndarray],
                       config: CityConfig) -> tuple[np.ndarray, np.ndarray]:
    """Chance that a dispute of day ``t`` draws 5+ people (ordinary, wage arrears), per grid.

    A small random share, plus a share per open overdue dispute of the grid (backlog), plus a
    share per unit of local surge above 1 (disputes in the grid and its 8 neighbours over the
    last 7 days against their weekly mean over the last year, both plus one); wage-arrears
    disputes add a share that rises towards Spring Festival.
    """
    if t >= SURGE_MIN_DAYS:
        recent = window[block].sum(axis=1)
        usual = year[block].sum(axis=1) * 7 / min(t, YEAR_DAYS)
        surge = (recent + 1) / (usual + 1)
    else:
        surge = np.ones(len(backlog))
    p = (config.group_background + config.group_backlog_effect * backlog
         + config.group_surge_effect * np.maximum(surge - 1, 0))
    wage = p + config.wage_group_share * effects["wage_position"][t]
    return np.minimum(p, MAX_GROUP_SHARE), np.minimum(wage, MAX_GROUP_SHARE)


def _report_disputes(t: int, counts: tuple[np.ndarray, np.ndarray],
                     groups: tuple[np.ndarray, np.ndarray], share: float, load: np.ndarray,
                     config: CityConfig, delta: np.ndarray,
                     rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Thin one day's disputes to the reported ones, draw their handling, and book the backlog.

    Group incidents (5+ people) are always reported; the others with probability ``share``.
    A reported dispute joins its grid's backlog 30 days after its report and leaves it when it
    closes (never, for the share that does not close within the data).
    """
    idx = np.arange(len(load))
    parts = []
    for wage, (n_all, n_group) in enumerate(zip(counts, groups)):
        for group, k in ((False, rng.binomial(n_all - n_group, share)), (True, n_group)):
            parts.append((np.repeat(idx, k), wage, group))
    g = np.concatenate([p[0] for p in parts])
    wage_flag = np.concatenate([np.full(len(p[0]), bool(p[1])) for p in parts])
    group_flag = np.concatenate([np.full(len(p[0]), p[2]) for p in parts])
    lag, delay = _handling(rng, "dispute", load[g], config.officer_load_power)
    join = t + np.ceil(lag + 30).astype(int)
    late = (delay > 30) & (join < len(delta))
    np.add.at(delta, (join[late], g[late]), 1)
    leave = np.ceil(t + lag + delay)
    ends = late & (leave < len(delta))
    np.add.at(delta, (leave[ends].astype(int), g[ends]), -1)
    return {"day": np.full(len(g), t), "grid": g, "wage": wage_flag, "group": group_flag,
            "lag": lag, "delay": delay}


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
                     shift: dict[str, tuple], grid: dict[str, np.ndarray], config: CityConfig,
                     rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Every reported incident: day, grid, category, people, reporting lag, days to close.

    ``shift`` (from ``dynamics``) moves the sub-category mix of the events a shock added:
    utilities in a heat wave, the campaign's target in a street campaign.
    """
    parts = []
    for family, events in static.items():
        day, g = expand(events["reported"])
        category = _category_index(family, _draw_subs(family, day, g, shift.get(family), rng))
        lag, delay = _handling(rng, family, grid["load"][g], config.officer_load_power)
        parts.append({"day": day, "grid": g, "category": category, "lag": lag, "delay": delay,
                      "group": np.zeros(len(g), bool)})
    rep = disputes["reported"]
    subs = _draw_subs("dispute", rep["day"], rep["grid"], None, rng)
    wage_sub = list(C.SUB_CATEGORIES["dispute"]).index("wage_arrears")
    parts.append({"day": rep["day"], "grid": rep["grid"], "group": rep["group"],
                  "lag": np.where(rep["group"], np.minimum(rep["lag"], 0.1), rep["lag"]),
                  "delay": rep["delay"],
                  "category": _category_index("dispute", np.where(rep["wage"], wage_sub, subs))})
    lag, delay = _handling(rng, "dispute", grid["load"][mass["grid"]], config.officer_load_power)
    parts.append({"day": mass["day"], "grid": mass["grid"], "category": mass["category"],
                  "lag": np.minimum(lag, 0.1), "delay": delay,
                  "group": np.ones(len(mass["day"]), bool)})
    records = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    records["people"] = _people_involved(records["category"], records["group"], rng)
    records["people"][len(records["day"]) - len(mass["day"]):] = mass["people"]
    del records["group"]
    return records


def _draw_subs(family: str, day: np.ndarray, g: np.ndarray, shift: tuple | None,
               rng: np.random.Generator) -> np.ndarray:
    """Sub-category of each event: the family's mix, or a shock's mix for the share it added."""
    base = _sub_probs(family)
    if shift is None:
        return draw_rows(rng, np.broadcast_to(base, (len(g), len(base))))
    share, which, mixes = shift
    s = share[day, g][:, None]
    return draw_rows(rng, (1 - s) * base[None, :] + s * mixes[which[day, g]])


def _people_involved(category: np.ndarray, group: np.ndarray,
                     rng: np.random.Generator) -> np.ndarray:
    """People involved: 1-4 for an ordinary incident, 5 or more for a group incident."""
    family = np.array([C.family_of(c) for c in C.CATEGORIES])[category]
    n = len(category)
    wage = category == C.CATEGORIES.index("dispute.wage_arrears")
    police = np.isin(category, [C.CATEGORIES.index(f"law_enforcement.{s}") for s in POLICE_SUBS])
    ordinary = np.select([wage, family == "dispute", police, family == "law_enforcement"],
                         [1 + rng.poisson(1.5, n), 2 + rng.poisson(0.5, n),
                          1 + rng.poisson(0.5, n), 1 + rng.poisson(0.15, n)], default=1)
    crowd = GROUP_MIN_PEOPLE + rng.negative_binomial(1.5, 0.25, n)
    return np.where(group, crowd, np.minimum(ordinary, GROUP_MIN_PEOPLE - 1))
