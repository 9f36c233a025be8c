"""Handling features: the state of cases at each cutoff, from report and closing times only."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.events import index_incidents
from features.handling import handling_features
from features.layout import Layout
from riskgrid import vocabulary as C

LAYOUT = Layout(area_ids=np.array(["A", "B"]),
                periods=pd.date_range("2024-01-01", periods=6, freq="7D"), period="week")


def incidents(rows: list[tuple[str, str, str | None, float | None]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=[C.AREA_ID, C.REPORTED_AT, C.CLOSED_AT, C.SATISFACTION])
    frame[C.REPORTED_AT] = pd.to_datetime(frame[C.REPORTED_AT])
    frame[C.OCCURRED_AT] = frame[C.REPORTED_AT]
    frame[C.CLOSED_AT] = pd.to_datetime(frame[C.CLOSED_AT])
    frame[C.FAMILY] = "dispute"
    frame[C.PEOPLE_INVOLVED] = 1
    return frame


def features(rows) -> dict[str, np.ndarray]:
    events = index_incidents(incidents(rows), LAYOUT, deadline_days=10)
    return handling_features(events, LAYOUT, window=2, deadline_days=10)[0]


def test_open_and_overdue_cases_at_each_cutoff():
    values = features([("A", "2024-01-02", "2024-01-25", 4.0),  # open weeks 0-2, overdue 1-2
                       ("A", "2024-01-03", None, None),          # never closed
                       ("B", "2024-01-10", "2024-01-11", 5.0)])  # closed within its week
    assert values["open_cases"][0].tolist() == [2, 2, 2, 1, 1, 1]
    assert values["overdue_open_cases"][0].tolist() == [0, 2, 2, 1, 1, 1]
    assert values["open_cases"][1].tolist() == [0, 0, 0, 0, 0, 0]


def test_closing_quality_over_the_window():
    values = features([("A", "2024-01-02", "2024-01-25", 4.0),
                       ("A", "2024-01-22", "2024-01-24", 2.0)])
    # Both close in week 3 (from 01-22): 23 and 2 days after the report.
    assert values["closed_cases"][0].tolist() == [0, 0, 0, 2, 2, 0]
    np.testing.assert_allclose(values["days_to_close"][0][3], 12.5)
    assert values["closed_late_share"][0][3] == 0.5
    assert values["satisfaction"][0][3] == 3.0
    assert np.isnan(values["satisfaction"][0][0])  # nothing closed yet: unknown, not zero
