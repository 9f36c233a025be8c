"""The synthetic city's exports cut at a day, as a city exporting every day would send them.

``before/`` holds what was reported before the day, ``day/`` the day's own export (what was
reported on it, late reports of earlier incidents included) and ``through/`` both together:
the full export as of the end of the day, which a full ingest reads. Lines are kept byte for
byte, so the day's records are the same in ``day/`` and ``through/``.
"""

from __future__ import annotations

import csv
import json
import shutil
from datetime import date, timedelta
from pathlib import Path

INCIDENT_REPORTED, PETITION_FILED = "上报时间", "登记日期"
ENCODING = "gb18030"


def _when(text: str) -> str:
    return text.strip().replace("T", " ")[:10]


def _incident_lines(path: Path) -> tuple[str, list[tuple[str, str]]]:
    text = path.read_bytes().decode(ENCODING)
    lines = text.splitlines(keepends=True)
    header = next(csv.reader([lines[0]]))
    at = header.index(INCIDENT_REPORTED)
    rows = []
    for line in lines[1:]:
        fields = next(csv.reader([line]), [])
        rows.append((_when(fields[at]) if len(fields) > at else "", line))
    return lines[0], rows


def _petition_lines(path: Path) -> list[tuple[str, str]]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
        try:
            filed = _when(str(json.loads(line).get(PETITION_FILED, "")))
        except (ValueError, AttributeError):
            filed = ""
        rows.append((filed, line))
    return rows


def cut_at(folder: Path, day: date, out: Path) -> dict[str, Path]:
    """Write ``out/before``, ``out/day`` and ``out/through`` from the exports in ``folder``.

    A record belongs to the day it was reported (incidents) or filed (petitions); records of
    later days are in none of the three, and records without a readable date are in
    ``before`` and ``through`` (ingest quarantines them).

    Returns:
        "before", "day", "through" -> their folders.
    """
    first, stop = day.isoformat(), (day + timedelta(days=1)).isoformat()
    folders = {name: out / name for name in ("before", "day", "through")}
    for path in folders.values():
        path.mkdir(parents=True, exist_ok=True)
    header, incidents = _incident_lines(folder / "incidents.csv")
    petitions = _petition_lines(folder / "petitions.jsonl")
    for name, keep in (("before", lambda d: d < first or not d),
                       ("day", lambda d: first <= d < stop),
                       ("through", lambda d: d < stop or not d)):
        lines = [line for when, line in incidents if keep(when)]
        (folders[name] / "incidents.csv").write_bytes((header + "".join(lines)).encode(ENCODING))
        lines = [line for when, line in petitions if keep(when)]
        (folders[name] / "petitions.jsonl").write_text("".join(lines), encoding="utf-8")
        shutil.copyfile(folder / "areas.csv", folders[name] / "areas.csv")
    return folders
