"""The synthetic city: deterministic, well-formed exports whose planted mechanisms show."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely
from sklearn.linear_model import PoissonRegressor
from sklearn.metrics import roc_auc_score

from features.areas import AreaIndex, areas_from_table, finalize_areas
from features.ingest import clean_events
from features.io import read_source
from features.mapping import Mapping, apply_mapping, load_mapping
from features.synthetic_city import CityConfig, SyntheticCity, synthesize_city, write_city
from riskgrid import vocabulary as C
from riskgrid.calendar import daily_calendar
from riskgrid.settings import Settings

MAPPINGS = Path(__file__).resolve().parents[2] / "experiments" / "mappings"
INCIDENT_MAPPING = MAPPINGS / "synthetic_city_incidents.toml"
PETITION_MAPPING = MAPPINGS / "synthetic_city_petitions.toml"

SMALL = CityConfig(seed=11, n_districts=1, streets_per_district=2, communities_per_street=2,
                   grids_per_community=5, start=date(2022, 1, 3), end=date(2022, 12, 25),
                   export_date=date(2023, 1, 2))
# Two districts (the second mostly rural), 200 grids, two years: enough events to see effects.
MEDIUM = CityConfig(seed=5, n_districts=2, streets_per_district=2, communities_per_street=5,
                    grids_per_community=10, start=date(2022, 1, 3), end=date(2023, 12, 31),
                    export_date=date(2024, 1, 8))


# MEDIUM without the mechanisms that move rates over time (regimes, trends, shocks).
STATIC = replace(MEDIUM, regime_sd=0.0, district_growth=0.0, district_decline=0.0,
                 heat_wave_effect=0.0, rainstorm_effect=0.0, campaign_effect=0.0)


@pytest.fixture(scope="module")
def small() -> SyntheticCity:
    return synthesize_city(SMALL)


@pytest.fixture(scope="module")
def medium() -> SyntheticCity:
    return synthesize_city(MEDIUM)


@pytest.fixture(scope="module")
def static() -> SyntheticCity:
    return synthesize_city(STATIC)


# Decoding is slow and the cities are frozen: decode each once. The city is kept with its
# decoded export, so its id cannot be reused by another city.
_DECODED: dict[int, tuple[SyntheticCity, pd.DataFrame]] = {}


def incidents_of(city: SyntheticCity) -> pd.DataFrame:
    """The incident export decoded with the project's mapping file (planted dirt removed)."""
    if id(city) not in _DECODED:
        _DECODED[id(city)] = (city, decode_incidents(city.incidents, city.areas))
    return _DECODED[id(city)][1].copy()


def decode_incidents(raw: pd.DataFrame, areas: pd.DataFrame) -> pd.DataFrame:
    mapped, _ = apply_mapping(raw.drop_duplicates(), load_mapping(INCIDENT_MAPPING))
    out = mapped.assign(
        occurred_at=pd.to_datetime(mapped[C.OCCURRED_AT], errors="coerce", format="mixed"),
        reported_at=pd.to_datetime(mapped[C.REPORTED_AT], errors="coerce", format="mixed"),
        closed_at=pd.to_datetime(mapped[C.CLOSED_AT], errors="coerce", format="mixed"),
        people_involved=pd.to_numeric(mapped[C.PEOPLE_INVOLVED], errors="coerce"),
        satisfaction=pd.to_numeric(mapped[C.SATISFACTION], errors="coerce"))
    out = out[out[C.AREA_ID].isin(areas[C.AREA_ID]) & out[C.OCCURRED_AT].notna()
              & (out[C.REPORTED_AT] < pd.Timestamp("2030-01-01")) & (out[C.PEOPLE_INVOLVED] >= 0)]
    return out.assign(family=out[C.CATEGORY].str.split(".").str[0],
                      day=out[C.OCCURRED_AT].dt.normalize())


def petitions_of(city: SyntheticCity) -> pd.DataFrame:
    raw = city.petitions.drop_duplicates()
    mapped, _ = apply_mapping(raw, load_mapping(PETITION_MAPPING))
    out = mapped.assign(filed_at=pd.to_datetime(mapped[C.FILED_AT], errors="coerce",
                                                format="mixed"))
    out = out[out[C.AREA_ID].isin(city.areas[C.AREA_ID]) & out[C.FILED_AT].notna()
              & (out[C.PETITIONER_COUNT] > 0)]
    return out.assign(day=out[C.FILED_AT].dt.normalize())


def per_grid(frame: pd.DataFrame, areas: pd.DataFrame) -> pd.Series:
    """Events per 1,000 residents of each grid."""
    counts = frame.groupby(C.AREA_ID).size().reindex(areas[C.AREA_ID], fill_value=0)
    return counts / areas.set_index(C.AREA_ID)[C.POPULATION] * 1000


def top_over_bottom(rate: pd.Series, driver: pd.Series) -> float:
    """Mean rate of the top third of grids by ``driver`` over that of the bottom third."""
    low, high = driver.quantile([1 / 3, 2 / 3])
    return rate[driver >= high].mean() / rate[driver <= low].mean()


def check_digit(body: str) -> str:
    weights = [2 ** (17 - i) % 11 for i in range(17)]
    return "10X98765432"[sum(int(c) * w for c, w in zip(body, weights)) % 11]


# --- determinism ---------------------------------------------------------------------------

def test_same_seed_gives_identical_frames_and_another_seed_does_not(small):
    again = synthesize_city(SMALL)
    for name in ("areas", "incidents", "petitions", "intensity", "export_dirt", "episodes"):
        pd.testing.assert_frame_equal(getattr(small, name), getattr(again, name))
    assert small.drivers == again.drivers
    other = synthesize_city(replace(SMALL, seed=12))
    assert not other.incidents.equals(small.incidents)
    assert not other.areas[C.POPULATION].equals(small.areas[C.POPULATION])


def test_write_city_writes_byte_identical_files(tmp_path):
    first = write_city(tmp_path / "a", config=SMALL)
    second = write_city(tmp_path / "b", config=SMALL)
    assert set(first) == {"areas", "incidents", "petitions", "intensity", "drivers", "dirt",
                          "episodes"}
    for name, path in first.items():
        assert path.is_file() and path.stat().st_size > 0, name
        assert hashlib.sha256(path.read_bytes()).digest() == \
            hashlib.sha256(second[name].read_bytes()).digest(), name


# --- areas ---------------------------------------------------------------------------------

def test_every_grid_has_consistent_parents(small):
    areas = small.areas
    assert len(areas) == 20 and areas[C.AREA_ID].is_unique
    assert (areas[C.AREA_ID].str[:9] == areas[C.COMMUNITY_ID]).all()
    assert (areas[C.COMMUNITY_ID].str[:6] == areas[C.STREET_ID]).all()
    assert (areas[C.STREET_ID].str[:3] == areas[C.DISTRICT_ID]).all()
    for level in ("community", "street", "district"):
        names = areas.groupby(C.LEVEL_ID[level])[C.LEVEL_NAME[level]].nunique()
        assert (names == 1).all(), level
    assert areas[C.AREA_NAME].str.endswith("网格").all()
    assert areas[C.STREET_NAME].str.endswith(("街道", "镇")).all()


def test_neighbours_are_symmetric_adjacent_squares(small):
    areas = small.areas.set_index(C.AREA_ID)
    squares = shapely.from_wkt(areas[C.GEOMETRY].to_numpy())
    where = {a: i for i, a in enumerate(areas.index)}
    for area, cell in areas[C.NEIGHBOURS].items():
        for other in cell.split(";"):
            assert area in areas.at[other, C.NEIGHBOURS].split(";")
            assert shapely.touches(squares[where[area]], squares[where[other]])
    touching = sum(shapely.touches(squares[i], squares).sum() for i in range(len(squares)))
    assert touching == sum(len(c.split(";")) for c in areas[C.NEIGHBOURS])


def test_each_level_is_a_contiguous_block_of_cells():
    city_areas = synthesize_city(replace(SMALL, end=date(2022, 1, 30))).areas
    squares = shapely.from_wkt(city_areas[C.GEOMETRY].to_numpy())
    for level in ("community", "street", "district"):
        for rows in city_areas.groupby(C.LEVEL_ID[level]).groups.values():
            union = shapely.union_all(squares[city_areas.index.get_indexer(rows)])
            assert union.geom_type == "Polygon", level
            assert union.area == pytest.approx(shapely.envelope(union).area), level


def test_default_city_is_600_grids_on_a_30_by_20_lattice():
    from features.synthetic_city import build_areas

    areas = build_areas(CityConfig(), np.random.default_rng(0))
    assert len(areas) == 600 and areas[C.DISTRICT_NAME].nunique() == 3
    bounds = shapely.total_bounds(shapely.from_wkt(areas[C.GEOMETRY].to_numpy()))
    assert bounds[2] - bounds[0] == 15_000 and bounds[3] - bounds[1] == 10_000
    assert areas[C.NEIGHBOURS].str.count(";").max() == 7
    rural = areas.groupby(C.DISTRICT_ID)[C.URBAN].mean()
    assert rural.min() < 0.5 < rural.max()
    share = areas[C.FLOATING_POPULATION] / areas[C.POPULATION]
    assert 0.04 < share.min() and share.max() <= 0.61 and share.max() > 0.45
    assert areas[C.POPULATION].between(1200, 4500).all()
    assert areas[C.GRID_OFFICERS].between(1, 3).all()


# --- personal fields -----------------------------------------------------------------------

def test_id_numbers_are_valid_and_each_person_keeps_name_id_and_phone(medium):
    p = medium.petitions
    ids = p["身份证号"]
    assert ids.str.fullmatch(r"\d{17}[\dX]").all()
    assert (ids.str[17] == ids.str[:17].map(check_digit)).all()
    assert pd.to_datetime(ids.str[6:14], format="%Y%m%d").dt.year.between(1950, 2005).all()
    assert p["联系电话"].str.fullmatch(r"1[358]\d{9}").all()
    assert (p.groupby("身份证号")[["姓名", "联系电话"]].nunique() == 1).all().all()
    assert (p.groupby("联系电话")["身份证号"].nunique() == 1).all()
    assert p["姓名"].str.len().between(2, 3).all()


def test_repeat_flag_marks_people_who_filed_before(medium):
    p = medium.petitions.drop_duplicates()
    assert (p["是否重复访"] == p["身份证号"].duplicated()).all()
    assert 0.1 < p["是否重复访"].mean() < 0.5


# --- the exports go through the project's ingest ------------------------------------------

def test_ingest_accepts_everything_but_the_planted_dirt(tmp_path):
    paths = write_city(tmp_path / "city", config=SMALL)
    settings = Settings(data_dir=tmp_path, pseudonym_secret="test", now=datetime(2023, 1, 3))
    areas_result = areas_from_table(read_source(paths["areas"]), Mapping())
    assert len(areas_result.quarantine) == 0
    areas = finalize_areas(areas_result.clean)
    dirt = pd.read_csv(paths["dirt"])
    for kind, path, mapping_path in (("incidents", paths["incidents"], INCIDENT_MAPPING),
                                     ("petitions", paths["petitions"], PETITION_MAPPING)):
        mapping = load_mapping(mapping_path)
        raw = read_source(path, mapping.format, mapping.encoding)
        result = clean_events(raw, mapping, kind, kind, areas, AreaIndex(), settings)
        planted = dirt[dirt["file"] == path.name]
        assert result.duplicates == (planted["kind"] == "duplicate").sum(), kind
        broken = planted[planted["kind"] != "duplicate"]
        assert sorted(result.quarantine[C.ROW]) == sorted(broken["row"]), kind
        assert len(result.clean) == len(raw) - len(planted)
        assert len(broken) > 0 and (kind == "petitions" or result.duplicates > 0)
    assert set(broken["kind"]) == {"unknown_area", "bad_date", "zero_people"}


def test_mapping_files_cover_the_whole_vocabulary():
    incidents = load_mapping(INCIDENT_MAPPING)
    assert sorted(incidents.recode["category"].values()) == sorted(C.CATEGORIES)
    assert sorted(incidents.recode["channel"].values()) == sorted(C.CHANNELS)
    assert sorted(incidents.recode["status"].values()) == sorted(C.INCIDENT_STATUSES)
    petitions = load_mapping(PETITION_MAPPING)
    assert sorted(petitions.recode["topic"].values()) == sorted(C.PETITION_TOPICS)
    assert sorted(petitions.recode["escalation"]) == sorted(C.ESCALATION_LEVELS.values())
    assert sorted(petitions.recode["status"].values()) == sorted(C.PETITION_STATUSES)
    assert set(petitions.columns.values()) >= set(C.PERSONAL_FIELDS)


# --- handling records and reporting noise --------------------------------------------------

def test_handling_records_follow_the_export_rules(medium):
    inc = incidents_of(medium)
    closed = inc[C.STATUS] == "closed"
    assert (inc[C.CLOSED_AT].notna() == closed).all()
    assert inc.loc[~closed, C.SATISFACTION].isna().all()
    export_at = pd.Timestamp(MEDIUM.export_date) + pd.Timedelta(hours=8)
    end = inc[C.CLOSED_AT].fillna(export_at)
    late = (end - inc[C.REPORTED_AT]) > pd.Timedelta(days=15)
    assert ((inc[C.OVERDUE] == "true") == late).all()
    rated = inc[closed & inc[C.SATISFACTION].notna()]
    by_overdue = rated.groupby(C.OVERDUE)[C.SATISFACTION].mean()
    assert by_overdue["true"] < by_overdue["false"] - 1
    assert (inc[C.REPORTED_AT] >= inc[C.OCCURRED_AT]).all()
    assert (inc[C.REPORTED_AT] <= export_at).all()


def test_reporting_lag_is_mostly_hours_with_a_long_tail(medium):
    inc = incidents_of(medium)
    lag = (inc[C.REPORTED_AT] - inc[C.OCCURRED_AT]).dt.total_seconds() / 86_400
    assert 0.86 < (lag < 1).mean() < 0.92
    assert 0.08 < lag.between(1, 7).mean() < 0.12
    assert 0.005 < (lag >= 14).mean() < 0.015


def test_channel_mix_depends_on_the_family(medium):
    inc = incidents_of(medium)
    mix = pd.crosstab(inc["family"], inc[C.CHANNEL], normalize="index")
    assert mix.loc["livelihood"].idxmax() == "hotline_12345"
    assert mix.loc["dispute"].idxmax() == "grid_officer"
    assert mix.loc["livelihood", "police"] == 0


# --- planted mechanisms --------------------------------------------------------------------

def planted_slopes(city: SyntheticCity) -> dict[str, float]:
    """Poisson GLM slope of each family's rate per resident on the planted covariate index."""
    inc, areas = incidents_of(city), city.areas.set_index(C.AREA_ID)
    share = areas[C.FLOATING_POPULATION] / areas[C.POPULATION]
    rentals = areas[C.RENTAL_UNITS] / areas[C.HOUSEHOLDS]
    planted = MEDIUM.floating_share_effect * share + MEDIUM.rental_effect * rentals
    slopes = {}
    for family in ("dispute", "law_enforcement", "livelihood"):
        counts = inc[inc["family"] == family].groupby(C.AREA_ID).size()
        counts = counts.reindex(areas.index, fill_value=0)
        model = PoissonRegressor(alpha=0, tol=1e-10, max_iter=1000).fit(
            planted.to_frame(), counts / areas[C.POPULATION], sample_weight=areas[C.POPULATION])
        slopes[family] = model.coef_[0]
        if family != "livelihood":
            assert top_over_bottom(per_grid(inc[inc["family"] == family], city.areas),
                                   share) > 1.3, family
    return slopes


def test_floating_population_and_rentals_raise_disputes_and_law_enforcement(medium, static):
    # without the moving rates, a log-linear Poisson model recovers the planted index
    slopes = planted_slopes(static)
    assert 0.9 < slopes["law_enforcement"] < 1.1
    assert 0.5 < slopes["dispute"] < 1.05  # diluted by wage arrears and neighbour spread
    assert abs(slopes["livelihood"]) < 0.15
    # regimes, trends and campaigns add grid-level noise, but the covariates still show
    slopes = planted_slopes(medium)
    assert 0.8 < slopes["law_enforcement"] < 1.25
    assert 0.4 < slopes["dispute"] < 1.2
    assert abs(slopes["livelihood"]) < 0.3


def test_enterprises_raise_wage_arrears_disputes_and_petitions(medium):
    inc, pet = incidents_of(medium), petitions_of(medium)
    enterprises = medium.areas.set_index(C.AREA_ID)[C.ENTERPRISES]
    wage = per_grid(inc[inc[C.CATEGORY] == "dispute.wage_arrears"], medium.areas)
    assert top_over_bottom(wage, enterprises) > 2
    wage_petitions = per_grid(pet[pet[C.TOPIC] == "wage_arrears"], medium.areas)
    assert top_over_bottom(wage_petitions, enterprises) > 2


def test_wage_arrears_peak_in_the_six_weeks_before_spring_festival(medium):
    cal = daily_calendar(MEDIUM.start, MEDIUM.end).set_index("day")
    pre = cal["pre_spring_festival"]
    inc, pet = incidents_of(medium), petitions_of(medium)
    # first petitions only: an episode's repeat petitions come in clumps that add noise
    for frame in (inc[inc[C.CATEGORY] == "dispute.wage_arrears"],
                  pet[(pet[C.TOPIC] == "wage_arrears") & ~pet[C.REPEAT].astype(bool)]):
        daily = frame.groupby("day").size().reindex(cal.index, fill_value=0)
        assert daily[pre].mean() > 1.6 * daily[~pre & ~cal["spring_festival_break"]].mean()
    other = pet[pet[C.TOPIC] == "social_security"].groupby("day").size()
    other = other.reindex(cal.index, fill_value=0)
    assert other[pre].mean() < 1.3 * other[~pre].mean()


def test_calendar_lowers_reports_on_weekends_and_holidays(medium):
    cal = daily_calendar(MEDIUM.start, MEDIUM.end).set_index("day")
    inc = incidents_of(medium)
    daily = inc[inc["family"] == "livelihood"].groupby("day").size()
    daily = daily.reindex(cal.index, fill_value=0)
    workday = ~cal["weekend"] & ~cal["statutory_holiday"]
    assert daily[cal["weekend"] & ~cal["statutory_holiday"]].mean() < 0.75 * daily[workday].mean()
    assert daily[cal["makeup_workday"]].mean() > 0.8 * daily[workday].mean()
    assert daily[cal["spring_festival_break"]].mean() < 0.4 * daily[workday].mean()
    assert daily[cal["national_day_week"]].mean() < 0.5 * daily[workday].mean()
    july = daily[(daily.index.month == 7) & workday].mean()
    assert july > 1.5 * daily[(daily.index.month == 1) & workday].mean()  # summer peak


def test_disputes_spread_to_neighbouring_grids(medium):
    quiet = synthesize_city(replace(MEDIUM, neighbour_spread=0.0))
    spread, alone = incidents_of(medium), incidents_of(quiet)
    ratio = (spread["family"] == "dispute").sum() / (alone["family"] == "dispute").sum()
    assert 1.2 < ratio < 2.0  # offspring share of a stable process: 1 / (1 - branching ratio)
    same = medium.intensity[C.FAMILY].isin(["law_enforcement", "livelihood"])  # untouched
    pd.testing.assert_frame_equal(medium.intensity[same], quiet.intensity[same])


def test_petitions_are_higher_where_the_dispute_backlog_is_high(medium):
    def backlog_and_later_petitions(city: SyntheticCity) -> tuple[pd.Series, pd.Series]:
        """Open disputes reported 30+ days before mid-2023, and petitions filed after it."""
        inc = incidents_of(city)
        disputes = inc[inc["family"] == "dispute"]
        cutoff = pd.Timestamp("2023-07-01")
        open_late = disputes[(disputes[C.REPORTED_AT] < cutoff - pd.Timedelta(days=30))
                             & (disputes[C.CLOSED_AT].isna() | (disputes[C.CLOSED_AT] > cutoff))]
        backlog = open_late.groupby(C.AREA_ID).size().reindex(city.areas[C.AREA_ID],
                                                              fill_value=0)
        pet = petitions_of(city)
        later = per_grid(pet[(pet["day"] >= cutoff) & (pet[C.TOPIC] != "wage_arrears")],
                         city.areas)
        return backlog, later

    def elasticity(city: SyntheticCity) -> float:
        backlog, later = backlog_and_later_petitions(city)
        model = PoissonRegressor(alpha=0, tol=1e-10, max_iter=1000)
        return model.fit(np.log1p(backlog).to_frame(), later).coef_[0]

    backlog, later = backlog_and_later_petitions(medium)
    assert later[backlog >= 2].mean() > 1.25 * later[backlog == 0].mean()
    flat = synthesize_city(replace(MEDIUM, backlog_effect=0.0))
    assert elasticity(medium) > 0.2
    assert elasticity(medium) > elasticity(flat) + 0.1


def test_repeat_petitions_rise_in_the_weeks_before_a_collective_petition(medium):
    pet = petitions_of(medium)
    collective = pet[pet[C.PETITIONER_COUNT] >= C.COLLECTIVE_MIN_PEOPLE]
    assert len(collective) >= 10
    weeks = np.zeros(8)
    for _, event in collective.iterrows():
        same = pet[(pet[C.AREA_ID] == event[C.AREA_ID]) & (pet[C.TOPIC] == event[C.TOPIC])
                   & (pet[C.PETITIONER_COUNT] < C.COLLECTIVE_MIN_PEOPLE)]
        age = (event["day"] - same["day"]).dt.days
        weeks += np.histogram(age, bins=np.arange(0, 57, 7))[0]
    assert weeks[:2].sum() > 3 * max(weeks[6:].sum(), 1)
    assert pet.loc[collective.index, C.REPEAT].mean() > 0.9  # the group's leader filed before
    inc = incidents_of(medium)
    mass = inc[(inc["family"] == "dispute") & (inc[C.PEOPLE_INVOLVED] >= 5)]
    keys = set(zip(mass[C.AREA_ID], mass["day"]))
    matched = [(a, d) in keys for a, d in zip(collective[C.AREA_ID], collective["day"])]
    assert np.mean(matched) > 0.9


def test_collective_events_are_rare(medium):
    pet = petitions_of(medium)
    collective = pet[pet[C.PETITIONER_COUNT] >= 5]
    per_grid_year = len(collective) / len(medium.areas) / 2
    assert 0.01 < per_grid_year < 0.2
    assert collective[C.ESCALATION].astype(int).gt(0).mean() > \
        pet[C.ESCALATION].astype(int).gt(0).mean() + 0.15


# --- rates that move over time -------------------------------------------------------------

def weekly_truth(city: SyntheticCity, family: str, column: str = "expected") -> pd.DataFrame:
    rows = city.intensity[city.intensity[C.FAMILY] == family]
    return rows.pivot(index=C.PERIOD, columns=C.AREA_ID, values=column)


def events_of(city: SyntheticCity, driver: str) -> list[dict]:
    return next(d for d in city.drivers if d["driver"] == driver)["events"]


def test_grid_regimes_heat_up_and_cool_down_over_months(medium, static):
    def share_of_city(city: SyntheticCity) -> np.ndarray:
        """Log of each grid's share of the city's expected livelihood requests, centred per
        grid: the calendar and city-wide shocks cancel, the regime (and trend) remain."""
        expected = weekly_truth(city, "livelihood")
        share = np.log(expected.div(expected.sum(axis=1), axis=0))
        return (share - share.mean()).to_numpy()

    def autocorrelation(x: np.ndarray, lag: int) -> float:
        return np.corrcoef(x[lag:].ravel(), x[:-lag].ravel())[0, 1]

    moving = share_of_city(medium)
    assert 0.15 < moving.std() < 0.4  # loading 0.6 x sd 0.45, less what two years average out
    assert autocorrelation(moving, 1) > 0.9
    assert autocorrelation(moving, 26) < 0.6
    assert np.abs(share_of_city(static)).max() < 1e-9  # strength 0: no regimes


def test_new_town_grows_and_old_centre_declines(medium):
    inc = incidents_of(medium)
    counts = inc.groupby([inc[C.AREA_ID].str[:3], inc["day"].dt.year]).size()
    growth = counts["D02"][2023] / counts["D02"][2022]
    decline = counts["D01"][2023] / counts["D01"][2022]
    planted = np.exp(MEDIUM.district_growth + MEDIUM.district_decline)
    assert growth > 1.1 and decline < 1.0
    assert growth / decline == pytest.approx(planted, rel=0.12)


def test_campaign_weeks_raise_law_enforcement_in_their_street(medium):
    campaigns = events_of(medium, "enforcement_campaigns")
    assert len(campaigns) >= 4
    inc = incidents_of(medium)
    law = inc[inc["family"] == "law_enforcement"]
    daily = law.groupby(["day", law[C.AREA_ID].str[:6]]).size().unstack(fill_value=0)
    share = daily.div(daily.sum(axis=1), axis=0)
    lifts, target_lifts = [], []
    for c in campaigns:
        inside = (share.index >= c["start"]) & (share.index <= c["end"])
        lifts.append(share.loc[inside, c[C.STREET_ID]].mean()
                     / share.loc[~inside, c[C.STREET_ID]].mean())
        street = law[law[C.AREA_ID].str[:6] == c[C.STREET_ID]]
        during = street["day"].between(c["start"], c["end"])
        on_target = street[C.CATEGORY] == c["target"]
        target_lifts.append(on_target[during].mean() / on_target[~during].mean())
    assert np.mean(lifts) > 1.25 and min(lifts) > 1.0
    assert np.median(target_lifts) > 1.5  # the extra reports are on the campaign's target


def test_heat_waves_raise_livelihood_requests_city_wide(medium):
    heat_waves = events_of(medium, "heat_waves")
    assert len(heat_waves) >= 2
    inc = incidents_of(medium)
    summer = inc[(inc["family"] == "livelihood") & inc["day"].dt.month.isin([6, 7, 8])]
    hot = np.zeros(len(summer), bool)
    for wave in heat_waves:
        hot |= summer["day"].between(wave["start"], wave["end"]).to_numpy()
    days = summer.groupby("day")["day"].size()
    hot_days = days.index.isin(summer.loc[hot, "day"].unique())
    assert days[hot_days].mean() > 1.4 * days[~hot_days].mean()
    utilities = summer[C.CATEGORY] == "livelihood.utilities"
    assert utilities[hot].mean() > utilities[~hot].mean() + 0.15
    # city-wide: nearly every community sees more requests a day in a heat wave
    per_day = summer.groupby([summer[C.AREA_ID].str[:9], hot]).size().unstack()
    per_day = per_day / np.array([(~hot_days).sum(), hot_days.sum()])
    assert (per_day[True] > per_day[False]).mean() > 0.85


def test_group_incidents_come_mostly_from_planted_mechanisms(medium):
    inc = incidents_of(medium)
    group = inc[C.PEOPLE_INVOLVED] >= 5
    assert (inc.loc[group, "family"] == "dispute").all()  # ordinary incidents: 1-4 people
    # wage-arrears disputes draw crowds before Spring Festival
    cal = daily_calendar(MEDIUM.start, MEDIUM.end).set_index("day")
    wage = inc[inc[C.CATEGORY] == "dispute.wage_arrears"]
    season = cal["pre_spring_festival"].reindex(wage["day"]).to_numpy()
    crowd = (wage[C.PEOPLE_INVOLVED] >= 5).to_numpy()
    assert crowd[season].mean() > 3 * crowd[~season].mean()
    # without backlog, surge and wage-season escalation only the random share (and the
    # episodes' mass disputes) remain: about 50-100 a year in the 600-grid city
    quiet = synthesize_city(replace(MEDIUM, group_backlog_effect=0.0, group_surge_effect=0.0,
                                    wage_group_share=0.0))
    quiet_inc = incidents_of(quiet)
    mass = quiet.episodes["culminated"].sum()
    random_group = (quiet_inc[C.PEOPLE_INVOLVED] >= 5).sum() - mass
    assert random_group < 0.5 * group.sum()
    assert 0.05 < random_group / len(quiet.areas) / 2 < 0.2
    # the truth ranks next year's high-risk grid-weeks far better than last year's grid rates
    flag = (weekly_truth(medium, "group", "observed")
            + weekly_truth(medium, "collective", "observed")) > 0
    chance = 1 - np.exp(-(weekly_truth(medium, "group") + weekly_truth(medium, "collective")))
    later = flag.index >= pd.Timestamp("2023-01-01")
    y = flag[later].to_numpy().ravel()
    history = np.tile(flag[~later].mean().to_numpy(), (later.sum(), 1)).ravel()
    truth_auc = roc_auc_score(y, chance[later].to_numpy().ravel())
    assert truth_auc > 0.75
    assert truth_auc > roc_auc_score(y, history) + 0.15


# --- ground truth --------------------------------------------------------------------------

def test_truth_intensity_agrees_with_the_observed_and_exported_counts(medium):
    truth = medium.intensity
    assert set(truth[C.FAMILY]) == {"law_enforcement", "livelihood", "dispute", "petitions",
                                    "group", "collective"}
    assert str(truth[C.PERIOD].dtype) == "datetime64[ns]"
    assert (truth[C.PERIOD].dt.day_of_week == 0).all()
    for family, rows in truth.groupby(C.FAMILY):
        total = rows["expected"].sum()
        assert abs(rows["observed"].sum() - total) < 4 * np.sqrt(total), family
        if family in ("group", "collective"):  # rare, and culminations are Bernoulli draws
            continue
        # observed is a Poisson draw of expected: Pearson dispersion about 1
        dispersion = ((rows["observed"] - rows["expected"]) ** 2 / rows["expected"]).mean()
        assert 0.85 < dispersion < 1.2, family
        grids = rows.groupby(C.AREA_ID)[["expected", "observed"]].sum()
        weeks = rows.groupby(C.PERIOD)[["expected", "observed"]].sum()
        assert np.corrcoef(grids["expected"], grids["observed"])[0, 1] > 0.8, family
        assert np.corrcoef(weeks["expected"], weeks["observed"])[0, 1] > 0.6, family
    inc = incidents_of(medium)
    exported = inc.groupby("family").size()
    observed = truth.groupby(C.FAMILY)["observed"].sum()
    for family in ("law_enforcement", "livelihood", "dispute"):
        assert 0.75 < exported[family] / observed[family] < 0.95, family
    pet = petitions_of(medium)
    assert len(pet) == pytest.approx(observed["petitions"], abs=10)
    # group incidents are always reported: the export has them all but the planted dirt
    assert (inc[C.PEOPLE_INVOLVED] >= 5).sum() == pytest.approx(observed["group"], abs=3)
    collective = (pet[C.PETITIONER_COUNT] >= C.COLLECTIVE_MIN_PEOPLE).sum()
    assert collective == pytest.approx(observed["collective"], abs=2)


def test_drivers_name_every_planted_mechanism(small):
    names = {d["driver"] for d in small.drivers}
    assert {"floating_population_share", "rental_units", "enterprises", "neighbour_spread",
            "backlog", "weak_signal_repeat_petitions", "pre_spring_festival_wage_arrears",
            "seasonality_holidays", "grid_regimes", "district_trends", "heat_waves",
            "rainstorms", "enforcement_campaigns", "group_incidents_background",
            "group_incidents_backlog", "group_incidents_surge",
            "group_incidents_wage_arrears"} <= names
    for d in small.drivers:
        assert {"driver", "mechanism", "affects", "inputs", "strength"} <= set(d)
    json.dumps(small.drivers)
    spread = next(d for d in small.drivers if d["driver"] == "neighbour_spread")
    assert spread["branching_ratio"] < 0.6


def test_export_dirt_is_listed_row_by_row(small):
    dirt = small.export_dirt
    inc = small.incidents
    dups = dirt[(dirt["file"] == "incidents.csv") & (dirt["kind"] == "duplicate")]
    for row in dups["row"]:
        assert inc.iloc[row - 1].equals(inc.iloc[row - 2])
    assert len(dups) == pytest.approx(0.002 * len(inc), abs=2)
    future = dirt[dirt["kind"] == "future_date"]
    assert inc.iloc[future["row"] - 1]["上报时间"].str.startswith("2031").all()


# --- the default city ----------------------------------------------------------------------

@pytest.mark.slow
def test_default_city_has_realistic_volumes_and_group_incidents(tmp_path):
    paths = write_city(tmp_path / "city", seed=7)
    raw = pd.read_csv(paths["incidents"], encoding="gb18030", dtype=str)
    years = raw["发生时间"].str[:4].value_counts()
    for year in ("2022", "2023", "2024", "2025"):
        assert 60_000 < years[year] < 80_000, year
    petitions = pd.read_json(paths["petitions"], lines=True, dtype=False)
    filed = petitions["登记日期"].str[:4]
    collective = petitions[pd.to_numeric(petitions["人数"]) >= 5]
    for year in ("2022", "2023", "2024", "2025"):
        assert 3_000 < (filed == year).sum() < 6_000, year
        assert 20 <= (collective["登记日期"].str[:4] == year).sum() <= 60, year
    truth = pd.read_parquet(paths["intensity"])
    assert len(truth) == 600 * 208 * 6
    dirt = pd.read_csv(paths["dirt"])
    assert 20 <= (dirt["kind"] != "duplicate").sum() <= 80
    areas = pd.read_csv(paths["areas"])
    disputes = decode_incidents(raw[raw["事件类别"].isin(C.SUB_CATEGORIES["dispute"].values())],
                                areas)
    group = disputes[C.PEOPLE_INVOLVED] >= 5
    assert 150 < group.groupby(disputes["day"].dt.year).sum().min()
    assert group.groupby(disputes["day"].dt.year).sum().max() < 600
    # disputes draw crowds where the backlog is high and after a local surge of disputes
    share = group_share_by_backlog(disputes, areas)
    assert share[">=5"] > 1.8 * share["0"]
    share = group_share_by_surge(disputes, areas)
    assert share[">2"] > 1.3 * share["<=1"]


def group_share_by_backlog(disputes: pd.DataFrame, areas: pd.DataFrame) -> pd.Series:
    """Share of disputes with 5+ people in the month after each monthly cutoff, by the grid's
    backlog at the cutoff (reported 30+ days before it and still open)."""
    rows = []
    for cutoff in pd.date_range("2022-04-01", "2025-12-01", freq="MS"):
        late = disputes[(disputes[C.REPORTED_AT] < cutoff - pd.Timedelta(days=30))
                        & (disputes[C.CLOSED_AT].isna() | (disputes[C.CLOSED_AT] > cutoff))]
        backlog = late.groupby(C.AREA_ID).size().reindex(areas[C.AREA_ID], fill_value=0)
        month = disputes[disputes["day"].between(cutoff, cutoff + pd.Timedelta(days=29))]
        rows.append(pd.DataFrame({"backlog": backlog.reindex(month[C.AREA_ID]).to_numpy(),
                                  "group": (month[C.PEOPLE_INVOLVED] >= 5).to_numpy()}))
    table = pd.concat(rows)
    bucket = pd.cut(table["backlog"], [-1, 0, 4, np.inf], labels=["0", "1-4", ">=5"])
    return table.groupby(bucket, observed=True)["group"].mean()


def group_share_by_surge(disputes: pd.DataFrame, areas: pd.DataFrame) -> pd.Series:
    """Share of disputes with 5+ people in a grid-week, by the surge of its neighbourhood
    (the grid and its neighbours) in the week before: disputes that week against their
    weekly mean over the year before, both plus one."""
    week = disputes["day"] - pd.to_timedelta(disputes["day"].dt.day_of_week, unit="D")
    counts = disputes.groupby([week, C.AREA_ID]).size().unstack(fill_value=0)
    counts = counts.reindex(columns=areas[C.AREA_ID], fill_value=0)
    groups = disputes[disputes[C.PEOPLE_INVOLVED] >= 5].groupby([week, C.AREA_ID]).size()
    groups = groups.unstack(fill_value=0).reindex_like(counts).fillna(0)
    block = {a: [a, *n.split(";")] for a, n in zip(areas[C.AREA_ID], areas[C.NEIGHBOURS])}
    local = pd.DataFrame({a: counts[b].sum(axis=1) for a, b in block.items()})
    usual = local.rolling(52, min_periods=8).mean().shift(1)
    surge = ((local.shift(1) + 1) / (usual + 1)).stack()
    table = pd.DataFrame({"surge": surge, "n": counts.stack(), "group": groups.stack()})
    table = table.dropna()
    bucket = pd.cut(table["surge"], [0, 1, 2, np.inf], labels=["<=1", "1-2", ">2"])
    sums = table.groupby(bucket, observed=True)[["n", "group"]].sum()
    return sums["group"] / sums["n"]
