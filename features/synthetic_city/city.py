"""Assembles the city: independent random streams and the order the mechanisms feed each other."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.synthetic_city.areas import build_areas
from features.synthetic_city.config import CityConfig
from features.synthetic_city.dirt import add_dirt
from features.synthetic_city.dynamics import rate_dynamics
from features.synthetic_city.faults import plant
from features.synthetic_city.incidents import incident_records, simulate_disputes, static_events
from features.synthetic_city.petitioners import draw_petitioners
from features.synthetic_city.petitions import simulate_petitions
from features.synthetic_city.rates import calendar_effects, grid_arrays
from features.synthetic_city.registers import incident_export, petition_export
from features.synthetic_city.truth import drivers, episode_table, weekly_truth


@dataclass(frozen=True)
class SyntheticCity:
    """What :func:`synthesize_city` returns: the exports as written, and the ground truth.

    ``incidents`` and ``petitions`` carry the export's Chinese headers and text values (dirt
    included); ``export_dirt`` lists the rows planted as dirt (file, row, id, kind) and
    ``episodes`` the grievance episodes (grid, start, end, topic, whether they culminated);
    ``faults`` the data faults planted in the exports (empty unless the config asks for some).
    """

    config: CityConfig
    areas: pd.DataFrame
    incidents: pd.DataFrame
    petitions: pd.DataFrame
    intensity: pd.DataFrame
    drivers: list[dict]
    export_dirt: pd.DataFrame = field(default_factory=pd.DataFrame)
    episodes: pd.DataFrame = field(default_factory=pd.DataFrame)
    faults: pd.DataFrame = field(default_factory=pd.DataFrame)


def synthesize_city(config: CityConfig | None = None) -> SyntheticCity:
    """Generate the whole city from ``config`` (pure: same config, same frames)."""
    config = config or CityConfig()
    rng = _streams(config.seed)
    areas = build_areas(config, rng["areas"])
    grid = grid_arrays(areas)
    effects = calendar_effects(config)
    dynamics = rate_dynamics(grid, effects["day"], config, rng["dynamics"])
    moves = dynamics["multiplier"]
    static = {f: static_events(f, grid, effects, moves[f], config, rng[f])
              for f in ("law_enforcement", "livelihood")}
    disputes = simulate_disputes(grid, effects, moves["dispute"], config, rng["dispute"])
    petitions = simulate_petitions(grid, effects, disputes["backlog"], config, rng["petitions"])
    records = incident_records(static, disputes, petitions["mass"], dynamics["shift"], grid,
                               config, rng["handling"])
    incidents = incident_export(records, areas, config, rng["export"])
    people = draw_petitioners(petitions["person_grid"], grid, rng["people"])
    petition_frame = petition_export(petitions["records"], people, areas, config, rng["export"])
    faults = pd.DataFrame()
    if config.faults:
        incidents, petition_frame, faults = plant(incidents, petition_frame, areas,
                                                  config.faults)
    incidents, petition_frame, dirt = add_dirt(incidents, petition_frame, config, rng["dirt"])
    truth = weekly_truth(static, disputes, petitions, areas, config)
    episodes = episode_table(petitions["episodes"], areas, config)
    return SyntheticCity(config, areas, incidents, petition_frame, truth,
                         drivers(config, dynamics["events"]), dirt, episodes, faults)


def _streams(seed: int) -> dict[str, np.random.Generator]:
    """Independent random streams, so switching one mechanism off leaves the others' draws."""
    names = ("areas", "law_enforcement", "livelihood", "dispute", "petitions", "handling",
             "people", "export", "dirt", "dynamics")
    children = np.random.SeedSequence(seed).spawn(len(names))
    return {n: np.random.default_rng(s) for n, s in zip(names, children)}
