"""Training and backtest time on the synthetic city (after `make demo`, or synth/ingest/features).

Any experiment with a feature panel works too, e.g. experiments/portland_mvt_cells.toml.

Prints the wall time of the rolling-origin backtest (models and baselines), of the baselines
alone (the reference measured in the same run), and of the final fit on all data.
bench/training_scaling.py has the time against panel size.

    .venv/bin/python bench/training_time.py [experiments/synthetic_city.toml] [--folds N]
        [--rounds N] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from riskgrid import load_experiment
from riskgrid import vocabulary as C
from riskgrid.settings import Settings
from training.backtest import make_folds, periods_step
from training.baselines import baseline_forecasts, baseline_names, hotspot_smoothers
from training.pipeline import backtest, fit_final, load_inputs
from training.targets import flag_threshold


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment", nargs="?", default="experiments/synthetic_city.toml")
    parser.add_argument("--folds", type=int, default=None,
                        help="backtest origins (default: the experiment's)")
    parser.add_argument("--rounds", type=int, default=None,
                        help="boosting rounds (default: the experiment's)")
    parser.add_argument("--today", action="store_true",
                        help="also time the boosters and inputs as before nested choices")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    # The whole file is read as the CLI reads it: its [warnings] and [serving] sections too.
    experiment = load_experiment(args.experiment)
    changes = {k: v for k, v in (("folds", args.folds), ("num_boost_round", args.rounds)) if v}
    if changes:
        training = experiment.training.model_copy(update=changes)
        experiment = experiment.model_copy(update={"training": training})
    inputs = load_inputs(experiment, Settings())
    config, features = experiment.training, experiment.features
    start = time.perf_counter()
    result = backtest(experiment, inputs)
    backtest_s = time.perf_counter() - start
    start = time.perf_counter()
    periods = np.sort(inputs.panel["period"].unique())
    smoother = hotspot_smoothers(inputs.areas, inputs.panel[C.AREA_ID].unique())
    names = baseline_names(features.windows, smoother, True)
    for fold in make_folds(periods, config):
        threshold = flag_threshold(inputs.panel, config, before=fold.start)
        for h in features.horizons:
            baseline_forecasts(inputs.panel, smoother, config, h, features.lag_for_season(),
                               features.windows, threshold, names)
    baselines_s = time.perf_counter() - start
    start = time.perf_counter()
    fit_final(experiment, inputs)
    final_s = time.perf_counter() - start
    today = timed_as_before(experiment, inputs) if args.today else None
    rows, step = len(inputs.panel), periods_step(inputs.panel["period"])
    print(f"{experiment.name}: {rows:,} panel rows ({step.days}-day periods), "
          f"{len(result.folds)} folds x {len(result.horizons)} horizons, {os.cpu_count()} cores")
    print(f"backtest (models + baselines): {backtest_s:8.1f} s")
    ratio = backtest_s / baselines_s
    print(f"baselines alone:               {baselines_s:8.1f} s  (ratio {ratio:.0f}x)")
    print(f"final fit, all horizons:       {final_s:8.1f} s")
    if today:
        print(f"as before nested choices: backtest {today['backtest_seconds']:.1f} s (ratio "
              f"{backtest_s / today['backtest_seconds']:.2f}x), final fit "
              f"{today['final_fit_seconds']:.1f} s (ratio {final_s / today['final_fit_seconds']:.2f}x)")
    if args.json:
        args.json.write_text(json.dumps({
            "experiment": experiment.name, "rows": rows, "folds": len(result.folds),
            "horizons": list(result.horizons), "rounds": config.num_boost_round,
            "backtest_seconds": backtest_s,
            "baselines_seconds": baselines_s, "backtest_over_baselines": ratio,
            "final_fit_seconds": final_s, **({"as_before": today} if today else {})},
            indent=2) + "\n")


# The boosters before nested choices, and the inputs the intensities added.
BEFORE = {"num_boost_round": 300, "learning_rate": 0.05, "num_leaves": 31,
          "risk_num_leaves": 31, "min_data_in_leaf": 100, "min_sum_hessian_in_leaf": 1e-3,
          "lambda_l2": 0.0, "max_bin": 255, "feature_fraction": 0.8, "choose_rounds": False,
          "shrinkage_weights": [1.0]}


def timed_as_before(experiment, inputs) -> dict:
    """Backtest and final fit time with the boosters and inputs as before nested choices."""
    from features.intensity import LONG_WINDOWS

    added = ("_decay_", "_kernel_", "_ring1_", "_block_surge", "_vs_long_run",
             *(f"_sum_{w}" for w in LONG_WINDOWS if w not in experiment.features.windows))
    parents = tuple(f"{level}_{s}_mean_all" for level in ("community", "street", "district")
                    for s in ("all", "dispute", "group", "collective"))
    names = inputs.catalogue["name"]
    old = ~names.str.contains("|".join(added)) & ~names.isin(parents)
    before = experiment.model_copy(update={
        "training": experiment.training.model_copy(update=BEFORE)})
    inputs = type(inputs)(**{**inputs.__dict__, "catalogue": inputs.catalogue[old]})
    start = time.perf_counter()
    backtest(before, inputs)
    backtest_s = time.perf_counter() - start
    start = time.perf_counter()
    fit_final(before, inputs)
    return {"backtest_seconds": backtest_s, "final_fit_seconds": time.perf_counter() - start,
            "inputs": int(old.sum())}


if __name__ == "__main__":
    main()
