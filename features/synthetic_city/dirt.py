"""Export dirt: exact duplicate rows and a few broken rows, each listed as ground truth."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.synthetic_city.config import CityConfig

INCIDENT_DIRT = {"unknown_area": 12, "bad_date": 12, "negative_people": 10, "future_date": 8}
PETITION_DIRT = {"unknown_area": 2, "bad_date": 2, "zero_people": 1}
BAD_DATES = ("2024-02-30 08:15:00", "待补录", "#VALUE!", "2023-13-01 10:00:00")


def add_dirt(incidents: pd.DataFrame, petitions: pd.DataFrame, config: CityConfig,
             rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Exact duplicate rows (~0.2%) and a few broken rows, as real exports have.

    Returns both exports and the list of planted dirt: file, row (1-based data row), id, kind.
    """
    frames, listed = [], []
    for name, frame, kinds, id_col in (("incidents.csv", incidents, INCIDENT_DIRT, "事件编号"),
                                       ("petitions.jsonl", petitions, PETITION_DIRT, "信访编号")):
        frame, duplicate_rows = _duplicate(frame, config.duplicate_share, rng)
        counts = kinds if config.dirty_rows else {}
        frame, broken = _break(frame, counts, duplicate_rows, name, rng)
        dup = pd.DataFrame({"row": duplicate_rows + 1, "kind": "duplicate"})
        dirt = pd.concat([dup, broken], ignore_index=True).sort_values("row", kind="stable")
        dirt.insert(0, "file", name)
        dirt.insert(2, "id", frame[id_col].to_numpy()[dirt["row"].to_numpy() - 1])
        frames.append(frame)
        listed.append(dirt)
    return frames[0], frames[1], pd.concat(listed, ignore_index=True)


def _duplicate(frame: pd.DataFrame, share: float,
               rng: np.random.Generator) -> tuple[pd.DataFrame, np.ndarray]:
    """Repeat ``share`` of the rows right after themselves; returns positions of the copies."""
    n = len(frame)
    picked = rng.choice(n, round(share * n), replace=False)
    order = np.sort(np.concatenate([np.arange(n), picked]), kind="stable")
    copies = np.flatnonzero(np.r_[False, order[1:] == order[:-1]])
    return frame.iloc[order].reset_index(drop=True), copies


def _break(frame: pd.DataFrame, counts: dict[str, int], duplicate_rows: np.ndarray, name: str,
           rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Break rows that have no copy, one fault each."""
    out = frame.copy()
    clean = np.setdiff1d(np.arange(len(out)), np.r_[duplicate_rows, duplicate_rows - 1])
    total = min(sum(counts.values()), len(clean) // 10)
    rows = rng.choice(clean, total, replace=False)
    kinds = np.repeat(list(counts), list(counts.values()))[:total]
    incidents = name.endswith(".csv")
    area, when = ("网格编码", "发生时间") if incidents else ("网格", "登记日期")
    for kind in counts:
        at = rows[kinds == kind]
        if kind == "unknown_area":
            out.loc[at, area] = [f"D{9 - i % 3:02d}S01C01G{i + 1:02d}" for i in range(len(at))]
        elif kind == "bad_date":
            out.loc[at, when] = [BAD_DATES[i % len(BAD_DATES)] for i in range(len(at))]
        elif kind == "negative_people":
            out.loc[at, "涉及人数"] = [str(-1 - i % 3) for i in range(len(at))]
        elif kind == "zero_people":
            out.loc[at, "人数"] = 0
        elif kind == "future_date":
            out.loc[at, "上报时间"] = ["2031" + t[4:] for t in out.loc[at, "上报时间"]]
    return out, pd.DataFrame({"row": rows + 1, "kind": kinds})

