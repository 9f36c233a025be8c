"""Scale-out: the synthetic city at 1x, 4x and 16x its grids; features, final fit, backtest on Dask.

The base city is small so that the run takes a few minutes on two cores: 1 district of
2 streets x 5 communities x 10 grids (100 grids), weekly, 2022-2023 (104 weeks, 10,400 panel
rows, ~28,000 incidents). Scale k has k districts like it (events scale alike: they are
drawn per grid). For each size, in this order:

1. the city is synthesised and ingested (`riskgrid ingest`, not measured);
2. baseline, in this process's machine and run: `riskgrid features` with the local engine,
   the final fit in process (``training.pipeline.fit_final`` on the whole panel) and
   `riskgrid backtest` (``--folds`` origins), each as a child process whose peak RSS is the
   driver's;
3. a fresh LocalCluster of 2 worker processes (1 thread, ``--memory-limit`` each):
   `riskgrid features` with ``RISKGRID_ENGINE=dask`` (the panel built and written on the
   workers), then the workers are restarted and the final fit and TreeSHAP run from the
   panel's parts (``training.partitioned``), again as child processes; then, on a fresh
   cluster, `riskgrid backtest` from the parts (``training.partitioned_backtest``). Worker
   peak RSS is each worker process's high-water mark after the step.

It prints wall time, driver peak RSS and worker peak RSS per size and step, the exponent k
of time ~ rows^k (least squares over the sizes), and the ratio driver peak RSS at the largest
size / at 1x for each step, and each backtest's horizon-1 Poisson deviance beside the best
baseline's of the same run. Target: at most 1.5 for the three steps on the cluster.

    .venv/bin/python bench/scale_out.py [--scales 1,4,16] [--rounds 100] [--folds 2] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
BASE = {"seed": 7, "n_districts": 1, "streets_per_district": 2, "communities_per_street": 5,
        "grids_per_community": 10, "start": date(2022, 1, 3), "end": date(2023, 12, 31),
        "export_date": date(2024, 1, 8)}
NOW = "2024-01-15T00:00:00"
TARGET = 1.5
EXPERIMENT = """name = "scaled"
[areas]
kind = "table"
path = "city/areas.csv"
[sources.incidents]
kind = "incidents"
path = "city/incidents.csv"
mapping = "{mappings}/synthetic_city_incidents.toml"
[sources.petitions]
kind = "petitions"
path = "city/petitions.jsonl"
mapping = "{mappings}/synthetic_city_petitions.toml"
[features]
period = "week"
horizons = [1]
windows = [4, 13]
[training]
num_boost_round = {rounds}
folds = {folds}
"""
FIT = """
import sys
from pathlib import Path
from riskgrid import load_experiment
from riskgrid.settings import Settings
engine, experiment = sys.argv[1], load_experiment(Path("scaled.toml"))
settings = Settings()
folder = experiment.output_dir(settings)
if engine == "local":
    from training.pipeline import fit_final, load_inputs, shap_importance
    inputs = load_inputs(experiment, settings)
    model = fit_final(experiment, inputs)
    shap_importance(model, inputs)
else:
    from features import Engine
    from training.partitioned import fit_final_partitioned, shap_importance_partitioned
    engine = Engine.from_settings(settings)
    model, _ = fit_final_partitioned(experiment, folder, engine)
    shap_importance_partitioned(model, folder, engine)
"""


def high_water_mib(pid: int | str = "self") -> float:
    """The process's peak resident set size so far (VmHWM, MiB): unlike getrusage's, it
    starts again at exec, so a child does not inherit this process's peak."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child(argv: list[str], env: dict[str, str], cwd: Path) -> dict:
    """Run ``argv`` to the end: its wall time and peak RSS (MiB), read every 20 ms."""
    began, peak = time.monotonic(), 0.0
    with open(cwd / "child.log", "ab") as log:
        proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
        while proc.poll() is None:
            try:
                peak = max(peak, high_water_mib(proc.pid))
            except (OSError, ValueError):  # exiting
                pass
            time.sleep(0.02)
    if proc.returncode:
        tail = (cwd / "child.log").read_text(errors="replace").strip().splitlines()[-3:]
        raise RuntimeError(f"{' '.join(argv[:3])} failed ({proc.returncode}): {tail}")
    return {"seconds": time.monotonic() - began, "driver_peak_mib": peak}


def worker_peaks(client) -> float:
    """The largest peak RSS of the workers' processes so far, in MiB."""
    return max(client.run(high_water_mib).values())


def city(scale: int, folder: Path, rounds: int, folds: int, env: dict[str, str]) -> dict:
    """Synthesise and ingest the city at ``scale``; its grids, rows and incidents."""
    from features.synthetic_city import write_city
    from features.synthetic_city.config import CityConfig

    config = replace(CityConfig(**BASE), n_districts=BASE["n_districts"] * scale)
    write_city(folder / "city", config=config)
    (folder / "scaled.toml").write_text(EXPERIMENT.format(
        mappings=ROOT / "experiments" / "mappings", rounds=rounds, folds=folds),
        encoding="utf-8")
    child([riskgrid(), "ingest", "scaled.toml"], env, folder)
    with open(folder / "city" / "incidents.csv", "rb") as lines:
        incidents = sum(1 for _ in lines) - 1
    weeks = (config.end - config.start).days // 7 + 1
    return {"scale": scale, "grids": config.n_grids, "rows": config.n_grids * weeks,
            "incidents": incidents}


def riskgrid() -> str:
    return str(Path(sys.executable).with_name("riskgrid"))


def backtest(env: dict[str, str], folder: Path, name: str) -> dict:
    """`riskgrid backtest` as a child process; its time, peak RSS and horizon 1's Poisson
    deviance, the model's and the best baseline's (from its JSON)."""
    path = folder / f"{name}.json"
    out = child([riskgrid(), "backtest", "scaled.toml", "--json", str(path)], env, folder)
    found = json.loads(path.read_text())
    best = min(found["baselines"], key=lambda n: found["baselines"][n]["1"]["poisson_deviance"])
    return out | {"model_deviance_h1": found["model"]["1"]["poisson_deviance"],
                  "best_baseline_h1": best,
                  "best_baseline_deviance_h1": found["baselines"][best]["1"]["poisson_deviance"]}


def measure(scale: int, work: Path, rounds: int, memory_limit: str, folds: int) -> dict:
    folder = work / f"x{scale}"
    folder.mkdir()
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("RISKGRID_")}
    base_env |= {"RISKGRID_DATA_DIR": str(folder / "data"), "RISKGRID_NOW": NOW,
                 "RISKGRID_PSEUDONYM_SECRET": "bench", "PYTHONPATH": str(ROOT)}
    out = city(scale, folder, rounds, folds, base_env)
    out["local_features"] = child([riskgrid(), "features", "scaled.toml"], base_env, folder)
    out["local_fit"] = child([sys.executable, "-c", FIT, "local"], base_env, folder)
    out["local_backtest"] = backtest(base_env, folder, "backtest_local")
    with cluster_of(memory_limit) as (address, client):
        env = base_env | {"RISKGRID_ENGINE": "dask", "RISKGRID_DASK_SCHEDULER": address}
        out["features"] = child([riskgrid(), "features", "scaled.toml"], env, folder)
        out["features"]["worker_peak_mib"] = worker_peaks(client)
        client.restart()
        out["fit"] = child([sys.executable, "-c", FIT, "dask"], env, folder)
        out["fit"]["worker_peak_mib"] = worker_peaks(client)
    # A fresh cluster (restarting workers LightGBM's network used can hang for minutes).
    with cluster_of(memory_limit) as (address, client):
        env = base_env | {"RISKGRID_ENGINE": "dask", "RISKGRID_DASK_SCHEDULER": address}
        out["backtest"] = backtest(env, folder, "backtest_dask")
        out["backtest"]["worker_peak_mib"] = worker_peaks(client)
    return out


@contextmanager
def cluster_of(memory_limit: str) -> Iterator[tuple[str, object]]:
    """A LocalCluster of 2 single-thread worker processes: its address and a client."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, memory_limit=memory_limit,
                      dashboard_address=None,
                      scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}) as cluster, \
            Client(cluster) as client:
        yield cluster.scheduler_address, client


def exponent(rows: list[int], seconds: list[float]) -> float:
    return float(np.polyfit(np.log(rows), np.log(seconds), 1)[0])


def size_line(s: dict) -> str:
    return (f"{s['scale']:>3}x {s['grids']:>6,} grids {s['rows']:>9,} rows "
            f"{s['incidents']:>9,} incidents | dask features {s['features']['seconds']:6.1f} s "
            f"driver {s['features']['driver_peak_mib']:6.0f} MiB workers "
            f"{s['features']['worker_peak_mib']:6.0f} MiB | fit {s['fit']['seconds']:6.1f} s "
            f"driver {s['fit']['driver_peak_mib']:6.0f} MiB workers "
            f"{s['fit']['worker_peak_mib']:6.0f} MiB | backtest {s['backtest']['seconds']:6.1f} s "
            f"driver {s['backtest']['driver_peak_mib']:6.0f} MiB workers "
            f"{s['backtest']['worker_peak_mib']:6.0f} MiB | in process: features driver "
            f"{s['local_features']['driver_peak_mib']:6.0f} MiB, fit driver "
            f"{s['local_fit']['driver_peak_mib']:6.0f} MiB, backtest "
            f"{s['local_backtest']['seconds']:6.1f} s driver "
            f"{s['local_backtest']['driver_peak_mib']:6.0f} MiB | h1 deviance: cluster "
            f"{s['backtest']['model_deviance_h1']:.3f}, in process "
            f"{s['local_backtest']['model_deviance_h1']:.3f}, best baseline "
            f"{s['backtest']['best_baseline_h1']} {s['backtest']['best_baseline_deviance_h1']:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scales", default="1,4,16")
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--memory-limit", default="2GiB")
    parser.add_argument("--folds", type=int, default=2, help="backtest origins")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    scales = [int(s) for s in args.scales.split(",")]
    with tempfile.TemporaryDirectory(prefix="scale_out-") as tmp:
        sizes = []
        for scale in scales:
            sizes.append(measure(scale, Path(tmp), args.rounds, args.memory_limit, args.folds))
            print(size_line(sizes[-1]), flush=True)
    rows = [s["rows"] for s in sizes]
    result = {"base": "1 district x 2 streets x 5 communities x 10 grids, weekly 2022-2023",
              "scales": scales, "workers": 2, "threads_per_worker": 1,
              "memory_limit": args.memory_limit, "rounds": args.rounds, "horizons": [1],
              "folds": args.folds,
              "sizes": sizes, "target_ratio": TARGET}
    for step in ("features", "fit", "backtest", "local_features", "local_fit",
                 "local_backtest"):
        result[f"exponent_{step}"] = exponent(rows, [s[step]["seconds"] for s in sizes])
        result[f"driver_ratio_{step}"] = (sizes[-1][step]["driver_peak_mib"]
                                          / sizes[0][step]["driver_peak_mib"])
        # what each further 100,000 rows cost, between the smallest and the largest size
        result[f"seconds_per_100k_rows_{step}"] = 1e5 * (
            sizes[-1][step]["seconds"] - sizes[0][step]["seconds"]) / (rows[-1] - rows[0])
    result["met"] = max(result[f"driver_ratio_{step}"]
                        for step in ("features", "fit", "backtest")) <= TARGET
    print(f"driver peak RSS {scales[-1]}x / {scales[0]}x: features "
          f"{result['driver_ratio_features']:.2f}, final fit {result['driver_ratio_fit']:.2f}, "
          f"backtest {result['driver_ratio_backtest']:.2f} (target <= {TARGET}; in process: "
          f"features {result['driver_ratio_local_features']:.2f}, fit "
          f"{result['driver_ratio_local_fit']:.2f}, backtest "
          f"{result['driver_ratio_local_backtest']:.2f}); time ~ rows^k: features "
          f"k={result['exponent_features']:.2f}, fit k={result['exponent_fit']:.2f}, backtest "
          f"k={result['exponent_backtest']:.2f} (in process "
          f"{result['exponent_local_features']:.2f}, {result['exponent_local_fit']:.2f}, "
          f"{result['exponent_local_backtest']:.2f})")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
