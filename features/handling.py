"""Handling features: open and overdue incidents, time to close and satisfaction at each cutoff.

The export's own ``status`` and ``overdue`` describe each case as of the export date, after
every cutoff but the last, so they are never used as features: the state at a cutoff is
derived from the report and closing times.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features import columns as C
from features.catalogue import PERIOD_WORDS, FeatureSpec
from features.counts import intervals, known_window, stream
from features.layout import Layout


def handling_features(incidents: pd.DataFrame, layout: Layout, window: int,
                      deadline_days: float) -> tuple[dict[str, np.ndarray], list[FeatureSpec]]:
    """Open cases, overdue cases, and the quality of recent closing, at each cutoff."""
    area = layout.rows(incidents[C.AREA_ID])
    reported = layout.index(incidents[C.REPORTED_AT])
    closed = layout.index(incidents[C.CLOSED_AT])
    due = layout.index(incidents[C.REPORTED_AT] + pd.Timedelta(days=deadline_days))
    dispute = (incidents[C.FAMILY] == "dispute").to_numpy()
    hours = (incidents[C.CLOSED_AT] - incidents[C.REPORTED_AT]).dt.total_seconds() / 3600
    days_to_close = (hours / 24).to_numpy(dtype=float, na_value=np.nan)
    late_close = np.nan_to_num(days_to_close, nan=0.0) > deadline_days
    has_close = ~np.isnan(days_to_close)
    satisfaction = incidents[C.SATISFACTION].to_numpy(dtype=float, na_value=np.nan)
    rated = has_close & ~np.isnan(satisfaction)

    def closing_sum(mask: np.ndarray, value: np.ndarray | None = None) -> np.ndarray:
        # Known once closed: the closing period is both occurrence and report.
        v = None if value is None else value[mask]
        return known_window(stream(area[mask], closed[mask], closed[mask], layout.shape, v),
                            window)

    n_closed = closing_sum(has_close)
    n_rated = closing_sum(rated)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_days = closing_sum(has_close, np.nan_to_num(days_to_close)) / n_closed
        overdue_share = closing_sum(has_close & late_close) / n_closed
        mean_satisfaction = closing_sum(rated, np.nan_to_num(satisfaction)) / n_rated
    values = {
        "open_cases": intervals(area, reported, closed, layout.shape),
        "overdue_open_cases": intervals(area, due, closed, layout.shape),
        "overdue_open_disputes": intervals(area[dispute], due[dispute], closed[dispute],
                                           layout.shape),
        "closed_cases": n_closed,
        "days_to_close": mean_days,
        "closed_late_share": overdue_share,
        "satisfaction": mean_satisfaction,
    }
    unit_en, unit_zh = PERIOD_WORDS[layout.period]
    specs = [
        FeatureSpec("open_cases", "handling", "incidents open at the end of the period",
                    "期末未办结事件数"),
        FeatureSpec("overdue_open_cases", "handling",
                    f"incidents open for more than {deadline_days:g} days", "超期未办结事件数"),
        FeatureSpec("overdue_open_disputes", "handling",
                    f"disputes open for more than {deadline_days:g} days", "超期未化解矛盾纠纷数"),
        FeatureSpec("closed_cases", "handling", f"incidents closed in the last {window} {unit_en}",
                    f"近{window}{unit_zh}办结事件数"),
        FeatureSpec("days_to_close", "handling",
                    f"average days to close, last {window} {unit_en}",
                    f"近{window}{unit_zh}平均办结天数"),
        FeatureSpec("closed_late_share", "handling",
                    f"share of closings past the {deadline_days:g}-day deadline, last {window} "
                    f"{unit_en}", f"近{window}{unit_zh}超期办结占比"),
        FeatureSpec("satisfaction", "handling",
                    f"average satisfaction (1-5) of closings, last {window} {unit_en}",
                    f"近{window}{unit_zh}群众满意度均值(1-5)"),
    ]
    return values, specs
