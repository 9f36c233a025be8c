"""The safety index (平安指数) of every unit at every level and period: 0-100, 100 the safest.

Each indicator is an outcome the data records: incidents by stream, group incidents,
collective, repeat and level-skipping petitions over the last ``window`` periods and the
backlog at the period's end (all per 10,000 residents of the unit), the share of recent
closings past the deadline, and residents' satisfaction. A unit's figures come from the sums
over its grids (so a street's rate is its grids' events over its residents, not an average of
its grids' indices). Each figure ``x`` becomes a score ``100 / (1 + x / m)``, ``m`` being the
indicator's typical figure at that level (the median over every unit and period of the level;
the mean where the median is 0): no events score 100, the usual figure 50, twice it 33. The
index is the weighted mean of the scores a unit has ([safety_index] weights, equal by default);
an indicator the city's data lacks is left out and the weights of the rest renormalised.
docs/safety_index.md explains every figure.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from riskgrid import vocabulary as C
from riskgrid.experiment import SAFETY_INDICATORS, Experiment, SafetyConfig
from serving.scoring import Scorer
from serving.units import memberships

PER = 10_000  # rates are per 10,000 residents
TOP_SATISFACTION = 5.0  # satisfaction is rated 1-5; the score reads 5 - satisfaction
PERIOD_WORDS = {"day": ("days", "天"), "week": ("weeks", "周"), "month": ("months", "个月")}
FAMILY_STREAMS = tuple(C.FAMILIES)  # the streams that make up "all" incidents


@dataclass(frozen=True)
class Indicator:
    """One indicator: how it is read from the panel and what it is called.

    ``kind``: count (a stream's events over the window, per 10,000 residents), stock (cases
    open at the period's end, per 10,000), share (of closings past the deadline) or
    satisfaction (mean rating of closings).
    """

    name: str
    kind: str
    column: str
    en: str
    zh: str


def indicators(window: int, period: str) -> dict[str, Indicator]:
    """Every indicator, with labels naming the window (e.g. "last 13 weeks")."""
    unit_en, unit_zh = PERIOD_WORDS.get(period, ("periods", "期"))
    last_en, last_zh = f"last {window} {unit_en}", f"近{window}{unit_zh}"

    def count(name: str, en: str, zh: str) -> Indicator:
        return Indicator(name, "count", f"outcome_{name}", f"{en} per 10,000 residents, "
                         f"{last_en}", f"{last_zh}每万人{zh}")

    found = [
        count("law_enforcement", "law-enforcement incidents", "行政执法类事件数"),
        count("livelihood", "livelihood help requests", "民生求助数"),
        count("dispute", "conflicts and disputes", "矛盾纠纷数"),
        count("group", "group incidents (5 or more people)", "群体性事件数(5人及以上)"),
        count("collective", "collective petitions", "集体上访数"),
        count("repeat", "repeat petitions", "重复信访数"),
        count("escalated", "level-skipping petitions", "越级上访数"),
        Indicator("overdue_cases", "stock", "overdue_open_cases",
                  "incidents open past the deadline per 10,000 residents",
                  "每万人超期未办结事件数"),
        Indicator("petition_backlog", "stock", "petition_backlog",
                  "long-unresolved petitions (backlog) per 10,000 residents",
                  "每万人信访积案数"),
        Indicator("closed_late", "share", "closed_late_share",
                  "share of recent closings past the deadline", "近期超期办结的占比"),
        Indicator("satisfaction", "satisfaction", "satisfaction",
                  "residents' satisfaction with recent closings (1-5)", "近期群众满意度(1-5分)"),
    ]
    out = {i.name: i for i in found}
    assert tuple(out) == SAFETY_INDICATORS
    return out


@dataclass(frozen=True)
class LevelIndex:
    """The index of every unit of one level, for every period."""

    units: list[str]
    position: dict[str, int]
    members: np.ndarray  # units x grids, 1 where the grid belongs to the unit (and has residents)
    population: np.ndarray  # units
    values: np.ndarray  # units x periods, the index (NaN: no indicator known)
    scores: np.ndarray  # indicators x units x periods, each component's score
    figures: np.ndarray  # indicators x units x periods, each figure as read
    typical: np.ndarray  # indicators: the typical figure m (NaN: left out at this level)
    counts: dict[str, np.ndarray]  # count indicator -> units x periods, events per period


class SafetyIndex:
    """The safety index of one panel, at every level, for every period."""

    def __init__(self, panel: pd.DataFrame, areas: pd.DataFrame, config: SafetyConfig,
                 period: str = "week", season_lag: int = 52):
        self.config, self.season_lag = config, season_lag
        self.indicators = indicators(config.window, period)
        self.weights = np.array([config.weight(n) for n in self.indicators])
        codes, grids = pd.factorize(panel[C.AREA_ID].astype(str), sort=True)
        self.periods = pd.DatetimeIndex(sorted(panel[C.PERIOD].unique()))
        self.grids = np.asarray(grids, dtype=object)
        at = self.periods.searchsorted(panel[C.PERIOD])
        wanted = {i.column for i in self.indicators.values()} | {"closed_cases", "outcome_all"}

        def grid_array(column: str) -> np.ndarray:
            out = np.full((len(self.grids), len(self.periods)), np.nan)
            if column in panel:
                out[codes, at] = panel[column].to_numpy(np.float64)
            return out

        self._grid = {c: grid_array(c) for c in wanted}
        people = areas.assign(**{C.AREA_ID: areas[C.AREA_ID].astype(str)}).set_index(C.AREA_ID)
        population = people[C.POPULATION].reindex(self.grids).to_numpy(np.float64)
        self._resident = np.isfinite(population) & (population > 0)
        self._population = np.where(self._resident, population, 0.0)
        self._members = memberships(areas, self.grids)
        self._grid_ids = {str(g) for g in self.grids}
        self._levels: dict[str, LevelIndex] = {}

    @classmethod
    def of(cls, panel: pd.DataFrame, areas: pd.DataFrame, experiment: Experiment
           ) -> SafetyIndex:
        """The index of an experiment's panel, with its [safety_index] section."""
        return cls(panel, areas, experiment.safety_index, experiment.features.period,
                   experiment.features.lag_for_season())

    def level(self, level: str) -> LevelIndex:
        """Every unit of ``level`` (computed on first use)."""
        if level not in self._levels:
            self._levels[level] = self._compute(level)
        return self._levels[level]

    def level_of(self, unit: str) -> str | None:
        """The level of an id (a grid first, as serving.access.hierarchy has it); None if
        the panel does not know it."""
        if unit in self._grid_ids:
            return "grid"
        return self._members[unit][0] if unit in self._members else None

    def left_out(self, level: str) -> list[str]:
        """Indicators this city's data cannot inform at ``level`` (no value, or never an event)."""
        typical = self.level(level).typical
        return [n for n, m in zip(self.indicators, typical) if not np.isfinite(m)]

    # --- computing -------------------------------------------------------------------------

    def _membership(self, level: str) -> tuple[list[str], np.ndarray]:
        if level == "grid":
            units = [str(g) for g in self.grids]
            return units, np.diag(self._resident.astype(np.float64))
        units = sorted(u for u, (lv, _) in self._members.items() if lv == level)
        matrix = np.zeros((len(units), len(self.grids)))
        for row, unit in enumerate(units):
            matrix[row, self._members[unit][1]] = 1.0
        return units, matrix * self._resident[None, :]

    def _compute(self, level: str) -> LevelIndex:
        units, members = self._membership(level)
        population = members @ self._population
        with np.errstate(invalid="ignore", divide="ignore"):
            per = np.where(population > 0, PER / population, np.nan)[:, None]
        closed = self._grid["closed_cases"]
        figures, bad, counts = [], [], {}
        for ind in self.indicators.values():
            grid = self._grid[ind.column]
            if ind.kind == "count":
                counts[ind.name] = _unit_sum(members, grid)
                total, known = _window(counts[ind.name], self.config.window)
                with np.errstate(invalid="ignore", divide="ignore"):
                    figure = total / known * self.config.window * per
                value = figure
            elif ind.kind == "stock":
                figure = value = _unit_sum(members, grid) * per
            else:
                usable = np.isfinite(grid) & np.isfinite(closed) & (closed > 0)
                weight = np.where(usable, closed, 0.0)
                with np.errstate(invalid="ignore", divide="ignore"):
                    figure = (members @ np.where(usable, grid * closed, 0.0)) / (members @ weight)
                value = (np.maximum(TOP_SATISFACTION - figure, 0.0)
                         if ind.kind == "satisfaction" else figure)
            figures.append(figure)
            bad.append(value)
        bad_values = np.array(bad)
        typical_bad = np.array([_typical(v) for v in bad_values])
        with np.errstate(invalid="ignore", divide="ignore"):
            scores = 100.0 / (1.0 + bad_values / typical_bad[:, None, None])
        scores[~np.isfinite(typical_bad)] = np.nan
        typical = np.array([TOP_SATISFACTION - m if i.kind == "satisfaction" else m
                            for i, m in zip(self.indicators.values(), typical_bad)])
        return LevelIndex(units=units, position={u: k for k, u in enumerate(units)},
                          members=members, population=population,
                          values=self._combine(scores), scores=scores,
                          figures=np.array(figures), typical=typical, counts=counts)

    def _combine(self, scores: np.ndarray) -> np.ndarray:
        """The weighted mean of the scores each unit has (weights renormalised over them)."""
        known = np.isfinite(scores) & (self.weights[:, None, None] > 0)
        weights = np.where(known, self.weights[:, None, None], 0.0)
        total = weights.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(total > 0, (np.where(known, scores, 0.0) * weights).sum(axis=0)
                            / total, np.nan)

    # --- reading ---------------------------------------------------------------------------

    def at(self, as_of: pd.Timestamp) -> int:
        return int(self.periods.get_loc(as_of))

    def table(self, level: str, as_of: pd.Timestamp) -> pd.DataFrame:
        """Every unit of ``level`` at ``as_of``: area_id, value, rank (1 = safest), change
        (against the period before) and change_year (against the same period a year before)."""
        lv, t = self.level(level), self.at(as_of)
        value = lv.values[:, t]
        before = lv.values[:, t - 1] if t >= 1 else np.full(len(value), np.nan)
        year = (lv.values[:, t - self.season_lag] if t >= self.season_lag
                else np.full(len(value), np.nan))
        return pd.DataFrame({C.AREA_ID: lv.units, "value": value, "rank": _rank(value, lv.units),
                             "change": value - before, "change_year": value - year})

    def forecast(self, level: str, as_of: pd.Timestamp, expected: pd.Series | None,
                 target: str) -> np.ndarray:
        """Each unit's index of the period after ``as_of``: the window moves on by one period,
        whose counts are the model's expected counts for the streams it forecasts (``target``:
        one stream, or "all" split by each unit's recent mix) and each other stream's recent
        average; backlog and handling stay as they are. NaN without ``expected``."""
        lv, t, window = self.level(level), self.at(as_of), self.config.window
        if expected is None:
            return np.full(len(lv.units), np.nan)
        grid = expected.reindex(self.grids).to_numpy(np.float64)
        unit = lv.members @ np.nan_to_num(grid)
        sums = {n: _window(c, window) for n, c in lv.counts.items()}
        everything = _window(_unit_sum(lv.members, self._grid["outcome_all"]), window)[0][:, t]
        scores = lv.scores[:, :, t].copy()
        names = list(self.indicators)
        for name, series in lv.counts.items():
            total, known = sums[name][0][:, t], sums[name][1][:, t]
            with np.errstate(invalid="ignore", divide="ignore"):
                usual = total / known
                if name == target:
                    added = unit
                elif target == "all" and name in FAMILY_STREAMS:
                    mix = np.where(everything > 0, total / everything,
                                   np.nansum(total) / max(np.nansum(everything), 1e-12))
                    added = unit * mix
                else:
                    added = usual
            first = t - window + 1  # the period that leaves the window
            oldest = series[:, first] if first >= 0 else np.full_like(unit, np.nan)
            dropped = np.isfinite(oldest)
            n_next = known - dropped + 1
            total_next = np.nan_to_num(total) - np.where(dropped, oldest, 0.0) + added
            with np.errstate(invalid="ignore", divide="ignore"):
                figure = total_next / n_next * window * PER / lv.population
            k = names.index(name)
            scores[k] = 100.0 / (1.0 + figure / lv.typical[k])
        return self._combine(scores[:, :, None])[:, 0]

    def records(self, ids: list[str], as_of: pd.Timestamp,
                expected: pd.Series | None = None, target: str = "all") -> list[dict]:
        """One record per id (of any level), in the order asked, with its components."""
        t = self.at(as_of)
        tables: dict[str, tuple[pd.DataFrame, np.ndarray]] = {}
        out = []
        for area in ids:
            level = self.level_of(area)
            if level is None:
                continue
            if level not in tables:
                tables[level] = (self.table(level, as_of).set_index(C.AREA_ID),
                                 self.forecast(level, as_of, expected, target))
            table, ahead = tables[level]
            lv = self.level(level)
            i = lv.position[area]
            row = table.loc[area]
            out.append({"area_id": area, "level": level, "value": _number(row["value"]),
                        "rank": None if pd.isna(row["rank"]) else int(row["rank"]),
                        "units": len(lv.units), "change": _number(row["change"]),
                        "change_year": _number(row["change_year"]),
                        "forecast": _number(ahead[i]), "components": self._components(lv, i, t)})
        return out

    def answer(self, scorer: Scorer, ids: list[str], as_of: pd.Timestamp) -> dict:
        """The /safety_index answer's body: the window, the indicators left out and one record
        per id, its forecast from the scorer's expected counts of the next period."""
        expected = None
        if 1 in scorer.model.horizons:
            snap = scorer.snapshot(as_of)
            expected = pd.Series(snap.horizons[1]["expected_count"].to_numpy(np.float64),
                                 index=snap.area_ids)
        found = self.records(ids, as_of, expected, scorer.model.target)
        levels = {r["level"] for r in found}
        left = [n for n in self.indicators if any(n in self.left_out(lv) for lv in levels)]
        return {"window": self.config.window, "left_out": left, "index": found}

    def _components(self, lv: LevelIndex, i: int, t: int) -> list[dict]:
        scores = lv.scores[:, i, t]
        known = np.isfinite(scores) & (self.weights > 0)
        total = self.weights[known].sum()
        out = []
        for k, ind in enumerate(self.indicators.values()):
            if not np.isfinite(lv.typical[k]):
                continue  # left out: the city's data lacks it (named in left_out)
            out.append({"name": ind.name, "label_en": ind.en, "label_zh": ind.zh,
                        "value": _number(scores[k]),
                        "weight": float(self.weights[k] / total) if known[k] else 0.0,
                        "figure": _number(lv.figures[k, i, t]),
                        "typical": _number(lv.typical[k])})
        return out


def _unit_sum(members: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Units x periods sums of their grids' values; NaN where none of its grids has one."""
    known = np.isfinite(grid)
    total = members @ np.where(known, grid, 0.0)
    return np.where(members @ known.astype(np.float64) > 0, total, np.nan)


def _window(series: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Sum of the known values of the last ``window`` periods, and how many were known."""
    known = np.isfinite(series)
    zero = np.zeros((series.shape[0], 1))
    total = np.hstack([zero, np.cumsum(np.where(known, series, 0.0), axis=1)])
    count = np.hstack([zero, np.cumsum(known, axis=1)])
    t = np.arange(series.shape[1])
    low = np.maximum(t - window + 1, 0)
    return total[:, t + 1] - total[:, low], count[:, t + 1] - count[:, low]


def _typical(values: np.ndarray) -> float:
    """The typical figure m: the median over every unit and period, the mean where the median
    is 0; NaN (left out) when there is no value or never an event."""
    finite = values[np.isfinite(values)]
    if not finite.size:
        return np.nan
    median = float(np.median(finite))
    if median > 0:
        return median
    mean = float(finite.mean())
    return mean if mean > 0 else np.nan


def _rank(value: np.ndarray, units: list[str]) -> np.ndarray:
    """1 = the highest index (the safest); ties by id; NaN for a unit without an index."""
    frame = pd.DataFrame({"value": value, "unit": units}).reset_index()
    frame = frame[np.isfinite(value)].sort_values(["value", "unit"], ascending=[False, True])
    rank = np.full(len(value), np.nan)
    rank[frame["index"].to_numpy()] = np.arange(1, len(frame) + 1)
    return rank


def _number(value: float) -> float | None:
    return float(value) if value is not None and np.isfinite(value) else None
