"""Small counts hidden, so no individual can be singled out; which features are counts."""

from __future__ import annotations

import math
import re

# Features holding a number of events or cases (not an average, a ratio or a duration).
_COUNT_NAME = re.compile(r"_(now|prev|sum_\d+)$")
_COUNT_FEATURES = frozenset({"open_cases", "overdue_open_cases", "overdue_open_disputes",
                             "closed_cases", "repeat_same_topic_max", "petitions_open",
                             "petition_backlog"})
_COUNT_FAMILIES = frozenset({"counts", "handling", "petitions"})

Shown = float | str | None  # a number, "<N" when suppressed, None when unknown


def suppress(value: float | None, min_count: int) -> Shown:
    """``value`` unless it is a count from 1 to ``min_count - 1``: then "<min_count"."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if 0 < value < min_count:
        return f"<{min_count}"
    return float(value)


def is_count(name: str, family: str) -> bool:
    """Whether a feature is an observed count of events (and so subject to suppression)."""
    return family in _COUNT_FAMILIES and (bool(_COUNT_NAME.search(name))
                                          or name in _COUNT_FEATURES)


def change(now: float | None, before: float | None, min_count: int) -> float | None:
    """Relative change from ``before`` to ``now``; None if either is unknown, zero or small."""
    if now is None or before is None or before <= 0:
        return None
    if 0 < now < min_count or before < min_count:
        return None  # a change between small counts would give the counts away
    return now / before - 1.0
