"""Endurance: a sustained open-loop request mix against a started service, on loopback only.

Needs a champion for the experiment (after `make demo`). Starts `riskgrid serve` on a free
127.0.0.1 port with RISKGRID_SERVICE_WORKERS=--workers, waits until it is ready and its
background warnings run is over, creates a viewer key (`riskgrid keys create`), warms up, then
sends --rate requests per second for --minutes (at most --max-requests) whatever the answers
take (open loop: request i is due at i / rate; its latency counts from then, so queueing
shows). The mix, by weight: one-area /score with drivers, /explain, a street's and a
district's grids on /score, a batch /score of 50 grids x 4 horizons, /warnings, /forecast of a
street, district or the city, /model_info.

Every 5 s it samples the resident memory of the server and all its child processes (psutil).
Memory growth is the mean over the last minute of the load against the mean over its first
minute (a quarter of the run each, for runs under 4 minutes).

Targets: 0 errors (non-2xx answers or failed requests), memory growth under 10 %, and the
rate sustained (at least 95 % of the offered requests per second answered). Exit code 1 when
one is missed.

    .venv/bin/python bench/endurance.py [experiments/synthetic_city.toml] [--minutes 10]
        [--rate 40] [--workers 2] [--max-requests N] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np
import psutil

HOST = "127.0.0.1"  # loopback only, by design
MIX = {  # endpoint label: weight
    "score_one_area": 35, "explain": 10, "score_street": 10, "score_district": 5,
    "score_batch_50": 10, "warnings": 10, "forecast": 10, "model_info": 5,
}
GROWTH_TARGET_PCT = 10.0
SUSTAINED_SHARE = 0.95
STOP = threading.Event()  # Ctrl-C or SIGTERM: end the load, then stop the server


def _interrupt(signum, frame) -> None:
    STOP.set()
    raise KeyboardInterrupt(f"signal {signum}")


def catch_signals() -> None:
    """Ctrl-C and SIGTERM stop the run through the finally that stops the server (also when
    started in the background, where Python would otherwise ignore SIGINT)."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _interrupt)


class Mix:
    """Request bodies of the mix, drawn with a fixed seed from the city's real ids."""

    def __init__(self, grids: list[str], streets: list[str], districts: list[str],
                 seed: int = 0):
        self.grids, self.streets, self.districts = grids, streets, districts
        self.units = ["city", *districts, *streets]
        self.rng = np.random.default_rng(seed)
        names = list(MIX)
        weights = np.array([MIX[n] for n in names], float)
        self.names, self.p = names, weights / weights.sum()

    def pick(self, items: list[str]) -> str:
        return items[int(self.rng.integers(len(items)))]

    def body(self, name: str) -> tuple[str, dict]:
        """(path, JSON body) of one request of kind ``name``."""
        if name == "score_one_area":
            return "/score", {"area_ids": [self.pick(self.grids)], "horizons": [1, 2],
                              "drivers": 5}
        if name == "explain":
            return "/explain", {"area_id": self.pick(self.grids), "horizon": 1}
        if name == "score_street":
            return "/score", {"level": "grid", "parent_id": self.pick(self.streets)}
        if name == "score_district":
            return "/score", {"level": "grid", "parent_id": self.pick(self.districts)}
        if name == "score_batch_50":
            ids = self.rng.choice(self.grids, size=min(50, len(self.grids)), replace=False)
            return "/score", {"area_ids": ids.tolist(), "horizons": [1, 2, 3, 4]}
        if name == "warnings":
            return "/warnings", [{}, {"level": "orange"}, {"area_ids": [self.pick(
                self.districts)]}][int(self.rng.integers(3))]
        if name == "forecast":
            return "/forecast", {"unit_id": self.pick(self.units), "horizon": 8}
        return "/model_info", {}

    def next(self) -> tuple[str, str, dict]:
        name = self.names[int(self.rng.choice(len(self.names), p=self.p))]
        return (name, *self.body(name))


class MemorySampler(threading.Thread):
    """RSS summed over a process and all its descendants, every ``every`` seconds."""

    def __init__(self, pid: int, every: float):
        super().__init__(daemon=True)
        self.root, self.every = psutil.Process(pid), every
        self.samples: list[tuple[float, float]] = []  # (monotonic time, MiB)
        self.stop = threading.Event()

    def rss_mib(self) -> float:
        total = 0
        for proc in [self.root, *self.root.children(recursive=True)]:
            try:
                total += proc.memory_info().rss
            except psutil.Error:  # a child that ended between listing and reading
                pass
        return total / 2**20

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.samples.append((time.monotonic(), self.rss_mib()))
            except psutil.Error:
                return
            self.stop.wait(self.every)


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its live descendants."""
    total = 0.0
    root = psutil.Process(pid)
    for proc in [root, *root.children(recursive=True)]:
        try:
            t = proc.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
        except psutil.Error:
            pass
    return total


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def riskgrid() -> str:
    return str(Path(sys.executable).with_name("riskgrid"))


def create_key() -> str:
    out = subprocess.run([riskgrid(), "keys", "create", "--role", "viewer", "--scope", "city",
                          "--label", "bench endurance"], check=True, capture_output=True,
                         text=True)
    return out.stdout.strip().splitlines()[-1]


def wait_ready(url: str, headers: dict, server: subprocess.Popen, workers: int,
               log: Path) -> dict:
    """Until /readyz answers, then until no worker reports a running warnings job and the
    server's CPU has settled (each worker runs its own job; a request reaches one of them)."""
    deadline = time.monotonic() + 600
    while True:
        if server.poll() is not None:
            raise SystemExit(f"the service exited with code {server.returncode}; see {log}")
        if time.monotonic() > deadline:
            raise SystemExit(f"the service was not ready after 10 minutes; see {log}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    idle_answers, needed, job = 0, 6 * workers, {}
    while idle_answers < needed:
        if time.monotonic() > deadline:
            raise SystemExit(f"the warnings job still ran after 10 minutes; see {log}")
        r = httpx.post(f"{url}/model_info", json={}, headers=headers, timeout=30)
        if r.status_code != 200:
            raise SystemExit(f"/model_info answered {r.status_code}: {r.text[:200]}")
        job = r.json()["warnings_job"]
        idle_answers = idle_answers + 1 if job["state"] != "running" else 0
        time.sleep(0.3)
    for _ in range(120):  # then wait for the CPU to settle: under 10 % of a core over 2 s
        before = tree_cpu_seconds(server.pid)
        time.sleep(2)
        if tree_cpu_seconds(server.pid) - before < 0.2:
            break
    return job


def city_ids(url: str, headers: dict) -> tuple[list[str], list[str], list[str]]:
    """Grid, street and district ids, as the API lists them."""
    def ids(level: str) -> list[str]:
        r = httpx.post(f"{url}/areas", json={"level": level}, headers=headers, timeout=60)
        r.raise_for_status()
        return [a["area_id"] for a in r.json()["areas"]]

    return ids("grid"), ids("street"), ids("district")


async def drive(url: str, headers: dict, mix: Mix, rate: float, seconds: float,
                max_requests: int, timeout: float, connections: int) -> list[tuple]:
    """Open loop: request i is sent at start + i / rate, whatever came back before it.

    Returns one (label, due offset s, latency s, send lag s, status or error name) per request.
    """
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    records: list[tuple] = []
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits,
                                 timeout=httpx.Timeout(timeout)) as client:
        loop = asyncio.get_running_loop()
        start = loop.time()

        async def one(label: str, path: str, body: dict, due: float) -> None:
            lag = loop.time() - due
            try:
                r = await client.post(path, json=body)
                status: int | str = r.status_code
            except Exception as exc:  # noqa: BLE001 - every failure is an error of the run
                status = type(exc).__name__
            records.append((label, due - start, loop.time() - due, lag, status))

        # A signal raised inside a task would be swallowed by it: inside the loop, only flag it.
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, STOP.set)
        tasks: set[asyncio.Task] = set()
        for i in range(max_requests):
            due = start + i / rate
            if due - start >= seconds or STOP.is_set():
                break
            if (wait := due - loop.time()) > 0:
                await asyncio.sleep(wait)
            task = asyncio.create_task(one(*mix.next(), due))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        while tasks and not STOP.is_set():
            await asyncio.wait(set(tasks), timeout=0.5)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    if STOP.is_set():
        raise KeyboardInterrupt("stopped")
    return records


def load(*args) -> list[tuple]:
    """:func:`drive` in its own event loop, the signal handlers put back afterwards."""
    try:
        return asyncio.run(drive(*args))
    finally:
        catch_signals()


def latency(values: list[float]) -> dict:
    ms = np.asarray(values) * 1000
    if not len(ms):
        return {"n": 0}
    return {"n": len(ms), "p50_ms": float(np.percentile(ms, 50)),
            "p99_ms": float(np.percentile(ms, 99)), "max_ms": float(ms.max())}


def memory_summary(samples: list[tuple[float, float]], start: float, end: float) -> dict:
    """Start/end window means over the load, growth in per cent, max."""
    window = min(60.0, (end - start) / 4)
    during = [(t, m) for t, m in samples if start <= t <= end]
    first = [m for t, m in during if t < start + window]
    last = [m for t, m in during if t >= end - window]
    if not first or not last:
        return {"window_s": window, "samples": len(during), "growth_pct": None}
    start_mib, end_mib = float(np.mean(first)), float(np.mean(last))
    return {"window_s": window, "samples": len(during), "start_mib": start_mib,
            "end_mib": end_mib, "max_mib": max(m for _, m in during),
            "growth_pct": 100 * (end_mib / start_mib - 1),
            "series_mib": [[round(t - start, 1), round(m, 1)] for t, m in during]}


def summarize(records: list[tuple], seconds: float, rate: float) -> dict:
    """Throughput counts the answered (2xx) requests over the whole run, the drain included."""
    statuses = Counter((r[0], r[4]) for r in records)
    errors = {f"{label} {status}": n for (label, status), n in sorted(statuses.items(),
                                                                         key=str)
              if not (isinstance(status, int) and 200 <= status < 300)}
    by = {label: latency([r[2] for r in records if r[0] == label]) for label in MIX}
    for label, stats in by.items():
        stats["errors"] = sum(n for k, n in errors.items() if k.split()[0] == label)
    answered = len(records) - sum(errors.values())
    return {"requests": len(records), "offered_rate": rate,
            "throughput_rps": answered / seconds,
            "latency": latency([r[2] for r in records]), "per_endpoint": by,
            "errors": sum(errors.values()), "errors_by": errors,
            "send_lag_p99_ms": float(np.percentile([r[3] for r in records], 99) * 1000)
            if records else None}


def stop(server: subprocess.Popen) -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):  # a second Ctrl-C must not orphan the server
        signal.signal(sig, signal.SIG_IGN)
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(10)


def report(result: dict) -> None:
    lat, mem = result["latency"], result["memory"]
    print(f"endurance {result['experiment']}: {result['workers']} service workers, "
          f"{result['duration_s']:.0f} s at {result['offered_rate']:g} requests/s offered, "
          f"{os.cpu_count()} cores (the client runs on the same machine)")
    nan = float("nan")
    lag = nan if result["send_lag_p99_ms"] is None else result["send_lag_p99_ms"]
    print(f"  requests {result['requests']:,}, throughput {result['throughput_rps']:.1f}/s, "
          f"p50 {lat.get('p50_ms', nan):.1f} ms, p99 {lat.get('p99_ms', nan):.1f} ms, max "
          f"{lat.get('max_ms', nan):.0f} ms; client send lag p99 "
          f"{lag:.1f} ms; server CPU "
          f"{result['server_cpu_ms_per_request']:.1f} ms per request")
    print(f"  {'endpoint':<16}{'n':>7}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'errors':>8}")
    for label, s in result["per_endpoint"].items():
        if s["n"]:
            print(f"  {label:<16}{s['n']:>7,}{s['p50_ms']:>9.1f}{s['p99_ms']:>9.1f}"
                  f"{s['max_ms']:>9.0f}{s['errors']:>8}")
    if result["errors_by"]:
        print(f"  errors: {json.dumps(result['errors_by'])}")
    if mem.get("growth_pct") is not None:
        print(f"  memory (RSS, server + children): first {mem['window_s']:.0f} s "
              f"{mem['start_mib']:,.0f} MiB, last {mem['window_s']:.0f} s {mem['end_mib']:,.0f} "
              f"MiB, growth {mem['growth_pct']:+.1f} %, max {mem['max_mib']:,.0f} MiB")
    for name, ok in result["targets"].items():
        print(f"  {name:<48} {'met' if ok else 'NOT met'}")
    print("PASS" if result["pass"] else "FAIL")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment", nargs="?", default="experiments/synthetic_city.toml")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=40.0, help="requests per second")
    parser.add_argument("--max-requests", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2, help="service worker processes")
    parser.add_argument("--warmup-seconds", type=float, default=30.0)
    parser.add_argument("--sample-seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=64, help="client connection cap")
    parser.add_argument("--timeout", type=float, default=30.0, help="per request, seconds")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    catch_signals()

    data_dir = Path(os.environ.get("RISKGRID_DATA_DIR", "data"))
    data_dir.mkdir(parents=True, exist_ok=True)
    key = create_key()
    headers = {"Authorization": f"Bearer {key}"}
    port = free_port()
    url = f"http://{HOST}:{port}"
    log_path = data_dir / "bench_endurance.log"
    env = {**os.environ, "RISKGRID_SERVICE_WORKERS": str(args.workers)}
    with open(log_path, "wb") as log:
        server = subprocess.Popen([riskgrid(), "serve", args.experiment, "--host", HOST,
                                   "--port", str(port)], env=env, stdout=log,
                                  stderr=subprocess.STDOUT, start_new_session=True)
    sampler = None
    try:
        began = time.monotonic()
        job = wait_ready(url, headers, server, args.workers, log_path)
        print(f"service ready in {time.monotonic() - began:.0f} s (warnings job "
              f"{job.get('state')})", flush=True)
        mix = Mix(*city_ids(url, headers))
        sampler = MemorySampler(server.pid, args.sample_seconds)
        sampler.start()
        warm = load(url, headers, mix, args.rate, args.warmup_seconds, args.max_requests,
                    args.timeout, args.connections)
        print(f"warm-up: {len(warm)} requests in {args.warmup_seconds:g} s", flush=True)
        seconds = args.minutes * 60
        cpu_before, start = tree_cpu_seconds(server.pid), time.monotonic()
        records = load(url, headers, mix, args.rate, seconds, args.max_requests,
                       args.timeout, args.connections)
        end = time.monotonic()
        cpu = tree_cpu_seconds(server.pid) - cpu_before
        time.sleep(min(args.sample_seconds, 1.0))
        sampler.stop.set()
        sampler.join()
        if server.poll() is not None:
            print(f"the service died during the run; see {log_path}", file=sys.stderr)
    except KeyboardInterrupt:
        print("interrupted: stopping the service", file=sys.stderr)
        return 130
    finally:
        if sampler is not None:
            sampler.stop.set()
        stop(server)

    result = {"experiment": Path(args.experiment).stem, "workers": args.workers,
              "duration_s": end - start, "warmup_requests": len(warm), "warnings_job": job}
    result |= summarize(records, end - start, args.rate)
    result["server_cpu_ms_per_request"] = 1000 * cpu / max(1, len(records))
    result["memory"] = memory_summary(sampler.samples, start, end)
    growth = result["memory"].get("growth_pct")
    result["targets"] = {
        "0 errors": result["errors"] == 0,
        f"memory growth < {GROWTH_TARGET_PCT:g} %": growth is not None
        and growth < GROWTH_TARGET_PCT,
        f"rate sustained (>= {SUSTAINED_SHARE:.0%} of offered)":
        result["throughput_rps"] >= SUSTAINED_SHARE * args.rate,
    }
    result["pass"] = all(result["targets"].values())
    report(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if result["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
