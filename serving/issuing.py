"""Issue the early warnings of the latest period: score, run the rules, store what is new."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from riskgrid import vocabulary as C
from riskgrid.experiment import Experiment
from serving.scoring import Scorer
from serving.store import Store
from serving.trends import TrendService
from serving.warnings import issue_warnings

log = logging.getLogger(__name__)


def warnings_for(scorer: Scorer, trends: TrendService, experiment: Experiment,
                 as_of: pd.Timestamp | None = None) -> list[dict]:
    """Every warning the rules issue for ``as_of`` (default: the latest period)."""
    as_of = scorer.latest if as_of is None else as_of
    config = scorer.warnings_config  # thresholds as the promises set them
    snap = scorer.snapshot(as_of)
    horizons = [h for h in config.horizons if h in scorer.model.horizons]
    scores = pd.concat([snap.horizons[h].assign(**{C.PERIOD: as_of}) for h in horizons],
                       ignore_index=True)
    contributions = pd.concat(
        [pd.DataFrame(snap.contributions[h][:, :-1],
                      columns=scorer.model.horizons[h].features) for h in horizons],
        ignore_index=True)
    position = scorer.periods.get_loc(as_of)
    recent = scorer.periods[max(0, position - config.backlog_rise_periods):position + 1]
    panel = scorer.data.panel
    panel_rows = panel[panel[C.PERIOD].isin(recent)]
    found_surges = None
    if position > 0 and experiment.features.period != "month":
        found_surges = trends.surges(as_of, scorer.periods[position - 1])
    return issue_warnings(scores, contributions.fillna(0.0).astype(np.float64), panel_rows,
                          scorer.data.catalogue, scorer.data.areas, found_surges, config,
                          as_of, scorer.loaded.version, period=experiment.features.period)


def issue_for(scorer: Scorer, trends: TrendService, experiment: Experiment,
              store: Store) -> int:
    """Store the latest period's warnings; returns how many were new."""
    rows = warnings_for(scorer, trends, experiment)
    new = store.save_warnings(rows)
    log.info("warnings for %s: %d issued, %d new", scorer.latest.date(), len(rows), new)
    return new
