"""A count-threshold flag's risk comes from the count forecast the service shows."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
from scipy import stats

from riskgrid.experiment import TrainingConfig
from training.models import fit_horizon
from training.shrinkage import TrainingRows
from training.uncertainty import exceedance


def sparse_city(periods: int = 120, areas: int = 60, seed: int = 0):
    """Areas whose rates differ tenfold and stay put; inputs that only estimate them."""
    rng = np.random.default_rng(seed)
    rate = rng.gamma(1.0, 0.15, areas)
    period = np.repeat(np.arange(periods), areas)
    area = np.tile([f"A{i:02d}" for i in range(areas)], periods)
    count = rng.poisson(np.tile(rate, periods)).astype(float)
    # The long-run mean known at each period, and some noise inputs.
    seen = count.reshape(periods, areas)
    mean = np.vstack([np.zeros(areas), np.cumsum(seen, 0)[:-1] / np.arange(1, periods)[:, None]])
    X = pd.DataFrame({"mean_all": mean.ravel(), **{f"noise{i}": rng.normal(size=len(count))
                                                  for i in range(3)}})
    rows = TrainingRows(period=period, area_id=area, area_size=np.ones(len(count)),
                        long_run=mean.ravel(), threshold=np.zeros(len(count)))
    return X, count, (count > 0).astype(float), rows


def test_the_risk_of_a_count_threshold_ranks_areas_as_their_expected_counts():
    """Flag = any event (a threshold of 0): P(count > 0) rises with the expected count, so
    the served probabilities order the rows exactly as the served counts do, whatever
    weight the count model was shrunk with."""
    X, count, flag, rows = sparse_city()
    for weights in ([0.0], [0.5], [1.0]):
        config = TrainingConfig(risk_flag="above_quantile", shrinkage_weights=weights,
                                num_boost_round=60, zero_share=1.0)
        model = fit_horizon(X, count, flag, rows, config, 1).model
        last = X.tail(60)
        expected = model.expected_count(last)
        risk = model.risk_probability(last, np.zeros(len(last)))
        assert stats.spearmanr(expected, risk).statistic > 0.99, weights
        # and the probabilities tell the areas apart as the counts do
        assert stats.spearmanr(risk, rows.long_run[-60:]).statistic > 0.8


def test_the_raw_risk_is_the_served_laws_chance_of_passing_the_threshold():
    """The count's risk and its served interval come from one law: with a dispersion, the
    raw risk is the negative binomial's P(count > threshold), above Poisson's in the tail."""
    X, count, flag, rows = sparse_city()
    config = TrainingConfig(risk_flag="above_quantile", num_boost_round=40, zero_share=1.0)
    model = replace(fit_horizon(X, count, flag, rows, config, 1).model, dispersion=0.5)
    last, threshold = X.tail(60), np.full(60, 2.0)
    expected = model.expected_count(last)
    np.testing.assert_allclose(model.raw_risk(last, threshold),
                               exceedance(expected, threshold, 0.5))
    assert (model.raw_risk(last, threshold)
            > stats.poisson.sf(2, np.maximum(expected, 1e-9)) - 1e-12).all()
