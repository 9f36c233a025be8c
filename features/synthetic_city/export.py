"""The I/O edge: writes the city's GB18030 CSV, JSON Lines petitions, grid table and truth."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from features.synthetic_city.city import synthesize_city
from features.synthetic_city.config import CityConfig
from features.synthetic_city.faults import planted_faults
from riskgrid import vocabulary as C


def write_city(out: Path, seed: int = 7, config: CityConfig | None = None,
               faults: bool = False) -> dict[str, Path]:
    """Generate the city and write its files under ``out``.

    Args:
        out: output folder (created if needed).
        seed: random seed of the default city; ignored when ``config`` is given.
        config: a custom city (size, span, mechanism strengths).
        faults: plant the data faults of :func:`planted_faults` (listed in truth/faults.csv).

    Returns:
        Name -> path: areas, incidents, petitions, intensity, drivers, dirt, episodes (and
        faults, when planted).
    """
    config = config or CityConfig(seed=seed)
    if faults:
        config = replace(config, faults=planted_faults(config.end, config.n_districts,
                                                       config.streets_per_district))
    city = synthesize_city(config)
    out = Path(out)
    (out / "truth").mkdir(parents=True, exist_ok=True)
    paths = {"areas": out / "areas.csv", "incidents": out / "incidents.csv",
             "petitions": out / "petitions.jsonl", "intensity": out / "truth/intensity.parquet",
             "drivers": out / "truth/drivers.json", "dirt": out / "truth/export_dirt.csv",
             "episodes": out / "truth/episodes.csv"}
    areas = city.areas.assign(**{C.URBAN: np.where(city.areas[C.URBAN], "true", "false")})
    areas.to_csv(paths["areas"], index=False, encoding="utf-8", lineterminator="\n")
    city.incidents.to_csv(paths["incidents"], index=False, encoding="gb18030",
                          lineterminator="\r\n")
    lines = (json.dumps(r, ensure_ascii=False) for r in _json_records(city.petitions))
    paths["petitions"].write_bytes("".join(f"{line}\n" for line in lines).encode("utf-8"))
    city.intensity.to_parquet(paths["intensity"], index=False)
    text = json.dumps(city.drivers, ensure_ascii=False, indent=2) + "\n"
    paths["drivers"].write_bytes(text.encode("utf-8"))
    for name, frame in (("dirt", city.export_dirt), ("episodes", city.episodes)):
        frame.to_csv(paths[name], index=False, encoding="utf-8", lineterminator="\n")
    if not city.faults.empty:
        paths["faults"] = out / "truth/faults.csv"
        city.faults.to_csv(paths["faults"], index=False, encoding="utf-8", lineterminator="\n")
    return paths


def _json_records(frame: pd.DataFrame) -> list[dict]:
    """Rows as plain Python values (numpy scalars are not JSON serializable)."""
    columns = {c: frame[c].to_numpy(object).tolist() for c in frame.columns}
    columns["人数"] = [int(v) for v in columns["人数"]]
    columns["是否重复访"] = [bool(v) for v in columns["是否重复访"]]
    return [dict(zip(columns, values)) for values in zip(*columns.values())]
