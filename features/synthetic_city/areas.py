"""The grid table: district > street > community > grid, a square lattice, and base data."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from features.synthetic_city.config import CityConfig
from riskgrid import vocabulary as C

CELL_METRES = 500.0
ORIGIN = (500_000.0, 3_500_000.0)
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
        rows = max(d for d in range(1, math.isqrt(n) + 1) if n % d == 0)
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

