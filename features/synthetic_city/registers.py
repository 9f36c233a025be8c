"""The exports as the city's systems write them: Chinese headers, text values, case numbers."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from features.synthetic_city.config import CityConfig
from features.synthetic_city.incidents import POLICE_SUBS
from features.synthetic_city.sampling import draw_rows
from riskgrid import vocabulary as C

DAY = 86_400
CHANNEL_MIX = {  # hotline_12345, grid_officer, city_management, police, online
    "law_enforcement": (0.20, 0.10, 0.40, 0.25, 0.05),
    "livelihood": (0.60, 0.20, 0.05, 0.00, 0.15),
    "dispute": (0.30, 0.45, 0.00, 0.15, 0.10),
    "police": (0.10, 0.00, 0.00, 0.85, 0.05),
}
HOURS = {  # relative frequency of each hour of the day
    "law_enforcement": [2, 1, 1, 1, 1, 2, 4, 7, 9, 10, 10, 9, 8, 9, 10, 10, 9, 8, 8, 9, 10, 9,
                        6, 3],
    "livelihood": [1, 1, 1, 1, 1, 2, 4, 8, 11, 12, 11, 9, 7, 9, 10, 10, 9, 8, 6, 5, 4, 3, 2, 1],
    "dispute": [2, 1, 1, 1, 1, 1, 2, 4, 6, 8, 9, 9, 8, 8, 9, 9, 9, 9, 10, 11, 10, 8, 5, 3],
}
PETITION_STATUS_ZH = {"open": "未办结", "in_progress": "办理中", "closed": "已办结"}
INCIDENT_STATUS_ZH = {"reported": "已上报", "dispatched": "已派遣", "handled": "已处置",
                      "closed": "已办结"}


def _channels(category: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Channel of each incident from its family's mix (police cases mostly come by 110)."""
    groups = list(CHANNEL_MIX)
    family = np.array([groups.index(C.family_of(c)) for c in C.CATEGORIES])[category]
    police = np.isin(category, [C.CATEGORIES.index(f"law_enforcement.{s}") for s in POLICE_SUBS])
    group = np.where(police, groups.index("police"), family)
    table = np.array([CHANNEL_MIX[g] for g in groups])
    return draw_rows(rng, table[group])


def _seconds(day: date) -> int:
    return int(pd.Timestamp(day).value // 10**9)


def _times(seconds: np.ndarray, sep: str = " ") -> np.ndarray:
    """'%Y-%m-%d %H:%M:%S' text of epoch seconds; -1 becomes an empty string."""
    text = np.datetime_as_string(seconds.astype("datetime64[s]"), unit="s")
    text = np.char.replace(text, "T", sep) if sep != "T" else text
    return np.where(seconds >= 0, text, "")


def _time_of_day(category: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    families = list(HOURS)
    family = np.array([families.index(C.family_of(c)) for c in C.CATEGORIES])[category]
    hours = draw_rows(rng, np.array([HOURS[f] for f in families], float)[family])
    return hours * 3600 + rng.integers(0, 3600, len(category))


def incident_export(records: dict[str, np.ndarray], areas: pd.DataFrame, config: CityConfig,
                    rng: np.random.Generator) -> pd.DataFrame:
    """The incident export as a city system writes it: Chinese headers, one row per case."""
    occurred = _seconds(config.start) + records["day"] * DAY + _time_of_day(records["category"],
                                                                          rng)
    reported = occurred + np.round(records["lag"] * DAY).astype(np.int64)
    finite = np.isfinite(records["delay"])
    closed = reported + np.round(np.where(finite, records["delay"], 0) * DAY).astype(np.int64)
    export_at = _seconds(config.export_date) + 8 * 3600
    keep = reported <= export_at
    order = np.lexsort((records["grid"][keep], occurred[keep], reported[keep]))
    pick = np.flatnonzero(keep)[order]
    occurred, reported, category = occurred[pick], reported[pick], records["category"][pick]
    is_closed = (finite[pick]) & (closed[pick] <= export_at)
    closed = np.where(is_closed, closed[pick], -1)
    state = _handling_state(reported, closed, is_closed, export_at, rng)
    labels = _category_labels()
    return pd.DataFrame({
        "事件编号": _incident_ids(reported),
        "发生时间": _times(occurred), "上报时间": _times(reported),
        "事件类别": np.array([labels[c] for c in C.CATEGORIES])[category],
        "来源渠道": np.array(list(C.CHANNELS.values()))[_channels(category, rng)],
        "网格编码": areas[C.AREA_ID].to_numpy()[records["grid"][pick]],
        "涉及人数": records["people"][pick].astype(str),
        "办理状态": state["status"], "办结时间": _times(closed),
        "是否超期": np.where(state["overdue"], "是", "否"), "满意度": state["satisfaction"],
    })


def _category_labels() -> dict[str, str]:
    """The export's label of each category: the Chinese sub-category name, or
    "大类/小类" for every category if some sub-category name repeats across families."""
    plain = {f"{f}.{s}": zh for f, subs in C.SUB_CATEGORIES.items() for s, zh in subs.items()}
    if len(set(plain.values())) == len(plain):
        return plain
    return {f"{f}.{s}": f"{C.FAMILIES[f][1]}/{zh}" for f, subs in C.SUB_CATEGORIES.items()
            for s, zh in subs.items()}


def _incident_ids(reported: np.ndarray) -> list[str]:
    """SJ + report date + a sequence number within the day, in report order."""
    day = reported // DAY
    first = np.searchsorted(day, day)
    seq = np.arange(len(day)) - first + 1
    dates = _times(day * DAY)
    return [f"SJ{d[:4]}{d[5:7]}{d[8:10]}{s:05d}" for d, s in zip(dates, seq)]


def _handling_state(reported: np.ndarray, closed: np.ndarray, is_closed: np.ndarray,
                    export_at: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Status, overdue flag (超期未办结: >15 days) and satisfaction as of the export date."""
    n = len(reported)
    deadline = 15 * DAY
    fresh = export_at - reported < DAY
    zh = INCIDENT_STATUS_ZH
    open_status = np.where(fresh, zh["reported"],
                           np.where(rng.random(n) < 0.55, zh["dispatched"], zh["handled"]))
    status = np.where(is_closed, zh["closed"], open_status)
    overdue = np.where(is_closed, closed - reported > deadline, export_at - reported > deadline)
    p_ok, p_late = [0.02, 0.03, 0.10, 0.35, 0.50], [0.20, 0.25, 0.30, 0.15, 0.10]
    score = np.where(overdue, rng.choice(5, n, p=p_late), rng.choice(5, n, p=p_ok)) + 1
    rated = is_closed & (rng.random(n) > 0.1)
    return {"status": status, "overdue": overdue,
            "satisfaction": np.where(rated, score.astype(str), "")}


def petition_export(records: dict[str, np.ndarray], people: pd.DataFrame, areas: pd.DataFrame,
                    config: CityConfig, rng: np.random.Generator) -> pd.DataFrame:
    """The petition register as JSON-ready records (Chinese keys, personal fields included)."""
    filed = (_seconds(config.start) + records["day"] * DAY
             + rng.integers(int(8.5 * 3600), int(17.5 * 3600), len(records["day"])))
    order = np.lexsort((records["person"], filed))
    r = {k: v[order] for k, v in records.items()}
    filed = filed[order]
    never = rng.random(len(filed)) < np.array([0.04, 0.15, 0.30])[r["kind"]]
    close = filed + (np.maximum(1, np.exp(rng.normal(np.log(25), 0.6, len(filed)))) * DAY
                     ).astype(np.int64)
    export_at = _seconds(config.export_date) + 8 * 3600
    is_closed = ~never & (close <= export_at)
    recent = export_at - filed < 60 * DAY
    status = np.where(is_closed, "closed", np.where(recent, "in_progress", "open"))
    person = people.iloc[r["person"]]
    year = _times(filed)
    year_no = np.array([y[:4] for y in year])
    seq = pd.Series(year_no).groupby(year_no).cumcount().to_numpy() + 1
    closed_text = np.char.replace(_times(np.where(is_closed, close - close % DAY, -1)),
                                  " 00:00:00", "")
    return pd.DataFrame({
        "信访编号": [f"XF{y}{s:06d}" for y, s in zip(year_no, seq)],
        "登记日期": _times(filed, sep="T"),
        "网格": areas[C.AREA_ID].to_numpy()[r["grid"]],
        "信访事项": np.array(list(C.PETITION_TOPICS.values()))[r["topic"]],
        "人数": r["count"].astype(int),
        "是否重复访": pd.Series(r["person"]).duplicated().to_numpy(),
        "越级情况": np.array([C.ESCALATION_LEVELS[k] for k in range(4)])[r["escalation"]],
        "办理状态": np.array([PETITION_STATUS_ZH[s] for s in status]),
        "办结日期": np.where(is_closed, closed_text, None),
        "姓名": person["name"].to_numpy(), "身份证号": person["id_number"].to_numpy(),
        "联系电话": person["phone"].to_numpy(),
    })
