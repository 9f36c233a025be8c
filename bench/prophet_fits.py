"""Prophet fits per second of riskgrid's trend fitting, against plain `Prophet()` defaults.

On the same weekly street/district series, measured in this process:
- riskgrid: ``training.trend.fit_trend`` (the Chinese holiday table expanded to week starts,
  yearly Fourier order 6, the settings the service and the warnings use), and
  ``forecast_trend`` (fit, then the in-sample fit and 8 weeks ahead with 500 uncertainty
  samples: what one /forecast cache miss costs);
- baseline: ``Prophet()`` with every default, ``.fit`` (and ``.predict`` of the same dates,
  1,000 uncertainty samples by default).

The series are the synthetic city's street and district weekly counts when its feature panel
exists (after `make demo`), otherwise generated series like them (4 years of weekly Poisson
counts with a trend, a yearly cycle and a Spring Festival dip). Each side fits once untimed
first (Stan's model load). Ratio > 1: riskgrid fits faster than plain Prophet.

    .venv/bin/python bench/prophet_fits.py [--series 15] [--source auto|data|synthetic]
        [--repeat 1] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from features.io import read_table
from riskgrid.settings import Settings
from training.trend import DS, TrendConfig, Y, fit_trend, forecast_trend, unit_series

HORIZON = 8  # weeks ahead, as the service's /forecast default
EXPERIMENT = "synthetic_city"


def data_series(limit: int) -> list[pd.DataFrame]:
    """Street and district ``ds, y`` series of the synthetic city's feature snapshot."""
    counts = read_table(Settings().data_dir / EXPERIMENT / "features", "counts")
    out = []
    for level in ("street", "district"):
        units = sorted(counts.loc[counts["level"] == level, "unit_id"].unique())
        out += [unit_series(counts, level, unit, "all") for unit in units]
    return [out[i % len(out)] for i in range(limit)]


def synthetic_series(n: int, seed: int = 0) -> list[pd.DataFrame]:
    """Four years of weekly counts like a street's: level, trend, yearly cycle, festival dip."""
    rng = np.random.default_rng(seed)
    ds = pd.date_range("2022-01-03", "2025-12-22", freq="7D")
    week = np.arange(len(ds))
    out = []
    for _ in range(n):
        level = rng.uniform(30, 400)
        mu = level * (1 + rng.uniform(-0.1, 0.2) * week / len(ds)) * (
            1 + 0.15 * np.sin(2 * np.pi * (week / 52.18 + rng.uniform())))
        dip = np.isin(ds.isocalendar().week.to_numpy(), [5, 6, 7])  # near the festival
        mu = np.where(dip, mu * 0.7, mu)
        out.append(pd.DataFrame({DS: ds, Y: rng.poisson(mu).astype(float)}))
    return out


def plain_fit(series: pd.DataFrame):
    from prophet import Prophet

    return Prophet().fit(series)


def plain_fit_predict(series: pd.DataFrame) -> pd.DataFrame:
    model = plain_fit(series)
    future = pd.date_range(series[DS].iloc[-1], periods=HORIZON + 1, freq="7D")[1:]
    return model.predict(pd.DataFrame({DS: pd.concat([series[DS], pd.Series(future)],
                                                     ignore_index=True)}))


def timed_rate(fn, series: list[pd.DataFrame], repeat: int) -> tuple[float, float]:
    """(fits per second, seconds per fit), after one untimed call."""
    fn(series[0])
    start = time.perf_counter()
    for _ in range(repeat):
        for s in series:
            fn(s)
    seconds = time.perf_counter() - start
    n = repeat * len(series)
    return n / seconds, seconds / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=15, help="series fitted per side")
    parser.add_argument("--source", choices=("auto", "data", "synthetic"), default="auto")
    parser.add_argument("--repeat", type=int, default=1, help="passes over the series")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    counts = Settings().data_dir / EXPERIMENT / "features" / "counts.parquet"
    use_data = args.source == "data" or (args.source == "auto" and counts.exists())
    series = data_series(args.series) if use_data else synthetic_series(args.series)
    source = "synthetic city street/district counts" if use_data else "generated weekly series"
    config = TrendConfig(period="week")
    logging.getLogger("prophet").setLevel(logging.WARNING)
    logging.getLogger("cmdstanpy").setLevel(logging.WARNING)

    ours_fit = timed_rate(lambda s: fit_trend(s, config), series, args.repeat)
    base_fit = timed_rate(plain_fit, series, args.repeat)
    ours_fc = timed_rate(lambda s: forecast_trend(s, config, HORIZON), series, args.repeat)
    base_fc = timed_rate(plain_fit_predict, series, args.repeat)
    results = {
        "series": len(series), "repeat": args.repeat, "weeks": int(len(series[0])),
        "source": source, "cores": os.cpu_count(),
        "riskgrid_fits_per_s": ours_fit[0], "baseline_fits_per_s": base_fit[0],
        "ratio_fits": ours_fit[0] / base_fit[0],
        "riskgrid_forecasts_per_s": ours_fc[0], "baseline_forecasts_per_s": base_fc[0],
        "ratio_forecasts": ours_fc[0] / base_fc[0],
    }
    print(f"Prophet fits: {len(series)} series x {args.repeat} ({source}, "
          f"{results['weeks']} weeks), {os.cpu_count()} cores")
    print(f"{'':<48}{'per s':>9}{'s each':>9}")
    for name, (rate, each) in {
            "riskgrid fit_trend (holidays, yearly 6)": ours_fit,
            "plain Prophet() defaults, fit": base_fit,
            f"riskgrid forecast_trend (fit + {HORIZON} weeks)": ours_fc,
            "plain Prophet() fit + predict": base_fc}.items():
        print(f"{name:<48}{rate:>9.2f}{each:>9.3f}")
    print(f"ratio riskgrid / plain Prophet: fits {results['ratio_fits']:.2f}x, fit + forecast "
          f"{results['ratio_forecasts']:.2f}x (> 1: riskgrid faster)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
