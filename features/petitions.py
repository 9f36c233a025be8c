"""Petition features: collective, repeat and level-skipping petitions, weak signals and backlog."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.catalogue import PERIOD_WORDS, FeatureSpec
from features.counts import Stream, intervals, known_window, periods_since, stream
from features.layout import Layout
from riskgrid import vocabulary as C


def with_repeats(petitions: pd.DataFrame) -> pd.DataFrame:
    """Mark a petition as repeat when the export says so or its petitioner filed before.

    Works on the pseudonymous ``petitioner_key``; order is by filing time, so a petition is
    only ever marked by earlier ones (point-in-time).
    """
    # The clean tables keep petitions in this order already: sorting again is skipped then.
    out = (petitions.copy() if _in_order(petitions)
           else petitions.sort_values([C.FILED_AT, C.PETITION_ID]).copy())
    keyed = out[C.PETITIONER_KEY].notna()
    seen_before = pd.Series(False, index=out.index)
    seen_before[keyed] = out.loc[keyed].groupby(C.PETITIONER_KEY).cumcount() > 0
    out[C.REPEAT] = out[C.REPEAT].astype(bool) | seen_before
    return out


def _in_order(petitions: pd.DataFrame) -> bool:
    """Whether the petitions are by filing time, then id (no two share both)."""
    filed = petitions[C.FILED_AT].to_numpy()
    if len(filed) < 2 or pd.isna(filed).any() or petitions[C.PETITION_ID].isna().any():
        return len(filed) < 2
    ids = petitions[C.PETITION_ID].to_numpy(dtype=object)
    later, same = filed[1:] > filed[:-1], filed[1:] == filed[:-1]
    return bool(np.all(later | (same & (ids[1:] > ids[:-1]))))


def petition_streams(petitions: pd.DataFrame, layout: Layout,
                     marked: bool = False) -> dict[str, Stream]:
    """Petitions are known when filed, so each stream has no late events. ``marked``: the
    petitions are already :func:`with_repeats`'s."""
    p = petitions if marked else with_repeats(petitions)
    area, filed = layout.rows(p[C.AREA_ID]), layout.index(p[C.FILED_AT])
    masks = {
        "petitions": np.ones(len(p), bool),
        "collective": p[C.COLLECTIVE].to_numpy(bool),
        "repeat": p[C.REPEAT].to_numpy(bool),
        "escalated": p[C.ESCALATION].to_numpy() > 0,
    }
    return {name: stream(area[m], filed[m], filed[m], layout.shape) for name, m in masks.items()}


def weak_signal_features(petitions: pd.DataFrame, layout: Layout, window: int,
                         backlog_days: float, marked: bool = False, first: int = 0
                         ) -> tuple[dict[str, np.ndarray], list[FeatureSpec]]:
    """Weak signals (repeat petitions massing on one topic, time since the last collective
    petition) and the petition backlog (积案) open at each cutoff (``marked``: as above), for
    the periods from ``first``."""
    p = petitions if marked else with_repeats(petitions)
    area = layout.rows(p[C.AREA_ID])
    filed = layout.index(p[C.FILED_AT])
    unit_en, unit_zh = PERIOD_WORDS[layout.period]
    topic_max = np.zeros((layout.shape[0], layout.shape[1] - first))
    repeat = p[C.REPEAT].to_numpy(bool)
    for topic in C.PETITION_TOPICS:
        m = repeat & (p[C.TOPIC] == topic).to_numpy()
        if m.any():
            s = stream(area[m], filed[m], filed[m], layout.shape)
            topic_max = np.maximum(topic_max, known_window(s, window, first=first))
    collective = stream(area, filed, filed, layout.shape,
                        p[C.COLLECTIVE].to_numpy(bool).astype(float)).final
    closed = layout.index(p[C.CLOSED_AT])
    aged = layout.index(p[C.FILED_AT] + pd.Timedelta(days=backlog_days))
    values = {
        "repeat_same_topic_max": topic_max,
        "periods_since_collective": periods_since(collective, C.SINCE_CAP, first),
        "petitions_open": intervals(area, filed, closed, layout.shape, first=first),
        "petition_backlog": intervals(area, aged, closed, layout.shape, first=first),
    }
    specs = [
        FeatureSpec("repeat_same_topic_max", "petitions",
                    f"most repeat petitions on a single topic in the last {window} {unit_en}",
                    f"近{window}{unit_zh}同一事项重复访最多件数"),
        FeatureSpec("periods_since_collective", "petitions",
                    f"{unit_en} since the last collective petition (capped at {C.SINCE_CAP})",
                    f"距上次集体访的{unit_zh}数(最多{C.SINCE_CAP})"),
        FeatureSpec("petitions_open", "petitions", "petitions still open",
                    "未办结信访件数"),
        FeatureSpec("petition_backlog", "petitions",
                    f"petitions open for more than {backlog_days:g} days (backlog)",
                    f"超过{backlog_days:g}天未办结的信访积案数"),
    ]
    return values, specs
