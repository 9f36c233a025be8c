"""Training time against panel size: riskgrid's final fit on nested subsets of one panel.

Needs the synthetic city's feature panel (after `make demo`, or synth/ingest/features); any
experiment with a panel works. The grids are shuffled once (fixed seed) and the first 1/8,
1/4, 1/2 and all of them are kept, so every smaller panel is part of the larger ones; a
fraction above 1 tiles the panel with renamed copies of its grids (e.g. --fractions ...,2,4).

For each size it times, in this process:
- riskgrid: ``training.pipeline.fit_final`` (design matrices, sampling, a count and a risk
  booster per horizon, the calibrators), as `riskgrid train` runs it after the backtest;
- baseline: plain ``lightgbm.train`` with default parameters on the same design matrices
  (built before the clock starts), as many boosters and rounds as riskgrid fits: per horizon a
  Poisson booster of the count and a binary booster of the high-risk flag.

It prints panel rows per second, the speed ratio (baseline time / riskgrid time: > 1 means
riskgrid is faster) and the fitted exponent k of time ~ rows^k for both (1: linear).

    .venv/bin/python bench/training_scaling.py [experiments/synthetic_city.toml]
        [--fractions 0.125,0.25,0.5,1] [--rounds N] [--repeat 1] [--json PATH]
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import os
import time
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd

from riskgrid import load_experiment
from riskgrid import vocabulary as C
from riskgrid.experiment import Experiment
from riskgrid.settings import Settings
from training.backtest import design, feature_columns
from training.pipeline import Inputs, fit_final, load_inputs
from training.targets import flag_threshold, target_counts, target_flags


def subset(inputs: Inputs, order: np.ndarray, fraction: float) -> Inputs:
    """The first ``fraction`` of the shuffled grids; above 1, whole renamed copies of them."""
    copies = max(1, int(np.ceil(fraction)))
    keep = set(order[:max(1, round(len(order) * min(fraction, 1.0)))])
    panel = inputs.panel[inputs.panel[C.AREA_ID].isin(keep)]
    areas = inputs.areas[inputs.areas[C.AREA_ID].isin(keep)]
    if copies > 1:
        panel = pd.concat([panel.assign(**{C.AREA_ID: panel[C.AREA_ID] + f"X{k}"}) if k else panel
                           for k in range(copies)], ignore_index=True)
        areas = pd.concat([areas.assign(**{C.AREA_ID: areas[C.AREA_ID] + f"X{k}"}) if k else areas
                           for k in range(copies)], ignore_index=True)
    panel = panel.sort_values([C.AREA_ID, C.PERIOD], ignore_index=True)
    return dataclasses.replace(inputs, panel=panel, areas=areas.reset_index(drop=True))


def baseline_inputs(experiment: Experiment, inputs: Inputs) -> list[tuple]:
    """Per horizon: the design matrix and the count and flag targets of the known rows."""
    config, panel = experiment.training, inputs.panel
    features = feature_columns(panel, inputs.catalogue)
    threshold = flag_threshold(panel, config)
    out = []
    for h in experiment.features.horizons:
        count = target_counts(panel, config, h)
        flag = target_flags(panel, config, h, threshold)
        known = ~np.isnan(count)
        X = design(panel, features, experiment.features.period, h)[known].to_numpy(np.float32)
        out.append((X, count[known], flag[known]))
    return out


def plain_lightgbm(matrices: list[tuple], rounds: int) -> None:
    """What the same boosters cost with LightGBM's defaults and nothing around them."""
    for X, count, flag in matrices:
        for objective, y in (("poisson", count), ("binary", flag)):
            lgb.train({"objective": objective, "verbosity": -1}, lgb.Dataset(X, label=y),
                      num_boost_round=rounds)


def timed(repeat: int, fn, *args) -> float:
    """Best of ``repeat`` wall times (the least disturbed by other work on the machine)."""
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        fn(*args)
        best = min(best, time.perf_counter() - start)
    return best


def slope(rows: list[int], seconds: list[float]) -> float:
    """k of seconds ~ rows^k, least squares on the logs."""
    return float(np.polyfit(np.log(rows), np.log(seconds), 1)[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment", nargs="?", default="experiments/synthetic_city.toml")
    parser.add_argument("--fractions", default="0.125,0.25,0.5,1",
                        help="shares of the grids, comma-separated (above 1: tiled copies)")
    parser.add_argument("--rounds", type=int, default=None,
                        help="boosting rounds for both sides (default: the experiment's)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="time each fit this many times and keep the best")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    experiment = load_experiment(args.experiment)
    if args.rounds:
        training = experiment.training.model_copy(update={"num_boost_round": args.rounds})
        experiment = experiment.model_copy(update={"training": training})
    rounds = experiment.training.num_boost_round
    inputs = load_inputs(experiment, Settings())
    grids = np.sort(inputs.panel[C.AREA_ID].unique().astype(str))
    order = np.random.default_rng(args.seed).permutation(grids)
    fractions = sorted(float(f) for f in args.fractions.split(","))
    horizons = experiment.features.horizons
    print(f"{experiment.name}: final fit on nested grid subsets, {len(horizons)} horizons x "
          f"(count + risk booster) x {rounds} rounds, {os.cpu_count()} cores")
    print(f"{'share':>7}{'grids':>8}{'rows':>10}{'riskgrid s':>12}{'rows/s':>10}"
          f"{'plain lgb s':>13}{'rows/s':>10}{'speed ratio':>13}")
    sizes = []
    for fraction in fractions:
        part = subset(inputs, order, fraction)
        matrices = baseline_inputs(experiment, part)
        base_s = timed(args.repeat, plain_lightgbm, matrices, rounds)
        del matrices
        ours_s = timed(args.repeat, fit_final, experiment, part)
        rows, n_grids = len(part.panel), part.panel[C.AREA_ID].nunique()
        sizes.append({"fraction": fraction, "grids": int(n_grids), "rows": rows,
                      "riskgrid_seconds": ours_s, "baseline_seconds": base_s,
                      "riskgrid_rows_per_s": rows / ours_s, "baseline_rows_per_s": rows / base_s,
                      "ratio_vs_baseline": base_s / ours_s})
        print(f"{fraction:>7.3g}{n_grids:>8,}{rows:>10,}{ours_s:>12.1f}{rows / ours_s:>10,.0f}"
              f"{base_s:>13.1f}{rows / base_s:>10,.0f}{base_s / ours_s:>12.2f}x", flush=True)
    rows = [s["rows"] for s in sizes]
    k_ours = slope(rows, [s["riskgrid_seconds"] for s in sizes])
    k_base = slope(rows, [s["baseline_seconds"] for s in sizes])
    print(f"time ~ rows^k: riskgrid k = {k_ours:.2f}, plain LightGBM k = {k_base:.2f} "
          "(1 = linear); speed ratio = plain LightGBM time / riskgrid time")
    if args.json:
        args.json.write_text(json.dumps({
            "experiment": experiment.name, "horizons": horizons, "rounds": rounds,
            "repeat": args.repeat,
            "sizes": sizes, "slope_riskgrid": k_ours, "slope_baseline": k_base,
            "largest": sizes[-1]}, indent=2) + "\n")


if __name__ == "__main__":
    main()
