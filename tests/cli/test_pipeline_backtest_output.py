"""Backtest output: strict JSON (null for an undefined metric) and one sentence when no test
period is high-risk."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from cli.app import write_json
from cli.pipeline import flag_warning
from riskgrid.experiment import TrainingConfig


def test_backtest_json_is_strict_and_a_never_flagged_target_is_named(tmp_path):
    out = tmp_path / "backtest.json"
    write_json(out, {"model": {"1": {"roc_auc": float("nan"), "mae": np.float64(0.5)}}})
    assert json.loads(out.read_text()) == {"model": {"1": {"roc_auc": None, "mae": 0.5}}}
    assert "NaN" not in out.read_text()
    never = pd.DataFrame({"flag": [0.0, 0.0, np.nan]})
    message = flag_warning(never, TrainingConfig())
    assert "risk_flag = \"above_quantile\"" in message and message.count(".") <= 1
    assert flag_warning(pd.DataFrame({"flag": [0.0, 1.0]}), TrainingConfig()) is None

