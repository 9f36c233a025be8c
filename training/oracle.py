"""The oracle of a synthetic city: its true intensity, scored on the backtest's own rows.

The synthetic city writes the expected count of every grid-week and family
(truth/intensity.parquet). Scored like a forecaster on exactly the rows the model is scored
on, it marks how much of the counts can be learned at all, so the model's skill reads as the
share of the gap between the best baseline and the oracle that it closes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from riskgrid import vocabulary as C
from riskgrid.experiment import TrainingConfig
from training.metrics import skill

TRUTH_COLUMNS = (C.AREA_ID, C.PERIOD, C.FAMILY, "expected")
# The generator's reporting shares (docs/synthetic_city.md, mechanism 7): true incidents reach
# the exports with these probabilities; group incidents always do.
REPORT_SHARE = {"law_enforcement": 0.85, "livelihood": 0.90, "dispute": 0.80}
INCIDENT_FAMILIES = ("law_enforcement", "livelihood", "dispute")
# Metrics whose gap is reported: counts, uncertainty, risk, hotspots.
GAP_METRICS = ("poisson_deviance", "crps", "roc_auc", "pr_auc", "brier", "pai@5%", "pai@area")


def expected_reported(truth: pd.DataFrame, stream: str) -> pd.DataFrame:
    """(period x area) expected count of a panel stream, as it reaches the exports.

    Incidents are reported with their family's share (group incidents always), so the
    expected reported disputes are share x disputes + (1 - share) x group incidents.
    """
    missing = [c for c in TRUTH_COLUMNS if c not in truth.columns]
    if missing:
        raise ValueError(f"the truth table lacks column(s) {missing}; it needs "
                         f"{list(TRUTH_COLUMNS)} (truth/intensity.parquet of riskgrid synth).")
    table = truth.pivot_table(index=C.PERIOD, columns=[C.FAMILY, C.AREA_ID], values="expected",
                              aggfunc="sum")

    def family(name: str) -> pd.DataFrame:
        if name not in table.columns.get_level_values(0):
            raise ValueError(f"the truth table has no family '{name}'; the oracle of stream "
                             f"'{stream}' needs it.")
        return table[name]

    def reported(name: str) -> pd.DataFrame:
        if name == "dispute":
            share = REPORT_SHARE["dispute"]
            return share * family("dispute") + (1 - share) * family("group")
        return REPORT_SHARE[name] * family(name)

    if stream == "all":
        return sum(reported(f) for f in INCIDENT_FAMILIES)
    if stream in INCIDENT_FAMILIES:
        return reported(stream)
    return family(stream)  # group incidents and petitions reach the exports whole


def oracle_forecasts(predictions: pd.DataFrame, truth: pd.DataFrame, config: TrainingConfig,
                     step: pd.Timedelta,
                     thresholds: dict[int, pd.Series] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The truth's expected count and high-risk probability of each backtest row's target.

    Args:
        predictions: the backtest's rows (fold, horizon, area_id, period).
        step: the length of a period; row t's target is t + horizon x step.
        thresholds: per fold, each area's count threshold (count-threshold flags only).

    Returns:
        Count and probability per row, NaN where the truth has no such grid-week.
    """
    target = pd.DatetimeIndex(predictions[C.PERIOD]) + predictions["horizon"].to_numpy() * step
    area = predictions[C.AREA_ID].to_numpy()

    def lookup(table: pd.DataFrame) -> np.ndarray:
        stacked = table.stack().rename("value")
        keys = pd.MultiIndex.from_arrays([target, area])
        return stacked.reindex(keys).to_numpy(np.float64)

    count = lookup(expected_reported(truth, config.target))
    if config.risk_flag == "collective_or_group":
        rate = lookup(expected_reported(truth, "group")) + lookup(
            expected_reported(truth, "collective"))
        return count, 1 - np.exp(-rate)
    limit = np.full(len(predictions), np.nan)
    for fold, rows in predictions.groupby("fold").indices.items():
        limit[rows] = (thresholds or {})[fold].reindex(area[rows]).to_numpy(np.float64)
    return count, stats.poisson.sf(np.floor(limit), np.maximum(count, 1e-9))


def gap_closed(model: dict[str, float], baselines: dict[str, dict[str, float]],
               oracle: dict[str, float]) -> dict[str, dict[str, float | str]]:
    """Per metric, the share of the gap from the best baseline to the oracle the model closes.

    1 = as good as the truth, 0 = no better than the best baseline, negative = worse.
    """
    out = {}
    for metric in GAP_METRICS:
        if metric not in model or metric not in oracle:
            continue
        best = skill(model, baselines, metric)
        gap = best["baseline_value"] - oracle[metric]
        share = (best["baseline_value"] - model[metric]) / gap if gap else float("nan")
        out[metric] = {"share": float(share), "best_baseline": best["best_baseline"],
                       "baseline_value": best["baseline_value"], "model_value": model[metric],
                       "oracle_value": float(oracle[metric])}
    return out
