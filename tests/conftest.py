"""Shared fixtures: a tiny city on disk (raw exports + mappings + experiment) and clean tables."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from riskgrid import Settings
from riskgrid import vocabulary as C

GRIDS = ["G1", "G2", "G3", "G4"]
CANARY_NAME = "金丝雀甲"
CANARY_ID = "11010519491231002X"
CANARY_PHONE = "13900001111"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", pseudonym_secret="test-secret",
                    now=datetime(2025, 1, 1))


def areas_csv() -> str:
    rows = [("area_id,area_name,community_id,street_id,district_id,population,"
            "floating_population,households,rental_units,neighbours")]
    for i, g in enumerate(GRIDS):
        neighbours = ";".join(n for n in GRIDS if n != g and abs(GRIDS.index(n) - i) == 1)
        rows.append(f"{g},第{i + 1}网格,C{i // 2},S1,D1,{1000 + 100 * i},{50 * i},{300 + i},"
                    f"{10 * i},{neighbours}")
    return "\n".join(rows) + "\n"


INCIDENT_HEADER = "事件编号,发生时间,上报时间,事件类别,来源渠道,网格编码,涉及人数,办结时间,满意度"


def incidents_csv(rows: list[str]) -> str:
    return "\n".join([INCIDENT_HEADER, *rows]) + "\n"


GOOD_INCIDENTS = [
    "E1,2024-03-04 09:00:00,2024-03-04 10:00:00,劳资纠纷,12345热线,G1,2,2024-03-08 10:00:00,5",
    "E2,2024-03-05 09:00:00,2024-03-06 10:00:00,邻里纠纷,网格员巡查,G2,1,,",
    "E3,2024-03-12 09:00:00,2024-03-12 09:30:00,占道经营,数字城管,G3,1,2024-03-13 09:00:00,4",
    "E4,2024-03-19 09:00:00,2024-03-19 09:30:00,物业服务,12345热线,G4,6,,",
]

INCIDENT_MAPPING = """
format = "csv"
encoding = "auto"
[columns]
"事件编号" = "incident_id"
"发生时间" = "occurred_at"
"上报时间" = "reported_at"
"事件类别" = "category"
"来源渠道" = "channel"
"网格编码" = "area_id"
"涉及人数" = "people_involved"
"办结时间" = "closed_at"
"满意度" = "satisfaction"
[recode.category]
"劳资纠纷" = "dispute.wage_arrears"
"邻里纠纷" = "dispute.neighbour"
"占道经营" = "law_enforcement.street_vending"
"物业服务" = "livelihood.property_service"
[recode.channel]
"12345热线" = "hotline_12345"
"网格员巡查" = "grid_officer"
"数字城管" = "city_management"
"""

PETITION_MAPPING = """
format = "jsonl"
[columns]
"编号" = "petition_id"
"登记日期" = "filed_at"
"网格" = "area_id"
"事项" = "topic"
"人数" = "petitioner_count"
"越级" = "escalation"
"办结日期" = "closed_at"
"姓名" = "name"
"身份证号" = "id_number"
"电话" = "phone"
[recode.topic]
"欠薪" = "wage_arrears"
"征地拆迁" = "land_demolition"
"""


def petitions_jsonl() -> str:
    people = [(CANARY_NAME, CANARY_ID, CANARY_PHONE), ("李四", "110105194912310021", "13800002222")]
    rows = []
    for i in range(6):
        name, ident, phone = people[i % 2]
        rows.append({"编号": f"P{i}", "登记日期": f"2024-03-{4 + 3 * i:02d}T10:00:00",
                     "网格": GRIDS[i % 2], "事项": "欠薪" if i % 3 else "征地拆迁",
                     "人数": 7 if i == 5 else 1, "越级": 1 if i == 4 else 0,
                     "办结日期": None, "姓名": name, "身份证号": ident, "电话": phone})
    return "\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n"


EXPERIMENT = """
name = "tiny"
[areas]
kind = "table"
path = "areas.csv"
[sources.incidents]
kind = "incidents"
path = "incidents.csv"
mapping = "incidents_mapping.toml"
[sources.petitions]
kind = "petitions"
path = "petitions.jsonl"
mapping = "petitions_mapping.toml"
[features]
period = "week"
"""


@pytest.fixture
def tiny_city(tmp_path: Path) -> Path:
    """A folder with raw exports, their mappings and experiment.toml; returns the experiment."""
    folder = tmp_path / "city"
    folder.mkdir()
    (folder / "areas.csv").write_text(areas_csv(), encoding="utf-8")
    (folder / "incidents.csv").write_bytes(incidents_csv(GOOD_INCIDENTS).encode("gb18030"))
    (folder / "incidents_mapping.toml").write_text(INCIDENT_MAPPING, encoding="utf-8")
    (folder / "petitions.jsonl").write_text(petitions_jsonl(), encoding="utf-8")
    (folder / "petitions_mapping.toml").write_text(PETITION_MAPPING, encoding="utf-8")
    (folder / "experiment.toml").write_text(EXPERIMENT, encoding="utf-8")
    return folder / "experiment.toml"


def random_tables(seed: int = 0, n_areas: int = 6, n_incidents: int = 3000,
                  n_petitions: int = 600) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Clean areas, incidents and petitions with report delays, closings and repeat filers."""
    rng = np.random.default_rng(seed)
    ids = [f"A{i}" for i in range(n_areas)]
    areas = pd.DataFrame({
        C.AREA_ID: ids, C.AREA_NAME: ids, C.COMMUNITY_ID: [f"C{i // 2}" for i in range(n_areas)],
        C.STREET_ID: [f"S{i // 4}" for i in range(n_areas)], C.DISTRICT_ID: "D0",
        C.POPULATION: rng.integers(500, 3000, n_areas).astype(float),
        C.FLOATING_POPULATION: rng.integers(0, 500, n_areas).astype(float),
        C.HOUSEHOLDS: 300.0, C.RENTAL_UNITS: 20.0, C.ENTERPRISES: 5.0,
        C.KEY_CORRECTIONS: 1.0, C.KEY_MENTAL: 0.0, C.KEY_DRUG: 0.0, C.GRID_OFFICERS: 1.0,
        C.AREA_KM2: 0.3, C.URBAN: pd.array([True] * n_areas, dtype="boolean"),
        C.NEIGHBOURS: [";".join(x for x in (ids[i - 1] if i else "",
                                            ids[i + 1] if i + 1 < n_areas else "") if x)
                       for i in range(n_areas)],
        C.GEOMETRY: None, C.CENTROID_X: np.nan, C.CENTROID_Y: np.nan,
    })
    for level in ("community", "street", "district"):
        areas[C.LEVEL_NAME[level]] = areas[C.LEVEL_ID[level]]
    start = pd.Timestamp("2023-01-02")
    occurred = start + pd.to_timedelta(rng.uniform(0, 365, n_incidents), unit="D")
    delay = pd.to_timedelta(rng.exponential(2, n_incidents) ** 1.5, unit="D")
    reported = occurred + delay
    closed = reported + pd.to_timedelta(rng.exponential(12, n_incidents), unit="D")
    closed = closed.where(rng.random(n_incidents) < 0.8)
    families = rng.choice(["dispute.neighbour", "livelihood.utilities",
                           "law_enforcement.noise"], n_incidents)
    incidents = pd.DataFrame({
        C.INCIDENT_ID: [f"I{i}" for i in range(n_incidents)], C.OCCURRED_AT: occurred,
        C.REPORTED_AT: reported, C.CATEGORY: families,
        C.FAMILY: [f.split(".")[0] for f in families], C.CHANNEL: "hotline_12345",
        C.AREA_ID: rng.choice(ids, n_incidents), C.X: np.nan, C.Y: np.nan,
        C.PEOPLE_INVOLVED: rng.choice([1, 2, 6], n_incidents, p=[0.7, 0.25, 0.05]),
        C.STATUS: np.where(pd.isna(closed), "reported", "closed"), C.CLOSED_AT: closed,
        C.OVERDUE: False,
        C.SATISFACTION: np.where(pd.isna(closed), np.nan, rng.integers(1, 6, n_incidents)),
    })
    filed = start + pd.to_timedelta(rng.uniform(0, 365, n_petitions), unit="D")
    count = rng.choice([1, 2, 8], n_petitions, p=[0.8, 0.15, 0.05])
    petitions = pd.DataFrame({
        C.PETITION_ID: [f"P{i}" for i in range(n_petitions)], C.FILED_AT: filed,
        C.AREA_ID: rng.choice(ids, n_petitions),
        C.TOPIC: rng.choice(["wage_arrears", "housing", "environment"], n_petitions),
        C.PETITIONER_COUNT: count, C.COLLECTIVE: count >= 5, C.REPEAT: False,
        C.ESCALATION: rng.choice([0, 1], n_petitions, p=[0.9, 0.1]), C.STATUS: "open",
        C.CLOSED_AT: (filed + pd.to_timedelta(rng.exponential(60, n_petitions), unit="D"))
        .where(rng.random(n_petitions) < 0.7),
        C.PETITIONER_KEY: [f"p_{k}" for k in rng.integers(0, 150, n_petitions)],
    })
    return areas, incidents, petitions


@pytest.fixture(scope="session")
def dask_cluster():
    """A real Dask cluster on loopback: two worker processes of one thread each."""
    from distributed import LocalCluster

    # No dashboard; the scheduler's HTTP server (metrics) on a free port, not 8787, which
    # another cluster on the machine may hold.
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None,
                      scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}) as cluster:
        yield cluster
