"""Training stage: risk models, backtests and the MLflow registry."""

__all__: list[str] = []
