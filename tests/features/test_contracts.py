"""A day's few rows are parsed value by value; the result must be the column-wise parse's."""

import numpy as np
import pandas as pd
import pytest

from features import contracts
from features.accounting import blank_rows
from features.contracts import conform, plain_text

TEXT = ["p1", " p2", "p3 ", "\u3000p4", "p5\xa0", "p6\x1c", "", "  ", None, np.nan, "是", "否"]


def petitions(dtype) -> pd.DataFrame:
    n = len(TEXT)
    frame = pd.DataFrame({
        "petition_id": TEXT,
        "filed_at": ["2024-01-02 10:00", " 2024-01-03", "2024-13-01", "2024-01-04T08:00+08:00",
                     "", None, "3000-01-01", "2024-02-30", "2024-01-05", "x", "2024-01-06",
                     "2024-01-07"],
        "area_id": ["a"] * n,
        "topic": ["land", "wages", "Land", "land ", None, "", "land", "x", "land", "land",
                  "land", "land"],
        "petitioner_count": ["1", " 2", "3.5", "0", "", None, "1e3", "abc", "7", "8", "9",
                             "10"],
        "collective": ["true", "FALSE", " yes", "是", "否", "maybe", "", None, "1", "0", "t",
                       "\u212a"],
        "escalation": ["0", "1", "2", "3", "0", "0", "1", "1", "0", "0", "2", "1"],
        "status": ["open"] * n,
    })
    return frame.astype(dtype)


@pytest.mark.parametrize("dtype", [object, "str"])
def test_small_frames_parse_as_large_ones_do(monkeypatch, dtype):
    frame = petitions(dtype)
    fast_typed, fast_reasons = conform(frame, "petitions")
    assert plain_text(frame["area_id"]) is not None  # the value-by-value path was taken
    monkeypatch.setattr(contracts, "SMALL", -1)  # every column through pandas' string methods
    slow_typed, slow_reasons = conform(frame, "petitions")
    pd.testing.assert_frame_equal(fast_typed, slow_typed, check_exact=True)
    pd.testing.assert_series_equal(fast_reasons, slow_reasons, check_exact=True)
    assert (fast_reasons != "").sum() >= 6  # the bad values are still caught


def test_plain_text_declines_what_a_strip_could_change():
    assert plain_text(pd.Series(["a", None, "", "b."])).tolist() == ["a", None, "", "b."]
    for value in (" a", "a\t", "\u3000a", "a\xa0", "a\x1c", "a\u2028"):
        assert plain_text(pd.Series(["x", value])) is None
    assert plain_text(pd.Series([1, 2])) is None
    assert plain_text(pd.Series(["x", 1], dtype=object)) is None
    assert plain_text(pd.Series(["x"] * (contracts.SMALL + 1))) is None


def test_blank_rows_the_same_value_by_value(monkeypatch):
    raw = pd.DataFrame({"a": ["", " ", None, "x", "\u3000", np.nan],
                        "b": [None, "", "", "", " \t", "y"],
                        "c": pd.array([None, None, None, None, None, 3], dtype="Int64")})
    fast = blank_rows(raw)
    monkeypatch.setattr(contracts, "SMALL", -1)
    pd.testing.assert_series_equal(fast, blank_rows(raw))
    assert fast.tolist() == [True, True, True, False, True, False]
