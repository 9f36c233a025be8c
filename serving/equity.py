"""Where attention goes: warnings per resident, their share against the share of residents and
of incidents, how often the same grids are flagged period after period, and how much of what
the model reads was found by officers on patrol (which more attention inflates: the runaway
feedback loops of predictive policing, Ensign et al. 2018; Lum and Isaac 2016).

A flag is a grid forecast at a warning level (blue or above) at the lead horizon, as the
forecast ledger holds it for each as-of period (the vintage the dashboard shows; for the as-of
period of a report not yet in the ledger, the live forecast). docs/equity.md explains every
figure.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features import read_clean
from riskgrid import vocabulary as C
from riskgrid.experiment import Experiment
from riskgrid.settings import Settings
from serving.history import ledger_periods
from serving.safety import PER
from serving.scoring import Scorer, Snapshot
from serving.store import Store

FLAGGED = frozenset(C.WARNING_LEVELS)  # red, orange, yellow, blue
HIGH = frozenset({"red", "orange"})
EQUITY_LEVELS = ("city", "district", "street")
# Feature families built from incidents (officer-found ones among them); the other families
# (petitions, base data, calendar) come from no channel a patrol feeds.
INCIDENT_FAMILIES = frozenset({"counts", "trend", "spread", "hierarchy", "handling"})
PETITION_STREAMS = ("petitions", "collective", "repeat", "escalated")
UNIT_PREFIXES = ("neighbours_", "community_", "street_", "district_")
FLAG_COLUMNS = (C.AREA_ID, C.PERIOD, "risk_level")


def ledger_flags(store: Store, experiment: str, horizon: int) -> pd.DataFrame:
    """area_id, period (the as-of period) and risk_level of every grid forecast at ``horizon``,
    one vintage per as-of period (the one serving.history shows)."""
    chosen = {p["vintage_id"]: p["as_of"] for p in ledger_periods(store, experiment)}
    if not chosen:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in FLAG_COLUMNS})
    rows = store.forecasts(vintage_ids=list(chosen))
    rows = rows[rows["horizon"] == horizon]
    return pd.DataFrame({C.AREA_ID: rows[C.AREA_ID].astype(str).to_numpy(),
                         C.PERIOD: pd.to_datetime(rows["vintage_id"].map(chosen)).to_numpy(),
                         "risk_level": rows["risk_level"].astype(str).to_numpy()})


def with_live(flags: pd.DataFrame, snap: Snapshot, horizon: int) -> pd.DataFrame:
    """``flags`` with the snapshot's levels for its as-of period, when the ledger has none."""
    if (pd.to_datetime(flags[C.PERIOD]) == snap.as_of).any() or horizon not in snap.horizons:
        return flags
    live = pd.DataFrame({C.AREA_ID: snap.area_ids, C.PERIOD: snap.as_of,
                         "risk_level": snap.horizons[horizon]["risk_level"].astype(str)})
    return pd.concat([flags, live], ignore_index=True)


def officer_counts(incidents: pd.DataFrame, periods: pd.DatetimeIndex,
                   channels: list[str]) -> pd.DataFrame | None:
    """Incidents and officer-found incidents by grid and occurrence period (area_id, period,
    incidents, officer); None when no incident carries one of ``channels`` (the data does not
    say who found what)."""
    found = incidents[C.CHANNEL].astype(str).isin(channels)
    if not found.any() or len(periods) == 0:
        return None
    step = periods[-1] - periods[-2] if len(periods) > 1 else pd.Timedelta(days=7)
    starts = periods.to_numpy().astype("datetime64[ns]")
    occurred = pd.to_datetime(incidents[C.OCCURRED_AT]).to_numpy().astype("datetime64[ns]")
    at = np.searchsorted(starts, occurred, side="right") - 1
    inside = (at >= 0) & (occurred < np.datetime64(periods[-1] + step, "ns"))
    frame = pd.DataFrame({C.AREA_ID: incidents[C.AREA_ID].astype(str).to_numpy()[inside],
                          C.PERIOD: periods[at[inside]], "incidents": 1,
                          "officer": found.to_numpy()[inside].astype(np.int64)})
    return frame.groupby([C.AREA_ID, C.PERIOD], as_index=False)[["incidents", "officer"]].sum()


def _grid_units(areas: pd.DataFrame) -> pd.DataFrame:
    """Each grid's residents and its street, district and the city."""
    out = pd.DataFrame({C.AREA_ID: areas[C.AREA_ID].astype(str),
                        "population": pd.to_numeric(areas[C.POPULATION], errors="coerce")
                        .fillna(0.0).clip(lower=0.0), "city": C.CITY})
    for level in ("district", "street"):
        column = C.LEVEL_ID[level]
        out[level] = areas[column].astype(str) if column in areas else np.nan
    return out


def _windowed(frame: pd.DataFrame, keys: list[str], values: list[str],
              periods: pd.DatetimeIndex, window: int) -> pd.DataFrame:
    """Sums of ``values`` over the ``window`` periods ending at each period, by ``keys``."""
    wide = frame.pivot_table(index=keys, columns=C.PERIOD, values=values, aggfunc="sum",
                             fill_value=0.0)
    out = []
    for value in values:
        block = wide[value].reindex(columns=periods, fill_value=0.0)
        block.columns.name = C.PERIOD
        rolled = block.T.rolling(window, min_periods=1).sum().T
        out.append(rolled.stack().rename(value))
    return pd.concat(out, axis=1).reset_index()


def equity_table(flags: pd.DataFrame, areas: pd.DataFrame, counts: pd.DataFrame,
                 officer: pd.DataFrame | None, periods: pd.DatetimeIndex, stream: str,
                 window: int) -> pd.DataFrame:
    """One row per level (city, district, street), unit and as-of period of ``flags``.

    Columns: residents, grids, flagged (grids at a warning level), high (red or orange),
    flagged_per_10k, high_per_10k, flag_share, population_share, incident_share (of the
    ``stream`` count over the last ``window`` periods), flag_vs_population and
    flag_vs_incidents (1: attention in proportion), repeat_share (of its flagged grids, those
    flagged in the period before too), mean_run (periods in a row its flagged grids have been
    flagged), officer_share and flagged_officer_share (share of the incidents of the last
    ``window`` periods found by officers, in all its grids and in its flagged grids).
    """
    grids = _grid_units(areas)
    f = flags.assign(**{C.PERIOD: pd.to_datetime(flags[C.PERIOD])})
    f = f[f[C.AREA_ID].isin(set(grids[C.AREA_ID]))]
    shown = pd.DatetimeIndex(sorted(f[C.PERIOD].unique()))
    wide = (f.assign(flag=f["risk_level"].isin(FLAGGED))
            .pivot_table(index=C.AREA_ID, columns=C.PERIOD, values="flag", aggfunc="max")
            .reindex(columns=periods).astype(float))
    before = wide.shift(1, axis=1)
    run = _runs(wide.fillna(0.0).to_numpy())
    per_grid = pd.DataFrame({
        C.AREA_ID: np.repeat(wide.index.to_numpy(), len(periods)),
        C.PERIOD: np.tile(periods.to_numpy(), len(wide)),
        "flagged": wide.to_numpy().ravel(), "before": before.to_numpy().ravel(),
        "run": run.ravel()})
    per_grid = per_grid[per_grid[C.PERIOD].isin(shown) & per_grid["flagged"].notna()]
    high = f.assign(high=f["risk_level"].isin(HIGH)).groupby([C.AREA_ID, C.PERIOD])["high"].max()
    per_grid = per_grid.merge(high.reset_index(), on=[C.AREA_ID, C.PERIOD], how="left")
    per_grid = per_grid.assign(
        repeated=(per_grid["flagged"] > 0) & (per_grid["before"] > 0),
        repeat_known=(per_grid["flagged"] > 0) & per_grid["before"].notna(),
        run=np.where(per_grid["flagged"] > 0, per_grid["run"], 0.0))
    if officer is not None:
        mine = _windowed(officer, [C.AREA_ID], ["incidents", "officer"], periods, window)
        per_grid = per_grid.merge(mine, on=[C.AREA_ID, C.PERIOD], how="left")
    else:
        per_grid = per_grid.assign(incidents=np.nan, officer=np.nan)
    per_grid = per_grid.assign(
        flagged_incidents=np.where(per_grid["flagged"] > 0, per_grid["incidents"], 0.0),
        flagged_officer=np.where(per_grid["flagged"] > 0, per_grid["officer"], 0.0))
    per_grid = per_grid.merge(grids, on=C.AREA_ID, how="left")
    rows = [_level_rows(per_grid, grids, level) for level in EQUITY_LEVELS]
    table = pd.concat(rows, ignore_index=True)
    table = table.merge(_incidents(counts, periods, stream, window), how="left",
                        on=["level", "unit_id", C.PERIOD])
    return _shares(table, officer is not None)


def _level_rows(per_grid: pd.DataFrame, grids: pd.DataFrame, level: str) -> pd.DataFrame:
    sums = per_grid.groupby([level, C.PERIOD], as_index=False).agg(
        grids=(C.AREA_ID, "size"), flagged=("flagged", "sum"), high=("high", "sum"),
        repeated=("repeated", "sum"), repeat_known=("repeat_known", "sum"),
        run=("run", "sum"), incidents=("incidents", "sum"), officer=("officer", "sum"),
        flagged_incidents=("flagged_incidents", "sum"),
        flagged_officer=("flagged_officer", "sum"))
    residents = grids.groupby(level)["population"].sum().rename("residents")
    sums = sums.merge(residents.reset_index(), on=level, how="left")
    return sums.rename(columns={level: "unit_id"}).assign(level=level)


def _incidents(counts: pd.DataFrame, periods: pd.DatetimeIndex, stream: str,
               window: int) -> pd.DataFrame:
    """Each unit's ``stream`` count over the last ``window`` periods (the counts table)."""
    if counts.empty or stream not in counts:
        return pd.DataFrame(columns=["level", "unit_id", C.PERIOD, "recent_incidents"])
    rows = counts[counts["level"].isin(EQUITY_LEVELS)].assign(
        unit_id=lambda c: c["unit_id"].astype(str), **{C.PERIOD: lambda c: pd.to_datetime(
            c[C.PERIOD])})
    out = _windowed(rows, ["level", "unit_id"], [stream], periods, window)
    return out.rename(columns={stream: "recent_incidents"})


def _shares(table: pd.DataFrame, channels: bool) -> pd.DataFrame:
    t = table.copy()
    city = t[t["level"] == C.CITY].set_index(C.PERIOD)
    with np.errstate(invalid="ignore", divide="ignore"):
        for name, column in (("flag_share", "flagged"), ("population_share", "residents"),
                             ("incident_share", "recent_incidents")):
            total = t[C.PERIOD].map(city[column]).astype(float)
            t[name] = t[column].astype(float) / total.where(total > 0)
        people = t["residents"].where(t["residents"] > 0)
        t["flagged_per_10k"] = t["flagged"] / people * PER
        t["high_per_10k"] = t["high"] / people * PER
        t["flag_vs_population"] = t["flag_share"] / t["population_share"].where(
            t["population_share"] > 0)
        t["flag_vs_incidents"] = t["flag_share"] / t["incident_share"].where(
            t["incident_share"] > 0)
        t["repeat_share"] = t["repeated"] / t["repeat_known"].where(t["repeat_known"] > 0)
        t["mean_run"] = t["run"] / t["flagged"].where(t["flagged"] > 0)
        t["officer_share"] = (t["officer"] / t["incidents"].where(t["incidents"] > 0)
                              if channels else np.nan)
        t["flagged_officer_share"] = (
            t["flagged_officer"] / t["flagged_incidents"].where(t["flagged_incidents"] > 0)
            if channels else np.nan)
    keep = ["level", "unit_id", C.PERIOD, "residents", "grids", "flagged", "high",
            "flagged_per_10k", "high_per_10k", "flag_share", "population_share",
            "incident_share", "flag_vs_population", "flag_vs_incidents", "repeat_share",
            "mean_run", "officer_share", "flagged_officer_share"]
    order = {lv: i for i, lv in enumerate(EQUITY_LEVELS)}
    t = t.assign(order=t["level"].map(order)).sort_values([C.PERIOD, "order", "unit_id"])
    return t[keep].astype({"grids": "int64", "flagged": "int64", "high": "int64"}
                          ).reset_index(drop=True)


def _runs(flags: np.ndarray) -> np.ndarray:
    """Periods in a row each grid has been flagged, up to and including each period."""
    out = np.zeros_like(flags)
    for t in range(flags.shape[1]):
        out[:, t] = np.where(flags[:, t] > 0, (out[:, t - 1] if t else 0) + 1, 0)
    return out


def from_incidents(name: str, family: str) -> bool:
    """Whether a feature is built from incidents (and so from officer-found ones too)."""
    if family not in INCIDENT_FAMILIES:
        return False
    stream = name
    for prefix in UNIT_PREFIXES:
        stream = stream.removeprefix(prefix)
    return not stream.startswith(tuple(f"{p}_" for p in PETITION_STREAMS))


def officer_signal(snap: Snapshot, horizon: int, names: list[str], catalogue: pd.DataFrame,
                   officer: pd.DataFrame | None, areas: pd.DataFrame,
                   periods: pd.DatetimeIndex, window: int) -> pd.DataFrame:
    """Per level and unit at the snapshot's as-of period: the share of the model's signal
    (its positive TreeSHAP contributions to the log expected count, summed over the unit's
    grids) that comes from officer-found incidents. Features are built from every channel at
    once, so each incident-based feature's contribution is split by the grid's share of
    officer-found incidents over the last ``window`` periods (an apportionment, not an exact
    split); petition, base-data and calendar features count as no officer's."""
    columns = ["level", "unit_id", C.PERIOD, "officer_signal_share"]
    if officer is None or horizon not in snap.contributions:
        return pd.DataFrame(columns=columns)
    family = dict(zip(catalogue["name"], catalogue["family"]))
    incident = np.array([from_incidents(n, family.get(n, "")) for n in names])
    positive = np.clip(snap.contributions[horizon][:, :-1], 0.0, None)
    mine = _windowed(officer, [C.AREA_ID], ["incidents", "officer"], periods, window)
    mine = mine[mine[C.PERIOD] == snap.as_of].set_index(C.AREA_ID)
    incidents = mine["incidents"].reindex(snap.area_ids).to_numpy(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.nan_to_num(mine["officer"].reindex(snap.area_ids).to_numpy(np.float64)
                              / incidents)
    grid = pd.DataFrame({C.AREA_ID: snap.area_ids,
                         "part": positive[:, incident].sum(axis=1) * share,
                         "whole": positive.sum(axis=1)}).merge(_grid_units(areas), on=C.AREA_ID)
    out = []
    for level in EQUITY_LEVELS:
        sums = grid.groupby(level)[["part", "whole"]].sum()
        out.append(pd.DataFrame({"level": level, "unit_id": sums.index.astype(str),
                                 C.PERIOD: snap.as_of, "officer_signal_share":
                                 (sums["part"] / sums["whole"].where(sums["whole"] > 0))
                                 .to_numpy()}))
    return pd.concat(out, ignore_index=True)[columns]


TREND_METRICS = ("flagged_per_10k", "repeat_share", "mean_run", "flagged_officer_share")


def equity_trend(table: pd.DataFrame, recent: int) -> list[dict]:
    """The city's figures over its newest ``recent`` as-of periods against the ``recent``
    before them (neither direction is better: these are for watching, not scoring)."""
    city = table[table["level"] == C.CITY].sort_values(C.PERIOD, ascending=False)
    now, before = city.iloc[:recent], city.iloc[recent:2 * recent]
    rows = []
    for metric in TREND_METRICS:
        a, b = now[metric].astype(float).mean(), before[metric].astype(float).mean()
        rows.append({"metric": metric, "periods": len(now), "recent": _number(a),
                     "previous": _number(b), "change": _number(a - b), "improved": None})
    return rows


def equity_report(experiment: Experiment, settings: Settings, store: Store, scorer: Scorer,
                  as_of: pd.Timestamp) -> dict:
    """Every equity figure up to ``as_of``: the table by level, unit and period (records),
    the officers' share of the model's signal at ``as_of``, and the city's trend."""
    data, config = scorer.data, experiment.equity
    horizon = experiment.warnings.horizons[0]
    periods = pd.DatetimeIndex(sorted(data.panel[C.PERIOD].unique()))
    snap = scorer.snapshot(as_of)
    flags = with_live(ledger_flags(store, experiment.name, horizon), snap, horizon)
    flags = flags[pd.to_datetime(flags[C.PERIOD]) <= as_of]
    incidents = read_clean(experiment.output_dir(settings)).incidents
    officer = officer_counts(incidents, periods, config.officer_channels)
    window = experiment.safety_index.window
    target = scorer.model.target
    stream = target if target in data.counts else "all"
    table = equity_table(flags, data.areas, data.counts, officer, periods, stream, window)
    signal = officer_signal(snap, horizon, scorer.model.horizons[horizon].features,
                            data.catalogue, officer, data.areas, periods, window)
    table = table.merge(signal, on=["level", "unit_id", C.PERIOD], how="left")
    rows = table.assign(**{C.PERIOD: table[C.PERIOD].dt.strftime("%Y-%m-%d")})
    rows.insert(2, "name", rows["unit_id"].map(_names(data.areas)).fillna(rows["unit_id"]))
    return {"as_of": str(as_of.date()), "horizon": horizon, "window": window,
            "stream": stream, "officer_channels": list(config.officer_channels),
            "channels_known": officer is not None,
            "signal": "TreeSHAP contributions apportioned by the officer-found share of "
                      "incidents" if officer is not None else None,
            "periods": sorted(rows[C.PERIOD].unique().tolist()),
            "rows": [{k: _plain(v) for k, v in r.items()} for r in rows.to_dict("records")],
            "trend": equity_trend(table, config.recent)}


def _names(areas: pd.DataFrame) -> dict[str, str]:
    found = {C.CITY: C.CITY}
    for level in ("district", "street"):
        id_col, name_col = C.LEVEL_ID[level], C.LEVEL_NAME[level]
        if id_col in areas:
            names = areas[name_col] if name_col in areas else areas[id_col]
            found.update(zip(areas[id_col].astype(str), names.astype(str)))
    return found


def _number(value: float) -> float | None:
    return float(value) if value is not None and np.isfinite(value) else None


def _plain(value):
    """JSON-ready: NaN as None, numpy numbers as Python ones."""
    if isinstance(value, (np.integer, int)) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return _number(float(value))
    return value
