"""Ingest: row accounting, bad input, idempotent and atomic snapshots."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from features import ingest
from features import io as fio
from riskgrid import InputError, load_experiment
from tests.conftest import GOOD_INCIDENTS, incidents_csv


def run(experiment: Path, settings) -> dict:
    return ingest(load_experiment(experiment), settings).as_json()


def write_incidents(experiment: Path, rows: list[str], encoding: str = "gb18030") -> None:
    (experiment.parent / "incidents.csv").write_bytes(incidents_csv(rows).encode(encoding))


def quarantine(settings, source: str = "incidents") -> pd.DataFrame:
    return pd.read_csv(settings.data_dir / "tiny" / "clean" / "quarantine" / f"{source}.csv")


def test_clean_tables_hold_every_good_row(tiny_city, settings):
    summary = run(tiny_city, settings)
    assert summary["sources"]["incidents"] == {"rows_in": 4, "accepted": 4, "quarantined": 0,
                                               "duplicates": 0, "merged": 0}
    clean = settings.data_dir / "tiny" / "clean"
    incidents = pd.read_parquet(clean / "incidents.parquet")
    assert set(incidents["category"]) == {"dispute.wage_arrears", "dispute.neighbour",
                                          "law_enforcement.street_vending",
                                          "livelihood.property_service"}
    assert incidents.set_index("incident_id").loc["E1", "family"] == "dispute"
    petitions = pd.read_parquet(clean / "petitions.parquet")
    assert petitions["collective"].tolist() == [False] * 5 + [True]
    areas = pd.read_parquet(clean / "areas.parquet")
    assert areas.set_index("area_id").loc["G3", "community_id"] == "C1"


def test_every_row_is_accepted_quarantined_or_duplicate(tiny_city, settings):
    bad = [
        "E5,2024-13-45 09:00:00,,劳资纠纷,12345热线,G1,1,,",  # unparsable date
        "E6,2024-03-04 09:00:00,,劳资纠纷,12345热线,G99,1,,",  # unknown area
        "E7,2031-03-04 09:00:00,,劳资纠纷,12345热线,G1,1,,",  # future timestamp
        "E8,2024-03-04 09:00:00,,劳资纠纷,12345热线,G1,-3,,",  # negative count
        "E9,2024-03-04 09:00:00,,打架斗殴,12345热线,G1,1,,",  # category not in the mapping
    ]
    write_incidents(tiny_city, GOOD_INCIDENTS + bad + GOOD_INCIDENTS[:2])
    counts = run(tiny_city, settings)["sources"]["incidents"]
    assert counts == {"rows_in": 11, "accepted": 4, "quarantined": 5, "duplicates": 2,
                      "merged": 0}
    reasons = quarantine(settings).set_index("row")["reason"]
    assert "column occurred_at" in reasons[5] and "2024-13-45" in reasons[5]
    assert "column area_id" in reasons[6] and "G99" in reasons[6]
    assert "column occurred_at" in reasons[7] and "future" in reasons[7]
    assert "column people_involved" in reasons[8] and "negative" in reasons[8]
    assert "打架斗殴" in reasons[9] and "[recode.category]" in reasons[9]


def test_totals_reconcile_in_the_json_summary(tiny_city, settings):
    write_incidents(tiny_city, GOOD_INCIDENTS + GOOD_INCIDENTS[:1])
    summary = run(tiny_city, settings)
    total = summary["total"]
    assert total["rows_in"] == total["accepted"] + total["quarantined"] + total["duplicates"]
    assert total["rows_in"] == sum(s["rows_in"] for s in summary["sources"].values())
    assert total["duplicates"] == 1


@pytest.mark.parametrize("content", [b"", b"\n\n"])
def test_empty_file_is_a_clear_error(tiny_city, settings, content):
    path = tiny_city.parent / "incidents.csv"
    path.write_bytes(content)
    with pytest.raises(InputError, match="is empty") as err:
        run(tiny_city, settings)
    assert str(path) in str(err.value)


def test_header_only_file_is_a_clear_error(tiny_city, settings):
    write_incidents(tiny_city, [])
    with pytest.raises(InputError, match="no data rows"):
        run(tiny_city, settings)


def test_missing_required_column_names_it(tiny_city, settings):
    path = tiny_city.parent / "incidents.csv"
    text = incidents_csv(GOOD_INCIDENTS).replace("发生时间", "时间")
    path.write_bytes(text.encode("gb18030"))
    with pytest.raises(InputError, match="required column 'occurred_at'") as err:
        run(tiny_city, settings)
    assert "incidents.csv" in str(err.value)


def test_wrong_encoding_names_the_line_and_the_fix(tiny_city, settings):
    mapping = tiny_city.parent / "incidents_mapping.toml"
    mapping.write_text(mapping.read_text().replace('encoding = "auto"', 'encoding = "utf-8"'))
    with pytest.raises(InputError, match=r"line 1 is not valid utf-8.*gb18030"):
        run(tiny_city, settings)


def test_utf8_and_gb18030_exports_give_the_same_tables(tiny_city, settings, tmp_path):
    run(tiny_city, settings)
    gbk = pd.read_parquet(settings.data_dir / "tiny" / "clean" / "incidents.parquet")
    write_incidents(tiny_city, GOOD_INCIDENTS, encoding="utf-8")
    run(tiny_city, settings)
    utf8 = pd.read_parquet(settings.data_dir / "tiny" / "clean" / "incidents.parquet")
    pd.testing.assert_frame_equal(gbk, utf8)


def test_parquet_source_reads_like_csv(tiny_city, settings):
    run(tiny_city, settings)
    from_csv = pd.read_parquet(settings.data_dir / "tiny" / "clean" / "incidents.parquet")
    raw = pd.read_csv(tiny_city.parent / "incidents.csv", encoding="gb18030", dtype=str)
    raw.to_parquet(tiny_city.parent / "incidents.parquet")
    text = tiny_city.read_text().replace('path = "incidents.csv"', 'path = "incidents.parquet"')
    tiny_city.write_text(text)
    mapping = tiny_city.parent / "incidents_mapping.toml"
    mapping.write_text(mapping.read_text().replace('format = "csv"', 'format = "parquet"'))
    run(tiny_city, settings)
    from_parquet = pd.read_parquet(settings.data_dir / "tiny" / "clean" / "incidents.parquet")
    pd.testing.assert_frame_equal(from_csv, from_parquet)


def test_malformed_json_line_is_named(tiny_city, settings):
    path = tiny_city.parent / "petitions.jsonl"
    path.write_text(path.read_text() + "{not json\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"petitions.jsonl: line 7 is not valid JSON"):
        run(tiny_city, settings)


def test_rerun_changes_nothing(tiny_city, settings):
    run(tiny_city, settings)
    link = settings.data_dir / "tiny" / "clean"
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in link.iterdir()
              if p.is_file()}
    target = os.readlink(link)
    run(tiny_city, settings)
    after = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in link.iterdir()
             if p.is_file()}
    assert os.readlink(link) == target
    assert before == after


def test_failed_run_leaves_previous_tables_intact(tiny_city, settings):
    run(tiny_city, settings)
    clean = settings.data_dir / "tiny" / "clean"
    before = pd.read_parquet(clean / "incidents.parquet")
    write_incidents(tiny_city, [GOOD_INCIDENTS[0] + ",extra,fields"])  # a ragged line
    with pytest.raises(InputError, match="line 2"):
        run(tiny_city, settings)
    pd.testing.assert_frame_equal(before, pd.read_parquet(clean / "incidents.parquet"))


def test_interrupted_snapshot_write_keeps_the_old_one(tmp_path):
    link = tmp_path / "clean"
    fio.write_snapshot(link, {"a.txt": lambda p: p.write_text("old")})

    def crash(path: Path) -> None:
        path.write_text("half")
        raise KeyboardInterrupt  # what a kill looks like from inside the process

    with pytest.raises(KeyboardInterrupt):
        fio.write_snapshot(link, {"a.txt": lambda p: p.write_text("new"), "b.txt": crash})
    assert (link / "a.txt").read_text() == "old"
    assert not (link / "b.txt").exists()
    assert [p.name for p in tmp_path.iterdir() if "staging" in p.name] == []
