"""Reading source files and snapshot tables: a damaged gzip export is one sentence naming the
file, never a traceback or an exit code that looks like Ctrl+C; a table kept in parts reads back
as one table."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from features.io import read_source, read_table
from riskgrid.errors import InputError
from tests.cli.test_app import riskgrid
from tests.conftest import GOOD_INCIDENTS, incidents_csv


def damaged(tmp_path, how: str):
    data = gzip.compress(incidents_csv(GOOD_INCIDENTS).encode("gb18030"))
    if how == "truncated":
        data = data[: len(data) // 2]
    else:  # flip a byte of the CRC at the end
        data = data[:-8] + bytes([data[-8] ^ 0xFF]) + data[-7:]
    path = tmp_path / "incidents.csv.gz"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(("how", "words"), [("truncated", "truncated"), ("crc", "corrupt")])
def test_a_damaged_gzip_is_one_sentence_naming_the_file(tmp_path, how, words):
    path = damaged(tmp_path, how)
    with pytest.raises(InputError, match=words) as caught:
        read_source(path)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize("how", ["truncated", "crc"])
def test_ingest_of_a_damaged_gzip_exits_2_with_one_line(tiny_city, tmp_path, how):
    experiment = tiny_city.read_text().replace('path = "incidents.csv"',
                                               'path = "incidents.csv.gz"')
    tiny_city.write_text(experiment)
    damaged(tiny_city.parent, how)
    done = riskgrid("ingest", str(tiny_city), data_dir=tmp_path / "data")
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and "incidents.csv.gz" in lines[0] and "Traceback" not in done.stderr


def _panel(areas: list[str], periods: int) -> pd.DataFrame:
    keys = pd.MultiIndex.from_product([areas, pd.date_range("2024-01-01", periods=periods,
                                                            freq="W-MON")],
                                      names=["area_id", "period"]).to_frame(index=False)
    return keys.assign(value=np.arange(len(keys), dtype=float))


@pytest.mark.parametrize("split", ["area", "period"])
def test_a_table_kept_in_parts_reads_back_as_the_one_table(tmp_path, split):
    panel = _panel(["G3", "G1", "G2"], 5)  # areas not in sorted order
    folder = tmp_path / "panel.parquet"
    folder.mkdir()
    if split == "area":
        blocks = [panel.iloc[:5], panel.iloc[5:]]
    else:
        periods = panel["period"].drop_duplicates()
        blocks = [panel[panel["period"].isin(periods[:2])],
                  panel[panel["period"].isin(periods[2:])]]
    for i, block in enumerate(blocks):
        block.to_parquet(folder / f"{split}-{i:05d}.parquet", index=False)
    assert_frame_equal(read_table(tmp_path, "panel"), panel)
    assert_frame_equal(read_table(tmp_path, "panel", ["period", "value"]),
                       panel[["period", "value"]])


def test_parts_of_two_kinds_are_one_sentence_naming_the_folder(tmp_path):
    folder = tmp_path / "panel.parquet"
    folder.mkdir()
    _panel(["G1"], 2).to_parquet(folder / "area-00000.parquet", index=False)
    _panel(["G1"], 2).to_parquet(folder / "period-00000.parquet", index=False)
    with pytest.raises(InputError, match="panel.parquet: parts must all be named"):
        read_table(tmp_path, "panel")


def test_counts_kept_in_blocks_of_periods_read_back_unit_by_unit(tmp_path):
    periods = pd.date_range("2024-01-01", periods=4, freq="7D")
    units = [("grid", "G2", "二"), ("grid", "G1", "一"), ("city", "city", "city")]
    counts = pd.DataFrame([(lv, uid, name, p) for lv, uid, name in units for p in periods],
                          columns=["level", "unit_id", "unit_name", "period"])
    counts["all"] = np.arange(len(counts), dtype=np.float32)
    folder = tmp_path / "counts.parquet"
    folder.mkdir()
    for i, part in enumerate((periods[:3], periods[3:])):
        counts[counts["period"].isin(part)].to_parquet(folder / f"period-{i}.parquet",
                                                       index=False)
    assert_frame_equal(read_table(tmp_path, "counts"), counts)
    assert_frame_equal(read_table(tmp_path, "counts", ["period", "all"]),
                       counts[["period", "all"]])
