"""The clean tables as a dataset of monthly parts, which a daily export extends in place.

Incidents and petitions are kept as folders of ``month-YYYY-MM.parquet`` parts (the month a
record occurred or was filed), each part's rows in one canonical order (by that time, then
id), so a part's bytes depend only on the records it holds: a full ingest of every export and
a daily append of the same records write the same parts. ``manifest.json`` lists each part's
rows, content hash and time span (what `riskgrid features` needs to see what changed without
reading the parts), and ``index/KIND.ids`` holds a hash of every record id with its part (to
find the earlier version of a re-exported record without reading every part).
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from riskgrid import vocabulary as C

EVENT_KINDS = ("incidents", "petitions")
START = {"incidents": C.OCCURRED_AT, "petitions": C.FILED_AT}
ID = {"incidents": C.INCIDENT_ID, "petitions": C.PETITION_ID}
MANIFEST = "manifest.json"
INDEX_ROW = np.dtype([("hash", np.uint64), ("part", np.int32)])
Writers = dict[str, Callable[[Path], None]]


@dataclass(frozen=True)
class Part:
    """One month of one table: its file name, rows in canonical order and encoded bytes."""

    name: str
    frame: pd.DataFrame
    data: bytes

    def entry(self, kind: str) -> dict:
        times = self.frame[START[kind]]
        return {"rows": len(self.frame), "digest": hashlib.sha256(self.data).hexdigest()[:16],
                "first": str(times.min()), "last": str(times.max())}


def canonical(frame: pd.DataFrame, kind: str) -> pd.DataFrame:
    """Rows ordered by time, then id (ids are unique within a table)."""
    return frame.sort_values([START[kind], ID[kind]], kind="stable").reset_index(drop=True)


def encode(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def split_months(frame: pd.DataFrame, kind: str) -> dict[str, pd.DataFrame]:
    """The rows of each month (part file name -> rows in canonical order)."""
    months = frame[START[kind]].dt.strftime("%Y-%m")
    return {f"month-{month}.parquet": canonical(rows, kind)
            for month, rows in frame.groupby(months, sort=True)}


def parts_of(frame: pd.DataFrame, kind: str) -> list[Part]:
    return [Part(name, rows, encode(rows)) for name, rows in split_months(frame, kind).items()]


def id_hashes(ids: pd.Series) -> np.ndarray:
    return pd.util.hash_array(ids.astype(object).to_numpy()).astype(np.uint64)


def id_index(parts: dict[str, pd.Series]) -> bytes:
    """Every id's hash with its part (part file name -> that part's ids), sorted by hash."""
    names = sorted(parts)
    hashes = [id_hashes(parts[n]) for n in names]
    position = [np.full(len(h), i, np.int32) for i, h in enumerate(hashes)]
    return _index_bytes(np.concatenate(hashes) if hashes else np.zeros(0, np.uint64),
                        np.concatenate(position) if position else np.zeros(0, np.int32), names)


def _index_bytes(hashes: np.ndarray, position: np.ndarray, names: list[str]) -> bytes:
    order = np.argsort(hashes, kind="stable")
    return _sorted_index_bytes(hashes[order], position[order], names)


def _sorted_index_bytes(hashes: np.ndarray, position: np.ndarray, names: list[str]) -> bytes:
    """One .npy file: the part names (as a header row of JSON) and the (hash, part) pairs."""
    rows = np.empty(len(hashes), dtype=INDEX_ROW)
    rows["hash"], rows["part"] = hashes, position
    buffer = io.BytesIO()
    np.save(buffer, rows, allow_pickle=False)
    return json.dumps(names).encode() + b"\n" + buffer.getvalue()


@dataclass(frozen=True)
class IdIndex:
    """Sorted id hashes of one table, and the part each id is in (a code into ``names``)."""

    hashes: np.ndarray
    codes: np.ndarray
    names: np.ndarray

    @classmethod
    def read(cls, clean: Path, kind: str) -> IdIndex:
        path = clean / "index" / f"{kind}.ids"
        if not path.is_file():
            return cls(np.zeros(0, np.uint64), np.zeros(0, np.int32), np.zeros(0, object))
        with path.open("rb") as found:
            names = json.loads(found.readline())
            rows = np.load(found, allow_pickle=False)
        return cls(rows["hash"], rows["part"], np.array(names, dtype=object))

    def lookup(self, hashes: np.ndarray) -> np.ndarray:
        """The part of each hash (None where the id is new)."""
        if not len(self.hashes):
            return np.full(len(hashes), None, dtype=object)
        at = np.minimum(np.searchsorted(self.hashes, hashes), len(self.hashes) - 1)
        hit = self.hashes[at] == hashes
        return np.where(hit, self.names[self.codes[at]], None)

    def replaced(self, gone: np.ndarray, hashes: np.ndarray, parts: np.ndarray) -> bytes:
        """The index without the ``gone`` hashes, with ``hashes`` in ``parts`` added."""
        # The hashes are sorted: each gone one's run of equal hashes found by bisection.
        cuts = np.zeros(len(self.hashes) + 1, np.int64)
        np.add.at(cuts, np.searchsorted(self.hashes, gone, "left"), 1)
        np.add.at(cuts, np.searchsorted(self.hashes, gone, "right"), -1)
        keep = np.cumsum(cuts[:-1]) == 0
        old_hashes, old_parts = self.hashes[keep], self.codes[keep]
        used = np.bincount(old_parts, minlength=len(self.names)) > 0
        names = np.array(sorted(set(self.names[used]) | set(parts)), object)
        old_codes = np.searchsorted(names, self.names)[old_parts].astype(np.int32)
        order = np.argsort(hashes, kind="stable")
        new_hashes = hashes[order]
        new_codes = np.searchsorted(names, np.asarray(parts, object)[order]).astype(np.int32)
        at = np.searchsorted(old_hashes, new_hashes)
        return _sorted_index_bytes(np.insert(old_hashes, at, new_hashes),
                                   np.insert(old_codes, at, new_codes), list(names))


def read_manifest(clean: Path) -> dict:
    path = clean / MANIFEST
    return json.loads(path.read_text()) if path.is_file() else {}


def bytes_writer(data: bytes) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(data)


def table_writers(kind: str, parts: list[Part], kept: dict[str, dict],
                  link: Callable[[str], Callable[[Path], None]], ids: bytes,
                  empty: pd.DataFrame) -> tuple[Writers, dict[str, dict]]:
    """Writers of one event table's parts (new ones written, ``kept`` ones linked), its id
    index, and its manifest entries; a table with no rows is one empty file."""
    entries = dict(kept) | {p.name: p.entry(kind) for p in parts}
    if not entries:
        return {f"{kind}.parquet": bytes_writer(encode(empty))}, {}
    writers = {f"{kind}.parquet/{p.name}": bytes_writer(p.data) for p in parts}
    writers |= {f"{kind}.parquet/{name}": link(f"{kind}.parquet/{name}") for name in kept}
    writers[f"index/{kind}.ids"] = bytes_writer(ids)
    return dict(sorted(writers.items())), dict(sorted(entries.items()))


def manifest(areas: bytes, tables: dict[str, dict[str, dict]]) -> dict:
    """What `riskgrid features` compares: the areas' hash and each event table's parts."""
    return {"areas": hashlib.sha256(areas).hexdigest()[:16], **tables}


def fingerprint(found: dict) -> str:
    """A short hash of a clean snapshot's content, from its manifest alone."""
    text = json.dumps(found, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Appended:
    """What appending rows to one table changes: the parts written anew, the manifest entries
    of the parts kept as they are, the new id index, and what became of each appended row."""

    parts: list[Part]
    kept: dict[str, dict]
    index: bytes
    status: np.ndarray  # per appended row: "added", "replaced" or "unchanged"


def append_rows(clean: Path, kind: str, new: pd.DataFrame, entries: dict[str, dict],
                empty: pd.DataFrame) -> Appended:
    """Add ``new`` to the table of the snapshot ``clean``: a row with a new id is added, one
    with the id of a stored row replaces it unless it is the same, field for field.

    Only the parts of the months the rows fall in, and those holding earlier versions of them,
    are read and written again.
    """
    key = ID[kind]
    index = IdIndex.read(clean, kind)
    hashes = id_hashes(new[key])
    where = index.lookup(hashes)
    incoming = split_months(new, kind)
    touched = sorted(set(incoming) | {w for w in where if w is not None})
    old = {name: pd.read_parquet(clean / f"{kind}.parquet" / name) for name in touched
           if name in entries}
    status = np.where(pd.isna(where), "added", "replaced").astype(object)
    if old and (status == "replaced").any():
        stored = pd.concat(list(old.values()), ignore_index=True)
        stored = stored[stored[key].isin(new[key])].set_index(key)
        again = new[status == "replaced"].set_index(key)
        same = row_hashes(again) == row_hashes(stored.loc[again.index, again.columns])
        status[np.flatnonzero(status == "replaced")[same]] = "unchanged"
    changed = set(new.loc[status != "unchanged", key])
    parts, gone = [], []
    for name in touched:
        base = old.get(name, empty)
        leaving = base[key].isin(changed)
        arriving = incoming.get(name, empty)
        arriving = arriving[arriving[key].isin(changed)]
        if not leaving.any() and not len(arriving):
            continue
        frame = canonical(pd.concat([base[~leaving], arriving], ignore_index=True)
                          if len(arriving) else base[~leaving], kind)
        if len(frame):
            parts.append(Part(name, frame, encode(frame)))
        else:
            gone.append(name)
    rewritten = {p.name for p in parts} | set(gone)
    moved = new[status != "unchanged"]
    written = index.replaced(id_hashes(moved[key]), id_hashes(moved[key]),
                             moved[START[kind]].dt.strftime("month-%Y-%m.parquet").to_numpy())
    return Appended(parts=parts, kept={n: e for n, e in entries.items() if n not in rewritten},
                    index=written, status=status)


def row_hashes(frame: pd.DataFrame) -> np.ndarray:
    """One hash per row of every column (missing values hash alike)."""
    return pd.util.hash_pandas_object(frame.reset_index(), index=False).to_numpy()


def dataset_writers(areas: pd.DataFrame, tables: dict[str, pd.DataFrame],
                    json_writer: Callable[[object], Callable[[Path], None]]) -> Writers:
    """Writers of a whole clean dataset: the areas, every event table's monthly parts, their
    id indexes and the manifest."""
    areas_data = encode(areas)
    writers: Writers = {"areas.parquet": bytes_writer(areas_data)}
    entries = {}
    for kind in EVENT_KINDS:
        parts = parts_of(tables[kind], kind)
        ids = id_index({p.name: p.frame[ID[kind]] for p in parts})
        found, entries[kind] = table_writers(kind, parts, {}, _no_link, ids, tables[kind])
        writers |= found
    writers[MANIFEST] = json_writer(manifest(areas_data, entries))
    return writers


def _no_link(name: str) -> Callable[[Path], None]:
    raise AssertionError(f"a whole dataset links nothing ({name})")
