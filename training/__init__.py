"""Training stage: targets, risk models, backtests against baselines, MLflow registry, trends."""

from training.backtest import BacktestResult, run_backtest
from training.metrics import count_metrics
from training.pipeline import (
    BACKTEST_FILE,
    Inputs,
    backtest,
    load_inputs,
    read_backtest_predictions,
    save_backtest_predictions,
    train,
)
from training.registry import (
    CHAMPION,
    check_store,
    fail_fast,
    model_name,
    promote,
    store_failures,
    tracking_uri,
)
from training.riskmodel import RiskModel, contributions
from training.targets import OUTCOME, flag_streams, flag_threshold, input_catalogue
from training.trend import TrendConfig, forecast_trend, surges, unit_series

__all__ = [
    "BACKTEST_FILE", "CHAMPION", "OUTCOME", "BacktestResult", "Inputs", "RiskModel",
    "TrendConfig", "backtest", "check_store", "contributions", "fail_fast", "count_metrics",
    "flag_streams", "flag_threshold", "forecast_trend", "input_catalogue", "load_inputs",
    "model_name", "promote", "read_backtest_predictions", "run_backtest",
    "save_backtest_predictions", "store_failures", "surges", "tracking_uri", "train",
    "unit_series",
]
