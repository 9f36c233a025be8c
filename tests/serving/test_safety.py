"""The safety index: figures per 10,000 residents, scored against the level's usual figure,
weighted as configured, indicators a city lacks left out; on the synthetic city, the grids and
communities with more planted risk score lower."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from riskgrid import vocabulary as C
from riskgrid.experiment import SAFETY_INDICATORS, SafetyConfig
from serving.safety import SafetyIndex

WEEKS = pd.date_range("2024-01-01", periods=3, freq="7D")
AREAS = pd.DataFrame({C.AREA_ID: ["G1", "G2"], C.COMMUNITY_ID: "C1", C.STREET_ID: "S1",
                      C.DISTRICT_ID: "D1", C.POPULATION: [10_000.0, 5_000.0]})


def panel(**columns: dict[str, list[float]]) -> pd.DataFrame:
    """Two grids over three weeks; each keyword is a panel column: grid -> its three values."""
    frame = pd.DataFrame({C.AREA_ID: np.repeat(["G1", "G2"], 3), C.PERIOD: np.tile(WEEKS, 2)})
    for name, values in columns.items():
        frame[name] = np.concatenate([values["G1"], values["G2"]]).astype(float)
    return frame


DISPUTES = {"G1": [2, 4, 6], "G2": [0, 1, 3]}
COLLECTIVE = {"G1": [0, 0, 1], "G2": [0, 0, 0]}


def index_of(frame: pd.DataFrame, **config) -> SafetyIndex:
    return SafetyIndex(frame, AREAS, SafetyConfig(window=2, **config), "week", 52)


def record(index: SafetyIndex, area: str, week: int = 2) -> dict:
    return index.records([area], WEEKS[week])[0]


def test_figures_are_per_10000_residents_and_score_against_the_levels_usual_figure():
    index = index_of(panel(outcome_dispute=DISPUTES))
    # G1: 4 + 6 disputes over the last 2 weeks among 10,000 residents; G2: 1 + 3 among 5,000.
    # Week 0 has one week of data: its count stands for the window (2 x 2 = 4 for G1).
    grid, k = index.level("grid"), SAFETY_INDICATORS.index("dispute")
    assert grid.figures[k, :, 2] == pytest.approx([10.0, 8.0])
    assert grid.figures[k, :, 0] == pytest.approx([4.0, 0.0])
    # the usual figure of grids: the median of 4, 6, 10, 0, 2, 8
    assert grid.typical[k] == pytest.approx(5.0)
    g1, g2 = record(index, "G1"), record(index, "G2")
    assert g1["value"] == pytest.approx(100 / (1 + 10 / 5))
    assert g2["value"] == pytest.approx(100 / (1 + 8 / 5))
    assert (g2["rank"], g1["rank"], g1["units"]) == (1, 2, 2)  # 1 = the safest
    # the community adds its grids up: 14 disputes in weeks 1-2 among 15,000 residents
    community = record(index, "C1")
    assert community["components"][0]["figure"] == pytest.approx(14 / 15_000 * 10_000)
    assert community["components"][0]["typical"] == pytest.approx(7 / 15_000 * 10_000)
    assert community["value"] == pytest.approx(100 / (1 + 2))
    assert record(index, "city")["value"] == pytest.approx(community["value"])
    # a change is in index points against the week before; no year before in three weeks
    assert g1["change"] == pytest.approx(g1["value"] - 100 / (1 + 6 / 5))
    assert g1["change_year"] is None
    assert [c["name"] for c in g1["components"]] == ["dispute"]
    assert index.left_out("grid") == [n for n in SAFETY_INDICATORS if n != "dispute"]


def test_weights_are_equal_by_default_and_change_the_index_as_configured():
    frame = panel(outcome_dispute=DISPUTES, outcome_collective=COLLECTIVE)
    dispute = 100 / (1 + 10 / 5)
    # one collective petition among G1's 10,000 residents; the usual figure of grids is the
    # mean, 1/6, as their median is 0
    collective = 100 / (1 + 1 / (1 / 6))
    equal = record(index_of(frame), "G1")
    assert {c["name"]: c["value"] for c in equal["components"]} == pytest.approx(
        {"dispute": dispute, "collective": collective})
    assert equal["value"] == pytest.approx((dispute + collective) / 2)
    assert [c["weight"] for c in equal["components"]] == [0.5, 0.5]
    tripled = record(index_of(frame, weights={"collective": 3}), "G1")
    assert tripled["value"] == pytest.approx((dispute + 3 * collective) / 4)
    assert [c["weight"] for c in tripled["components"]] == [0.25, 0.75]
    alone = record(index_of(frame, weights={"dispute": 0}), "G1")
    assert alone["value"] == pytest.approx(collective)
    assert record(index_of(frame), "G2")["value"] == pytest.approx(
        (100 / (1 + 8 / 5) + 100) / 2)  # no collective petition: that component scores 100


def test_an_indicator_a_unit_lacks_is_left_out_of_its_index_and_the_weights_renormalised():
    frame = panel(outcome_dispute=DISPUTES,
                  satisfaction={"G1": [4.0, 4.0, 3.0], "G2": [np.nan] * 3},
                  closed_cases={"G1": [10, 10, 10], "G2": [0, 0, 0]})
    index = index_of(frame)
    g1, g2 = record(index, "G1"), record(index, "G2")
    satisfaction = next(c for c in g1["components"] if c["name"] == "satisfaction")
    # satisfaction scores 5 - rating against the usual 5 - 4 = 1
    assert satisfaction["figure"] == 3.0 and satisfaction["typical"] == pytest.approx(4.0)
    assert satisfaction["value"] == pytest.approx(100 / (1 + 2 / 1))
    assert g1["value"] == pytest.approx((100 / 3 + 100 / 3) / 2)
    # G2 has no rated closing: its index is its dispute score alone, and says so
    lacking = next(c for c in g2["components"] if c["name"] == "satisfaction")
    assert lacking["value"] is None and lacking["weight"] == 0.0
    assert g2["value"] == pytest.approx(100 / (1 + 8 / 5))
    assert sum(c["weight"] for c in g2["components"]) == pytest.approx(1.0)


def test_the_forecast_moves_the_window_on_by_the_models_expected_count():
    index = index_of(panel(outcome_dispute=DISPUTES))
    now = record(index, "G1")["value"]
    # expecting as many disputes as the week that leaves the window keeps the index as it is
    same = pd.Series({"G1": 4.0, "G2": 1.0})
    assert index.forecast("grid", WEEKS[2], same, "dispute") == pytest.approx(
        [now, record(index, "G2")["value"]])
    more = index.forecast("grid", WEEKS[2], pd.Series({"G1": 12.0, "G2": 1.0}), "dispute")
    assert more[0] == pytest.approx(100 / (1 + (6 + 12) / 5)) and more[0] < now
    # a model of all incidents: the expected count is split by the unit's recent mix
    both = panel(outcome_dispute=DISPUTES, outcome_all=DISPUTES)
    assert index_of(both).forecast("grid", WEEKS[2], same, "all") == pytest.approx(
        index.forecast("grid", WEEKS[2], same, "dispute"))
    assert np.isnan(index.forecast("grid", WEEKS[2], None, "dispute")).all()


def test_an_id_the_panel_does_not_know_gets_no_record():
    index = index_of(panel(outcome_dispute=DISPUTES))
    assert [r["area_id"] for r in index.records(["G2", "nowhere", "D1"], WEEKS[2])] == [
        "G2", "D1"]
    assert index.level_of("S1") == "street" and index.level_of("G1") == "grid"


# --- the synthetic city -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def city(tmp_path_factory):
    """100 grids over two years, ingested and featured, with the generator's truth."""
    from features import build_features, ingest, read_clean, read_features, write_city
    from riskgrid import Settings, load_experiment
    from tests.training.test_pipeline import CITY, experiment_file

    folder = tmp_path_factory.mktemp("safety_city")
    settings = Settings(data_dir=folder / "data", pseudonym_secret="test",
                        now=datetime(2024, 1, 8))
    experiment = load_experiment(experiment_file(folder, write_city(folder / "city",
                                                                    config=CITY)))
    ingest(experiment, settings)
    build_features(experiment, settings)
    out = experiment.output_dir(settings)
    truth = pd.read_parquet(folder / "city" / "truth" / "intensity.parquet")
    return (read_features(out).panel, read_clean(out, events=False).areas, experiment, truth)


@pytest.mark.slow
def test_on_the_synthetic_city_more_planted_risk_scores_lower(city):
    panel_, areas, experiment, truth = city
    index = SafetyIndex.of(panel_, areas, experiment)
    latest = index.periods[-1]
    recent = truth[(truth[C.PERIOD] > latest - pd.Timedelta(weeks=13))
                   & (truth[C.PERIOD] <= latest)].merge(areas, on=C.AREA_ID)
    for level, strength in (("grid", -0.45), ("community", -0.6)):
        values = index.level(level).values
        assert np.nanmin(values) >= 0 and np.nanmax(values) <= 100
        assert np.isfinite(values[:, -1]).all()
        column = C.LEVEL_ID[level]
        # the planted intensity of every stream over the index's window, per resident
        planted = (recent.groupby(column)["expected"].sum()
                   / areas.groupby(column)[C.POPULATION].sum())
        table = index.table(level, latest).set_index(C.AREA_ID)
        rho = spearmanr(table["value"].reindex(planted.index), planted).statistic
        assert rho < strength, (level, rho)
    assert index.left_out("grid") == []


@pytest.mark.slow
def test_a_city_without_petitions_leaves_them_out_and_still_scores_0_to_100(city):
    panel_, areas, experiment, _ = city
    quiet = panel_.assign(**{c: 0.0 for c in ("outcome_petitions", "outcome_collective",
                                              "outcome_repeat", "outcome_escalated",
                                              "petition_backlog")})
    index = SafetyIndex.of(quiet, areas, experiment)
    gone = ["collective", "repeat", "escalated", "petition_backlog"]
    assert index.left_out("street") == gone
    street = index.records(["D01S01"], index.periods[-1])[0]
    assert {c["name"] for c in street["components"]}.isdisjoint(gone)
    assert sum(c["weight"] for c in street["components"]) == pytest.approx(1.0)
    mean = np.mean([c["value"] for c in street["components"] if c["weight"] > 0])
    assert street["value"] == pytest.approx(mean) and 0 <= street["value"] <= 100
