"""How much learnable signal the synthetic city carries: the truth against simple baselines.

A diagnostic of the generator, not a test. On weekly grid-level data it forecasts each week of
2025 from what is known before it and prints:
- the mean Poisson deviance of the true expected intensity (truth/intensity.parquet) against
  the best of three observed-data baselines (the grid's 2022-2024 weekly mean, the mean of
  its previous 13 weeks, of its previous 4 weeks), for total incidents (law enforcement +
  livelihood + disputes) and for disputes;
- the ROC-AUC, for the high-risk flag (a collective petition or an incident with 5+ people
  in the grid-week), of the true probability 1 - exp(-(expected group + expected
  collective)) against that of the grid's 2022-2024 flag rate;
- the yearly volumes of the exports.

    .venv/bin/python bench/synthetic_city_signal.py [--seed 7] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from features.synthetic_city import CityConfig, SyntheticCity, synthesize_city
from riskgrid import vocabulary as C

SCORE_FROM = pd.Timestamp("2025-01-01")
INCIDENT_FAMILIES = ("law_enforcement", "livelihood", "dispute")


def weekly(truth: pd.DataFrame, family: str, column: str) -> pd.DataFrame:
    """Weeks x grids table of one truth family's column."""
    rows = truth[truth[C.FAMILY] == family]
    return rows.pivot(index=C.PERIOD, columns=C.AREA_ID, values=column).sort_index()


def deviance(y: np.ndarray, mu: np.ndarray) -> float:
    """Mean Poisson deviance."""
    term = np.where(y > 0, y * np.log(np.where(y > 0, y, 1) / mu), 0.0)
    return float(np.mean(2 * (term - (y - mu))))


def baselines(observed: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Forecasts known before each week; a zero mean becomes half an event over the window."""
    history = observed[observed.index < SCORE_FROM]
    long_run = pd.DataFrame(np.tile(history.mean().to_numpy(), (len(observed), 1)),
                            index=observed.index, columns=observed.columns)
    out = {"2022-2024 mean": long_run.clip(lower=0.5 / len(history))}
    for weeks in (13, 4):
        out[f"previous {weeks} weeks"] = (observed.shift(1).rolling(weeks).mean()
                                          .clip(lower=0.5 / weeks))
    return out


def deviance_table(truth: pd.DataFrame, families: tuple[str, ...]) -> dict[str, float]:
    expected = sum(weekly(truth, f, "expected") for f in families)
    observed = sum(weekly(truth, f, "observed") for f in families)
    scored = observed.index >= SCORE_FROM
    y = observed[scored].to_numpy(float)
    out = {"truth (expected)": deviance(y, expected[scored].to_numpy(float))}
    for name, forecast in baselines(observed).items():
        out[name] = deviance(y, forecast[scored].to_numpy(float))
    return out


def flag_tables(city: SyntheticCity) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Observed high-risk flag per grid-week and, when the truth has it, its true probability."""
    truth = city.intensity
    if {"group", "collective"} <= set(truth[C.FAMILY]):
        observed = weekly(truth, "group", "observed") + weekly(truth, "collective", "observed")
        rate = weekly(truth, "group", "expected") + weekly(truth, "collective", "expected")
        return (observed > 0).astype(int), 1 - np.exp(-rate)
    # older generators: rebuild the flag from the exports; no true probability
    template = weekly(truth, "dispute", "observed") * 0
    inc, pet = city.incidents, city.petitions
    people = pd.to_numeric(inc["涉及人数"], errors="coerce")
    hits = [(inc.loc[people >= 5, "网格编码"], inc.loc[people >= 5, "发生时间"]),
            (pet.loc[pet["人数"] >= 5, "网格"], pet.loc[pet["人数"] >= 5, "登记日期"])]
    flag = template.copy()
    for grid, when in hits:
        when = pd.to_datetime(when, errors="coerce", format="mixed").dt.normalize()
        period = when - pd.to_timedelta(when.dt.day_of_week, unit="D")
        for p, g in zip(period, grid):
            if p in flag.index and g in flag.columns:
                flag.loc[p, g] = 1
    return flag.astype(int), None


def auc_table(city: SyntheticCity) -> dict[str, float]:
    flag, probability = flag_tables(city)
    scored = flag.index >= SCORE_FROM
    y = flag[scored].to_numpy().ravel()
    history = flag[~scored].mean()
    out = {"flag rate 2025": float(y.mean()), "flagged grid-weeks 2025": int(y.sum())}
    if probability is not None:
        out["AUC truth 1-exp(-(group+collective))"] = roc_auc_score(
            y, probability[scored].to_numpy().ravel())
    out["AUC grid 2022-2024 flag rate"] = roc_auc_score(
        y, np.tile(history.to_numpy(), (int(scored.sum()), 1)).ravel())
    return out


def yearly_volumes(city: SyntheticCity) -> pd.DataFrame:
    inc, pet = city.incidents, city.petitions
    inc_year = inc["发生时间"].str[:4]
    people = pd.to_numeric(inc["涉及人数"], errors="coerce")
    pet_year = pet["登记日期"].str[:4]
    years = [str(y) for y in range(city.config.start.year, city.config.end.year + 1)]
    return pd.DataFrame({
        "incidents": inc_year.value_counts(), "group incidents (5+)": inc_year[people >= 5]
        .value_counts(), "petitions": pet_year.value_counts(),
        "collective petitions": pet_year[pet["人数"] >= 5].value_counts(),
    }).reindex(years).fillna(0).astype(int)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    began = time.perf_counter()
    city = synthesize_city(CityConfig(seed=args.seed))
    synth_s = time.perf_counter() - began
    print(f"seed {args.seed}: synthesize_city took {synth_s:.1f} s\n")
    out: dict = {"seed": args.seed, "synthesize_seconds": synth_s}
    for label, families in (("total incidents", INCIDENT_FAMILIES), ("disputes", ("dispute",))):
        table = deviance_table(city.intensity, families)
        truth = table.pop("truth (expected)")
        best = min(table, key=table.get)
        out[label] = {"truth_deviance": truth, "best_baseline": best,
                      "baseline_deviance": table[best], "baselines": table}
        print(f"{label}: mean Poisson deviance, weeks of 2025")
        print(f"  {'truth (expected)':24s} {truth:.4f}")
        for name, value in table.items():
            print(f"  {name:24s} {value:.4f}")
        print(f"  truth vs best baseline ({best}): {100 * (1 - truth / table[best]):.1f}% lower\n")
    print("high-risk flag (collective petition or 5+ people incident), weeks of 2025")
    out["flag"] = auc_table(city)
    for name, value in out["flag"].items():
        print(f"  {name:40s} {value:.4f}" if isinstance(value, float) else
              f"  {name:40s} {value}")
    print("\nyearly volumes of the exports (dirt included)")
    print(yearly_volumes(city).to_string())
    if args.json:
        args.json.write_text(json.dumps(out, indent=2, default=float) + "\n")


if __name__ == "__main__":
    main()
