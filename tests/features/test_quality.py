"""Data alarms: on the synthetic city with planted faults they find the faults and nothing
else; on small made-up exports each kind of alarm is found where it was put, and only from
the period it can be seen."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features import build_features, data_alarms, ingest, read_volumes, write_city
from features.io import CleanTables
from features.quality import source_volumes
from features.synthetic_city import CityConfig
from riskgrid import Settings, load_experiment
from riskgrid import vocabulary as C
from riskgrid.experiment import DataQualityConfig

MAPPINGS = Path(__file__).resolve().parents[2] / "experiments" / "mappings"
# Two districts of two streets, 40 grids, two years: the faults of `riskgrid synth --faults`.
CITY = CityConfig(n_districts=2, streets_per_district=2, communities_per_street=2,
                  grids_per_community=5, start=date(2023, 1, 2), end=date(2024, 12, 29),
                  export_date=date(2025, 1, 6))
EXPERIMENT = """name = "{name}"
[areas]
path = "{folder}/areas.csv"
[sources.incidents]
kind = "incidents"
path = "{folder}/incidents.csv"
mapping = "{mappings}/synthetic_city_incidents.toml"
[sources.petitions]
kind = "petitions"
path = "{folder}/petitions.jsonl"
mapping = "{mappings}/synthetic_city_petitions.toml"
[features]
horizons = [1]
"""


@pytest.fixture(scope="module")
def cities(tmp_path_factory) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    """The city with and without the planted faults, ingested and featured: every alarm of
    its history, and the faults as the generator lists them."""
    root = tmp_path_factory.mktemp("quality")
    settings = Settings(data_dir=root / "data", pseudonym_secret="t", now=datetime(2025, 1, 6))
    found = {}
    for name, faults in (("faulted", True), ("sound", False)):
        paths = write_city(root / name, config=CITY, faults=faults)
        path = root / f"{name}.toml"
        path.write_text(EXPERIMENT.format(name=name, folder=root / name, mappings=MAPPINGS),
                        encoding="utf-8")
        experiment = load_experiment(path)
        ingest(experiment, settings)
        build_features(experiment, settings)
        volumes = read_volumes(experiment.output_dir(settings), "week")
        planted = pd.read_csv(paths["faults"]) if faults else pd.DataFrame()
        found[name] = (data_alarms(volumes, experiment.data_quality, every=True), planted)
    return found



@pytest.mark.slow
def test_the_alarms_find_the_planted_faults_and_nothing_else(cities):
    alarms, planted = cities["faulted"]
    outage, silent, recoded = (planted.iloc[i] for i in range(3))
    assert sorted(alarms["kind"]) == ["late", "no_data", "recoding"]
    by_kind = alarms.set_index("kind")
    late = by_kind.loc["late"]
    assert (late["source"], late["channel"], late["area_id"]) == (
        "incidents", outage["channel"], outage["unit"])
    assert (late["since"], late["periods"]) == (outage["start"], 6)
    empty = by_kind.loc["no_data"]
    assert (empty["area_id"], empty["level"], empty["since"], empty["periods"]) == (
        silent["unit"], "street", silent["start"], 4)
    assert empty["observed"] == 0 and empty["usual"] > 10
    renamed = by_kind.loc["recoding"]
    assert (renamed["source"], renamed["column"], renamed["category"], renamed["value"]) == (
        "incidents", "category", recoded["category"], recoded["label"])
    assert (renamed["since"], renamed["until"]) == (recoded["start"], "2024-12-23")
    assert renamed["records"] == recoded["incidents"]  # every renamed row, quarantined


@pytest.mark.slow
def test_the_city_without_faults_raises_no_alarm(cities):
    alarms, _ = cities["sound"]
    assert alarms.empty, alarms.to_string()


# --- small made-up exports -------------------------------------------------------------------

WEEKS = pd.date_range("2023-01-02", periods=60, freq="7D")
GRIDS = [f"D{d}S{s}G{g}" for d in (1, 2, 3) for s in (1, 2) for g in (1, 2)]
CHANNELS = ("hotline_12345", "police", "online")


def exports(factor: dict[tuple[str, str, int], float], seed: int = 0
            ) -> tuple[CleanTables, pd.DataFrame]:
    """Clean incidents of 12 grids (3 districts, 6 streets), three channels, 60 weeks: about 4
    records per grid, channel and week, times ``factor[(district, channel, week)]``."""
    rng = np.random.default_rng(seed)
    rows = []
    for w, week in enumerate(WEEKS):
        for grid in GRIDS:
            for channel in CHANNELS:
                n = rng.poisson(4 * factor.get((grid[:2], channel, w), 1.0))
                seconds = rng.integers(0, 7 * 86400, n)
                rows += [(grid, channel, week + pd.Timedelta(seconds=int(s))) for s in seconds]
    frame = pd.DataFrame(rows, columns=[C.AREA_ID, C.CHANNEL, C.REPORTED_AT])
    frame[C.OCCURRED_AT] = frame[C.REPORTED_AT] - pd.Timedelta(hours=2)
    frame[C.CATEGORY] = rng.choice(["dispute.neighbour", "livelihood.utilities"], len(frame))
    areas = pd.DataFrame({C.AREA_ID: GRIDS, C.STREET_ID: [g[:4] for g in GRIDS],
                          C.DISTRICT_ID: [g[:2] for g in GRIDS]})
    return CleanTables(areas, frame, pd.DataFrame()), pd.DataFrame()


def alarms_of(clean: CleanTables, quarantine: dict, as_of: pd.Timestamp | None = None,
              every: bool = True) -> pd.DataFrame:
    volumes = source_volumes(clean, quarantine, WEEKS, "week")
    return data_alarms(volumes, DataQualityConfig(), as_of, every=every)


def test_a_drop_a_jump_and_a_renamed_channel_are_each_found_where_they_were_put():
    factor = {("D1", "police", w): 0.05 for w in (30, 31, 32)}  # a partial outage
    factor |= {("D2", "online", w): 3.0 for w in (40, 41, 42)}  # a merger sends more online
    clean, _ = exports(factor)
    renamed = clean.incidents[C.CHANNEL].eq("hotline_12345") \
        & (clean.incidents[C.REPORTED_AT] >= WEEKS[50])
    quarantine = {"incidents": pd.DataFrame({
        "row": np.arange(renamed.sum()),
        "reason": "column channel: value '12345政务热线' is not in the mapping's "
                  "[recode.channel] table; add it there",
        C.REPORTED_AT: clean.incidents.loc[renamed, C.REPORTED_AT].astype(str).to_numpy()})}
    clean = CleanTables(clean.areas, clean.incidents[~renamed], clean.petitions)
    found = alarms_of(clean, quarantine).set_index("kind")
    assert sorted(found.index) == ["drop", "jump", "recoding"], found.to_string()
    assert tuple(found.loc["drop", ["channel", "area_id", "since", "periods"]]) == (
        "police", "D1", str(WEEKS[30].date()), 3)
    assert found.loc["drop", "observed"] < 0.25 * found.loc["drop", "usual"]
    assert tuple(found.loc["jump", ["channel", "area_id", "since", "periods"]]) == (
        "online", "D2", str(WEEKS[40].date()), 3)
    assert tuple(found.loc["recoding", ["column", "category", "value", "since"]]) == (
        "channel", "hotline_12345", "12345政务热线", str(WEEKS[50].date()))
    assert found.loc["recoding", "records"] == renamed.sum()


def test_an_alarm_holds_from_the_period_it_can_be_seen_and_is_listed_for_a_while():
    clean, _ = exports({("D2", "police", w): 0.0 for w in range(30, 34)})  # silent 4 weeks
    assert alarms_of(clean, {}, WEEKS[29], every=False).empty  # before it began
    first = alarms_of(clean, {}, WEEKS[30], every=False)
    assert tuple(first.iloc[0][["kind", "channel", "area_id", "since", "until", "periods"]]) \
        == ("late", "police", "D2", str(WEEKS[30].date()), str(WEEKS[30].date()), 1)
    assert alarms_of(clean, {}, WEEKS[32], every=False).iloc[0]["periods"] == 3
    listed = DataQualityConfig().recent_periods
    last = alarms_of(clean, {}, WEEKS[33 + listed - 1], every=False)
    assert len(last) == 1 and last.iloc[0]["until"] == str(WEEKS[33].date())
    assert alarms_of(clean, {}, WEEKS[33 + listed], every=False).empty  # listed long enough
    assert len(alarms_of(clean, {}, WEEKS[-1], every=True)) == 1  # still in the history
