"""A daily update against a full rebuild: one day of the synthetic city added to four years.

The synthetic city's exports (`riskgrid synth`, written first when missing) are cut at a day
(features/synthetic_city/daily.py): what was reported before it, the day's own export, and
both together. The state as of the day before (a full ingest and features of ``before``) is
prepared untimed; then, in this one process and alternately, each run ``--warmup`` times
untimed and ``--repeat`` times timed:

    update:   riskgrid ingest --append --source incidents=DAY --source petitions=DAY,
              then riskgrid features (an update of the previous panel)
    rebuild:  riskgrid ingest of the full export as of the end of the day, then riskgrid
              features (a full build)

Both through the same functions the commands call. The two panels (and hierarchy counts) are
compared cell by cell; the ratio is the update's median time over the rebuild's.

    .venv/bin/python bench/incremental.py [--day 2025-12-28] [--repeat 3] [--warmup 1]
                                          [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

import pandas as pd

from features import append, build_features, ingest, read_features, write_city
from features.synthetic_city.daily import cut_at
from riskgrid import Settings, load_experiment

ROOT = Path(__file__).resolve().parent.parent
MAPPINGS = ROOT / "experiments" / "mappings"
TARGET = 0.05


def experiment_file(folder: Path, out: Path) -> Path:
    text = (ROOT / "experiments" / "synthetic_city.toml").read_text(encoding="utf-8")
    text = text.replace('name = "synthetic_city"', 'name = "daily"')
    for name in ("areas.csv", "incidents.csv", "petitions.jsonl"):
        text = text.replace(f"{{data_dir}}/synthetic_city/{name}", str(folder / name))
    text = text.replace('"mappings/', f'"{MAPPINGS}/')
    out.write_text(text, encoding="utf-8")
    return out


def timed(fn, cpu: list[float]) -> float:
    """Wall seconds of ``fn()``; its CPU seconds (this process) appended to ``cpu``."""
    began, used = time.perf_counter(), time.process_time()
    fn()
    cpu.append(time.process_time() - used)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--day", type=date.fromisoformat, default=date(2025, 12, 28),
                        help="the day added (default: the synthetic city's last, a Sunday)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    settings = Settings()
    city = settings.data_dir / "synthetic_city"
    if not (city / "incidents.csv").is_file():
        write_city(city)
    work = Path(tempfile.mkdtemp(prefix="riskgrid-incremental-"))
    try:
        result = measure(city, work, args.day, args.repeat, settings, args.warmup)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ratio = result["update_seconds"] / result["rebuild_seconds"]
    result |= {"ratio": ratio, "target": TARGET,
               "met": ratio <= TARGET and result["identical"]}
    print(f"one day ({args.day}): {result['day_records']:,} records added to "
          f"{result['rows_before']:,}; panel {result['panel_rows']:,} rows, "
          f"{result['blocks_written']} of {result['blocks']} period blocks written")
    print(f"update (ingest --append + features): {result['update_seconds']:.3f} s (median of "
          f"{args.repeat}: {', '.join(f'{s:.3f}' for s in result['update_runs'])})")
    print(f"rebuild (ingest + features):         {result['rebuild_seconds']:.3f} s (median of "
          f"{args.repeat}: {', '.join(f'{s:.3f}' for s in result['rebuild_runs'])})")
    print(f"ratio update / rebuild: {ratio:.3f} (target <= {TARGET}); panels identical: "
          f"{result['identical']}")
    print(f"CPU seconds of this process (median): update {result['update_cpu_seconds']:.3f}, "
          f"rebuild {result['rebuild_cpu_seconds']:.3f}, ratio "
          f"{result['update_cpu_seconds'] / result['rebuild_cpu_seconds']:.3f}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str) + "\n")


def measure(city: Path, work: Path, day: date, repeat: int, base: Settings,
            warmup: int = 1) -> dict:
    cut = cut_at(city, day, work / "cut")
    before = load_experiment(experiment_file(cut["before"], work / "before.toml"))
    through = load_experiment(experiment_file(cut["through"], work / "through.toml"))
    paths = {"incidents": cut["day"] / "incidents.csv",
             "petitions": cut["day"] / "petitions.jsonl"}
    prepared = base.model_copy(update={"data_dir": work / "prepared"})
    ingest(before, prepared)  # the state as of yesterday (and every import warmed up)
    build_features(before, prepared)
    rows_before = sum(c["accepted"] for c in
                      json.loads((prepared.data_dir / "daily/clean/summary.json").read_text())
                      ["sources"].values())
    updates, rebuilds, report = [], [], None
    update_cpu, rebuild_cpu = [], []
    for i in range(-warmup, repeat):  # the first rounds warm both paths up, untimed
        updated = base.model_copy(update={"data_dir": work / f"update{i}"})
        shutil.copytree(prepared.data_dir, updated.data_dir, symlinks=True)
        rebuilt = base.model_copy(update={"data_dir": work / f"rebuild{i}"})
        added = {}

        def update(updated=updated, added=added):
            added["report"] = append(before, updated, paths)
            added["features"] = build_features(before, updated)

        took = timed(update, update_cpu), timed(
            lambda rebuilt=rebuilt: (ingest(through, rebuilt), build_features(through, rebuilt)),
            rebuild_cpu)
        if i < 0:
            update_cpu.pop(), rebuild_cpu.pop()
            continue
        updates.append(took[0])
        rebuilds.append(took[1])
        report = added
    ours, full = read_features(updated.data_dir / "daily"), read_features(rebuilt.data_dir / "daily")
    identical = _same(ours.panel, full.panel) and _same(ours.counts, full.counts)
    blocks = report["features"].blocks or (0, 0)
    return {"day": day, "day_records": report["report"].as_json()["total"]["added"],
            "rows_before": rows_before, "panel_rows": len(ours.panel),
            "blocks_written": blocks[0], "blocks": blocks[1], "identical": identical,
            "update_runs": updates, "rebuild_runs": rebuilds,
            "update_seconds": statistics.median(updates),
            "rebuild_seconds": statistics.median(rebuilds),
            "update_cpu_seconds": statistics.median(update_cpu),
            "rebuild_cpu_seconds": statistics.median(rebuild_cpu)}


def _same(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    try:
        pd.testing.assert_frame_equal(a, b, check_exact=True)
    except AssertionError:
        return False
    return len(a) > 0


if __name__ == "__main__":
    main()
