"""Daily updates of the feature panel: what the new records can change, and only that written.

The feature snapshot keeps, under ``state/``, every incident placed on the panel's layout (one
array per monthly part of the clean dataset), the petitions, the clean manifest it was built
from, each feature's range per block of periods and the exponential filters' values at each
block's end. When ingest --append has changed some months, `riskgrid features` places only
those months' incidents again and computes the features from the first block the changed
records can reach on, with the same code as a full build (so every cell is the one a rebuild
gives, to the bit; docs/incremental.md says why): an event that occurred in period ``p``
changes nothing before ``p`` (counts, windows, EWMA and open cases at ``t`` use only what
happened by ``t``; the outcome of ``p`` counts what occurred in it), so every block before the
earliest changed occurrence is the previous snapshot's file, hard-linked.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.events import IncidentIndex, _codes, family_list, index_incidents
from features.informative import Declared, covered
from features.layout import Layout, complete_periods
from riskgrid import vocabulary as C
from riskgrid.experiment import FeaturesConfig

BLOCK_PERIODS = {"day": 28, "week": 13, "month": 3}  # periods per panel part
STATE = "state"
FIELDS = [f.name for f in dataclasses.fields(IncidentIndex) if f.name != "families"]


def block_of(period: str) -> int:
    return BLOCK_PERIODS.get(period, 13)


def block_names(layout: Layout) -> list[str]:
    """One part name per block of periods, named by its first period."""
    step = block_of(layout.period)
    return [f"period-{day.date()}.parquet" for day in layout.periods[::step]]


def block_periods(layout: Layout, blocks: list[int]) -> np.ndarray:
    """The positions of the periods of the given blocks, in order."""
    step, n_periods = block_of(layout.period), len(layout.periods)
    return np.concatenate([np.arange(b * step, min((b + 1) * step, n_periods)) for b in blocks]
                          or [np.zeros(0, np.int64)])


def panel_blocks(frame: pd.DataFrame, layout: Layout, blocks: list[int],
                 periods: np.ndarray | None = None) -> dict[str, pd.DataFrame]:
    """The rows of the given blocks of periods, each area-major as read_parts expects.

    ``frame`` is area-major and holds the periods at ``periods`` (every period when None).
    """
    n_areas = layout.shape[0]
    held = np.arange(len(layout.periods)) if periods is None else np.asarray(periods)
    position = pd.Series(np.arange(len(held)), index=held)
    names = block_names(layout)
    out = {}
    for b in blocks:
        where = position.loc[block_periods(layout, [b])].to_numpy()
        rows = (np.arange(n_areas)[:, None] * len(held) + where[None, :]).ravel()
        out[names[b]] = frame.take(rows).reset_index(drop=True)
    return out


def count_blocks(counts: pd.DataFrame, layout: Layout, blocks: list[int]
                 ) -> dict[str, pd.DataFrame]:
    """The hierarchy counts of the given blocks of periods (each unit's rows in order)."""
    step, names = block_of(layout.period), block_names(layout)
    block = pd.Series(np.arange(len(layout.periods)) // step, index=layout.periods)
    of = block.reindex(counts[C.PERIOD]).to_numpy()
    return {names[b]: counts[of == b].reset_index(drop=True) for b in blocks}


def config_key(config: FeaturesConfig, declared: Declared, areas_digest: str) -> str:
    """What a panel depends on besides the records: a changed key means a full build."""
    text = json.dumps([config.model_dump(mode="json"), declared.covariates, declared.families,
                       areas_digest], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def events_array(events: IncidentIndex, lo: int = 0, hi: int | None = None) -> np.ndarray:
    """The incidents ``lo..hi-1`` of an IncidentIndex as one record of columns (a part's
    fields are joined to the others' by copying blocks, not by gathering every incident's)."""
    return columns_record({name: getattr(events, name)[lo:hi] for name in FIELDS})


def columns_record(columns: dict[str, np.ndarray]) -> np.ndarray:
    """Columns of one length as one record whose fields are sub-arrays, so each column's
    values lie together on disk and in memory."""
    n = len(next(iter(columns.values()))) if columns else 0
    out = np.empty((), dtype=[(name, values.dtype, (n,)) for name, values in columns.items()])
    for name, values in columns.items():
        out[name] = values
    return out


def events_of(arrays: list[np.ndarray], families: tuple[str, ...]) -> IncidentIndex:
    """The IncidentIndex of the parts' arrays (:func:`events_array`), in their order."""
    return IncidentIndex(**{name: (np.concatenate([a[name] for a in arrays]) if arrays
                                   else np.zeros(0)) for name in FIELDS}, families=families)


def events_frame(array: np.ndarray) -> pd.DataFrame:
    """One part's array (:func:`events_array`) as a frame, a column per field."""
    return pd.DataFrame({name: array[name] for name in FIELDS})


def place(frame: pd.DataFrame, layout: Layout, config: FeaturesConfig,
          families: tuple[str, ...]) -> np.ndarray:
    """One part's incidents on the layout, coded with the panel's list of families."""
    placed = index_incidents(frame, layout, config.handling_deadline_days)
    coded = dataclasses.replace(placed, family=_codes(frame[C.FAMILY], list(families)),
                                families=families)
    return events_array(coded)


def npy_bytes(values: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, values, allow_pickle=False)
    return buffer.getvalue()


def extra_families(frame: pd.DataFrame) -> list[str]:
    return sorted(set(family_list(frame[C.FAMILY])) - set(C.FAMILIES))


@dataclass(frozen=True)
class Changes:
    """What changed in the clean dataset since the panel was built."""

    incidents: list[str]  # names of parts added, changed or gone
    petitions: list[str]
    layout: Layout
    families: tuple[str, ...]


def layout_of(manifest: dict, area_ids: np.ndarray, config: FeaturesConfig) -> Layout | None:
    """The panel's layout from the manifest's time spans alone (None without records)."""
    spans = [(pd.Timestamp(e["first"]).as_unit("ns"), pd.Timestamp(e["last"]).as_unit("ns"))
             for kind in ("incidents", "petitions") for e in manifest.get(kind, {}).values()]
    if not spans:
        return None
    first, last = min(s[0] for s in spans), max(s[1] for s in spans)
    periods = complete_periods(first, last, config.period, config.start, config.end)
    return Layout(area_ids=area_ids, periods=periods, period=config.period)


def changed_parts(old: dict, new: dict) -> list[str]:
    return sorted(name for name in set(old) | set(new)
                  if old.get(name, {}).get("digest") != new.get(name, {}).get("digest"))


def changed_values(old: pd.DataFrame, new: pd.DataFrame, column: str) -> pd.Series:
    """``column`` of the rows that are in one frame and not in the other."""
    if not len(old) or not len(new):
        return pd.concat([old[column], new[column]]) if len(old) or len(new) else \
            pd.Series(dtype=float)
    a = pd.util.hash_pandas_object(old, index=False).to_numpy()
    b = pd.util.hash_pandas_object(new, index=False).to_numpy()
    return pd.concat([old[column][~np.isin(a, b)], new[column][~np.isin(b, a)]])


def changed_blocks(start: float, old_layout: Layout, layout: Layout, old_spans: dict,
                   spans: dict, same_columns: bool) -> list[int]:
    """The blocks of periods to write again: from the earliest changed occurrence on, every
    period a source's span now covers differently, and the periods that are new."""
    n_blocks = len(block_names(layout))
    if not same_columns:
        return list(range(n_blocks))
    n_old = len(old_layout.periods)
    touched = np.zeros(len(layout.periods), bool)
    if start < np.inf:
        touched[max(int(min(start, len(touched))), 0):] = True
    touched[n_old:] = True
    for kind in set(old_spans) | set(spans):
        now = covered(layout, spans.get(kind, []))[:n_old]
        before = covered(old_layout, old_spans.get(kind, []))
        touched[:n_old] |= now != before
    step = block_of(layout.period)
    return sorted({int(t) // step for t in np.flatnonzero(touched)})
