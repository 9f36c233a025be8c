"""Serving latency and throughput on a started server, against the same work in-process and
against a bare ASGI app that does only what no server can skip.

Needs a champion for the experiment (after `make demo`). Starts `riskgrid serve` on a free
loopback port, creates a key, and measures:

- one-area /score with drivers, at 1 and 20 concurrent clients: p50, p99, requests/s;
- an all-grids /score (every grid of the city x 2 horizons, at least 1,000 scores);
- beside each, the predict-and-explain work done in-process (model + TreeSHAP for the same
  rows, no cache), so the serving overhead is a ratio measured in the same run;
- the anchor (bench/asgi_anchor.py): uvicorn and a bare ASGI app answering the service's own
  one-area answer after the same audit write, at the same 20 clients: riskgrid's p99 and
  throughput as ratios to it.

The clients are asyncio connections with keep-alive on the same machine, light enough that the
servers, not the clients, are measured (the anchor's figures show the ceiling of the two).

    .venv/bin/python bench/serving_latency.py [experiments/synthetic_city.toml] [--json PATH]
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
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

HERE = Path(__file__).resolve().parent
_LENGTH = re.compile(rb"(?im)^content-length:\s*(\d+)")
_CHUNKED = re.compile(rb"(?im)^transfer-encoding:\s*chunked")


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


async def _one_client(port: int, request: bytes, n: int, times: list[float]) -> int:
    """``n`` requests on one keep-alive connection; the number that did not answer 200."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    errors = 0
    try:
        for _ in range(n):
            start = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            if _CHUNKED.search(head):
                while size := int((await reader.readuntil(b"\r\n")).strip(), 16):
                    await reader.readexactly(size + 2)
                await reader.readuntil(b"\r\n")
            else:
                await reader.readexactly(int(_LENGTH.search(head).group(1)))
            times.append(time.perf_counter() - start)
            errors += head[9:12] != b"200"
    finally:
        writer.close()
    return errors


def served(port: int, key: str, body: dict, clients: int, per_client: int,
           path: str = "/score") -> tuple[list[float], float, int]:
    """(seconds per request, requests per second, errors) of ``clients`` concurrent clients."""
    payload = json.dumps(body).encode()
    request = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
               f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(payload)}\r\n\r\n").encode() + payload
    times: list[float] = []

    async def run() -> int:
        done = await asyncio.gather(*(_one_client(port, request, per_client, times)
                                      for _ in range(clients)))
        return sum(done)

    start = time.perf_counter()
    errors = asyncio.run(run())
    return times, len(times) / (time.perf_counter() - start), errors


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, what: str, log: Path, path: str = "/readyz") -> None:
    for _ in range(240):
        try:
            if httpx.get(f"{url}{path}", timeout=2).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"{what} did not start; see {log}")


def run_anchor(settings: Settings, answer: bytes, body: dict, per_client: int) -> dict:
    """The bare ASGI app's figures at 20 clients, on its own audit database."""
    with tempfile.TemporaryDirectory() as tmp:
        answer_file = Path(tmp) / "answer.json"
        answer_file.write_bytes(answer)
        store_url = f"sqlite:///{tmp}/anchor.db"
        open_store(store_url)  # the same schema, created before the clock starts
        port = free_port()
        log_path = settings.data_dir / "bench_anchor.log"
        with open(log_path, "wb") as log:
            anchor = subprocess.Popen([sys.executable, str(HERE / "asgi_anchor.py"), str(port),
                                       store_url, str(answer_file)], stdout=log,
                                      stderr=subprocess.STDOUT, start_new_session=True)
            try:
                wait_ready(f"http://127.0.0.1:{port}", "the anchor", log_path, "/")
                served(port, "anchor", body, 1, 50)  # warm up
                times, rate, errors = served(port, "anchor", body, 20, per_client)
            finally:
                os.killpg(anchor.pid, signal.SIGTERM)
                anchor.wait(30)
    return percentiles(times) | {"requests_per_s": rate, "errors": errors}


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
    port = free_port()
    env = {**os.environ, "RISKGRID_MAX_BATCH_AREAS": str(max(5000, len(grids)))}
    log = open(settings.data_dir / "bench_serving.log", "wb")  # noqa: SIM115
    server = subprocess.Popen([str(Path(sys.executable).with_name("riskgrid")), "serve",
                               str(path), "--port", str(port)], env=env, stdout=log,
                              stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, "the service", Path(log.name))
        for _ in range(600):  # the warnings job (Prophet fits) must not share the CPU
            info = httpx.post(f"{url}/model_info", json={}, timeout=30,
                              headers={"Authorization": f"Bearer {key}"}).json()
            if info["warnings_job"]["state"] != "running":
                break
            time.sleep(0.5)
        single = {"area_ids": [grids[0]], "horizons": [1]}
        served(port, key, single, 1, 50)  # warm up
        results = {"grids": len(grids)}
        base_one = percentiles(in_process(model, one, [1], 200))
        results["in_process_one_area"] = base_one
        for clients, per_client in ((1, 500), (20, 250)):
            times, rate, errors = served(port, key, single, clients, per_client)
            results[f"served_one_area_{clients}_clients"] = (
                percentiles(times) | {"requests_per_s": rate, "errors": errors})
        answer = httpx.post(f"{url}/score", json=single, timeout=30,
                            headers={"Authorization": f"Bearer {key}"}).content
        everything = {"area_ids": grids, "horizons": [1, 2]}
        base_all = percentiles(in_process(model, latest, [1, 2], 20))
        times, _, errors = served(port, key, everything, 1, 20)
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
    # After the service has stopped, so the two never share the CPU.
    anchor = results["anchor_one_area_20_clients"] = run_anchor(settings, answer, single, 250)
    twenty = results["served_one_area_20_clients"]
    results["throughput_vs_anchor"] = twenty["requests_per_s"] / anchor["requests_per_s"]
    results["p99_vs_anchor"] = twenty["p99_ms"] / anchor["p99_ms"]

    print(f"serving {experiment.name}: {len(grids)} grids, {os.cpu_count()} cores, "
          f"{settings.service_workers} service worker(s); the clients run on the same machine")
    for name, value in results.items():
        print(f"  {name:<28} {json.dumps(value) if isinstance(value, dict) else value:}")
    print("ratios (served / in-process predict-and-explain, p50): one area "
          f"{results['overhead_one_area']:.2f}x, all grids {results['overhead_all_grids']:.2f}x")
    print(f"ratios to the bare ASGI anchor at 20 clients: throughput "
          f"{results['throughput_vs_anchor']:.2f}x (>= 0.5), p99 {results['p99_vs_anchor']:.2f}x")
    p99 = results["served_one_area_20_clients"]["p99_ms"]
    rate = results["served_one_area_20_clients"]["requests_per_s"]
    print(f"targets: one-area at 20 clients p99 {p99:.1f} ms (< 50) and {rate:.0f} req/s "
          f"(>= 1,000); all grids p99 {results['served_all_grids']['p99_ms']:.1f} ms (< 200)")
    if out:
        Path(out).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
