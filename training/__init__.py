"""Training stage: targets, risk models, backtests against baselines, MLflow registry."""

from training.backtest import BacktestResult, run_backtest
from training.config import TrainingConfig, TrainingExperiment
from training.riskmodel import RiskModel

__all__ = ["BacktestResult", "RiskModel", "TrainingConfig", "TrainingExperiment",
           "run_backtest"]
