"""Petitions: background filings lifted by the backlog, and grievance episodes (weak signals)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.synthetic_city.config import CityConfig
from features.synthetic_city.rates import BASE_RATE, enterprise_factor
from features.synthetic_city.sampling import draw_rows, expand
from riskgrid import vocabulary as C

EPISODE_TOPICS = ("wage_arrears", "land_demolition", "housing", "environment")
MASS_DISPUTE = {"wage_arrears": "dispute.wage_arrears",
                "land_demolition": "dispute.land_demolition", "housing": "dispute.property",
                "environment": "dispute.other"}
TOPICS = tuple(C.PETITION_TOPICS)
# Background topic weights (wage arrears has its own, enterprise-driven rate).
TOPIC_WEIGHTS = {"land_demolition": 0.12, "housing": 0.15, "environment": 0.10,
                 "social_security": 0.25, "litigation": 0.20, "other": 0.18}


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def _escalation(rng: np.random.Generator, logit: np.ndarray) -> np.ndarray:
    """0 (proper level) or 1-3 (to the city, the province, Beijing) for each petition."""
    escalated = rng.random(len(logit)) < _sigmoid(logit)
    level = rng.choice([1, 2, 3], size=len(logit), p=[0.7, 0.25, 0.05])
    return np.where(escalated, level, 0)


def simulate_petitions(grid: dict[str, np.ndarray], effects: dict[str, np.ndarray],
                       backlog: np.ndarray, config: CityConfig,
                       rng: np.random.Generator) -> dict:
    """Background petitions (raised by the dispute backlog) and grievance episodes."""
    n_days, n = backlog.shape
    lift = (1 + backlog) ** config.backlog_effect
    calendar = effects["petitions"][:, None] * lift
    other = BASE_RATE["petitions"] * grid["pop_k"]
    wage = BASE_RATE["wage_petitions"] * grid["pop_k"] * enterprise_factor(grid, config)
    lam_other = calendar * other[None, :]
    lam_wage = calendar * effects["wage_season"][:, None] * wage[None, :]
    pool = 1 + rng.poisson(1.0, n)
    background = _background_petitions(rng.poisson(lam_other), rng.poisson(lam_wage), grid,
                                       backlog, pool, config, rng)
    fresh = background.pop("fresh")
    episodes = _episodes(grid, effects, backlog, int(pool.sum() + fresh.sum()), config, rng)
    records = {k: np.concatenate([background[k], episodes["records"][k]]) for k in background}
    observed = np.zeros((n_days, n), dtype=np.int64)
    np.add.at(observed, (records["day"], records["grid"]), 1)
    collective = np.zeros((n_days, n), dtype=np.int64)
    is_collective = records["kind"] == 2
    np.add.at(collective, (records["day"][is_collective], records["grid"][is_collective]), 1)
    person_grid = np.concatenate([np.repeat(np.arange(n), pool), background["grid"][fresh],
                                  episodes["member_grid"]])
    return {"records": records, "intensity": lam_other + lam_wage + episodes["intensity"],
            "observed": observed, "mass": episodes["mass"], "person_grid": person_grid,
            "episodes": episodes["table"], "culmination": episodes["culmination"],
            "collective": collective}


def _background_petitions(other: np.ndarray, wage: np.ndarray, grid: dict[str, np.ndarray],
                          backlog: np.ndarray, pool: np.ndarray, config: CityConfig,
                          rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Single or small-group petitions; a fifth come from the grid's habitual petitioners."""
    d1, g1 = expand(other)
    d2, g2 = expand(wage)
    day, g = np.concatenate([d1, d2]), np.concatenate([g1, g2])
    weights = np.array([[TOPIC_WEIGHTS.get(t, 0.0) for t in TOPICS]] * len(grid["urban"]))
    weights[:, TOPICS.index("housing")] *= np.where(grid["urban"], 1.5, 0.5)
    weights[:, TOPICS.index("land_demolition")] *= np.where(grid["urban"], 0.5, 2.5)
    topic = np.concatenate([draw_rows(rng, weights[g1]),
                            np.full(len(g2), TOPICS.index("wage_arrears"))])
    habitual = rng.random(len(g)) < 0.2
    starts = np.concatenate([[0], np.cumsum(pool)[:-1]])
    fresh = ~habitual
    person = starts[g] + (rng.random(len(g)) * pool[g]).astype(int)
    person[fresh] = pool.sum() + np.arange(fresh.sum())
    count = np.where(rng.random(len(g)) < 0.08, rng.integers(2, 5, len(g)), 1)
    logit = -2.8 + config.backlog_escalation * np.log1p(backlog[day, g])
    return {"day": day, "grid": g, "topic": topic, "person": person, "count": count,
            "escalation": _escalation(rng, logit), "kind": np.zeros(len(g), int),
            "fresh": fresh}


def _episodes(grid: dict[str, np.ndarray], effects: dict[str, np.ndarray], backlog: np.ndarray,
              first_person: int, config: CityConfig, rng: np.random.Generator) -> dict:
    """Grievance episodes: a small group files rising repeat petitions for 3-8 weeks; some end
    in a collective petition and a mass dispute, the rest fade."""
    n_days, _n = backlog.shape
    rate = (config.episodes_per_grid_year / 365 * enterprise_factor(grid, config)[None, :]
            * (1 + backlog) ** config.backlog_effect)
    start, g = expand(rng.poisson(rate))
    m = len(g)
    duration = rng.integers(21, 57, m)
    members = rng.integers(2, 5, m)
    peak_day = np.minimum(start + duration, n_days - 1)
    ent = enterprise_factor(grid, config)[g]
    weights = np.stack([ent * effects["wage_season"][peak_day],
                        np.where(grid["urban"][g], 0.4, 1.5),
                        np.where(grid["urban"][g], 1.0, 0.3), 0.4 * np.sqrt(ent)], axis=1)
    topic = np.array([TOPICS.index(t) for t in EPISODE_TOPICS])[draw_rows(rng, weights)]
    culminates = rng.random(m) < config.collective_share
    first = first_person + np.cumsum(members) - members
    table = {"start": start, "grid": g, "duration": duration, "members": members,
             "topic": topic, "culminates": culminates, "first_person": first}
    repeat, intensity = _episode_petitions(table, effects, backlog, config, rng)
    collective, mass = _collective(table, backlog, config, rng)
    # the culmination's expectation: each episode's end day, with its probability
    culmination = np.zeros(backlog.shape)
    ends = start + duration < n_days
    np.add.at(culmination, (start[ends] + duration[ends], g[ends]), config.collective_share)
    records = {k: np.concatenate([repeat[k], collective[k]]) for k in repeat}
    return {"records": records, "intensity": intensity + culmination, "mass": mass,
            "culmination": culmination, "member_grid": np.repeat(g, members),
            "table": pd.DataFrame(table)}


def _episode_petitions(table: dict[str, np.ndarray], effects: dict[str, np.ndarray],
                       backlog: np.ndarray, config: CityConfig,
                       rng: np.random.Generator) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Repeat petitions of each episode's group, their rate rising ``episode_rise``-fold."""
    n_days = backlog.shape[0]
    duration = table["duration"][:, None]
    tau = np.arange(int(duration.max(initial=1)))[None, :]
    day = table["start"][:, None] + tau
    valid = (tau < duration) & (day < n_days)
    c = np.log(config.episode_rise)
    r0 = config.episode_petitions * c / (duration * (config.episode_rise - 1))
    rate = r0 * np.exp(c * tau / duration) * effects["petitions"][np.minimum(day, n_days - 1)]
    rate = np.where(valid, rate, 0.0)
    intensity = np.zeros(backlog.shape)
    e_idx, t_idx = np.nonzero(valid)
    np.add.at(intensity, (day[e_idx, t_idx], table["grid"][e_idx]), rate[e_idx, t_idx])
    e, k = expand(rng.poisson(rate))
    d, g = table["start"][e] + k, table["grid"][e]
    members = table["members"][e]
    # the first member leads: half the group's petitions are theirs
    leader = rng.random(len(e)) < 0.5
    person = table["first_person"][e] + np.where(leader, 0, (rng.random(len(e))
                                                             * members).astype(int))
    logit = (-2.8 + 2.0 * k / table["duration"][e]
             + config.backlog_escalation * np.log1p(backlog[d, g]))
    return {"day": d, "grid": g, "topic": table["topic"][e], "person": person,
            "count": 1 + rng.binomial(members - 1, 0.3), "escalation": _escalation(rng, logit),
            "kind": np.ones(len(e), int)}, intensity


def _collective(table: dict[str, np.ndarray], backlog: np.ndarray, config: CityConfig,
                rng: np.random.Generator) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The culmination: a collective petition (5+ people) and a mass dispute the same day."""
    day = table["start"] + table["duration"]
    done = table["culminates"] & (day < backlog.shape[0])
    d, g, topic = day[done], table["grid"][done], table["topic"][done]
    people = 5 + rng.negative_binomial(2, 0.15, len(d))
    person = table["first_person"][done]  # the group's leader speaks for the crowd
    logit = 0.2 + config.backlog_escalation * np.log1p(backlog[d, g])
    petitions = {"day": d, "grid": g, "topic": topic, "person": person, "count": people,
                 "escalation": _escalation(rng, logit), "kind": np.full(len(d), 2)}
    category = np.array([C.CATEGORIES.index(MASS_DISPUTE[TOPICS[t]]) for t in topic], dtype=int)
    mass = {"day": d, "grid": g, "category": category,
            "people": np.maximum(5, people + rng.integers(-2, 9, len(d)))}
    return petitions, mass

