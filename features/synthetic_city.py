"""The synthetic city: seeded exports of a 600-grid city with planted, documented mechanisms.

:func:`synthesize_city` is pure (config in, DataFrames out); :func:`write_city` writes the files a
real city would hand over (GB18030 CSV with Chinese headers, JSON Lines petitions with personal
fields, a grid table) plus the ground truth. docs/synthetic_city.md describes every mechanism.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from features import columns as C
from features.calendar import WAGE_SEASON_DAYS, daily_calendar

__all__ = ["CityConfig", "SyntheticCity", "build_areas", "drivers", "synthesize_city",
           "write_city"]

CELL_METRES = 500.0
ORIGIN = (500_000.0, 3_500_000.0)
DAY = 86_400
TRUTH_FAMILIES = ("law_enforcement", "livelihood", "dispute", "petitions")
EPISODE_TOPICS = ("wage_arrears", "land_demolition", "housing", "environment")

# Daily rate per 1,000 residents at the reference covariates, on an ordinary workday, before
# the annual cycle (calibrated to ~70,000 reported incidents and ~4,500 petitions a year).
BASE_RATE = {"law_enforcement": 0.058, "livelihood": 0.050, "dispute": 0.014,
             "wage_arrears": 0.0022, "petitions": 0.0050, "wage_petitions": 0.0008}
# family: (annual amplitude, peak day of year, weekend/holiday, Spring Festival break,
# National Day week); the last three are rate multipliers.
CALENDAR = {
    "law_enforcement": (0.20, 200, 0.75, 0.55, 0.70),
    "livelihood": (0.15, 20, 0.60, 0.45, 0.60),
    "dispute": (0.10, 180, 0.85, 1.00, 0.90),
    "wage_arrears": (0.00, 0, 0.85, 0.30, 0.90),
    "petitions": (0.00, 0, 0.25, 0.20, 0.30),
}
REFERENCE = {"floating_share": 0.2, "rentals_per_household": 0.25, "enterprises": 15.0,
             "key_per_1000": 3.0}
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
CHANNEL_MIX = {  # hotline_12345, grid_officer, city_management, police, online
    "law_enforcement": (0.20, 0.10, 0.40, 0.25, 0.05),
    "livelihood": (0.60, 0.20, 0.05, 0.00, 0.15),
    "dispute": (0.30, 0.45, 0.00, 0.15, 0.10),
    "police": (0.10, 0.00, 0.00, 0.85, 0.05),
}
HOURS = {  # relative frequency of each hour of the day
    "law_enforcement": [2, 1, 1, 1, 1, 2, 4, 7, 9, 10, 10, 9, 8, 9, 10, 10, 9, 8, 8, 9, 10, 9,
                        6, 3],
    "livelihood": [1, 1, 1, 1, 1, 2, 4, 8, 11, 12, 11, 9, 7, 9, 10, 10, 9, 8, 6, 5, 4, 3, 2, 1],
    "dispute": [2, 1, 1, 1, 1, 1, 2, 4, 6, 8, 9, 9, 8, 8, 9, 9, 9, 9, 10, 11, 10, 8, 5, 3],
}
MASS_DISPUTE = {"wage_arrears": "dispute.wage_arrears",
                "land_demolition": "dispute.land_demolition", "housing": "dispute.property",
                "environment": "dispute.other"}
PETITION_STATUS_ZH = {"open": "未办结", "in_progress": "办理中", "closed": "已办结"}
INCIDENT_STATUS_ZH = {"reported": "已上报", "dispatched": "已派遣", "handled": "已处置",
                      "closed": "已办结"}


@dataclass(frozen=True)
class CityConfig:
    """The city's size, its time span and the strength of every planted mechanism."""

    seed: int = 7
    n_districts: int = 3
    streets_per_district: int = 4
    communities_per_street: int = 5
    grids_per_community: int = 10
    start: date = date(2022, 1, 3)
    end: date = date(2025, 12, 28)
    export_date: date = date(2026, 1, 5)
    # 1. calendar: scales the annual amplitudes / the log of the holiday multipliers
    seasonality: float = 1.0
    holiday_effect: float = 1.0
    # 2. grid covariates (log-rate coefficients; enterprises: elasticity of (1 + enterprises))
    floating_share_effect: float = 2.0
    rental_effect: float = 1.2
    enterprise_effect: float = 0.8
    key_person_effect: float = 0.05
    # 3. near-repeat: each dispute adds this / 7 to each neighbour's daily rate for 7 days
    neighbour_spread: float = 0.05
    # 4. backlog: elasticity of petitions and episode starts in (1 + open overdue disputes),
    # log-odds of escalation per log(1 + backlog), and how officer load drives the backlog
    backlog_effect: float = 0.5
    backlog_escalation: float = 0.6
    officer_load_power: float = 1.5
    # 5. grievance episodes (weak signals before collective petitions)
    episodes_per_grid_year: float = 0.085
    episode_petitions: float = 10.0
    episode_rise: float = 8.0
    collective_share: float = 0.45
    # 6. wage-arrears season: rate multiplier reaches 1 + this on the eve of Spring Festival
    wage_season_peak: float = 3.0
    # 7-8. reporting noise and export dirt
    under_reporting: bool = True
    duplicate_share: float = 0.002
    dirty_rows: bool = True

    @property
    def n_grids(self) -> int:
        return (self.n_districts * self.streets_per_district * self.communities_per_street
                * self.grids_per_community)


@dataclass(frozen=True)
class SyntheticCity:
    """What :func:`synthesize_city` returns: the exports as written, and the ground truth.

    ``incidents`` and ``petitions`` carry the export's Chinese headers and text values (dirt
    included); ``export_dirt`` lists the rows planted as dirt (file, row, id, kind) and
    ``episodes`` the grievance episodes (grid, start, end, topic, whether they culminated).
    """

    config: CityConfig
    areas: pd.DataFrame
    incidents: pd.DataFrame
    petitions: pd.DataFrame
    intensity: pd.DataFrame
    drivers: list[dict]
    export_dirt: pd.DataFrame = field(default_factory=pd.DataFrame)
    episodes: pd.DataFrame = field(default_factory=pd.DataFrame)


def synthesize_city(config: CityConfig | None = None) -> SyntheticCity:
    """Generate the whole city from ``config`` (pure: same config, same frames)."""
    config = config or CityConfig()
    rng = _streams(config.seed)
    areas = build_areas(config, rng["areas"])
    grid = _grid_arrays(areas)
    effects = _calendar_effects(config)
    static = {f: _static_events(f, grid, effects, config, rng[f])
              for f in ("law_enforcement", "livelihood")}
    disputes = _simulate_disputes(grid, effects, config, rng["dispute"])
    petitions = _simulate_petitions(grid, effects, disputes["backlog"], config, rng["petitions"])
    records = _incident_records(static, disputes, petitions["mass"], grid, config,
                                rng["handling"])
    incidents = _incident_export(records, areas, config, rng["export"])
    people = _people(petitions["person_grid"], grid, rng["people"])
    petition_frame = _petition_export(petitions["records"], people, areas, config,
                                      rng["export"])
    incidents, petition_frame, dirt = _add_dirt(incidents, petition_frame, config, rng["dirt"])
    truth = _truth(static, disputes, petitions, areas, config)
    episodes = _episode_table(petitions["episodes"], areas, config)
    return SyntheticCity(config, areas, incidents, petition_frame, truth, drivers(config), dirt,
                         episodes)


def _streams(seed: int) -> dict[str, np.random.Generator]:
    """Independent random streams, so switching one mechanism off leaves the others' draws."""
    names = ("areas", "law_enforcement", "livelihood", "dispute", "petitions", "handling",
             "people", "export", "dirt")
    children = np.random.SeedSequence(seed).spawn(len(names))
    return {n: np.random.default_rng(s) for n, s in zip(names, children)}


# --- areas ---------------------------------------------------------------------------------

DISTRICT_NAMES = ("鼓楼区", "江都区", "广汉区", "临江区", "青山区", "白云区", "东湖区", "西城区")
DISTRICT_CODES = ("320106", "321012", "510681", "320111", "320115", "320116", "320117",
                  "320118")
STREET_WORDS = ("城东", "城南", "城西", "城北", "中山", "解放", "人民", "新华", "建设", "和平",
                "仙女", "邵伯", "宜陵", "大桥", "丁沟", "小纪", "武坚", "樊川", "真武", "吴桥",
                "浦头", "雒城", "三星", "连山", "向阳", "南丰", "高坪", "金鱼", "西高", "新平")
COMMUNITY_WORDS = (
    "幸福", "和谐", "光明", "阳光", "春晖", "金桥", "翠园", "梅苑", "桂花", "振兴", "龙川",
    "文昌", "锦绣", "东园", "西湖", "南苑", "北门", "花园", "滨江", "丽景", "新河", "长春",
    "永安", "安康", "福寿", "兴隆", "太平", "民主", "团结", "胜利", "红旗", "前进", "东方",
    "朝阳", "旭日", "明珠", "碧水", "青石", "古井", "石桥", "柳营", "杨庄", "李庄", "王庄",
    "张湾", "陈巷", "周家", "沙河", "马桥", "双桥", "荷花", "桃园", "竹林", "松柏", "银杏",
    "凤凰", "白塔", "水乡", "运河", "绿洲", "嘉禾", "康乐", "望江", "临湖", "秀水")


AREA_COLUMNS = [C.AREA_ID, C.AREA_NAME, C.COMMUNITY_ID, C.COMMUNITY_NAME, C.STREET_ID,
                C.STREET_NAME, C.DISTRICT_ID, C.DISTRICT_NAME, *C.AREA_NUMERIC, C.AREA_KM2,
                C.URBAN, C.NEIGHBOURS, C.GEOMETRY]


def build_areas(config: CityConfig, rng: np.random.Generator) -> pd.DataFrame:
    """The grid table: hierarchy, names, base data, neighbours and square geometry."""
    frame = _hierarchy(config, rng)
    col, row = _lattice(config)
    frame = pd.concat([frame, _covariates(frame, rng)], axis=1)
    frame[C.AREA_KM2] = CELL_METRES**2 / 1e6
    neighbours = _neighbour_index(col, row)
    ids = frame[C.AREA_ID].to_numpy()
    frame[C.NEIGHBOURS] = [";".join(ids[n[n >= 0]]) for n in neighbours]
    x0, y0 = ORIGIN[0] + col * CELL_METRES, ORIGIN[1] + row * CELL_METRES
    frame[C.GEOMETRY] = [_square(a, b) for a, b in zip(x0, y0)]
    return frame[AREA_COLUMNS]


def _square(x: float, y: float) -> str:
    x1, y1 = x + CELL_METRES, y + CELL_METRES
    return f"POLYGON (({x:.0f} {y:.0f}, {x1:.0f} {y:.0f}, {x1:.0f} {y1:.0f}, {x:.0f} {y1:.0f}, " \
           f"{x:.0f} {y:.0f}))"


def _levels(config: CityConfig) -> list[int]:
    return [config.grids_per_community, config.communities_per_street,
            config.streets_per_district, config.n_districts]


def _lattice(config: CityConfig) -> tuple[np.ndarray, np.ndarray]:
    """Lattice column and row of every grid; each level is a contiguous block of the one below.

    At each level the children are arranged in the most square block of whole rows, turned so
    the growing block stays close to square (10 grids: 5 x 2; 600 grids: 30 x 20).
    """
    levels = _levels(config)
    flat = np.arange(config.n_grids)
    col, row = np.zeros_like(flat), np.zeros_like(flat)
    width = height = 1
    divisor = 1
    for n in levels:
        k = (flat // divisor) % n
        rows = max(d for d in range(1, int(math.isqrt(n)) + 1) if n % d == 0)
        a, b = n // rows, rows
        turned, kept = (abs(math.log(width * x / (height * y))) for x, y in ((b, a), (a, b)))
        if turned < kept - 1e-9:
            a, b = b, a
        col, row = col + (k % a) * width, row + (k // a) * height
        width, height, divisor = width * a, height * b, divisor * n
    return col, row


def _neighbour_index(col: np.ndarray, row: np.ndarray) -> np.ndarray:
    """Queen neighbours on the lattice: an (n, 8) array of grid indices, -1 where none."""
    lookup = np.full((row.max() + 3, col.max() + 3), -1)
    lookup[row + 1, col + 1] = np.arange(len(col))
    offsets = [(dr, dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1) if (dr, dc) != (0, 0)]
    return np.stack([lookup[row + 1 + dr, col + 1 + dc] for dr, dc in offsets], axis=1)


def _pick(words: tuple[str, ...], n: int, rng: np.random.Generator) -> list[str]:
    """n distinct names from a pool, in random order; two-word names when the pool runs out."""
    pool = list(words) + [a + b for a in words for b in words if a != b]
    first = rng.permutation(len(words)).tolist()
    return [pool[i] for i in first[:n]] + pool[len(words):len(words) + max(0, n - len(words))]


def _hierarchy(config: CityConfig, rng: np.random.Generator) -> pd.DataFrame:
    """Ids and names of every grid's community, street and district; which streets are urban."""
    g, c, s, d = _levels(config)
    flat = np.arange(config.n_grids)
    di, si, ci, gi = flat // (g * c * s), flat // (g * c) % s, flat // g % c, flat % g
    street_no, community_no = flat // (g * c), flat // g
    rural_district = d - 1 if d >= 2 else -1
    # the rural district's first street is the county seat; its other streets are towns
    street_urban = ~((np.arange(d * s) // s == rural_district) & (np.arange(d * s) % s > 0))
    districts = [DISTRICT_NAMES[i] if i < len(DISTRICT_NAMES) else f"第{i + 1}区"
                 for i in range(d)]
    streets = [w + ("街道" if u else "镇")
               for w, u in zip(_pick(STREET_WORDS, d * s, rng), street_urban)]
    communities = [w + ("社区" if street_urban[k // c] else "村")
                   for k, w in enumerate(_pick(COMMUNITY_WORDS, d * s * c, rng))]
    did = np.char.add("D", np.char.zfill((di + 1).astype(str), 2))
    sid = np.char.add(np.char.add(did, "S"), np.char.zfill((si + 1).astype(str), 2))
    cid = np.char.add(np.char.add(sid, "C"), np.char.zfill((ci + 1).astype(str), 2))
    aid = np.char.add(np.char.add(cid, "G"), np.char.zfill((gi + 1).astype(str), 2))
    return pd.DataFrame({
        C.AREA_ID: aid, C.AREA_NAME: [f"{communities[k]}第{i + 1}网格"
                                      for k, i in zip(community_no, gi)],
        C.COMMUNITY_ID: cid, C.COMMUNITY_NAME: [communities[k] for k in community_no],
        C.STREET_ID: sid, C.STREET_NAME: [streets[k] for k in street_no],
        C.DISTRICT_ID: did, C.DISTRICT_NAME: [districts[k] for k in di],
        C.URBAN: street_urban[street_no],
    })


def _covariates(frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Per-grid base data; floating population and enterprises cluster by street."""
    urban = frame[C.URBAN].to_numpy()
    street = pd.factorize(frame[C.STREET_ID])[0]
    n_streets, n = street.max() + 1, len(frame)
    # about a third of the urban streets (at least one) are industrial or urban villages
    urban_streets = np.flatnonzero(pd.Series(urban).groupby(street).first().to_numpy())
    n_industrial = max(1, round(0.35 * len(urban_streets)))
    industrial = np.isin(np.arange(n_streets), rng.choice(urban_streets, n_industrial,
                                                          replace=False))
    float_mean = np.where(industrial, rng.uniform(0.32, 0.48, n_streets),
                          rng.uniform(0.10, 0.28, n_streets))[street]
    float_mean = np.where(urban, float_mean, rng.uniform(0.05, 0.12, n))
    ent_mean = np.where(industrial, 35.0, 12.0)[street] * np.where(urban, 1.0, 0.7)
    pop = np.round(np.exp(rng.normal(np.where(urban, np.log(2600), np.log(2100)), 0.27)))
    pop = np.clip(pop, 1200, 4500)
    share = np.clip(float_mean * np.exp(rng.normal(0, 0.35, n)), 0.05, 0.6)
    floating = np.round(pop * share)
    households = np.round((pop - floating) / rng.uniform(2.6, 3.1, n)
                          + floating / rng.uniform(1.6, 2.2, n))
    rentals = np.round(floating / rng.uniform(1.8, 2.6, n) * np.exp(rng.normal(0, 0.35, n))
                       + rng.poisson(0.03 * households))
    expected_key = pop[:, None] / 1000 * np.array([0.8, 1.6, 0.5])
    key = rng.poisson(expected_key)
    officers = np.clip(np.round(pop / 1500 + rng.normal(0, 0.6, n)), 1, 3)
    return pd.DataFrame({
        C.POPULATION: pop.astype(int), C.FLOATING_POPULATION: floating.astype(int),
        C.HOUSEHOLDS: households.astype(int),
        C.RENTAL_UNITS: np.minimum(rentals, 0.9 * households).astype(int),
        C.ENTERPRISES: rng.poisson(ent_mean * np.exp(rng.normal(0, 0.6, n))),
        C.KEY_CORRECTIONS: key[:, 0], C.KEY_MENTAL: key[:, 1], C.KEY_DRUG: key[:, 2],
        C.GRID_OFFICERS: officers.astype(int),
    }, index=frame.index)


def _grid_arrays(areas: pd.DataFrame) -> dict[str, np.ndarray]:
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
        "neighbours": padded,
    }


def _covariate_factor(grid: dict[str, np.ndarray], config: CityConfig) -> np.ndarray:
    """exp(b_f (floating share - 0.2) + b_r (rentals per household - 0.25)) per grid."""
    return np.exp(
        config.floating_share_effect * (grid["floating_share"] - REFERENCE["floating_share"])
        + config.rental_effect * (grid["rentals_per_household"]
                                  - REFERENCE["rentals_per_household"]))


def _enterprise_factor(grid: dict[str, np.ndarray], config: CityConfig) -> np.ndarray:
    return ((1 + grid["enterprises"]) / (1 + REFERENCE["enterprises"])) ** config.enterprise_effect


# --- calendar ------------------------------------------------------------------------------

def _calendar_effects(config: CityConfig) -> dict[str, np.ndarray]:
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
    out["wage_season"] = 1 + config.wage_season_peak * season
    return out


# --- incidents -----------------------------------------------------------------------------

def _static_events(family: str, grid: dict[str, np.ndarray], effects: dict[str, np.ndarray],
                   config: CityConfig, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Law-enforcement or livelihood events: intensity, true and reported counts (day x grid)."""
    per_grid = BASE_RATE[family] * grid["pop_k"]
    if family == "law_enforcement":
        per_grid = per_grid * _covariate_factor(grid, config)
    intensity = effects[family][:, None] * per_grid[None, :]
    true = rng.poisson(intensity)
    share = REPORT_SHARE[family] if config.under_reporting else 1.0
    return {"intensity": intensity, "true": true, "reported": rng.binomial(true, share)}


def _simulate_disputes(grid: dict[str, np.ndarray], effects: dict[str, np.ndarray],
                       config: CityConfig, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Disputes day by day: covariates, wage season, neighbour spread and the growing backlog.

    Returns day x grid arrays (intensity, true and backlog at the start of each day) and the
    reported disputes (day, grid, wage flag, reporting lag and days to close).
    """
    n_days, n = len(effects["day"]), len(grid["pop_k"])
    core = (BASE_RATE["dispute"] * grid["pop_k"] * _covariate_factor(grid, config)
            * np.exp(config.key_person_effect * (grid["key_per_1000"] - REFERENCE["key_per_1000"])))
    mu_core = effects["dispute"][:, None] * core[None, :]
    wage = BASE_RATE["wage_arrears"] * grid["pop_k"] * _enterprise_factor(grid, config)
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


# --- petitions -----------------------------------------------------------------------------

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


def _expand(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Day and grid of every event of a day x grid count matrix."""
    flat = np.flatnonzero(counts)
    cells = np.repeat(flat, counts.ravel()[flat])
    return cells // counts.shape[1], cells % counts.shape[1]


def _draw_rows(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One category per row of a (rows x categories) probability table."""
    cum = np.cumsum(probs / probs.sum(axis=1, keepdims=True), axis=1)
    picks = (rng.random(len(probs))[:, None] > cum).sum(axis=1)
    return np.minimum(picks, probs.shape[1] - 1)


def _simulate_petitions(grid: dict[str, np.ndarray], effects: dict[str, np.ndarray],
                        backlog: np.ndarray, config: CityConfig,
                        rng: np.random.Generator) -> dict:
    """Background petitions (raised by the dispute backlog) and grievance episodes."""
    n_days, n = backlog.shape
    lift = (1 + backlog) ** config.backlog_effect
    calendar = effects["petitions"][:, None] * lift
    other = BASE_RATE["petitions"] * grid["pop_k"]
    wage = BASE_RATE["wage_petitions"] * grid["pop_k"] * _enterprise_factor(grid, config)
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
    person_grid = np.concatenate([np.repeat(np.arange(n), pool), background["grid"][fresh],
                                  episodes["member_grid"]])
    return {"records": records, "intensity": lam_other + lam_wage + episodes["intensity"],
            "observed": observed, "mass": episodes["mass"], "person_grid": person_grid,
            "episodes": episodes["table"]}


def _background_petitions(other: np.ndarray, wage: np.ndarray, grid: dict[str, np.ndarray],
                          backlog: np.ndarray, pool: np.ndarray, config: CityConfig,
                          rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Single or small-group petitions; a fifth come from the grid's habitual petitioners."""
    d1, g1 = _expand(other)
    d2, g2 = _expand(wage)
    day, g = np.concatenate([d1, d2]), np.concatenate([g1, g2])
    weights = np.array([[TOPIC_WEIGHTS.get(t, 0.0) for t in TOPICS]] * len(grid["urban"]))
    weights[:, TOPICS.index("housing")] *= np.where(grid["urban"], 1.5, 0.5)
    weights[:, TOPICS.index("land_demolition")] *= np.where(grid["urban"], 0.5, 2.5)
    topic = np.concatenate([_draw_rows(rng, weights[g1]),
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
    n_days, n = backlog.shape
    rate = (config.episodes_per_grid_year / 365 * _enterprise_factor(grid, config)[None, :]
            * (1 + backlog) ** config.backlog_effect)
    start, g = _expand(rng.poisson(rate))
    m = len(g)
    duration = rng.integers(21, 57, m)
    members = rng.integers(2, 5, m)
    peak_day = np.minimum(start + duration, n_days - 1)
    ent = _enterprise_factor(grid, config)[g]
    weights = np.stack([ent * effects["wage_season"][peak_day],
                        np.where(grid["urban"][g], 0.4, 1.5),
                        np.where(grid["urban"][g], 1.0, 0.3), 0.4 * np.sqrt(ent)], axis=1)
    topic = np.array([TOPICS.index(t) for t in EPISODE_TOPICS])[_draw_rows(rng, weights)]
    culminates = rng.random(m) < config.collective_share
    first = first_person + np.cumsum(members) - members
    table = {"start": start, "grid": g, "duration": duration, "members": members,
             "topic": topic, "culminates": culminates, "first_person": first}
    repeat, intensity = _episode_petitions(table, effects, backlog, config, rng)
    collective, mass = _collective(table, backlog, config, rng)
    ends = start + duration < n_days
    np.add.at(intensity, (start[ends] + duration[ends], g[ends]), config.collective_share)
    records = {k: np.concatenate([repeat[k], collective[k]]) for k in repeat}
    return {"records": records, "intensity": intensity, "mass": mass,
            "member_grid": np.repeat(g, members), "table": pd.DataFrame(table)}


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
    e, k = _expand(rng.poisson(rate))
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


# --- incident records and the incident export ----------------------------------------------

def _sub_probs(family: str) -> np.ndarray:
    mix = SUB_MIX[family]
    return np.array([mix.get(sub, 0.0) for sub in C.SUB_CATEGORIES[family]])


def _category_index(family: str, subs: np.ndarray) -> np.ndarray:
    first = C.CATEGORIES.index(f"{family}.{next(iter(C.SUB_CATEGORIES[family]))}")
    return first + subs


def _incident_records(static: dict[str, dict], disputes: dict, mass: dict[str, np.ndarray],
                      grid: dict[str, np.ndarray], config: CityConfig,
                      rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Every reported incident: day, grid, category, people, reporting lag, days to close."""
    parts = []
    for family, events in static.items():
        day, g = _expand(events["reported"])
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


def _channels(category: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Channel of each incident from its family's mix (police cases mostly come by 110)."""
    groups = list(CHANNEL_MIX)
    family = np.array([groups.index(C.family_of(c)) for c in C.CATEGORIES])[category]
    police = np.isin(category, [C.CATEGORIES.index(f"law_enforcement.{s}") for s in POLICE_SUBS])
    group = np.where(police, groups.index("police"), family)
    table = np.array([CHANNEL_MIX[g] for g in groups])
    return _draw_rows(rng, table[group])


def _seconds(day: date) -> int:
    return int(pd.Timestamp(day).value // 10**9)


def _times(seconds: np.ndarray, sep: str = " ") -> np.ndarray:
    """'%Y-%m-%d %H:%M:%S' text of epoch seconds; -1 becomes an empty string."""
    text = np.datetime_as_string(seconds.astype("datetime64[s]"), unit="s")
    text = np.char.replace(text, "T", sep) if sep != "T" else text
    return np.where(seconds >= 0, text, "")


def _time_of_day(category: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    families = list(HOURS)
    family = np.array([families.index(C.family_of(c)) for c in C.CATEGORIES])[category]
    hours = _draw_rows(rng, np.array([HOURS[f] for f in families], float)[family])
    return hours * 3600 + rng.integers(0, 3600, len(category))


def _incident_export(records: dict[str, np.ndarray], areas: pd.DataFrame, config: CityConfig,
                     rng: np.random.Generator) -> pd.DataFrame:
    """The incident export as a city system writes it: Chinese headers, one row per case."""
    occurred = _seconds(config.start) + records["day"] * DAY + _time_of_day(records["category"],
                                                                          rng)
    reported = occurred + np.round(records["lag"] * DAY).astype(np.int64)
    finite = np.isfinite(records["delay"])
    closed = reported + np.round(np.where(finite, records["delay"], 0) * DAY).astype(np.int64)
    export_at = _seconds(config.export_date) + 8 * 3600
    keep = reported <= export_at
    order = np.lexsort((records["grid"][keep], occurred[keep], reported[keep]))
    pick = np.flatnonzero(keep)[order]
    occurred, reported, category = occurred[pick], reported[pick], records["category"][pick]
    is_closed = (finite[pick]) & (closed[pick] <= export_at)
    closed = np.where(is_closed, closed[pick], -1)
    state = _handling_state(reported, closed, is_closed, export_at, rng)
    labels = _category_labels()
    return pd.DataFrame({
        "事件编号": _incident_ids(reported),
        "发生时间": _times(occurred), "上报时间": _times(reported),
        "事件类别": np.array([labels[c] for c in C.CATEGORIES])[category],
        "来源渠道": np.array(list(C.CHANNELS.values()))[_channels(category, rng)],
        "网格编码": areas[C.AREA_ID].to_numpy()[records["grid"][pick]],
        "涉及人数": records["people"][pick].astype(str),
        "办理状态": state["status"], "办结时间": _times(closed),
        "是否超期": np.where(state["overdue"], "是", "否"), "满意度": state["satisfaction"],
    })


def _category_labels() -> dict[str, str]:
    """The export's label of each category: the Chinese sub-category name, or
    "大类/小类" for every category if some sub-category name repeats across families."""
    plain = {f"{f}.{s}": zh for f, subs in C.SUB_CATEGORIES.items() for s, zh in subs.items()}
    if len(set(plain.values())) == len(plain):
        return plain
    return {f"{f}.{s}": f"{C.FAMILIES[f][1]}/{zh}" for f, subs in C.SUB_CATEGORIES.items()
            for s, zh in subs.items()}


def _incident_ids(reported: np.ndarray) -> list[str]:
    """SJ + report date + a sequence number within the day, in report order."""
    day = reported // DAY
    first = np.searchsorted(day, day)
    seq = np.arange(len(day)) - first + 1
    dates = _times(day * DAY)
    return [f"SJ{d[:4]}{d[5:7]}{d[8:10]}{s:05d}" for d, s in zip(dates, seq)]


def _handling_state(reported: np.ndarray, closed: np.ndarray, is_closed: np.ndarray,
                    export_at: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Status, overdue flag (超期未办结: >15 days) and satisfaction as of the export date."""
    n = len(reported)
    deadline = 15 * DAY
    fresh = export_at - reported < DAY
    zh = INCIDENT_STATUS_ZH
    open_status = np.where(fresh, zh["reported"],
                           np.where(rng.random(n) < 0.55, zh["dispatched"], zh["handled"]))
    status = np.where(is_closed, zh["closed"], open_status)
    overdue = np.where(is_closed, closed - reported > deadline, export_at - reported > deadline)
    p_ok, p_late = [0.02, 0.03, 0.10, 0.35, 0.50], [0.20, 0.25, 0.30, 0.15, 0.10]
    score = np.where(overdue, rng.choice(5, n, p=p_late), rng.choice(5, n, p=p_ok)) + 1
    rated = is_closed & (rng.random(n) > 0.1)
    return {"status": status, "overdue": overdue,
            "satisfaction": np.where(rated, score.astype(str), "")}


# --- petitioners and the petition export ---------------------------------------------------

SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶"
            "程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎"
            "贺顾毛郝龚邵万钱严武戴莫孔向汤")
MALE_CHARS = "伟强磊军勇杰涛斌超明刚平辉鹏华飞鑫波宇浩凯健俊帆旭宁龙林峰建国志文海东兵春德学成荣新庆祥福生"
FEMALE_CHARS = "芳娜敏静丽艳娟霞秀英慧玲婷红梅琳燕萍兰凤洁雪晶颖倩琴云莉桂珍玉华春丹"
OTHER_REGIONS = ("341221", "411522", "513030", "360721", "430521", "341522", "412726")
PHONE_PREFIXES = tuple(f"13{i}" for i in range(10)) + ("150", "151", "152", "153", "155",
                                                       "156", "157", "158", "159") + tuple(
    f"18{i}" for i in range(10))
ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])  # ISO 7064 11-2


def _people(home: np.ndarray, grid: dict[str, np.ndarray],
            rng: np.random.Generator) -> pd.DataFrame:
    """A name, resident ID number and mobile number for every petitioner (all fake)."""
    n = len(home)
    male = rng.random(n) < 0.55
    weights = 1 / np.arange(1, len(SURNAMES) + 1) ** 0.9
    surname = np.array(list(SURNAMES))[rng.choice(len(SURNAMES), n, p=weights / weights.sum())]
    chars = [np.array(list(FEMALE_CHARS)), np.array(list(MALE_CHARS))]
    first = np.where(male, chars[1][rng.integers(0, len(chars[1]), n)],
                     chars[0][rng.integers(0, len(chars[0]), n)])
    second = np.where(male, chars[1][rng.integers(0, len(chars[1]), n)],
                      chars[0][rng.integers(0, len(chars[0]), n)])
    given = np.where(rng.random(n) < 0.6, np.char.add(first, second), first)
    local = np.array(DISTRICT_CODES * (1 + grid["district"].max() // len(DISTRICT_CODES)))
    outsider = rng.random(n) < 0.8 * grid["floating_share"][home]
    region = np.where(outsider, np.array(OTHER_REGIONS)[rng.integers(0, len(OTHER_REGIONS), n)],
                      local[grid["district"][home]])
    return pd.DataFrame({"name": np.char.add(surname, given),
                         "id_number": _id_numbers(region, male, rng),
                         "phone": _unique(lambda k: _phones(k, rng), n)})


def _id_numbers(region: np.ndarray, male: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """18-digit resident IDs: region, birth date, sequence (odd for men), check digit."""
    n = len(region)
    birth = np.datetime64("1950-01-01") + rng.integers(0, 19_700, n).astype("timedelta64[D]")
    births = np.char.replace(np.datetime_as_string(birth, unit="D"), "-", "")
    while True:
        seq = rng.integers(0, 500, n) * 2 + male
        bodies = np.char.add(np.char.add(region, births), np.char.zfill(seq.astype(str), 3))
        if len(np.unique(bodies)) == n:
            break
    digits = np.frombuffer("".join(bodies).encode("ascii"), np.uint8).reshape(n, 17) - 48
    check = np.array(list("10X98765432"))[(digits.astype(int) @ ID_WEIGHTS) % 11]
    return np.char.add(bodies, check)


def _phones(n: int, rng: np.random.Generator) -> np.ndarray:
    prefix = np.array(PHONE_PREFIXES)[rng.integers(0, len(PHONE_PREFIXES), n)]
    return np.char.add(prefix, np.char.zfill(rng.integers(0, 10**8, n).astype(str), 8))


def _unique(draw, n: int) -> np.ndarray:
    """n distinct values from ``draw(k)``, redrawing collisions."""
    values = draw(n)
    while True:
        _, first = np.unique(values, return_index=True)
        repeated = np.setdiff1d(np.arange(n), first)
        if not len(repeated):
            return values
        values[repeated] = draw(len(repeated))


def _petition_export(records: dict[str, np.ndarray], people: pd.DataFrame, areas: pd.DataFrame,
                     config: CityConfig, rng: np.random.Generator) -> pd.DataFrame:
    """The petition register as JSON-ready records (Chinese keys, personal fields included)."""
    filed = (_seconds(config.start) + records["day"] * DAY
             + rng.integers(int(8.5 * 3600), int(17.5 * 3600), len(records["day"])))
    order = np.lexsort((records["person"], filed))
    r = {k: v[order] for k, v in records.items()}
    filed = filed[order]
    never = rng.random(len(filed)) < np.array([0.04, 0.15, 0.30])[r["kind"]]
    close = filed + (np.maximum(1, np.exp(rng.normal(np.log(25), 0.6, len(filed)))) * DAY
                     ).astype(np.int64)
    export_at = _seconds(config.export_date) + 8 * 3600
    is_closed = ~never & (close <= export_at)
    recent = export_at - filed < 60 * DAY
    status = np.where(is_closed, "closed", np.where(recent, "in_progress", "open"))
    person = people.iloc[r["person"]]
    year = _times(filed)
    year_no = np.array([y[:4] for y in year])
    seq = pd.Series(year_no).groupby(year_no).cumcount().to_numpy() + 1
    closed_text = np.char.replace(_times(np.where(is_closed, close - close % DAY, -1)),
                                  " 00:00:00", "")
    return pd.DataFrame({
        "信访编号": [f"XF{y}{s:06d}" for y, s in zip(year_no, seq)],
        "登记日期": _times(filed, sep="T"),
        "网格": areas[C.AREA_ID].to_numpy()[r["grid"]],
        "信访事项": np.array(list(C.PETITION_TOPICS.values()))[r["topic"]],
        "人数": r["count"].astype(int),
        "是否重复访": pd.Series(r["person"]).duplicated().to_numpy(),
        "越级情况": np.array([C.ESCALATION_LEVELS[k] for k in range(4)])[r["escalation"]],
        "办理状态": np.array([PETITION_STATUS_ZH[s] for s in status]),
        "办结日期": np.where(is_closed, closed_text, None),
        "姓名": person["name"].to_numpy(), "身份证号": person["id_number"].to_numpy(),
        "联系电话": person["phone"].to_numpy(),
    })


# --- export dirt ---------------------------------------------------------------------------

INCIDENT_DIRT = {"unknown_area": 12, "bad_date": 12, "negative_people": 10, "future_date": 8}
PETITION_DIRT = {"unknown_area": 2, "bad_date": 2, "zero_people": 1}
BAD_DATES = ("2024-02-30 08:15:00", "待补录", "#VALUE!", "2023-13-01 10:00:00")


def _add_dirt(incidents: pd.DataFrame, petitions: pd.DataFrame, config: CityConfig,
              rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Exact duplicate rows (~0.2%) and a few broken rows, as real exports have.

    Returns both exports and the list of planted dirt: file, row (1-based data row), id, kind.
    """
    frames, listed = [], []
    for name, frame, kinds, id_col in (("incidents.csv", incidents, INCIDENT_DIRT, "事件编号"),
                                       ("petitions.jsonl", petitions, PETITION_DIRT, "信访编号")):
        frame, duplicate_rows = _duplicate(frame, config.duplicate_share, rng)
        counts = kinds if config.dirty_rows else {}
        frame, broken = _break(frame, counts, duplicate_rows, name, rng)
        dup = pd.DataFrame({"row": duplicate_rows + 1, "kind": "duplicate"})
        dirt = pd.concat([dup, broken], ignore_index=True).sort_values("row", kind="stable")
        dirt.insert(0, "file", name)
        dirt.insert(2, "id", frame[id_col].to_numpy()[dirt["row"].to_numpy() - 1])
        frames.append(frame)
        listed.append(dirt)
    return frames[0], frames[1], pd.concat(listed, ignore_index=True)


def _duplicate(frame: pd.DataFrame, share: float,
               rng: np.random.Generator) -> tuple[pd.DataFrame, np.ndarray]:
    """Repeat ``share`` of the rows right after themselves; returns positions of the copies."""
    n = len(frame)
    picked = rng.choice(n, int(round(share * n)), replace=False)
    order = np.sort(np.concatenate([np.arange(n), picked]), kind="stable")
    copies = np.flatnonzero(np.r_[False, order[1:] == order[:-1]])
    return frame.iloc[order].reset_index(drop=True), copies


def _break(frame: pd.DataFrame, counts: dict[str, int], duplicate_rows: np.ndarray, name: str,
           rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Break rows that have no copy, one fault each."""
    out = frame.copy()
    clean = np.setdiff1d(np.arange(len(out)), np.r_[duplicate_rows, duplicate_rows - 1])
    total = min(sum(counts.values()), len(clean) // 10)
    rows = rng.choice(clean, total, replace=False)
    kinds = np.repeat(list(counts), list(counts.values()))[:total]
    incidents = name.endswith(".csv")
    area, when = ("网格编码", "发生时间") if incidents else ("网格", "登记日期")
    for kind in counts:
        at = rows[kinds == kind]
        if kind == "unknown_area":
            out.loc[at, area] = [f"D{9 - i % 3:02d}S01C01G{i + 1:02d}" for i in range(len(at))]
        elif kind == "bad_date":
            out.loc[at, when] = [BAD_DATES[i % len(BAD_DATES)] for i in range(len(at))]
        elif kind == "negative_people":
            out.loc[at, "涉及人数"] = [str(-1 - i % 3) for i in range(len(at))]
        elif kind == "zero_people":
            out.loc[at, "人数"] = 0
        elif kind == "future_date":
            out.loc[at, "上报时间"] = ["2031" + t[4:] for t in out.loc[at, "上报时间"]]
    return out, pd.DataFrame({"row": rows + 1, "kind": kinds})


# --- ground truth --------------------------------------------------------------------------

def _truth(static: dict[str, dict], disputes: dict, petitions: dict, areas: pd.DataFrame,
           config: CityConfig) -> pd.DataFrame:
    """Weekly expected (summed daily intensity) and observed (true, pre-reporting) counts."""
    mass = np.zeros_like(disputes["true"])
    np.add.at(mass, (petitions["mass"]["day"], petitions["mass"]["grid"]), 1)
    daily = {
        "law_enforcement": (static["law_enforcement"]["intensity"],
                            static["law_enforcement"]["true"]),
        "livelihood": (static["livelihood"]["intensity"], static["livelihood"]["true"]),
        "dispute": (disputes["intensity"], disputes["true"] + mass),
        "petitions": (petitions["intensity"], petitions["observed"]),
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


def _episode_table(table: pd.DataFrame, areas: pd.DataFrame, config: CityConfig) -> pd.DataFrame:
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


# --- planted drivers -----------------------------------------------------------------------

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
    {"driver": "weak_signal_repeat_petitions", "affects": ["petitions", "dispute"],
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
    {"driver": "seasonality_holidays", "affects": list(TRUTH_FAMILIES),
     "inputs": ["day_of_year", "weekend", "makeup_workday", "statutory_holiday",
                "spring_festival_break", "national_day_week"],
     "mechanism": "rate x exp(amplitude * cos(2 pi (day of year - peak) / 365.25)) x the "
                  "weekend/holiday, Spring Festival and National Day multipliers of `calendar`",
     "strength": "holiday_effect", "seasonality": "seasonality",
     "unit": "scale of the log multipliers"},
)
_NOT_CONFIG = {"driver", "affects", "inputs", "mechanism", "unit"}


def drivers(config: CityConfig) -> list[dict]:
    """The mechanisms planted in the city, with their strengths (truth/drivers.json)."""
    out = []
    for spec in DRIVERS:
        entry = {k: v if k in _NOT_CONFIG else getattr(config, v) for k, v in spec.items()}
        if entry["driver"] == "neighbour_spread":
            entry["branching_ratio"] = round(8 * config.neighbour_spread, 3)
        if entry["driver"] == "seasonality_holidays":
            names = ("amplitude", "peak_day", "weekend_holiday", "spring_festival",
                     "national_day")
            entry["calendar"] = {k: dict(zip(names, v)) for k, v in CALENDAR.items()}
        out.append(entry)
    return out


# --- the I/O edge --------------------------------------------------------------------------

def write_city(out: Path, seed: int = 7, config: CityConfig | None = None) -> dict[str, Path]:
    """Generate the city and write its files under ``out``.

    Args:
        out: output folder (created if needed).
        seed: random seed of the default city; ignored when ``config`` is given.
        config: a custom city (size, span, mechanism strengths).

    Returns:
        Name -> path: areas, incidents, petitions, intensity, drivers, dirt, episodes.
    """
    city = synthesize_city(config or CityConfig(seed=seed))
    out = Path(out)
    (out / "truth").mkdir(parents=True, exist_ok=True)
    paths = {"areas": out / "areas.csv", "incidents": out / "incidents.csv",
             "petitions": out / "petitions.jsonl", "intensity": out / "truth/intensity.parquet",
             "drivers": out / "truth/drivers.json", "dirt": out / "truth/export_dirt.csv",
             "episodes": out / "truth/episodes.csv"}
    areas = city.areas.assign(**{C.URBAN: np.where(city.areas[C.URBAN], "true", "false")})
    areas.to_csv(paths["areas"], index=False, encoding="utf-8", lineterminator="\n")
    city.incidents.to_csv(paths["incidents"], index=False, encoding="gb18030",
                          lineterminator="\r\n")
    lines = (json.dumps(r, ensure_ascii=False) for r in _json_records(city.petitions))
    paths["petitions"].write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    city.intensity.to_parquet(paths["intensity"], index=False)
    paths["drivers"].write_text(json.dumps(city.drivers, ensure_ascii=False, indent=2) + "\n",
                                encoding="utf-8")
    for name, frame in (("dirt", city.export_dirt), ("episodes", city.episodes)):
        frame.to_csv(paths[name], index=False, encoding="utf-8", lineterminator="\n")
    return paths


def _json_records(frame: pd.DataFrame) -> list[dict]:
    """Rows as plain Python values (numpy scalars are not JSON)."""
    columns = {c: frame[c].to_numpy(object).tolist() for c in frame.columns}
    for c in ("人数",):
        columns[c] = [int(v) for v in columns[c]]
    columns["是否重复访"] = [bool(v) for v in columns["是否重复访"]]
    return [dict(zip(columns, values)) for values in zip(*columns.values())]
