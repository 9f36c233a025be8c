"""Data-quality alarms: a source that goes quiet is not a safe area.

Each source's records are counted per period by the time they reached the system (report time
where the source has one), per channel and district, per category, and per area with every
source together. A count is judged against what its own history expects: the median of its
previous ``window`` periods (against a drop, the lower of that and the median of the same weeks
a year before; against a jump, the higher), scaled by how the source moved in the same period
in its typical street (the median over the streets of each one's count against its own median,
so a Spring Festival week, quiet everywhere, is not a drop, and one street's outage does not
move the others' expectations). The source as a whole is not scaled. From those come the
alarms:

- ``late``: a source, channel or district's channel with no records for one or more periods
  that should together have held at least ``min_expected`` of them;
- ``drop`` / ``jump``: a count below ``drop_below`` or above ``jump_above`` times what was
  expected (at least ``min_expected``), ``persist`` periods in a row;
- ``category_gone``: a category with no records, as for ``late`` (from its second year: many
  categories are seasonal, such as wage arrears before Spring Festival); ``category_new``: a
  category never seen in the ``window`` periods before, or a value the mapping does not know
  (rows quarantined), with at least ``min_expected`` records; ``recoding``: one of each in the
  same source starting together (a category or channel renamed);
- ``no_data``: an area (district, street, community or grid) whose every source was silent for
  periods that should have held at least ``no_data_expected`` records: its zeros are no data.

Every alarm is worked out from the periods up to the as-of period only. docs/data_quality.md
explains each rule and what the synthetic city's planted faults show.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from features.io import CleanTables, read_clean, read_features, read_quarantine
from riskgrid import vocabulary as C
from riskgrid.calendar import period_range, period_start
from riskgrid.experiment import DataQualityConfig

ALL = "all"  # the channel key of a source's every channel together
KINDS = ("late", "drop", "jump", "recoding", "category_gone", "category_new", "no_data")
ALARM_COLUMNS = ("kind", "source", "channel", "column", "category", "value", "area_id", "level",
                 "since", "until", "detected", "periods", "observed", "usual", "records")
# source -> (report time, event time, channel column, category column)
SOURCES = {"incidents": (C.REPORTED_AT, C.OCCURRED_AT, C.CHANNEL, C.CATEGORY),
           "petitions": (None, C.FILED_AT, None, C.TOPIC)}
UNIT_LEVELS = ("district", "street", "community", "grid")
_UNKNOWN = re.compile(r"^column (category|channel|topic): (?:value )?'(.*?)' is not ")
_PAIR_PERIODS = 2  # a category gone and a new value this close together are one recoding
_STEP = {"day": pd.Timedelta(days=1), "week": pd.Timedelta(days=7),
         "month": pd.Timedelta(days=31)}
_LAG = {"day": 364, "week": 52, "month": 12}  # the same period a year before
_MOVERS = 3  # fewest streets with a history that can say how a source moved


@dataclass(frozen=True)
class Volumes:
    """Records per period of everything the alarms watch (built once; cut at each as-of)."""

    period: str
    streams: pd.DataFrame  # periods x (source, channel, area_id: city or a district)
    categories: pd.DataFrame  # periods x (source, column, category)
    unknown: pd.DataFrame  # periods x (source, column, value): rows quarantined for the value
    units: pd.DataFrame  # periods x unit id: every source's records together
    movers: pd.DataFrame  # periods x (source, street): how each source moved, street by street
    mover_level: str  # street, or district where the areas have no streets
    level_of: dict[str, str]
    ancestors: dict[str, frozenset[str]]  # unit -> the units above it (not itself)


def read_volumes(folder: Path, period: str) -> Volumes:
    """:func:`source_volumes` of an experiment's output folder (DATA_DIR/NAME): its clean
    tables (only the columns counted) and its quarantine, over the feature panel's periods."""
    meta = read_features(folder, tables=()).meta
    periods = period_range(pd.Timestamp(meta["first_period"]), pd.Timestamp(meta["last_period"]),
                           period)
    wanted = {source: [c for c in columns if c] + [C.AREA_ID]
              for source, columns in SOURCES.items()}
    wanted["areas"] = [C.LEVEL_ID[lv] for lv in UNIT_LEVELS]
    return source_volumes(read_clean(folder, columns=wanted), read_quarantine(folder), periods,
                          period)


def source_volumes(clean: CleanTables, quarantine: Mapping[str, pd.DataFrame],
                   periods: pd.DatetimeIndex, period: str) -> Volumes:
    """Count the clean tables (and the quarantine's unknown values) per period.

    Args:
        clean: the clean snapshot; incidents need a report or event time, an area and may have
            channel and category; petitions a filing time, an area and may have a topic.
        quarantine: source -> its quarantined rows (row, reason and the row's columns).
        periods: the periods to judge (the feature panel's), in order.
        period: day, week or month.
    """
    periods = pd.DatetimeIndex(periods)
    mover_level = next((lv for lv in ("street", "district") if C.LEVEL_ID[lv] in clean.areas),
                       "grid")
    district = _parent_of(clean.areas, "district")
    mover = _parent_of(clean.areas, mover_level)
    records = pd.concat([_records(source, getattr(clean, source), period, district)
                         for source in SOURCES], ignore_index=True)
    records["mover"] = records[C.AREA_ID].map(mover).fillna(records[C.AREA_ID])
    records = records[records[C.PERIOD].isin(periods)]
    streams = pd.concat(
        [_table(records.assign(channel=ALL, area=C.CITY), ["source", "channel", "area"], periods),
         _table(records.assign(area=C.CITY), ["source", "channel", "area"], periods),
         _table(records.assign(channel=ALL), ["source", "channel", "area"], periods),
         _table(records, ["source", "channel", "area"], periods)], axis=1)
    streams = streams.loc[:, ~streams.columns.duplicated()]
    keep = [c for c in streams.columns if c[1] != "" and c[2] != ""]
    categories = _table(records[records["category"] != ""], ["source", "column", "category"],
                        periods)
    level_of, ancestors, unit_of = _hierarchy(clean.areas)
    units = pd.concat([_table(records.assign(unit=records[C.AREA_ID].map(column)), ["unit"],
                              periods) for column in unit_of], axis=1)
    units.columns = [c[0] if isinstance(c, tuple) else c for c in units.columns]
    units = units.loc[:, ~units.columns.duplicated()]  # an id standing at several levels
    return Volumes(period=period, streams=streams[keep], categories=categories,
                   unknown=_unknown_values(quarantine, periods, period), units=units,
                   movers=_table(records, ["source", "mover"], periods),
                   mover_level=mover_level, level_of=level_of, ancestors=ancestors)


def data_alarms(volumes: Volumes, config: DataQualityConfig,
                as_of: pd.Timestamp | None = None, every: bool = False) -> pd.DataFrame:
    """The alarms as they stood at ``as_of`` (default: the last period), judged from the
    periods up to it: those whose last affected period is among the ``recent_periods`` up to
    ``as_of``, or, with ``every``, every alarm of the history.

    Returns:
        One row per alarm with the columns of ALARM_COLUMNS, the latest first.
    """
    index = volumes.streams.index
    cut = index[index <= (index[-1] if as_of is None else pd.Timestamp(as_of))]
    if len(cut) == 0:
        return _frame([])
    judge = _Judge(config, _LAG[volumes.period], _STEP[volumes.period])
    movers = volumes.movers.loc[cut]
    moved = {source: judge.moved(movers[source]) for source in movers.columns.unique(0)}
    streams = _stream_alarms(volumes.streams.loc[cut], moved, judge)
    renamed = _category_alarms(volumes.categories.loc[cut], volumes.streams.loc[cut],
                               volumes.unknown.loc[cut], moved, judge)
    # a channel renamed is said once, as a recoding, not also as a silent channel
    streams = [r for r in streams if not any(
        o["kind"] == "recoding" and o["column"] == "channel" and o["category"] == r["channel"]
        and o["source"] == r["source"] and _overlap(o, r) for o in renamed)]
    units = volumes.units.loc[cut]
    streets = [u for u in units.columns if volumes.level_of.get(u) == volumes.mover_level]
    empty = _no_data(units, judge.moved(units[streets]), volumes.ancestors, judge)
    # a district's channel that drops while an area of it has no data at all: the no-data
    # alarm says why
    streams = [r for r in streams if not (r["kind"] in ("late", "drop") and any(
        r["area_id"] in (o["area_id"], *volumes.ancestors.get(o["area_id"], ()))
        and r["area_id"] != C.CITY and _overlap(r, o) for o in empty))]
    rows = streams + renamed + empty
    for row in rows:
        row["level"] = volumes.level_of.get(row.get("area_id") or C.CITY, C.CITY)
    alarms = _frame(rows)
    if not every and len(alarms):
        first = cut[max(0, len(cut) - config.recent_periods)]
        alarms = alarms[pd.to_datetime(alarms["until"]) >= first]
    return alarms.reset_index(drop=True)


# --- counting ----------------------------------------------------------------------------------

def _records(source: str, table: pd.DataFrame, period: str, district: pd.Series
             ) -> pd.DataFrame:
    """One row per record: source, period it arrived in, channel, column, category, area."""
    report, event, channel, category = SOURCES[source]
    columns = ["source", C.PERIOD, "channel", "column", "category", C.AREA_ID, "area"]
    if table.empty or event not in table:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    when = pd.to_datetime(table[event])
    if report and report in table:
        when = pd.to_datetime(table[report]).fillna(when)
    areas = table[C.AREA_ID].astype("string")
    out = pd.DataFrame({
        "source": source, C.PERIOD: period_start(when, period).to_numpy(),
        "channel": _text(table, channel), "column": category or "",
        "category": _text(table, category), C.AREA_ID: areas.to_numpy(dtype=object),
        "area": areas.map(district).fillna("").to_numpy(dtype=object)})
    return out.dropna(subset=[C.PERIOD, C.AREA_ID])[columns]


def _text(table: pd.DataFrame, column: str | None) -> np.ndarray:
    if column is None or column not in table:
        return np.full(len(table), "", dtype=object)
    return table[column].astype("string").fillna("").to_numpy(dtype=object)


def _table(records: pd.DataFrame, keys: list[str], periods: pd.DatetimeIndex) -> pd.DataFrame:
    """Counts per period (rows, every period given) and key (columns)."""
    if records.empty:
        return pd.DataFrame(index=periods)
    counts = records.groupby([C.PERIOD, *keys]).size().unstack(keys, fill_value=0)
    return counts.reindex(periods, fill_value=0).astype(np.float64)


def _parent_of(areas: pd.DataFrame, level: str) -> pd.Series:
    """grid id -> the id of its unit at ``level`` (empty when the areas lack the level)."""
    if C.LEVEL_ID[level] not in areas:
        return pd.Series(dtype=object)
    return pd.Series(areas[C.LEVEL_ID[level]].astype(str).to_numpy(),
                     index=areas[C.AREA_ID].astype(str).to_numpy())


def _hierarchy(areas: pd.DataFrame) -> tuple[dict[str, str], dict[str, frozenset[str]],
                                             list[pd.Series]]:
    """Each unit's level and ancestors, and per level the grid -> unit id map."""
    grids = areas[C.AREA_ID].astype(str).to_numpy()
    present = [lv for lv in UNIT_LEVELS if C.LEVEL_ID[lv] in areas or lv == "grid"]
    ids = {lv: areas[C.LEVEL_ID[lv]].astype(str).to_numpy() if lv != "grid" else grids
           for lv in present}
    level_of: dict[str, str] = {}
    ancestors: dict[str, set[str]] = {}
    for i in range(len(grids)):
        chain = [ids[lv][i] for lv in reversed(present)]  # finest first
        for j, unit in enumerate(chain):
            level_of.setdefault(unit, list(reversed(present))[j])
            ancestors.setdefault(unit, set()).update(u for u in chain[j + 1:] if u != unit)
    maps = [pd.Series(ids[lv], index=grids) for lv in present]
    return level_of, {k: frozenset(v) for k, v in ancestors.items()}, maps


def _unknown_values(quarantine: Mapping[str, pd.DataFrame], periods: pd.DatetimeIndex,
                    period: str) -> pd.DataFrame:
    """Rows quarantined because the mapping does not know a category, channel or topic."""
    parts = []
    for source, rows in quarantine.items():
        if source not in SOURCES or rows.empty or "reason" not in rows:
            continue
        found = rows["reason"].astype(str).str.extract(_UNKNOWN)
        report, event, _, _ = SOURCES[source]
        when = pd.Series(pd.NaT, index=rows.index, dtype="datetime64[ns]")
        for column in (report, event):
            if column and column in rows:
                when = when.fillna(pd.to_datetime(rows[column], errors="coerce", format="mixed"))
        frame = pd.DataFrame({"source": source, "column": found[0], "value": found[1],
                              C.PERIOD: period_start(when, period).to_numpy()})
        parts.append(frame.dropna())
    records = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    if records.empty:
        return pd.DataFrame(index=periods)
    return _table(records[records[C.PERIOD].isin(periods)], ["source", "column", "value"],
                  periods)


# --- judging -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Judge:
    """What each series' history expects, and the silences it cannot explain."""

    config: DataQualityConfig
    lag: int  # periods in a year
    step: pd.Timedelta  # one period

    def history(self, counts: pd.DataFrame) -> pd.DataFrame:
        """The median of each series' previous ``window`` periods."""
        return counts.shift(1).rolling(self.config.window,
                                       min_periods=self.config.min_history).median()

    def bounds(self, counts: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(low, high): the lower and the higher of the recent median and the median of the
        same periods a year before (the recent median alone in the first year)."""
        recent = self.history(counts)
        span = max(1, self.config.window // 6)
        year = counts.shift(self.lag - span).rolling(2 * span + 1, min_periods=span + 1).median()
        known = recent.notna() & year.notna()
        return (recent.where(~known, np.fmin(recent, year)),
                recent.where(~known, np.fmax(recent, year)))

    def moved(self, movers: pd.DataFrame) -> pd.Series:
        """How a source moved in each period in its typical street: the median over the
        streets (with a history) of each one's count against its own recent median; 1 where
        fewer than three streets can say."""
        base = self.history(movers)
        ratio = (movers / base).where(base >= 1)
        enough = ratio.notna().sum(axis=1) >= _MOVERS
        return ratio.median(axis=1, skipna=True).where(enough).clip(upper=10).fillna(1.0)

    def silences(self, counts: pd.DataFrame, low: pd.DataFrame, scale: pd.DataFrame | pd.Series,
                 need: float) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Runs of zero counts whose expected records (``low`` times ``scale``, a frame like
        ``counts`` or one factor per period) add up to ``need``: (flagged cells, the expected
        total so far in each cell's run). A run keeps the ``low`` it started with, so a long
        silence does not lower its own expectation."""
        zero = (counts == 0) & low.notna()
        start = zero & ~zero.shift(1, fill_value=False)
        level = low.where(start).ffill()
        level = level.mul(scale, axis=0) if isinstance(scale, pd.Series) else level * scale
        each = level.where(zero).fillna(0.0)
        total = each.cumsum()
        so_far = (total - (total - each).where(start).ffill()).where(zero)
        end = zero & ~zero.shift(-1, fill_value=False)
        run_total = so_far.where(end).bfill().where(zero)
        return zero & (run_total >= need), so_far


def _runs(flags: pd.DataFrame) -> list[tuple[object, int, int]]:
    """(column, first row, last row) of every run of flagged cells."""
    out = []
    values = flags.to_numpy(dtype=bool)
    for j in np.flatnonzero(values.any(axis=0)):
        padded = np.r_[False, values[:, j], False].astype(np.int8)
        edges = np.flatnonzero(np.diff(padded))
        out += [(flags.columns[j], int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2])]
    return out


def _row(kind: str, index: pd.DatetimeIndex, a: int, b: int, counts: pd.Series,
         expected: pd.Series, detected: int | None = None, **fields: object) -> dict:
    observed = counts.iloc[a:b + 1]
    return {"kind": kind, **fields, "since": index[a].date().isoformat(),
            "until": index[b].date().isoformat(),
            "detected": index[a if detected is None else detected].date().isoformat(),
            "periods": b - a + 1, "observed": float(observed.mean()),
            "usual": float(expected.iloc[a:b + 1].mean()), "records": float(observed.sum())}


def _stream_alarms(streams: pd.DataFrame, moved: Mapping[str, pd.Series], judge: _Judge
                   ) -> list[dict]:
    """late, drop and jump alarms of every source, channel and district."""
    config = judge.config
    # a source as a whole is not scaled by its own movement: that movement is what is judged
    scale = pd.DataFrame({c: 1.0 if c[1:] == (ALL, C.CITY) else moved.get(c[0], 1.0)
                          for c in streams.columns}, index=streams.index)
    scale.columns = streams.columns
    low, high = judge.bounds(streams)
    silent, so_far = judge.silences(streams, low, scale, config.min_expected)
    low, high = low * scale, high * scale
    drop = (streams < config.drop_below * low) & (low >= config.min_expected)
    jump = (streams > config.jump_above * high) & (high >= config.min_expected)
    rows = []
    for kind, flags, expected in (("late", silent, low), ("drop", drop, low),
                                  ("jump", jump, high)):
        for key, a, b in _runs(flags):
            if kind != "late" and b - a + 1 < config.persist:
                continue
            detected = _crossed(so_far[key], a, b, config.min_expected) if kind == "late" \
                else None
            source, channel, area = key
            rows.append(_row(kind, streams.index, a, b, streams[key], expected[key], detected,
                             source=source, channel=None if channel == ALL else channel,
                             area_id=area))
    return _explained(rows)


def _crossed(so_far: pd.Series, a: int, b: int, need: float) -> int:
    """The first period of a silent run at which its expected records reached ``need``."""
    return a + int(np.argmax(so_far.iloc[a:b + 1].to_numpy() >= need))


def _coarser(a: dict, b: dict) -> bool:
    """Whether series ``a`` holds series ``b`` and is not the same series."""
    holds = (a["channel"] in (None, b["channel"])) and (a["area_id"] in (C.CITY, b["area_id"]))
    return a["source"] == b["source"] and holds and (a["channel"], a["area_id"]) != (
        b["channel"], b["area_id"])


def _same(a: dict, b: dict) -> bool:
    return all(a.get(k) == b.get(k) for k in ("source", "channel", "area_id"))


def _overlap(a: dict, b: dict) -> bool:
    return a["since"] <= b["until"] and b["since"] <= a["until"]


def _explained(rows: list[dict]) -> list[dict]:
    """Leave out what another alarm says better: on one series, a silence inside a longer drop
    and a drop that is all silence; silences inside a wider silence, drops that a narrower
    silence or drop explains (or a wider silence holds), jumps a narrower jump explains."""
    def kept(row: dict) -> bool:
        for other in rows:
            if other is row or not _overlap(row, other):
                continue
            wider, narrower = _coarser(other, row), _coarser(row, other)
            if _same(row, other) and {row["kind"], other["kind"]} == {"late", "drop"}:
                if other["periods"] > row["periods"] or (
                        row["kind"] == "drop" and other["periods"] == row["periods"]):
                    return False
            if row["kind"] == "late" and other["kind"] == "late" and wider:
                return False
            if row["kind"] == "drop" and ((narrower and other["kind"] in ("late", "drop"))
                                          or (wider and other["kind"] == "late")):
                return False
            if row["kind"] == "jump" and narrower and other["kind"] == "jump":
                return False
        return True

    return [row for row in rows if kept(row)]


def _category_alarms(categories: pd.DataFrame, streams: pd.DataFrame, unknown: pd.DataFrame,
                     moved: Mapping[str, pd.Series], judge: _Judge) -> list[dict]:
    """Categories gone silent, new categories and unknown values, paired into recodings."""
    config, index, gone, new = judge.config, categories.index, [], []
    channels = streams[[c for c in streams.columns if c[1] != ALL and c[2] == C.CITY]]
    for frame, column in ((categories, None), (channels, "channel")):
        if not len(frame.columns):
            continue
        scale = pd.DataFrame({c: moved.get(c[0], 1.0) for c in frame.columns}, index=index)
        scale.columns = frame.columns
        low = judge.bounds(frame)[0]
        if column is None:  # categories are often seasonal: judge them from their second year
            low = low.where(pd.Series(np.arange(len(index)) >= judge.lag, index=index), axis=0)
        silent, so_far = judge.silences(frame, low, scale, config.min_expected)
        low = low * scale
        for key, a, b in _runs(silent):
            fields = ({"column": key[1], "category": key[2]} if column is None
                      else {"column": column, "category": key[1]})
            gone.append(_row("category_gone", index, a, b, frame[key], low[key],
                             _crossed(so_far[key], a, b, config.min_expected), source=key[0],
                             **fields))
    for key in categories.columns:
        new += _new(categories[key], config, config.window, config.window,
                    source=key[0], column=key[1], category=key[2])
    for key in unknown.columns:
        new += _new(unknown[key], config, None, 0, source=key[0], column=key[1], value=key[2])
    return _paired(gone, new, judge.step)


def _new(counts: pd.Series, config: DataQualityConfig, span: int | None, history: int,
         **fields: object) -> list[dict]:
    """A series first seen after ``history`` quiet periods, once it holds ``min_expected``
    records; listed for ``span`` periods from its first (None: while it keeps coming)."""
    seen = np.flatnonzero(counts.to_numpy() > 0)
    if len(seen) == 0 or seen[0] < history:
        return []
    first = int(seen[0])
    last = int(seen[-1]) if span is None else min(int(seen[-1]), first + span - 1)
    cumulative = counts.iloc[first:last + 1].cumsum().to_numpy()
    if cumulative[-1] < config.min_expected:
        return []
    detected = first + int(np.argmax(cumulative >= config.min_expected))
    return [_row("category_new", counts.index, first, last, counts,
                 pd.Series(0.0, index=counts.index), detected, **fields)]


def _paired(gone: list[dict], new: list[dict], step: pd.Timedelta) -> list[dict]:
    """A category (or channel) gone and a new value of the same column and source, starting
    within a couple of periods of each other: one recoding."""
    out, used = [], set()
    for g in gone:
        close = [(abs(pd.Timestamp(g["since"]) - pd.Timestamp(n["since"])), i)
                 for i, n in enumerate(new) if i not in used and n["source"] == g["source"]
                 and n["column"] == g["column"] and n.get("value") is not None]
        close = [(gap, i) for gap, i in close if gap <= _PAIR_PERIODS * step]
        if not close:
            if g["column"] != "channel":  # a silent channel is already a late alarm
                out.append(g)
            continue
        i = min(close)[1]
        used.add(i)
        n = new[i]
        out.append({**g, "kind": "recoding", "value": n["value"],
                    "since": min(g["since"], n["since"]), "until": max(g["until"], n["until"]),
                    "detected": max(g["detected"], n["detected"]),
                    "periods": max(g["periods"], n["periods"]), "observed": n["observed"],
                    "records": n["records"]})
    return out + [n for i, n in enumerate(new) if i not in used]


def _no_data(units: pd.DataFrame, moved: pd.Series, ancestors: Mapping[str, frozenset[str]],
             judge: _Judge) -> list[dict]:
    """Areas whose every source was silent where their history expected records; an area
    inside another one with the same alarm is left out (the wider one says it)."""
    if units.empty:
        return []
    need = judge.config.no_data_expected
    low = judge.bounds(units)[0]
    silent, so_far = judge.silences(units, low, moved, need)
    low = low.mul(moved, axis=0)
    rows = [_row("no_data", units.index, a, b, units[unit], low[unit],
                 _crossed(so_far[unit], a, b, need), area_id=unit)
            for unit, a, b in _runs(silent)]
    return [r for r in rows if not any(o["area_id"] in ancestors.get(r["area_id"], ())
                                       and _overlap(r, o) for o in rows if o is not r)]


def _frame(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(ALARM_COLUMNS))
    frame["area_id"] = frame["area_id"].astype(object).where(frame["area_id"].notna(), C.CITY)
    for column in ("source", "channel", "column", "category", "value"):
        frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    order = {k: i for i, k in enumerate(KINDS)}
    frame = frame.assign(_k=frame["kind"].map(order)).sort_values(
        ["until", "_k", "source", "area_id"], ascending=[False, True, True, True],
        kind="stable")
    return frame.drop(columns="_k").reset_index(drop=True)
