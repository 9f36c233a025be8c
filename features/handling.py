"""Handling features: open and overdue incidents, time to close and satisfaction at each cutoff.

The export's own ``status`` and ``overdue`` describe each case as of the export date, after
every cutoff but the last, so they are never used as features: the state at a cutoff is
derived from the report and closing times.
"""

from __future__ import annotations

import numpy as np

from features.catalogue import PERIOD_WORDS, FeatureSpec
from features.counts import Stream, intervals, known_window
from features.events import IncidentIndex
from features.layout import Layout
from riskgrid import vocabulary as C


def handling_features(events: IncidentIndex, layout: Layout, window: int,
                      deadline_days: float, first: int = 0
                      ) -> tuple[dict[str, np.ndarray], list[FeatureSpec]]:
    """Open cases, overdue cases, and the quality of recent closing, at each cutoff from the
    period ``first`` on."""
    # Incidents of sources without a handling record are never open, overdue or closed.
    area = np.where(events.handled, events.area, -1)
    reported, closed, due = events.reported, events.closed, events.due
    dispute = events.family == list(C.FAMILIES).index("dispute")
    days_to_close, satisfaction = events.days_to_close, events.satisfaction
    has_close = ~np.isnan(days_to_close)
    late_close = has_close & (np.nan_to_num(days_to_close, nan=0.0) > deadline_days)
    rated = has_close & ~np.isnan(satisfaction)

    n_areas, n_periods = layout.shape
    inside = has_close & (area >= 0) & (closed >= 0) & (closed < n_periods)
    cell = area[inside] * n_periods + closed[inside]

    def closing_sum(weights: np.ndarray) -> np.ndarray:
        # Known once closed: the closing period is both occurrence and report.
        final = np.bincount(cell, weights=weights[inside].astype(np.float64),
                            minlength=n_areas * n_periods)
        return known_window(Stream.known_when_occurred(final.reshape(layout.shape)), window,
                            first=first)

    n_closed = closing_sum(has_close)
    n_rated = closing_sum(rated)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_days = closing_sum(np.nan_to_num(days_to_close)) / n_closed
        overdue_share = closing_sum(late_close) / n_closed
        mean_satisfaction = closing_sum(np.where(rated, satisfaction, 0.0)) / n_rated
    values = {
        "open_cases": intervals(area, reported, closed, layout.shape, first=first),
        "overdue_open_cases": intervals(area, due, closed, layout.shape, first=first),
        "overdue_open_disputes": intervals(area[dispute], due[dispute], closed[dispute],
                                           layout.shape, first=first),
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
