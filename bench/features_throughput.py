"""Feature-building throughput on 10 million synthetic incidents, against plain pandas.

Prints events per second and peak memory of riskgrid's panel build (every feature, point in
time) beside a plain pandas groupby/rolling baseline that computes only the simple count
features (no report-time correction, no handling, petitions or spread), both in this process.

    .venv/bin/python bench/features_throughput.py [--events 10000000] [--areas 5000]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

from features import build_panel
from features.engine import Engine
from riskgrid import vocabulary as C
from riskgrid.experiment import FeaturesConfig

CONFIG = FeaturesConfig(period="week", start="2022-01-03", end="2025-12-22")


class PeakRss:
    """Samples the resident set size every 5 ms; ``peak`` is the high-water mark in MiB."""

    def __enter__(self) -> PeakRss:
        self.peak, self._stop = 0.0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        page = os.sysconf("SC_PAGE_SIZE") / 2**20
        while not self._stop.is_set():
            with open("/proc/self/statm") as fh:
                self.peak = max(self.peak, int(fh.read().split()[1]) * page)
            time.sleep(0.005)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def make_incidents(n: int, n_areas: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    ids = np.array([f"G{i:05d}" for i in range(n_areas)])
    weight = rng.lognormal(0, 1, n_areas)
    area = rng.choice(n_areas, n, p=weight / weight.sum())
    start = np.datetime64("2022-01-03T00:00:00", "s")
    occurred = start + rng.integers(0, 4 * 364 * 86400, n).astype("timedelta64[s]")
    delay = (rng.exponential(3600 * 6, n) * rng.choice([1, 1, 1, 20], n)).astype("timedelta64[s]")
    reported = occurred + delay
    closed = reported + rng.exponential(86400 * 8, n).astype("timedelta64[s]")
    closed = np.where(rng.random(n) < 0.9, closed, np.datetime64("NaT"))
    category = rng.choice(["dispute.neighbour", "livelihood.utilities", "law_enforcement.noise"],
                          n)
    incidents = pd.DataFrame({
        C.INCIDENT_ID: np.arange(n).astype(str), C.OCCURRED_AT: occurred.astype("M8[ns]"),
        C.REPORTED_AT: reported.astype("M8[ns]"), C.CATEGORY: category,
        C.FAMILY: pd.Series(category).str.split(".").str[0], C.CHANNEL: "hotline_12345",
        C.AREA_ID: ids[area], C.PEOPLE_INVOLVED: rng.choice([1, 2, 6], n, p=[.8, .18, .02]),
        C.CLOSED_AT: pd.to_datetime(closed), C.SATISFACTION: rng.integers(1, 6, n).astype(float),
    })
    # Text columns as reading the clean Parquet tables gives them.
    for column in (C.INCIDENT_ID, C.CATEGORY, C.FAMILY, C.CHANNEL, C.AREA_ID):
        incidents[column] = incidents[column].astype("str")
    areas = pd.DataFrame({C.AREA_ID: ids, C.COMMUNITY_ID: [f"C{i // 10}" for i in range(n_areas)],
                          C.STREET_ID: [f"S{i // 100}" for i in range(n_areas)],
                          C.DISTRICT_ID: [f"D{i // 1000}" for i in range(n_areas)],
                          C.NEIGHBOURS: [f"{ids[i - 1]};{ids[(i + 1) % n_areas]}"
                                         for i in range(n_areas)]})
    for column in C.AREA_NUMERIC + (C.AREA_KM2,):
        areas[column] = rng.integers(1, 3000, n_areas).astype(float)
    areas[C.URBAN] = pd.array([True] * n_areas, dtype="boolean")
    return incidents, areas


def empty_petitions() -> pd.DataFrame:
    return pd.DataFrame({C.PETITION_ID: pd.Series(dtype=str), C.FILED_AT: pd.Series(
        dtype="M8[ns]"), C.AREA_ID: pd.Series(dtype=str), C.TOPIC: pd.Series(dtype=str),
        C.PETITIONER_COUNT: pd.Series(dtype=int), C.COLLECTIVE: pd.Series(dtype=bool),
        C.REPEAT: pd.Series(dtype=bool), C.ESCALATION: pd.Series(dtype=int),
        C.CLOSED_AT: pd.Series(dtype="M8[ns]"), C.PETITIONER_KEY: pd.Series(dtype=str)})


def pandas_baseline(incidents: pd.DataFrame, windows: list[int]) -> pd.DataFrame:
    """Count features the plain way: groupby week, area and family, then rolling windows."""
    frame = incidents[[C.AREA_ID, C.OCCURRED_AT, C.FAMILY]].copy()
    frame[C.PERIOD] = frame[C.OCCURRED_AT].dt.to_period("W-SUN").dt.start_time
    counts = frame.groupby([C.AREA_ID, C.PERIOD, C.FAMILY]).size().unstack(C.FAMILY, fill_value=0)
    counts["all"] = counts.sum(axis=1)
    periods = pd.date_range(CONFIG.start, CONFIG.end, freq="7D")
    full = pd.MultiIndex.from_product([counts.index.levels[0], periods],
                                      names=[C.AREA_ID, C.PERIOD])
    counts = counts.reindex(full, fill_value=0).astype(float)
    grouped = counts.groupby(level=C.AREA_ID)
    parts = [counts.add_suffix("_now"), grouped.shift(1).add_suffix("_prev")]
    for w in windows:
        parts.append(grouped.rolling(w, min_periods=1).sum().droplevel(0).add_suffix(f"_sum_{w}"))
    parts.append(grouped.ewm(halflife=CONFIG.ewm_halflife).mean().droplevel(0).add_suffix("_ewm"))
    return pd.concat(parts, axis=1)


def timed(fn, *args):
    gc.collect()
    with PeakRss() as rss:
        start = time.perf_counter()
        result = fn(*args)
        seconds = time.perf_counter() - start
    return result, seconds, rss.peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--areas", type=int, default=5_000)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    incidents, areas = make_incidents(args.events, args.areas)
    petitions = empty_petitions()
    base, base_s, base_mb = timed(pandas_baseline, incidents, CONFIG.windows)
    del base
    workers = os.cpu_count() or 1
    panel, one_s, one_mb = timed(build_panel, areas, incidents, petitions, CONFIG,
                                 Engine(workers=1))
    del panel
    panel, ours_s, ours_mb = timed(build_panel, areas, incidents, petitions, CONFIG,
                                   Engine(workers=workers))
    rows = {
        f"riskgrid panel, {workers} workers (all features)": (ours_s, ours_mb, None),
        "riskgrid panel, 1 worker (all features)": (one_s, one_mb, None),
        "plain pandas groupby + rolling (counts only)": (base_s, base_mb, None),
    }
    print(f"{args.events:,} incidents, {args.areas:,} areas, {len(panel.layout.periods)} weeks, "
          f"{len(panel.catalogue)} features, {os.cpu_count()} cores")
    print(f"{'pipeline':<48}{'seconds':>9}{'events/s':>14}{'peak RSS MiB':>14}")
    for name, (seconds, mb, _) in rows.items():
        print(f"{name:<48}{seconds:>9.2f}{args.events / seconds:>14,.0f}{mb:>14,.0f}")
    print(f"speed ratio riskgrid / pandas baseline: {base_s / ours_s:.2f}x "
          f"(target: >= 1.0, and >= 1,000,000 events/s: {args.events / ours_s:,.0f})")
    if args.json:
        args.json.write_text(json.dumps({
            "events": args.events, "areas": args.areas, "workers": workers,
            "riskgrid_seconds": ours_s,
            "baseline_seconds": base_s, "riskgrid_one_worker_seconds": one_s,
            "events_per_second": args.events / ours_s,
            "ratio_vs_baseline": base_s / ours_s, "riskgrid_peak_mib": ours_mb,
            "baseline_peak_mib": base_mb}, indent=2))


if __name__ == "__main__":
    main()
