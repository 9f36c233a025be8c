"""Serving stage: the scoring service's parts (scores, warnings, ledger, store, trends, level
overrides and data alarms).

The BentoML service itself is ``serving.service:RiskGrid``; it is not imported here, so the
command line and the meeting pack do not load the HTTP stack. Each name loads its part when
first used: the store's commands do not load the models' libraries.
"""

from riskgrid.faces import lazy_face as _lazy_face

__all__ = [
    "KINDS", "LEVELS", "DataQuality", "LoadedModel", "SafetyIndex", "Scorer", "ServingData",
    "Snapshot", "Store", "StoreUnavailable", "TrendService", "equity_report", "ledger",
    "level_tally", "load_champion", "load_serving_data", "open_store", "overrides",
    "read_outcomes", "record_backtest_file", "record_batch", "resolve_period", "scorecard",
    "scorecard_trend", "store_revision", "upgrade_store", "warnings_for",
]
__getattr__, __dir__ = _lazy_face(__name__, {
    "serving.champion": ("LoadedModel", "load_champion"),
    "serving.data_quality": ("DataQuality",),
    "serving.equity": ("equity_report",),
    "serving.issuing": ("warnings_for",),
    "serving.ledger": ("ledger", "level_tally", "read_outcomes", "record_backtest_file",
                       "record_batch", "scorecard", "scorecard_trend"),
    "serving.overrides": ("overrides",),
    "serving.safety": ("SafetyIndex",),
    "serving.scoring": ("Scorer", "ServingData", "Snapshot", "load_serving_data",
                        "resolve_period"),
    "serving.store": ("Store", "StoreUnavailable", "open_store", "store_revision",
                      "upgrade_store"),
    "serving.trends": ("TrendService",),
    "serving.warnings": ("KINDS", "LEVELS"),
})
