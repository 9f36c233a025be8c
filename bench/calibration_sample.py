"""What calibrating, and explaining, on a sample of areas changes, against using every row.

On the Dask engine the final fit's calibrator fits on the calibration slice of a sample of
whole areas (about ``training.partitioned.SAMPLE_ROWS`` rows; every area when the slice is
smaller), and the TreeSHAP summary plot draws ``PLOT_ROWS`` rows (the importance table itself
is exact: sums come back from the workers). This measures the error of doing so, in process,
on the synthetic city (the scale_out base city at ``--scale``; horizon 1):

1. boosters and the calibrator are fitted as the final fit does (``fit_horizon``) on every
   period before the last ``--test-weeks``; the calibrator on the whole slice is the
   reference;
2. for each sample size, and ``--repeats`` draws of areas, a calibrator fits on the slice's
   rows of the sampled areas only;
3. both map the held-out weeks' raw risks to probabilities: the mean and largest absolute
   difference, and the held-out Brier score and ECE of each, are printed;
4. the mean |TreeSHAP| of each input on the latest 13 periods from a sample of rows of the
   plot's size against all rows: the largest difference relative to the top input's, and
   how many of the top 10 agree.

    .venv/bin/python bench/calibration_sample.py [--scale 8] [--samples 500,2000,8000]
        [--repeats 5] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
from scale_out import BASE, EXPERIMENT, ROOT  # this folder: the same base city

from features import build_features, ingest
from features.synthetic_city import write_city
from features.synthetic_city.config import CityConfig
from riskgrid import load_experiment
from riskgrid import vocabulary as C
from riskgrid.settings import Settings
from training.backtest import design, feature_columns, training_rows
from training.metrics import risk_metrics
from training.models import Calibrator, fit_horizon
from training.partitioned import PLOT_ROWS, sample_areas
from training.pipeline import load_inputs
from training.riskmodel import contributions
from training.targets import flag_threshold, target_counts, target_flags


def city_inputs(folder: Path, scale: int, rounds: int):
    config = replace(CityConfig(**BASE), n_districts=scale)
    write_city(folder / "city", config=config)
    (folder / "scaled.toml").write_text(EXPERIMENT.format(
        mappings=ROOT / "experiments" / "mappings", rounds=rounds), encoding="utf-8")
    experiment = load_experiment(folder / "scaled.toml")
    settings = Settings(data_dir=folder / "data", pseudonym_secret="bench",
                        now=datetime(2024, 1, 15))
    ingest(experiment, settings)
    build_features(experiment, settings)
    return experiment, load_inputs(experiment, settings)


def fitted(experiment, inputs, test_weeks: int) -> dict:
    """The final fit's horizon-1 models on the periods before the held-out weeks, and the
    raw risks, flags and areas of the calibration slice and of the held-out weeks."""
    config, panel, h = experiment.training, inputs.panel, 1
    features = feature_columns(panel, inputs.catalogue)
    threshold = flag_threshold(panel, config)
    rows = training_rows(panel, inputs.areas, config, threshold, experiment.features.windows[-1])
    count, flag = target_counts(panel, config, h), target_flags(panel, config, h, threshold)
    X = design(panel, features, experiment.features.period, h, experiment.features.calendar)
    periods = np.sort(panel[C.PERIOD].unique())
    cutoff = periods[-test_weeks - h]
    period = panel[C.PERIOD].to_numpy()
    known = ~np.isnan(count) & ~np.isnan(flag)
    train, test = known & (period < cutoff), known & (period >= cutoff)
    model = fit_horizon(X[train], count[train], flag[train], rows.take(train), config, h).model
    unique = np.unique(period[train])
    late = train & (period >= unique[int(len(unique) * (1 - config.calibration_share))])
    raw = model.raw_risk(X)
    return {"model": model, "X": X, "raw": raw, "flag": flag, "late": late, "test": test,
            "area": panel[C.AREA_ID].to_numpy(), "period": period, "periods": periods}


def calibration_errors(f: dict, method: str, sizes: list[int], repeats: int) -> list[dict]:
    late, test = f["late"], f["test"]
    reference = f["model"].calibrator.transform(f["raw"][test])
    whole = risk_metrics(f["flag"][test], reference)
    ids = np.unique(f["area"][late])
    out = []
    for size in sizes:
        draws = []
        for seed in range(repeats):
            chosen = sample_areas(ids, int(late.sum()), seed, limit=size)
            keep = late & np.isin(f["area"], list(chosen))
            calibrator = Calibrator(method).fit(f["raw"][keep], f["flag"][keep])
            p = calibrator.transform(f["raw"][test])
            m = risk_metrics(f["flag"][test], p)
            draws.append({"rows": int(keep.sum()), "mean_abs_diff": float(np.abs(p - reference)
                                                                          .mean()),
                          "max_abs_diff": float(np.abs(p - reference).max()),
                          "brier": m["brier"], "ece": m["ece"]})
        out.append({"sample_rows": size, "slice_rows": int(late.sum()),
                    "draws": draws, "whole_brier": whole["brier"], "whole_ece": whole["ece"]})
    return out


def shap_error(f: dict, recent: int = 13) -> dict:
    last = np.isin(f["period"], f["periods"][-recent:])
    X = f["X"][last]
    values = contributions(f["model"], X).drop(columns="base_value").abs()
    exact = values.mean().sort_values(ascending=False)
    pick = np.sort(np.random.default_rng(0).permutation(len(values))[:PLOT_ROWS])
    sampled = values.iloc[pick].mean().reindex(exact.index)
    top = set(exact.index[:10]) & set(sampled.sort_values(ascending=False).index[:10])
    return {"rows": len(values), "plot_rows": len(pick),
            "max_diff_vs_top": float((sampled - exact).abs().max() / exact.iloc[0]),
            "top10_agree": len(top)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=int, default=8)
    parser.add_argument("--samples", default="500,2000,8000")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--test-weeks", type=int, default=13)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="calibration_sample-") as tmp:
        experiment, inputs = city_inputs(Path(tmp), args.scale, args.rounds)
    f = fitted(experiment, inputs, args.test_weeks)
    sizes = [int(s) for s in args.samples.split(",")]
    errors = calibration_errors(f, experiment.training.calibration, sizes, args.repeats)
    shap = shap_error(f)
    grids = inputs.areas.shape[0]
    print(f"{grids:,} grids, calibration slice {errors[0]['slice_rows']:,} rows, held out "
          f"{int(f['test'].sum()):,} rows; calibrated on every row: Brier "
          f"{errors[0]['whole_brier']:.5f}, ECE {errors[0]['whole_ece']:.5f}")
    for e in errors:
        d = pd.DataFrame(e["draws"])
        print(f"sample of about {e['sample_rows']:>6,} rows ({d['rows'].mean():,.0f} drawn): "
              f"|p - p_all| mean {d['mean_abs_diff'].mean():.5f} (worst draw "
              f"{d['mean_abs_diff'].max():.5f}), largest {d['max_abs_diff'].max():.4f}; Brier "
              f"{d['brier'].mean():.5f} (worst {d['brier'].max():.5f}), ECE "
              f"{d['ece'].mean():.5f} (worst {d['ece'].max():.5f})")
    print(f"TreeSHAP, {shap['plot_rows']:,} of {shap['rows']:,} rows: largest difference in "
          f"mean |SHAP| {100 * shap['max_diff_vs_top']:.1f} % of the top input's; "
          f"{shap['top10_agree']} of the top 10 agree (the importance table itself is exact)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"grids": grids, "calibration": errors, "shap": shap},
                                        indent=2) + "\n")


if __name__ == "__main__":
    main()
