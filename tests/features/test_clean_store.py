"""The clean dataset's parts and id index: the same records give the same bytes, however they
arrived."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.clean_store import IdIndex, canonical, id_hashes, id_index, split_months
from riskgrid import vocabulary as C


def incidents(ids: list[str], days: list[str]) -> pd.DataFrame:
    return pd.DataFrame({C.INCIDENT_ID: pd.array(ids, dtype="string"),
                         C.OCCURRED_AT: pd.to_datetime(days).astype("datetime64[ns]")})


def test_a_month_s_rows_come_in_one_order_whatever_order_they_were_given_in():
    rows = incidents(["b", "a", "c"], ["2024-01-05", "2024-01-05", "2024-02-01"])
    months = split_months(rows.iloc[::-1], "incidents")
    assert list(months) == ["month-2024-01.parquet", "month-2024-02.parquet"]
    assert list(months["month-2024-01.parquet"][C.INCIDENT_ID]) == ["a", "b"]
    pd.testing.assert_frame_equal(canonical(rows, "incidents"),
                                  canonical(rows.sample(frac=1, random_state=1), "incidents"))


def test_an_index_updated_in_place_is_the_index_written_afresh(tmp_path):
    before = {"month-2024-01.parquet": pd.Series(["a", "b"]),
              "month-2024-02.parquet": pd.Series(["c"])}
    (tmp_path / "index").mkdir()
    (tmp_path / "index" / "incidents.ids").write_bytes(id_index(before))
    index = IdIndex.read(tmp_path, "incidents")
    found = index.lookup(id_hashes(pd.Series(["b", "z"])))
    assert list(found) == ["month-2024-01.parquet", None]
    # b moves to March, d is new, c's month is emptied by nothing: the same as written afresh.
    moved = id_hashes(pd.Series(["b", "d"]))
    updated = index.replaced(moved, moved, np.array(["month-2024-03.parquet"] * 2, object))
    after = {"month-2024-01.parquet": pd.Series(["a"]), "month-2024-02.parquet": pd.Series(["c"]),
             "month-2024-03.parquet": pd.Series(["b", "d"])}
    assert updated == id_index(after)
