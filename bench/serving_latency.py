"""Serving latency and throughput on a started server, against the same work in-process.

Needs a champion for the experiment (after `make demo`). Starts `riskgrid serve` on a free
loopback port, creates a key, and measures:

- one-area /score with drivers, at 1 and 20 concurrent clients: p50, p99, requests/s;
- an all-grids /score (every grid of the city x 2 horizons, at least 1,000 scores);
- beside each, the predict-and-explain work done in-process (model + TreeSHAP for the same
  rows, no cache), so the serving overhead is a ratio measured in the same run.

    .venv/bin/python bench/serving_latency.py [experiments/synthetic_city.toml] [--json PATH]
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np

from riskgrid import vocabulary as C
from riskgrid.experiment import load_experiment
from riskgrid.settings import Settings
from serving.champion import load_champion
from serving.scoring import load_serving_data
from serving.store import open_store
from training.riskmodel import contributions


def percentiles(seconds: list[float]) -> dict[str, float]:
    ms = np.asarray(seconds) * 1000
    return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)),
            "n": len(ms)}


def in_process(model, rows, horizons, repeat: int) -> list[float]:
    """Predict and explain ``rows`` for ``horizons``: what a request costs without a server."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        for h in horizons:
            m = model.horizons[h]
            X = model.inputs(rows, h)[m.features]
            m.expected_count(X)
            m.risk_probability(X, model.area_thresholds(rows))
            contributions(m, X)
        times.append(time.perf_counter() - start)
    return times


def served(url: str, key: str, body: dict, clients: int, per_client: int) -> tuple[
        list[float], float, int]:
    times: list[float] = []
    errors = [0]
    lock = threading.Lock()

    def run() -> None:
        with httpx.Client(timeout=60, headers={"Authorization": f"Bearer {key}"}) as client:
            for _ in range(per_client):
                start = time.perf_counter()
                r = client.post(f"{url}/score", json=body)
                elapsed = time.perf_counter() - start
                with lock:
                    times.append(elapsed)
                    errors[0] += r.status_code != 200

    threads = [threading.Thread(target=run) for _ in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return times, len(times) / (time.perf_counter() - start), errors[0]


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--json")]
    out = sys.argv[sys.argv.index("--json") + 1] if "--json" in sys.argv else None
    path = Path(args[0] if args and args[0].endswith(".toml") else
                "experiments/synthetic_city.toml")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the server on the way out
    settings = Settings()
    experiment = load_experiment(path)
    data = load_serving_data(experiment, settings)
    model = load_champion(settings, experiment.name).model
    latest = data.panel[data.panel[C.PERIOD] == data.panel[C.PERIOD].max()]
    grids = latest[C.AREA_ID].astype(str).tolist()
    one = latest[latest[C.AREA_ID] == grids[0]]

    key = open_store(settings.store_url()).create_key("viewer", "city", "bench")[1]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "RISKGRID_MAX_BATCH_AREAS": str(max(5000, len(grids)))}
    log = open(settings.data_dir / "bench_serving.log", "wb")  # noqa: SIM115
    server = subprocess.Popen([str(Path(sys.executable).with_name("riskgrid")), "serve",
                               str(path), "--port", str(port)], env=env, stdout=log,
                              stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        else:
            raise SystemExit("the service did not start; see " + log.name)
        for _ in range(600):  # the warnings job (Prophet fits) must not share the CPU
            info = httpx.post(f"{url}/model_info", json={}, timeout=30,
                              headers={"Authorization": f"Bearer {key}"}).json()
            if info["warnings_job"]["state"] != "running":
                break
            time.sleep(0.5)
        single = {"area_ids": [grids[0]], "horizons": [1]}
        served(url, key, single, 1, 50)  # warm up
        results = {"grids": len(grids)}
        base_one = percentiles(in_process(model, one, [1], 200))
        results["in_process_one_area"] = base_one
        for clients, per_client in ((1, 300), (20, 50)):
            times, rate, errors = served(url, key, single, clients, per_client)
            results[f"served_one_area_{clients}_clients"] = (
                percentiles(times) | {"requests_per_s": rate, "errors": errors})
        everything = {"area_ids": grids, "horizons": [1, 2]}
        base_all = percentiles(in_process(model, latest, [1, 2], 20))
        times, _, errors = served(url, key, everything, 1, 20)
        results["in_process_all_grids"] = base_all
        results["served_all_grids"] = percentiles(times) | {"errors": errors,
                                                            "scores": 2 * len(grids)}
        results["overhead_one_area"] = (results["served_one_area_1_clients"]["p50_ms"]
                                        / base_one["p50_ms"])
        results["overhead_all_grids"] = results["served_all_grids"]["p50_ms"] / base_all["p50_ms"]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
        log.close()

    print(f"serving {experiment.name}: {len(grids)} grids, {os.cpu_count()} cores, "
          f"{settings.service_workers} service worker(s); the clients run on the same machine")
    for name, value in results.items():
        print(f"  {name:<28} {json.dumps(value) if isinstance(value, dict) else value:}")
    print("ratios (served / in-process predict-and-explain, p50): one area "
          f"{results['overhead_one_area']:.2f}x, all grids {results['overhead_all_grids']:.2f}x")
    p99 = results["served_one_area_20_clients"]["p99_ms"]
    print(f"targets: one-area p99 at 20 clients {p99:.1f} ms (< 50), all grids "
          f"{results['served_all_grids']['p50_ms']:.1f} ms p50 (< 500), overhead one area "
          f"{results['overhead_one_area']:.2f}x (< 2)")
    if out:
        Path(out).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
