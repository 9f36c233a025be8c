"""Scores, explanations and what-if scores of grids, as the API serves them.

A :class:`Scorer` holds one model and one feature panel. Scoring an as-of period scores every
grid of it at once (a :class:`Snapshot`), because ranks, percentiles and the alert budget
compare each grid with its peers; snapshots are cached, so a one-grid request is a lookup.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features import read_clean, read_features
from riskgrid import vocabulary as C
from riskgrid.calendar import parse_day
from riskgrid.errors import InputError
from riskgrid.experiment import Experiment
from riskgrid.settings import Settings
from serving.champion import LoadedModel
from serving.outcomes import panel_outcomes
from serving.promises import settle_levels
from serving.units import memberships, unit_drivers, unit_table
from serving.warnings import WarningsConfig, levels
from training import RiskModel, contributions, input_catalogue, read_backtest_predictions


@dataclass(frozen=True)
class ServingData:
    """What the service reads besides the model: panel, catalogue, areas and unit counts."""

    panel: pd.DataFrame
    catalogue: pd.DataFrame
    areas: pd.DataFrame
    counts: pd.DataFrame
    fingerprint: str
    backtest: pd.DataFrame | None = None  # the training run's out-of-sample forecasts


def load_serving_data(experiment: Experiment, settings: Settings) -> ServingData:
    """The feature snapshot the service scores, with the clean areas."""
    folder = experiment.output_dir(settings)
    features = read_features(folder)
    return ServingData(panel=features.panel, catalogue=input_catalogue(features.catalogue),
                       areas=read_clean(folder, events=False).areas, counts=features.counts,
                       fingerprint=features.meta["input_fingerprint"],
                       backtest=read_backtest_predictions(folder))


@dataclass(frozen=True)
class Snapshot:
    """Every grid of one as-of period scored for every horizon."""

    as_of: pd.Timestamp
    area_ids: np.ndarray
    position: dict[str, int]
    horizons: dict[int, pd.DataFrame]  # scores: expected_count, low, high, probability, ...
    inputs: dict[int, np.ndarray]  # model inputs (rows x features)
    contributions: dict[int, np.ndarray]  # rows x (features + base value)
    typical: dict[int, np.ndarray]  # each input's mean over the period's grids
    _arrays: dict[int, dict[str, np.ndarray]] = field(default_factory=dict, repr=False)
    _order: dict[int, np.ndarray] = field(default_factory=dict, repr=False)

    def arrays(self, h: int) -> dict[str, np.ndarray]:
        """The scores of horizon ``h`` as one array per column, made once: a lookup of one
        grid must not convert the whole table."""
        if h not in self._arrays:
            frame = self.horizons[h]
            self._arrays[h] = {c: frame[c].to_numpy() for c in frame.columns}
        return self._arrays[h]

    def order(self, h: int) -> np.ndarray:
        """Each grid's inputs at horizon ``h``, largest contribution first (made once)."""
        if h not in self._order:
            self._order[h] = np.argsort(-np.abs(self.contributions[h][:, :-1]), axis=1,
                                        kind="stable")
        return self._order[h]


class Scorer:
    """Scores, drivers and explanations of one model over one panel."""

    def __init__(self, loaded: LoadedModel, data: ServingData, experiment: Experiment):
        self.loaded = loaded
        self.model: RiskModel = loaded.model
        self.data = data
        self.config = experiment.serving
        # Each level's threshold is the one that kept its promise in the backtest.
        self.warnings_config, self.promises = settle_levels(
            experiment.warnings, data.backtest,
            panel_outcomes(data.panel, experiment.training) if experiment.warnings.promise
            and data.backtest is not None else pd.DataFrame(), experiment.features.period)
        missing = sorted(set(self.model.features) - set(data.panel.columns))
        if missing:
            raise InputError(f"model version {loaded.version} reads features the panel lacks "
                             f"({', '.join(missing[:5])}); rebuild the features or retrain")
        self.periods = pd.DatetimeIndex(sorted(data.panel[C.PERIOD].unique()))
        by_period = data.panel.groupby(C.PERIOD, sort=False).indices
        self._rows = {pd.Timestamp(k): v for k, v in by_period.items()}
        labels = data.catalogue.set_index("name")
        self._labels = {name: (str(labels.at[name, "en"]) if name in labels.index else name,
                               str(labels.at[name, "zh"]) if name in labels.index else name)
                        for h in self.model.horizons.values() for name in h.features}
        self._cache: OrderedDict[pd.Timestamp, Snapshot] = OrderedDict()
        self._members: dict[pd.Timestamp, dict[str, tuple[str, np.ndarray]]] = {}
        self._lock = threading.Lock()

    @property
    def horizons(self) -> list[int]:
        return sorted(self.model.horizons)

    @property
    def latest(self) -> pd.Timestamp:
        return self.periods[-1]

    def as_of(self, value: str | None) -> pd.Timestamp:
        """The panel period holding ``value`` (an ISO date); the latest when None."""
        return resolve_period(self.periods, value, "as_of")

    def check_horizons(self, horizons: list[int]) -> list[int]:
        bad = sorted({h for h in horizons if h not in self.model.horizons})
        if bad:
            raise InputError(f"horizons {bad} are not served: this model forecasts "
                             f"{self.horizons} periods ahead")
        return list(dict.fromkeys(horizons))

    def snapshot(self, as_of: pd.Timestamp) -> Snapshot:
        with self._lock:
            if as_of in self._cache:
                self._cache.move_to_end(as_of)
                return self._cache[as_of]
        snap = self._score_period(as_of)
        with self._lock:
            self._cache[as_of] = snap
            while len(self._cache) > self.config.snapshots:
                self._cache.popitem(last=False)
        return snap

    def _score_period(self, as_of: pd.Timestamp) -> Snapshot:
        rows = self.data.panel.iloc[self._rows[as_of]].reset_index(drop=True)
        area_ids = rows[C.AREA_ID].astype(str).to_numpy()
        scores, inputs, contribs, typical = {}, {}, {}, {}
        thresholds = self.model.area_thresholds(rows)
        for h, model in self.model.horizons.items():
            X = self.model.inputs(rows, h)[model.features]
            expected = model.expected_count(X)
            probability = model.risk_probability(X, thresholds)
            low, high = model.interval(expected, self.config.interval)
            frame = pd.DataFrame({C.AREA_ID: area_ids, "horizon": h, "expected_count": expected,
                                  "low": low, "high": high, "risk_probability": probability})
            frame["risk_level"] = levels(frame, self.warnings_config).to_numpy()
            order = np.lexsort((-expected, -probability))
            rank = np.empty(len(frame), np.int64)
            rank[order] = np.arange(1, len(frame) + 1)
            frame["rank"] = rank
            below = np.searchsorted(np.sort(probability), probability, side="left")
            frame["percentile"] = np.round(100.0 * below / max(len(frame) - 1, 1), 1)
            scores[h] = frame
            inputs[h] = X.to_numpy(np.float64)
            typical[h] = column_means(inputs[h])
            contribs[h] = contributions(model, X).to_numpy(np.float64)
        return Snapshot(as_of=as_of, area_ids=area_ids,
                        position={a: i for i, a in enumerate(area_ids)}, horizons=scores,
                        inputs=inputs, contributions=contribs, typical=typical)

    def positions(self, snap: Snapshot, area_ids: list[str]) -> list[int]:
        unknown = [a for a in area_ids if a not in snap.position]
        if unknown:
            shown = ", ".join(unknown[:5]) + (" ..." if len(unknown) > 5 else "")
            raise InputError(f"unknown area ids: {shown}; scores are made for grids and the "
                             "communities, streets and districts above them (see /model_info "
                             "for the levels and /areas with a level and parent_id to list "
                             "them)")
        return [snap.position[a] for a in area_ids]

    def members(self, snap: Snapshot) -> dict[str, tuple[str, np.ndarray]]:
        """Every unit above the grids of a snapshot: its level and its grids' positions."""
        with self._lock:
            found = self._members.get(snap.as_of)
        if found is None:
            found = memberships(self.data.areas, snap.area_ids)
            with self._lock:
                self._members = {snap.as_of: found}  # one period at a time is enough
        return found

    def units(self, snap: Snapshot, level: str, h: int) -> pd.DataFrame:
        """Every unit of ``level`` scored from its grids at horizon ``h`` (serving.units)."""
        return unit_table(snap.horizons[h], self.members(snap), level, self.warnings_config,
                          self.config.interval)

    def score(self, area_ids: list[str], horizons: list[int], as_of: pd.Timestamp,
              drivers: int | None = None) -> list[dict]:
        """One record per area and horizon, in the order asked, with the top drivers.

        Ids of communities, streets, districts or the city get their unit's score, added up
        from its grids (serving.units).
        """
        snap = self.snapshot(as_of)
        members = self.members(snap)
        self.positions(snap, [a for a in area_ids if a not in members])  # unknown ids fail
        n = drivers or self.config.drivers
        out = []
        for h in self.check_horizons(horizons):
            names = self.model.horizons[h].features
            cols = snap.arrays(h)
            tables: dict[str, pd.DataFrame] = {}
            for area in area_ids:
                if area in snap.position:
                    out.append(self._grid_record(snap, cols, names, h, snap.position[area], n))
                    continue
                level, where = members[area]
                if level not in tables:
                    tables[level] = self.units(snap, level, h).set_index(C.AREA_ID)
                row = tables[level].loc[area]
                out.append({
                    "area_id": area, "horizon": h,
                    "expected_count": float(row["expected_count"]),
                    "interval": [float(row["low"]), float(row["high"])],
                    "risk_probability": float(row["risk_probability"]),
                    "risk_level": str(row["risk_level"]), "rank": int(row["rank"]),
                    "percentile": float(row["percentile"]),
                    "drivers": [self._driver(names[j], np.nan if v is None else v, c)
                                for j, c, v in unit_drivers(snap.contributions[h][:, :-1],
                                                            snap.inputs[h], where, n)]})
        return out

    def _grid_record(self, snap: Snapshot, cols: dict, names: list[str], h: int, i: int,
                     n: int) -> dict:
        return {"area_id": snap.area_ids[i], "horizon": h,
                "expected_count": float(cols["expected_count"][i]),
                "interval": [float(cols["low"][i]), float(cols["high"][i])],
                "risk_probability": float(cols["risk_probability"][i]),
                "risk_level": str(cols["risk_level"][i]), "rank": int(cols["rank"][i]),
                "percentile": float(cols["percentile"][i]),
                "drivers": self._drivers(names, snap.contributions[h][i, :-1],
                                         snap.inputs[h][i], n, snap.typical[h],
                                         snap.order(h)[i])}

    def _drivers(self, names: list[str], contrib: np.ndarray, values: np.ndarray,
                 n: int, typical: np.ndarray | None = None,
                 order: np.ndarray | None = None) -> list[dict]:
        top = (np.argsort(-np.abs(contrib), kind="stable") if order is None else order)[:n]
        return [self._driver(names[j], values[j], contrib[j],
                             None if typical is None else typical[j]) for j in top]

    def _driver(self, name: str, value: float, contribution: float,
                typical: float | None = None) -> dict:
        en, zh = self._labels[name]
        return {"feature": name, "label_en": en, "label_zh": zh,
                "value": None if np.isnan(value) else float(value),
                "typical": None if typical is None or np.isnan(typical) else float(typical),
                "contribution": float(contribution)}

    def explain(self, area_id: str, horizon: int, as_of: pd.Timestamp) -> dict:
        """Every contribution for one area and horizon, and the changes since last period."""
        self.check_horizons([horizon])
        snap = self.snapshot(as_of)
        (i,) = self.positions(snap, [area_id])
        names = self.model.horizons[horizon].features
        contrib = snap.contributions[horizon][i]
        values = snap.inputs[horizon][i]
        row = snap.horizons[horizon].iloc[i]
        out = {"area_id": area_id, "horizon": horizon, "as_of": str(as_of.date()),
               "base_value": float(contrib[-1]), "log_rate": float(contrib.sum()),
               "expected_count": float(row["expected_count"]),
               "risk_probability": float(row["risk_probability"]),
               "risk_level": str(row["risk_level"]),
               "contributions": self._drivers(names, contrib[:-1], values, len(names),
                                              snap.typical[horizon]),
               "previous": None, "changes": []}
        position = self.periods.get_loc(as_of)
        if position > 0:
            before = self.snapshot(self.periods[position - 1])
            j = before.position.get(area_id)
            if j is not None:
                old = before.contributions[horizon][j]
                prev = before.horizons[horizon].iloc[j]
                out["previous"] = {"as_of": str(before.as_of.date()),
                                   "expected_count": float(prev["expected_count"]),
                                   "risk_probability": float(prev["risk_probability"]),
                                   "risk_level": str(prev["risk_level"])}
                diff = contrib[:-1] - old[:-1]
                order = np.argsort(-np.abs(diff), kind="stable")
                old_values = before.inputs[horizon][j]
                out["changes"] = [
                    {**self._driver(names[k], values[k], diff[k], snap.typical[horizon][k]),
                     "previous_value": None if np.isnan(old_values[k]) else float(old_values[k])}
                    for k in order if diff[k] != 0]
        return out

    def score_rows(self, rows: list[dict], horizons: list[int]) -> list[dict]:
        """What-if: score caller-supplied feature rows (validated against the model's inputs)."""
        frame = self._what_if_frame(rows)
        thresholds = self.model.area_thresholds(frame)
        out = []
        for h in self.check_horizons(horizons):
            model = self.model.horizons[h]
            X = self.model.inputs(frame, h)[model.features]
            expected = model.expected_count(X)
            probability = model.risk_probability(X, thresholds)
            low, high = model.interval(expected, self.config.interval)
            contrib = contributions(model, X).to_numpy(np.float64)
            values = X.to_numpy(np.float64)
            level = threshold_levels(probability, self.warnings_config)
            for i in range(len(frame)):
                out.append({"row": i, "horizon": h, "expected_count": float(expected[i]),
                            "interval": [float(low[i]), float(high[i])],
                            "risk_probability": float(probability[i]),
                            "risk_level": str(level[i]),
                            "drivers": self._drivers(model.features, contrib[i, :-1],
                                                     values[i], self.config.drivers)})
        return out

    def what_if_columns(self) -> list[str]:
        return list(self.model.features)

    def _what_if_frame(self, rows: list[dict]) -> pd.DataFrame:
        needed = set(self.model.features)
        allowed = needed | {C.AREA_ID, C.PERIOD}
        for n, row in enumerate(rows):
            missing = sorted(needed - row.keys())
            extra = sorted(row.keys() - allowed)
            if missing:
                raise InputError(f"row {n}: missing features {missing[:5]}"
                                 f"{' ...' if len(missing) > 5 else ''}; GET /model_info lists "
                                 "the inputs")
            if extra:
                raise InputError(f"row {n}: unknown fields {extra[:5]}; allowed are "
                                 "period, area_id and the model's features")
            if C.PERIOD not in row:
                raise InputError(f"row {n}: field 'period' is required (YYYY-MM-DD): the "
                                 "calendar of the forecast period is an input")
            if self.model.thresholds and row.get(C.AREA_ID) not in self.model.thresholds:
                raise InputError(f"row {n}: field 'area_id' must name a known grid: this "
                                 "model's risk flag is relative to each grid's own history")
            for name in self.model.features:
                value = row[name]
                if value is not None and (isinstance(value, bool) or
                                          not isinstance(value, int | float)):
                    raise InputError(f"row {n}: feature {name!r} must be a number or null, "
                                     f"not {value!r}")
        frame = pd.DataFrame(rows)
        try:
            frame[C.PERIOD] = pd.to_datetime(frame[C.PERIOD])
        except (ValueError, TypeError):
            raise InputError("field 'period' must be a date (YYYY-MM-DD) in every row") from None
        features = frame[self.model.features].astype(np.float64)
        return pd.concat([frame[[c for c in (C.AREA_ID, C.PERIOD) if c in frame]], features],
                         axis=1)


def column_means(values: np.ndarray) -> np.ndarray:
    """Each column's mean over the rows that have a value (NaN for a column with none)."""
    known = ~np.isnan(values)
    counts = known.sum(axis=0)
    sums = np.where(known, values, 0.0).sum(axis=0)
    return np.divide(sums, counts, out=np.full(values.shape[1], np.nan), where=counts > 0)


def threshold_levels(probability: np.ndarray, config: WarningsConfig) -> np.ndarray:
    """Levels from the probability thresholds alone (what-if rows have no peers to budget)."""
    out = np.full(len(probability), "none", dtype=object)
    for level in ("blue", "yellow", "orange", "red"):
        out[probability >= config.threshold(level)] = level
    return out


def resolve_period(periods: pd.DatetimeIndex, value: str | None, option: str
                   ) -> pd.Timestamp:
    """The panel period holding the date ``value`` (the latest period when None)."""
    if value is None:
        return periods[-1]
    day = parse_day(value, option)
    step = periods[-1] - periods[-2] if len(periods) > 1 else pd.Timedelta(days=1)
    position = periods.searchsorted(day, side="right") - 1
    if position < 0 or day >= periods[-1] + step:
        raise InputError(f"{option} {value} is outside the data: the complete periods run from "
                         f"{periods[0].date()} to {periods[-1].date()}")
    return periods[position]

