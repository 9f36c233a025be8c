"""Real data: Portland calls for service load into districts and cells with reconciled counts."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from features import build_features, ingest
from features.io import read_table
from riskgrid import load_experiment as _load
from riskgrid.experiment import Experiment

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "portland_nij"

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not SHARED.is_dir(), reason="shared Portland data not present")]


def load_experiment(path: Path) -> Experiment:
    return _load(path)


def balanced(counts: dict) -> bool:
    return counts["rows_in"] == counts["accepted"] + counts["quarantined"] + counts["duplicates"]


def test_vehicle_thefts_by_police_district(settings):
    experiment = load_experiment(EXPERIMENTS / "portland_mvt_districts.toml")
    report = ingest(experiment, settings)
    mvt = report.counts["mvt"]
    assert mvt["rows_in"] == 8765 and balanced(mvt)
    assert mvt["accepted"] > 8700  # a few calls lie outside the districts, a few repeat
    assert report.counts["areas"]["accepted"] == 60
    areas = pd.read_parquet(report.clean_dir / "areas.parquet")
    assert set(areas["street_id"]) >= {"NO", "EA", "CE"}  # precincts are the level above
    assert 300 < areas["area_km2"].sum() < 450  # Portland is about 375 km2
    features = build_features(experiment, settings)
    panel = read_table(features.path, "panel")
    assert panel["outcome_all"].sum() > 8600
    assert features.periods == ("2012-03-05", "2017-01-23")


def test_vehicle_thefts_by_600_ft_cells(settings):
    report = ingest(load_experiment(EXPERIMENTS / "portland_mvt_cells.toml"), settings)
    assert balanced(report.counts["mvt"]) and report.counts["mvt"]["accepted"] > 8700
    areas = pd.read_parquet(report.clean_dir / "areas.parquet")
    assert 10_000 < len(areas) < 14_000
    assert areas["area_km2"].max() <= 600 * 600 * 0.3048**2 / 1e6 + 1e-9
    incidents = pd.read_parquet(report.clean_dir / "incidents.parquet")
    assert incidents["area_id"].str.startswith("cell_").all()


def test_all_calls_2016(settings):
    report = ingest(load_experiment(EXPERIMENTS / "portland_calls_2016.toml"), settings)
    calls = report.counts["calls"]
    assert calls["rows_in"] == 72343 and balanced(calls)
    incidents = pd.read_parquet(report.clean_dir / "incidents.parquet")
    assert set(incidents["category"]) == {"law_enforcement.vehicle_theft",
                                          "law_enforcement.burglary",
                                          "law_enforcement.street_crime", "law_enforcement.other"}
