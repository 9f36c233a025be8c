"""A city outside the built-in layout, loaded with mapping files alone: covariates, neighbours,
cells, calendars, spans, merged rows, open vocabularies and no silent losses."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from features import build_features, ingest
from features.io import read_table
from riskgrid import InputError, load_experiment
from riskgrid.calendar import period_calendar

# Four community areas with census covariates and centroids, no polygons.
AREAS = """AREA_NUM,NAME,POVERTY_RATE,INCOME,X_CENTER,Y_CENTER
1,Rogers Park,23.6,23939,0,0
2,West Ridge,17.2,23040,1000,0
3,Uptown,24.0,35787,0,1000
4,Lincoln Square,10.9,37524,5000,5000
"""
AREAS_MAPPING = """
[columns]
AREA_NUM = "area_id"
NAME = "area_name"
X_CENTER = "centroid_x"
Y_CENTER = "centroid_y"
[static.POVERTY_RATE]
en = "share of households below the poverty line (%)"
zh = "贫困家庭占比(%)"
[static.INCOME]
"""
# A shootings export: one row per victim, date and time in two columns, a 311 channel and a
# category family of its own.
HEADER = "INCIDENT_KEY,OCCUR_DATE,OCCUR_TIME,AREA,X,Y,TYPE,LINE,VICTIM_AGE"
INCIDENT_MAPPING = """
handling_record = false
merge_rows = true
[columns]
INCIDENT_KEY = "incident_id"
AREA = "area_id"
X = "x"
Y = "y"
TYPE = "category"
LINE = "channel"
[combine]
occurred_at = ["OCCUR_DATE", "OCCUR_TIME"]
[recode.category]
"SHOOTING" = "violence.shooting"
"THEFT" = "law_enforcement.street_crime"
[recode.channel]
"311" = "line_311"
"911" = "police"
[vocabulary.channels]
line_311 = ["311 service line", "311服务热线"]
[vocabulary.families]
violence = ["shootings", "枪击事件"]
"""
EXPERIMENT = """
name = "elsewhere"
[areas]
kind = "table"
path = "areas.csv"
mapping = "areas_mapping.toml"
{areas_extra}
[sources.crimes]
kind = "incidents"
path = "crimes.csv"
mapping = "crimes_mapping.toml"
{sources_extra}
[features]
period = "week"
calendar = "US"
"""


def week_rows(n_weeks: int = 30, start: str = "2024-01-01") -> list[str]:
    """Incidents every week in every area; shootings have two victims (two rows)."""
    rows = []
    for week in range(n_weeks):
        day = pd.Timestamp(start) + pd.Timedelta(weeks=week, days=1)
        for area, (x, y) in {1: (10, 10), 2: (1010, 20), 3: (30, 1020), 4: (5010, 5010)}.items():
            for k in range(1 + (week * area) % 3):
                key = f"K{week}-{area}-{k}"
                kind, line = ("SHOOTING", "911") if k == 0 and area <= 2 else ("THEFT", "311")
                for victim in range(2 if kind == "SHOOTING" else 1):
                    rows.append(f"{key},{day:%m/%d/%Y},{9 + k}:15:00,{area},{x + k},{y},"
                                f"{kind},{line},{20 + victim}")
    return rows


def write_city(folder: Path, rows: list[str] | None = None, areas_extra: str = "",
               sources_extra: str = "", mapping: str = INCIDENT_MAPPING) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "areas.csv").write_text(AREAS, encoding="utf-8")
    (folder / "areas_mapping.toml").write_text(AREAS_MAPPING, encoding="utf-8")
    body = "\n".join([HEADER, *(week_rows() if rows is None else rows)]) + "\n"
    (folder / "crimes.csv").write_text(body, encoding="utf-8")
    (folder / "crimes_mapping.toml").write_text(mapping, encoding="utf-8")
    experiment = folder / "experiment.toml"
    experiment.write_text(EXPERIMENT.format(areas_extra=areas_extra,
                                            sources_extra=sources_extra), encoding="utf-8")
    return experiment


def balanced(counts: dict) -> bool:
    return counts["rows_in"] == counts["accepted"] + counts["quarantined"] + counts["duplicates"]


def clean(settings, table: str) -> pd.DataFrame:
    return pd.read_parquet(settings.data_dir / "elsewhere" / "clean" / f"{table}.parquet")


def test_victim_rows_merge_into_one_incident_with_its_people(tmp_path, settings):
    report = ingest(load_experiment(write_city(tmp_path / "city")), settings)
    counts = report.counts["crimes"]
    incidents = clean(settings, "incidents")
    shootings = incidents[incidents["category"] == "violence.shooting"]
    assert balanced(counts) and counts["quarantined"] == 0 and counts["duplicates"] == 0
    assert counts["merged"] == len(shootings) > 0
    assert counts["accepted"] == len(incidents) + counts["merged"]
    assert (shootings["people_involved"] == 2).all()
    summary = json.loads((report.clean_dir / "summary.json").read_text())
    assert summary["total"]["merged"] == counts["merged"]


def test_date_and_time_columns_make_one_timestamp(tmp_path, settings):
    ingest(load_experiment(write_city(tmp_path / "city")), settings)
    incidents = clean(settings, "incidents").set_index("incident_id")
    assert incidents.loc["K0-1-0", "occurred_at"] == pd.Timestamp("2024-01-02 09:15")


def test_declared_channels_and_families_are_kept_and_others_named(tmp_path, settings):
    ingest(load_experiment(write_city(tmp_path / "city")), settings)
    incidents = clean(settings, "incidents")
    assert set(incidents["channel"]) == {"line_311", "police"}
    assert set(incidents["family"]) == {"violence", "law_enforcement"}
    features = build_features(load_experiment(tmp_path / "city" / "experiment.toml"), settings)
    catalogue = pd.read_json(features.path / "catalogue.json").set_index("name")
    assert catalogue.loc["violence_sum_4", "en"] == "shootings in the last 4 weeks"
    assert "枪击事件" in catalogue.loc["violence_sum_4", "zh"]
    panel = read_table(features.path, "panel")
    # A declared family counts in "all" too.
    assert panel["outcome_violence"].sum() > 0
    assert (panel["outcome_all"] == panel["outcome_violence"]
            + panel["outcome_law_enforcement"]).all()

    undeclared = INCIDENT_MAPPING.replace('line_311 = ["311 service line", "311服务热线"]', "")
    experiment = write_city(tmp_path / "other", mapping=undeclared)
    report = ingest(load_experiment(experiment), settings)
    quarantine = pd.read_csv(report.clean_dir / "quarantine" / "crimes.csv")
    assert report.counts["crimes"]["quarantined"] == len(quarantine) > 0
    assert quarantine["reason"].str.contains(r"'line_311' is not a known channel.*"
                                             r"\[vocabulary.channels\]").all()


def test_area_covariates_become_static_features_and_empty_ones_are_left_out(tmp_path, settings):
    experiment = load_experiment(write_city(tmp_path / "city"))
    ingest(experiment, settings)
    areas = clean(settings, "areas").set_index("area_id")
    assert areas.loc["3", "poverty_rate"] == 24.0 and areas.loc["4", "income"] == 37524
    features = build_features(experiment, settings)
    catalogue = pd.read_json(features.path / "catalogue.json").set_index("name")
    assert catalogue.loc["poverty_rate", "zh"] == "贫困家庭占比(%)"
    assert catalogue.loc["poverty_rate", "family"] == "static"
    assert "INCOME" in catalogue.loc["income", "en"]  # no description given: a generic one
    # The fixed base data of Chinese grids is all empty here: out of the catalogue, and said so.
    assert "population" not in catalogue.index and "density" not in catalogue.index
    assert "open_cases" not in catalogue.index  # no handling record: nothing is ever open
    lines = "\n".join(features.left_out)
    assert "static:" in lines and "population (empty)" in lines
    assert "handling: 7 of 7 features all empty or constant" in lines
    meta = json.loads((features.path / "meta.json").read_text())
    assert "population (empty)" in meta["left_out"]["static"]


def test_us_calendar_has_no_chinese_terms(tmp_path, settings):
    experiment = load_experiment(write_city(tmp_path / "city"))
    ingest(experiment, settings)
    features = build_features(experiment, settings)
    catalogue = pd.read_json(features.path / "catalogue.json")
    calendar = set(catalogue.loc[catalogue["family"] == "calendar", "name"])
    assert "holiday_days" in calendar
    assert not calendar & {"spring_festival_days", "national_day_days",
                           "days_to_spring_festival", "pre_spring_festival_days"}
    weeks = pd.date_range("2024-07-01", periods=2, freq="W-MON")
    us = period_calendar(weeks, "week", "US")
    assert us["holiday_days"].tolist() == [1.0, 0.0]  # Independence Day
    assert period_calendar(weeks, "week")["holiday_days"].tolist() == [0.0, 0.0]


def test_unknown_calendar_is_one_sentence(tmp_path):
    path = write_city(tmp_path / "city")
    path.write_text(path.read_text().replace('calendar = "US"', 'calendar = "XX"'))
    with pytest.raises(InputError, match=r"field 'features.calendar': 'XX' is not a country "
                                         r"code of the holidays package"):
        load_experiment(path)


@pytest.mark.parametrize(("extra", "expected"), [
    ('neighbours = "file"\nneighbours_path = "adjacency.csv"', {"1": "2;3", "2": "1", "3": "1",
                                                                 "4": ""}),
    ('neighbours = "centroids"\nneighbours_k = 2', {"1": "2;3", "2": "1;3", "3": "1;2",
                                                    "4": "2;3"}),
    ('neighbours = "centroids"\nneighbours_within = 1500', {"1": "2;3", "2": "1;3", "3": "1;2",
                                                            "4": ""}),
    ('neighbours = "points"\nneighbours_within = 1500', {"1": "2;3", "2": "1;3", "3": "1;2",
                                                         "4": ""}),
])
def test_neighbours_without_polygons(tmp_path, settings, extra, expected):
    experiment = write_city(tmp_path / "city", areas_extra=extra)
    (tmp_path / "city" / "adjacency.csv").write_text("AREA,NEIGHBOUR\n1,2\n3,1\n",
                                                     encoding="utf-8")
    ingest(load_experiment(experiment), settings)
    areas = clean(settings, "areas").set_index("area_id")
    assert areas["neighbours"].fillna("").to_dict() == expected
    if "points" in extra:
        assert areas.loc["4", "centroid_x"] == 5000  # the table's own centroid is kept


def test_neighbours_give_spread_features(tmp_path, settings):
    experiment = load_experiment(write_city(tmp_path / "city",
                                            areas_extra='neighbours = "centroids"'))
    ingest(experiment, settings)
    features = build_features(experiment, settings)
    panel = read_table(features.path, "panel")
    assert panel["neighbours_all_sum_4"].max() > 0


def test_adjacency_file_with_an_unknown_area_is_one_sentence(tmp_path, settings):
    experiment = write_city(tmp_path / "city",
                            areas_extra='neighbours = "file"\nneighbours_path = "adjacency.csv"')
    (tmp_path / "city" / "adjacency.csv").write_text("AREA,NEIGHBOUR\n1,9\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"adjacency.csv: row 1, column NEIGHBOUR: '9' is not "
                                         r"an area id"):
        ingest(load_experiment(experiment), settings)


CELLS = 'kind = "cells"\ncell_size = 500\ncover = "{cover}"\n'


@pytest.mark.parametrize("cover", ["points", "hull"])
def test_cells_over_the_points_under_the_table_areas(tmp_path, settings, cover):
    experiment = write_city(tmp_path / "city", areas_extra=CELLS.format(cover=cover))
    text = experiment.read_text().replace('kind = "table"\n', "")
    experiment.write_text(text)
    report = ingest(load_experiment(experiment), settings)
    assert balanced(report.counts["crimes"]) and report.counts["crimes"]["quarantined"] == 0
    areas = clean(settings, "areas").set_index("area_id")
    # Points span cells 0..10 in x and y: the box holds 121 cells, the hull fewer.
    assert (len(areas) == 121) if cover == "points" else (3 < len(areas) < 121)
    assert areas.loc["cell_0_0", "community_id"] == "1"  # the area its points name
    assert areas.loc["cell_10_10", "community_id"] == "4"
    assert areas.loc["cell_0_0", "community_name"] == "Rogers Park"
    assert areas.loc["cell_0_0", "poverty_rate"] == 23.6  # covariates of the parent
    assert areas.loc["cell_0_0", "neighbours"]  # cells touch
    incidents = clean(settings, "incidents")
    assert incidents["area_id"].str.startswith("cell_").all()


def test_cells_without_cell_size_are_one_sentence(tmp_path):
    path = write_city(tmp_path / "city", areas_extra='kind = "cells"\ncover = "points"')
    path.write_text(path.read_text().replace('kind = "table"\n', ""))
    with pytest.raises(InputError, match=r"field 'areas': areas of kind \"cells\" need "
                                         r"cell_size") as err:
        load_experiment(path)
    assert "\n" not in str(err.value)


def test_a_source_that_ends_earlier_is_missing_after_its_end_not_zero(tmp_path, settings):
    extra = ('[sources.calls]\nkind = "incidents"\npath = "calls.csv"\n'
             'mapping = "crimes_mapping.toml"\nend = "2024-04-30"\n')
    experiment = write_city(tmp_path / "city", sources_extra=extra)
    calls = ["C" + r[1:] for r in week_rows(n_weeks=12)]
    (tmp_path / "city" / "calls.csv").write_text("\n".join([HEADER, *calls]) + "\n")
    exp = load_experiment(experiment)
    ingest(exp, settings)
    panel = read_table(build_features(exp, settings).path, "panel")
    by_week = panel.groupby("period")["outcome_all"].apply(lambda s: s.isna().all())
    assert not by_week[:pd.Timestamp("2024-04-22")].any()
    assert by_week[pd.Timestamp("2024-04-29"):].all()  # the calls source ends on 2024-04-30


def test_coordinates_with_table_areas_use_the_area_id(tmp_path, settings):
    rows = week_rows(n_weeks=2)
    rows += ["X1,01/03/2024,10:00:00,,10,10,THEFT,311,",  # coordinates only: no geometry
             "X2,01/03/2024,10:00:00,,,,THEFT,311,"]  # neither
    report = ingest(load_experiment(write_city(tmp_path / "city", rows=rows)), settings)
    counts = report.counts["crimes"]
    assert balanced(counts) and counts["quarantined"] == 2
    reasons = pd.read_csv(report.clean_dir / "quarantine" / "crimes.csv")["reason"].tolist()
    assert "no geometry" in reasons[0] and "neither an area nor coordinates" in reasons[1]


def test_blank_rows_are_each_quarantined(tmp_path, settings):
    rows = week_rows(n_weeks=2) + [",,,,,,,,"] * 6
    report = ingest(load_experiment(write_city(tmp_path / "city", rows=rows)), settings)
    counts = report.counts["crimes"]
    assert balanced(counts) and counts["quarantined"] == 6 and counts["duplicates"] == 0
    reasons = pd.read_csv(report.clean_dir / "quarantine" / "crimes.csv")["reason"]
    assert reasons.str.contains("the row is empty").all()


def test_semicolon_file_names_the_delimiter_key(tmp_path, settings):
    experiment = write_city(tmp_path / "city")
    path = tmp_path / "city" / "crimes.csv"
    path.write_text(path.read_text().replace(",", ";"))
    with pytest.raises(InputError, match=r"crimes.csv: .*looks semicolon-separated: set "
                                         r"delimiter = \";\" in its mapping file"):
        ingest(load_experiment(experiment), settings)
    mapping = tmp_path / "city" / "crimes_mapping.toml"
    mapping.write_text('delimiter = ";"\n' + mapping.read_text())
    assert balanced(ingest(load_experiment(experiment), settings).counts["crimes"])


def test_utf16_file_is_read_or_named(tmp_path, settings):
    experiment = write_city(tmp_path / "city")
    path = tmp_path / "city" / "crimes.csv"
    path.write_bytes(path.read_text().encode("utf-16"))
    assert ingest(load_experiment(experiment), settings).counts["crimes"]["quarantined"] == 0
    mapping = tmp_path / "city" / "crimes_mapping.toml"
    mapping.write_text('encoding = "gb18030"\n' + mapping.read_text())
    with pytest.raises(InputError, match=r"looks like UTF-16 text.*encoding = \"utf-16\""):
        ingest(load_experiment(experiment), settings)


def test_cells_clipped_to_a_boundary_leave_outside_points_quarantined(tmp_path, settings):
    extra = CELLS.format(cover="points") + 'boundary = "limits.geojson"'
    experiment = write_city(tmp_path / "city", areas_extra=extra)
    experiment.write_text(experiment.read_text().replace('kind = "table"\n', ""))
    square = [[0, 0], [1500, 0], [1500, 1500], [0, 1500], [0, 0]]
    (tmp_path / "city" / "limits.geojson").write_text(json.dumps({
        "type": "FeatureCollection", "features": [{"type": "Feature", "properties": {},
                                                   "geometry": {"type": "Polygon",
                                                                "coordinates": [square]}}]}))
    report = ingest(load_experiment(experiment), settings)
    areas = clean(settings, "areas")
    assert len(areas) == 9 and areas["area_km2"].max() == pytest.approx(0.25)
    counts = report.counts["crimes"]
    quarantine = pd.read_csv(report.clean_dir / "quarantine" / "crimes.csv")
    assert balanced(counts) and counts["quarantined"] == len(quarantine) > 0
    assert quarantine["reason"].str.contains("lies outside every area").all()
    assert set(quarantine["area_id"].astype(str)) == {"4"}
