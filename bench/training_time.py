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
    rows, step = len(inputs.panel), periods_step(inputs.panel["period"])
    print(f"{experiment.name}: {rows:,} panel rows ({step.days}-day periods), "
          f"{len(result.folds)} folds x {len(result.horizons)} horizons, {os.cpu_count()} cores")
    print(f"backtest (models + baselines): {backtest_s:8.1f} s")
    ratio = backtest_s / baselines_s
    print(f"baselines alone:               {baselines_s:8.1f} s  (ratio {ratio:.0f}x)")
    print(f"final fit, all horizons:       {final_s:8.1f} s")
    if args.json:
        args.json.write_text(json.dumps({
            "experiment": experiment.name, "rows": rows, "folds": len(result.folds),
            "horizons": list(result.horizons), "rounds": config.num_boost_round,
            "backtest_seconds": backtest_s,
            "baselines_seconds": baselines_s, "backtest_over_baselines": ratio,
            "final_fit_seconds": final_s}, indent=2) + "\n")


if __name__ == "__main__":
    main()
