"""The features stage's edge: reading source files and writing table snapshots atomically."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import os
import shutil
import uuid
import warnings
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from riskgrid import vocabulary as C
from riskgrid.errors import InputError

DIGESTS = ".digests.json"  # each file's hash, in every snapshot (features/io.write_snapshot)
UNIT_KEYS = ("level", "unit_id", "unit_name")  # the units of the hierarchy counts (features/hierarchy.py)
FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl",
           ".ndjson": "jsonl", ".json": "jsonl"}


def detect_format(path: Path, declared: str | None) -> str:
    if declared:
        return declared
    suffixes = [s for s in path.suffixes if s not in (".gz",)]
    fmt = FORMATS.get(suffixes[-1].lower()) if suffixes else None
    if fmt is None:
        raise InputError(f"{path}: cannot tell the format from the file name; set format = "
                         "\"csv\", \"parquet\" or \"jsonl\" in its mapping file.")
    return fmt


def read_source(path: Path, fmt: str | None = None, encoding: str = "auto",
                delimiter: str = ",") -> pd.DataFrame:
    """Read a CSV (UTF-8, UTF-16 or GBK/GB18030, optionally gzipped), Parquet or JSON Lines file.

    CSV and JSON values stay as text; the contracts parse them. The index is the 1-based row.
    """
    if not path.is_file():
        raise InputError(f"{path}: file not found; fix the 'path' in the experiment file.")
    fmt = detect_format(path, fmt)
    if fmt == "parquet":
        try:
            frame = pd.read_parquet(path)
        except Exception as exc:  # noqa: BLE001 - pyarrow raises many types for a bad file
            raise InputError(f"{path}: not a readable Parquet file ({exc}).") from None
    else:
        text = _decode(path, _read_bytes(path), encoding)
        frame = _parse_csv(path, text, delimiter) if fmt == "csv" else _parse_jsonl(path, text)
    if frame.empty:
        raise InputError(f"{path}: the file has no data rows; export the data again or remove "
                         "the source from the experiment file.")
    frame.index = pd.RangeIndex(1, len(frame) + 1, name="row")
    return frame


def _read_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except EOFError:
            raise InputError(f"{path}: the gzip file is truncated (it ends before its end "
                             "marker); copy or export it again.") from None
        except (OSError, zlib.error) as exc:  # BadGzipFile (bad CRC or length), bad data
            raise InputError(f"{path}: the gzip file is corrupt ({exc}); copy or export it "
                             "again.") from None
    return data


def _decode(path: Path, data: bytes, encoding: str) -> str:
    if not data.strip():
        raise InputError(f"{path}: the file is empty; export the data again or remove the "
                         "source from the experiment file.")
    if _looks_utf16(data):
        if encoding in ("auto", "utf-16"):
            return data.decode("utf-16")
        raise InputError(f"{path}: the file looks like UTF-16 text (a byte-order mark or zero "
                         "bytes between the characters); set encoding = \"utf-16\" in its "
                         "mapping file.")
    tries = ["utf-8-sig", "gb18030"] if encoding == "auto" else [encoding]
    for enc in tries:
        try:
            return data.decode("utf-8-sig" if enc == "utf-8" else enc)
        except UnicodeDecodeError as exc:
            error = exc
    line = data[: error.start].count(b"\n") + 1
    hint = ("set encoding = \"gb18030\" in its mapping file" if encoding in ("auto", "utf-8")
            else "set encoding = \"utf-8\" (or \"auto\") in its mapping file")
    raise InputError(f"{path}: line {line} is not valid {tries[-1]} text (byte "
                     f"{error.object[error.start:error.start + 1]!r}); {hint}.")


def _looks_utf16(data: bytes) -> bool:
    head = data[:4096]
    return head[:2] in (b"\xff\xfe", b"\xfe\xff") or head.count(b"\x00") > len(head) // 4


def _parse_csv(path: Path, text: str, delimiter: str = ",") -> pd.DataFrame:
    _check_delimiter(path, text.lstrip("\ufeff").split("\n", 1)[0], delimiter)
    try:
        with warnings.catch_warnings():
            # Extra fields on the first data line would otherwise be dropped with a warning.
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False,
                                na_values=[""], skipinitialspace=True, index_col=False,
                                sep=delimiter)
    except pd.errors.ParserWarning:
        raise InputError(f"{path}: line 2 has more fields than the header; fix the quoting or "
                         "the delimiter on that line.") from None
    except pd.errors.EmptyDataError:
        raise InputError(f"{path}: the file has no header or rows; export it again.") from None
    except pd.errors.ParserError as exc:
        raise InputError(f"{path}: {str(exc).strip().rstrip('.')}; fix the quoting or the "
                         "delimiter on that line.") from None
    return frame


def _check_delimiter(path: Path, header: str, delimiter: str) -> None:
    """A header without the delimiter but with another separator: the delimiter is wrong."""
    if delimiter in header:
        return
    for other, word in ((";", "semicolon"), ("\t", "tab"), ("|", "pipe"), (",", "comma")):
        if other != delimiter and header.count(other) >= 1:
            shown = "\\t" if other == "\t" else other
            raise InputError(f"{path}: the header '{header.strip()[:60]}' has no "
                             f"'{delimiter}'; the file looks {word}-separated: set delimiter = "
                             f"\"{shown}\" in its mapping file.")


def _parse_jsonl(path: Path, text: str) -> pd.DataFrame:
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}: line {number} is not valid JSON ({exc.msg}); fix or "
                             "remove that line.") from None
        if not isinstance(record, dict):
            raise InputError(f"{path}: line {number} is not a JSON object; each line must hold "
                             "one record.")
        # Nested values stay as their JSON text: a field holds one value, and the contracts
        # reject what is not one.
        records.append({key: json.dumps(value, ensure_ascii=False)
                        if isinstance(value, (dict, list)) else value
                        for key, value in record.items()})
    return pd.DataFrame.from_records(records)


def read_table(directory: Path, name: str, columns: Sequence[str] | None = None
               ) -> pd.DataFrame:
    """Read one table of a snapshot written by :func:`write_snapshot` (only those of
    ``columns`` it has, when given)."""
    path = directory / f"{name}.parquet"
    if path.is_dir():
        return read_parts(path, columns)
    if not path.is_file():
        raise InputError(f"{path}: table not found; run the step that writes it first "
                         "(riskgrid ingest, then riskgrid features).")
    return pd.read_parquet(path, columns=_present(path, columns))


def read_parts(folder: Path, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """A table kept as a folder of parts, in its one row order (area-major for the panel).

    ``area-*.parquet`` parts are blocks of areas, in order: their rows are concatenated as they
    are (and so are ``month-*.parquet`` parts, the clean tables' months of records).
    ``period-*.parquet`` parts are blocks of periods, each holding every area in the same
    order: their rows are put back area by area (stable, so periods stay in order); a table
    without ``area_id`` (the hierarchy counts) is put back unit by unit (level, unit_id, unit_name).
    """
    parts = sorted(folder.glob("*.parquet"))
    if not parts:
        raise InputError(f"{folder}: the table's folder holds no parts; run the step that "
                         "writes it again.")
    kinds = {part.name.split("-", 1)[0] for part in parts}
    if len(kinds) > 1 or not kinds <= {"area", "period", "month"}:
        raise InputError(f"{folder}: parts must all be named area-*.parquet, all "
                         f"period-*.parquet or all month-*.parquet, not {sorted(kinds)}; write "
                         "the table again.")
    wanted = _present(parts[0], columns)
    # A table of units other than areas (the hierarchy counts) is ordered by its units.
    keys = [C.AREA_ID] if C.AREA_ID in pq.read_schema(parts[0]).names else list(UNIT_KEYS)
    if kinds == {"period"} and wanted is not None:
        wanted = [*[k for k in keys if k not in wanted], *wanted]
    frame = pd.concat([pd.read_parquet(part, columns=wanted) for part in parts],
                      ignore_index=True)
    if kinds == {"period"} and len(parts) > 1:
        first = pd.read_parquet(parts[0], columns=keys)
        order = pd.MultiIndex.from_frame(first).unique() if len(keys) > 1 else \
            pd.Index(first[keys[0]].unique())
        found = pd.MultiIndex.from_frame(frame[keys]) if len(keys) > 1 else frame[keys[0]]
        position = order.get_indexer(found)
        frame = frame.iloc[np.argsort(position, kind="stable")].reset_index(drop=True)
        if columns is not None:
            frame = frame.drop(columns=[k for k in keys if k not in columns])
    return frame


def _present(path: Path, columns: Sequence[str] | None) -> list[str] | None:
    if columns is None:
        return None
    present = set(pq.read_schema(path).names)
    return list(dict.fromkeys(c for c in columns if c in present))


@dataclass(frozen=True)
class CleanTables:
    """The clean snapshot ingest writes: DATA_DIR/NAME/clean/."""

    areas: pd.DataFrame
    incidents: pd.DataFrame
    petitions: pd.DataFrame


@dataclass(frozen=True)
class FeatureTables:
    """The feature snapshot `riskgrid features` writes: DATA_DIR/NAME/features/."""

    panel: pd.DataFrame
    counts: pd.DataFrame
    catalogue: pd.DataFrame
    meta: dict


def read_clean(folder: Path, events: bool = True,
               columns: Mapping[str, Sequence[str]] | None = None) -> CleanTables:
    """The clean tables of an experiment's output folder (DATA_DIR/NAME).

    Args:
        events: False reads the areas alone (incidents and petitions come back empty).
        columns: only these columns of the named tables (all of the others).
    """
    clean = folder / "clean"
    names = ("incidents", "petitions") if events else ()
    columns = columns or {}
    tables = {name: read_table(clean, name, columns.get(name)) for name in names}
    return CleanTables(areas=read_table(clean, "areas", columns.get("areas")),
                       incidents=tables.get("incidents", pd.DataFrame()),
                       petitions=tables.get("petitions", pd.DataFrame()))


def read_quarantine(folder: Path) -> dict[str, pd.DataFrame]:
    """The quarantined rows of each source of an experiment's output folder (DATA_DIR/NAME),
    as text, with their reasons (an empty dict when nothing was quarantined)."""
    found = sorted((folder / "clean" / "quarantine").glob("*.csv"))
    return {path.stem: pd.read_csv(path, dtype=str, keep_default_na=False) for path in found}


def read_features(folder: Path, tables: tuple[str, ...] = ("panel", "counts"),
                  panel_columns: Sequence[str] | None = None) -> FeatureTables:
    """The feature snapshot of an experiment's output folder (DATA_DIR/NAME).

    Args:
        tables: which of panel and counts to read (the others come back empty).
        panel_columns: only those of these columns the panel has (all when None).

    Raises:
        InputError: there is no feature panel yet (the message names the commands to run).
    """
    features = folder / "features"
    meta_path = features / "meta.json"
    if not meta_path.is_file():
        raise InputError(f"{meta_path}: no feature panel yet; run riskgrid ingest and riskgrid "
                         f"features for {folder.name} first")
    frames = {name: read_table(features, name, panel_columns if name == "panel" else None)
              for name in tables}
    return FeatureTables(panel=frames.get("panel", pd.DataFrame()),
                         counts=frames.get("counts", pd.DataFrame()),
                         catalogue=pd.read_json(features / "catalogue.json"),
                         meta=json.loads(meta_path.read_text()))


def read_fingerprint(folder: Path) -> str:
    """The input fingerprint of the feature snapshot ("" when there is none)."""
    meta = folder / "features" / "meta.json"
    return json.loads(meta.read_text())["input_fingerprint"] if meta.is_file() else ""


def write_snapshot(link: Path, writers: dict[str, Callable[[Path], None]]) -> Path:
    """Write a set of files as one atomic snapshot and point ``link`` at it.

    Files are written into a staging folder, named by the hash of their content, and the symlink
    ``link`` is swapped to it with one rename. A killed run leaves the previous snapshot intact;
    a run that produces the same content changes nothing at all.

    Args:
        link: the path readers use, e.g. DATA_DIR/NAME/clean.
        writers: relative file name -> function writing that file to the given path.
    """
    link.parent.mkdir(parents=True, exist_ok=True)
    staging = link.parent / f".{link.name}.staging-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:
        for relative, write in writers.items():
            target = staging / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            write(target)
        digest = _digest(staging, _known(link))
        final = link.parent / f".{link.name}-{digest[:16]}"
        if link.is_symlink() and os.readlink(link) == final.name and final.is_dir():
            shutil.rmtree(staging)
            return link
        if final.exists():
            shutil.rmtree(final)
        staging.rename(final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    tmp_link = link.parent / f".{link.name}.link-{uuid.uuid4().hex[:8]}"
    tmp_link.symlink_to(final.name)
    os.replace(tmp_link, link)
    _remove_stale(link, keep=final)
    return link


def _digest(folder: Path, known: dict[tuple, str] | None = None) -> str:
    """The hash of a snapshot's content: of each file's path and content hash, in order.

    Each file's hash is written to ``.digests.json`` in the snapshot (not itself hashed), so
    a file the next snapshot keeps as a hard link (``known``: by device, inode, size and
    modification time) is not read again.
    """
    known = known or {}
    hashes = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != DIGESTS):
        found = known.get(_identity(path))
        if found is None:
            with path.open("rb") as fh:  # in pieces: a table's parts can be large
                found = hashlib.file_digest(fh, "sha256").hexdigest()
        hashes[str(path.relative_to(folder))] = found
    (folder / DIGESTS).unlink(missing_ok=True)  # never written through a link to another
    (folder / DIGESTS).write_text(json.dumps(hashes, indent=0, sort_keys=True) + "\n")
    hasher = hashlib.sha256()
    for name, found in hashes.items():
        hasher.update(name.encode())
        hasher.update(found.encode())
    return hasher.hexdigest()


def _identity(path: Path) -> tuple:
    found = path.stat()
    return found.st_dev, found.st_ino, found.st_size, found.st_mtime_ns


def _known(link: Path) -> dict[tuple, str]:
    """The file hashes of the snapshot ``link`` points at, by file identity."""
    try:
        current = link.parent / os.readlink(link)
        hashes = json.loads((current / DIGESTS).read_text())
    except (OSError, ValueError):
        return {}
    out = {}
    for name, found in hashes.items():
        try:
            out[_identity(current / name)] = found
        except OSError:
            continue
    return out


def _remove_stale(link: Path, keep: Path) -> None:
    for old in link.parent.glob(f".{link.name}-*"):
        if old != keep and old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
    for old in link.parent.glob(f".{link.name}.staging-*"):
        shutil.rmtree(old, ignore_errors=True)
    for old in link.parent.glob(f".{link.name}.link-*"):  # a run killed before its swap
        old.unlink(missing_ok=True)


def parquet_writer(frame: pd.DataFrame) -> Callable[[Path], None]:
    return lambda path: frame.to_parquet(path, index=False)


def link_writer(source: Path) -> Callable[[Path], None]:
    """A file of the previous snapshot, kept as it is (a hard link; a copy where links fail)."""
    def write(path: Path) -> None:
        try:
            os.link(source, path)
        except OSError:
            shutil.copyfile(source, path)
    return write


def json_writer(payload: object) -> Callable[[Path], None]:
    text = json.dumps(payload, indent=2, ensure_ascii=False, sort_keys=True, default=str)
    return lambda path: path.write_text(text + "\n", encoding="utf-8")


def csv_writer(frame: pd.DataFrame) -> Callable[[Path], None]:
    # Every field quoted: a stray carriage return in a rejected value must not split its row.
    return lambda path: frame.to_csv(path, index=False, encoding="utf-8",
                                     quoting=csv.QUOTE_ALL)
