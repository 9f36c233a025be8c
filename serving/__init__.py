"""Serving stage: the scoring service's parts (scores, warnings, ledger, store, trends, level
overrides and data alarms).

The BentoML service itself is ``serving.service:RiskGrid``; it is not imported here, so the
command line and the meeting pack do not load the HTTP stack.
"""

from serving import ledger, overrides
from serving.champion import LoadedModel, load_champion
from serving.data_quality import DataQuality
from serving.equity import equity_report
from serving.issuing import warnings_for
from serving.ledger import (
    level_tally,
    read_outcomes,
    record_backtest_file,
    record_batch,
    scorecard,
    scorecard_trend,
)
from serving.safety import SafetyIndex
from serving.scoring import Scorer, ServingData, Snapshot, load_serving_data, resolve_period
from serving.store import Store, StoreUnavailable, open_store, store_revision, upgrade_store
from serving.trends import TrendService
from serving.warnings import KINDS, LEVELS

__all__ = [
    "KINDS", "LEVELS", "DataQuality", "LoadedModel", "SafetyIndex", "Scorer", "ServingData",
    "Snapshot", "Store", "StoreUnavailable", "TrendService", "equity_report", "ledger",
    "level_tally", "load_champion", "load_serving_data", "open_store", "overrides",
    "read_outcomes", "record_backtest_file", "record_batch", "resolve_period", "scorecard",
    "scorecard_trend", "store_revision", "upgrade_store", "warnings_for",
]
