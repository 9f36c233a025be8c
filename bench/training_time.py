"""Training and backtest time on the synthetic city (after `make demo`, or synth/ingest/features).

Any experiment with a feature panel works too, e.g. experiments/portland_mvt_cells.toml.

Prints the wall time of the rolling-origin backtest (models and baselines), of the baselines
alone (the reference measured in the same run), and of the final fit on all data.

    .venv/bin/python bench/training_time.py [experiments/synthetic_city.toml]
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

from features import columns as C
from features import load_experiment
from features.settings import Settings
from training.backtest import make_folds, periods_step
from training.baselines import baseline_forecasts, baseline_names, kernel_smoother
from training.config import TrainingExperiment
from training.pipeline import backtest, fit_final, load_inputs
from training.targets import flag_threshold


def main() -> None:
    path = sys.argv[1] if len(sys.argv) > 1 else "experiments/synthetic_city.toml"
    experiment = load_experiment(path, TrainingExperiment)
    inputs = load_inputs(experiment, Settings())
    config, features = experiment.training, experiment.features
    start = time.perf_counter()
    result = backtest(experiment, inputs)
    backtest_s = time.perf_counter() - start
    start = time.perf_counter()
    periods = np.sort(inputs.panel["period"].unique())
    has_points = bool(inputs.areas[C.CENTROID_X].notna().all())
    smoother = kernel_smoother(inputs.areas) if has_points else None
    names = baseline_names(features.windows, has_points, True)
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


if __name__ == "__main__":
    main()
