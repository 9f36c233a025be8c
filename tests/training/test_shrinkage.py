"""Training rows: unbiased zero-row sampling and shrinkage toward each area's long-run rate."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from riskgrid.experiment import TrainingConfig
from training.baselines import kernel_smoother
from training.metrics import count_metrics
from training.shrinkage import (
    TrainingRows,
    choose,
    choose_weight,
    long_run_rate,
    map_rates,
    sample_weights,
    shrunk_labels,
)


def test_sampling_keeps_every_event_and_reweights_the_zeros_it_keeps():
    rng = np.random.default_rng(0)
    count = rng.poisson(0.05, 200_000).astype(float)
    flag = np.zeros_like(count)
    flag[:50] = 1.0  # a flagged period without a counted event is an event too
    count[:50] = 0.0
    weight = sample_weights(count, flag, TrainingConfig(zero_share=0.1))
    events = (count > 0) | (flag > 0)
    assert (weight[events] == 1).all()
    assert set(np.unique(weight[~events])) == {0.0, 10.0}
    assert (weight > 0).mean() < 0.2  # the boosters see a fraction of the rows
    # weighted totals estimate the full ones: the loss keeps its expectation
    assert weight.sum() == pytest.approx(len(count), rel=0.02)
    assert (weight * count).sum() == count.sum()
    # By area, each area's weighted zeros are exactly its own.
    area = np.repeat(np.arange(20), 10_000).astype(str)
    weight = sample_weights(count, flag, TrainingConfig(zero_share=0.1), area=area)
    assert (weight[events] == 1).all()
    np.testing.assert_allclose(weight[~events][weight[~events] > 0], 10.0, rtol=1e-3)
    assert weight.sum() == pytest.approx(len(count))


def test_each_areas_zeros_are_sampled_evenly_over_its_periods_and_keep_their_weight():
    """A busy area and a quiet one: each keeps its own total weight of zero rows, and the
    kept rows of each are spread over its periods, not bunched in some of them."""
    periods = 400
    area = np.repeat(["busy", "quiet"], periods)
    count = np.zeros(2 * periods)
    count[:periods:2] = 3.0  # the busy area has an event every other period
    weight = sample_weights(count, np.zeros_like(count), TrainingConfig(zero_share=0.05),
                            area=area)
    for name, zeros in (("busy", periods // 2), ("quiet", periods)):
        mine = (area == name) & (count == 0)
        assert weight[mine].sum() == pytest.approx(zeros)
        drawn = np.flatnonzero(weight[mine] > 0)
        assert len(drawn) == pytest.approx(0.05 * zeros, abs=1)
        assert np.diff(drawn).max() <= 21  # one zero row in every 20 or so


def test_the_zeros_kept_of_many_quiet_areas_are_spread_over_the_periods():
    """Areas with no event at all: the zero rows kept fall in every period about equally,
    not in the same few periods of every area (a booster would learn those periods' calendar
    as the only time nothing happens)."""
    areas, periods, share = 1000, 100, 0.05
    area = np.repeat([f"a{k}" for k in range(areas)], periods)
    count = np.zeros(areas * periods)
    weight = sample_weights(count, np.zeros_like(count), TrainingConfig(zero_share=share),
                            area=area)
    kept = (weight > 0).reshape(areas, periods).sum(axis=0)
    assert kept.sum() == pytest.approx(share * areas * periods, rel=0.01)
    # Each period's share is binomial around share * areas = 50 (sd about 7).
    assert kept.min() >= 25 and kept.max() <= 80


def test_no_sampling_by_default():
    assert (sample_weights(np.zeros(10), np.zeros(10), TrainingConfig()) == 1).all()


def test_shrunk_labels_blend_the_count_with_the_long_run_rate():
    count, long_run = np.array([0.0, 4.0]), np.array([1.0, 0.0])
    np.testing.assert_allclose(shrunk_labels(count, long_run, 0.25), [0.75, 1.0])
    assert shrunk_labels(count, long_run, 1.0) is count


def test_long_run_rate_keeps_the_map_and_takes_the_citys_current_level():
    """Twice as many events city-wide lately as in the long run: every area's long-run
    rate doubles, their shares stay. Without history the long-run rate is kept as it is."""
    panel = pd.DataFrame({
        "period": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-01-08", "2024-01-08"]),
        "area_id": ["A", "B", "A", "B"],
        "all_mean_all": [0.0, 0.0, 1.0, 3.0],
        "all_sum_4": [0.0, 0.0, 4 * 2.0, 4 * 6.0]})
    np.testing.assert_allclose(long_run_rate(panel, "all", 4), [0.0, 0.0, 2.0, 6.0])


def rows_for(long_run: np.ndarray, periods: int) -> TrainingRows:
    n = len(long_run)
    return TrainingRows(period=np.repeat(np.arange(periods), n),
                        area_id=np.tile([f"A{i:02d}" for i in range(n)], periods),
                        area_size=np.ones(n * periods), long_run=np.tile(long_run, periods))


@pytest.mark.parametrize("metric", ["pai@5%", "poisson_deviance", "roc_auc"])
def test_the_weight_goes_where_the_signal_is(metric):
    """Stable hotspots: the long-run rate is the truth and the forecast is noise, so the
    blend leans on the long-run rate; with a perfect forecast, no shrinkage."""
    rng = np.random.default_rng(1)
    truth = rng.gamma(0.5, 2.0, 60)
    rows = rows_for(truth, 52)
    count = rng.poisson(rows.long_run).astype(float)
    config = TrainingConfig(primary_metric=metric, shrinkage_weights=[0.0, 0.5, 1.0])
    noise = rng.gamma(0.5, 2.0, len(count))
    assert choose_weight(noise, count, rows, config) == 0.0
    assert choose_weight(count, count, rows, config) == 1.0


def test_a_fixed_area_map_chooses_by_the_top_areas_it_flags():
    """primary_metric pai@area (NIJ rules): the choice is judged on the few areas that fit
    the flagged area. The long-run map here ranks the top areas right but is ten times too
    high; the forecast has the levels right but puts the busiest areas last. By deviance
    the forecast wins, by the top area caught each period the map does."""
    rng = np.random.default_rng(4)
    truth = np.sort(rng.gamma(0.5, 2.0, 40))[::-1]
    rows = rows_for(10 * truth, 52)
    count = rng.poisson(np.tile(truth, 52)).astype(float)
    forecast = np.tile(np.r_[truth[5:], truth[:5] * 0.01], 52)
    area = TrainingConfig(primary_metric="pai@area", hotspot_area="1 km2",
                          shrinkage_weights=[0.0, 1.0])
    assert choose_weight(forecast, count, rows, area) == 0.0
    deviance = TrainingConfig(primary_metric="poisson_deviance", shrinkage_weights=[0.0, 1.0])
    assert choose_weight(forecast, count, rows, deviance) == 1.0


def test_a_fixed_area_metric_needs_the_area():
    with pytest.raises(ValueError, match="set hotspot_area too"):
        TrainingConfig(primary_metric="pai@area")


def test_one_candidate_is_used_as_given():
    rows = rows_for(np.ones(3), 2)
    config = TrainingConfig(shrinkage_weights=[0.25])
    assert choose_weight(np.ones(6), np.ones(6), rows, config) == 0.25


def test_hotspots_are_ranked_by_events_per_unit_of_area():
    """A00 (0.5 km2) is denser than A01 on the long-run rate, though A01 has more events;
    the forecast puts A01 first. The events fall in A00, so only a ranking by density
    prefers the long-run rate (by raw counts every candidate misses, and the tie keeps w=1)."""
    n = 20
    rows = TrainingRows(period=np.zeros(n, int),
                        area_id=np.array([f"A{i:02d}" for i in range(n)]),
                        area_size=np.r_[0.5, np.ones(n - 1)],
                        long_run=np.r_[1.0, 1.5, np.ones(n - 2)])
    forecast = np.r_[1.0, 3.0, np.ones(n - 2)]
    count = np.r_[2.0, np.zeros(n - 1)]
    config = TrainingConfig(primary_metric="hit_rate@5%", shrinkage_weights=[0.0, 0.5, 1.0])
    assert choose_weight(forecast, count, rows, config) == 0.0


def test_rounds_and_weight_are_chosen_together():
    """More rounds fit the signal better here; the best blend of each is compared."""
    rng = np.random.default_rng(2)
    truth = rng.gamma(2.0, 1.0, 40)
    rows = rows_for(truth, 30)
    count = rng.poisson(rows.long_run).astype(float)
    forecasts = {10: np.full(len(count), count.mean()), 50: rows.long_run * 1.0}
    config = TrainingConfig(shrinkage_weights=[0.5, 1.0])
    found = choose(forecasts, count, rows, config)
    # Blended with the long-run rate it equals, the 50-round forecast is unchanged: the tie
    # goes to the more regularised candidate, the lesser weight.
    assert (found.rounds, found.weight) == (50, 0.5)
    assert found.score == pytest.approx(
        count_metrics(count, rows.long_run)["poisson_deviance"])


def test_the_anchor_is_chosen_with_the_weight():
    """The truth is a smooth map the noisy long-run means only estimate: shrinking toward
    the smooth map beats shrinking toward the long-run means."""
    rng = np.random.default_rng(3)
    truth = np.repeat(rng.gamma(2.0, 1.0, 10), 4)  # blocks of four alike areas
    rows = rows_for(truth * rng.gamma(4.0, 0.25, 40), 30)
    rows = TrainingRows(rows.period, rows.area_id, rows.area_size, rows.long_run,
                        anchors={"kernel_long_run": np.tile(truth, 30)})
    count = rng.poisson(np.tile(truth, 30)).astype(float)
    found = choose({100: rng.gamma(2.0, 1.0, len(count))}, count, rows,
                   TrainingConfig(shrinkage_weights=[0.0, 1.0]))
    assert (found.weight, found.anchor) == (0.0, "kernel_long_run")
    without = choose({100: rng.gamma(2.0, 1.0, len(count))}, count, rows,
                     TrainingConfig(shrinkage_weights=[0.0, 1.0], anchors=["long_run"]))
    assert without.anchor == "long_run"


@pytest.mark.parametrize("metric", ["poisson_deviance", "pai@10%"])
def test_a_candidate_better_by_one_lucky_period_does_not_beat_the_long_run_rate(metric):
    """The forecast equals the long-run rate (the truth) but in one period of thirty, where
    it foresees the counts exactly: its mean score is the best, by one period's luck. The
    one-standard-error rule keeps the long-run rate; taking the best score does not."""
    rng = np.random.default_rng(5)
    truth = rng.gamma(2.0, 1.0, 40)
    rows = rows_for(truth, 30)
    count = rng.poisson(rows.long_run).astype(float)
    forecast = rows.long_run.copy()
    lucky = rows.period == 7
    forecast[lucky] = count[lucky] + 0.01
    config = TrainingConfig(primary_metric=metric, shrinkage_weights=[0.0, 1.0],
                            anchors=["long_run"])
    assert choose({100: forecast}, count, rows, config).weight == 0.0
    best = choose({100: forecast}, count, rows, config.model_copy(update={"choice_rule": "best"}))
    assert best.weight == 1.0


def test_map_anchors_are_the_last_years_maps_at_the_citys_level():
    """The last-year map is each area's mean of its last 52 periods, scaled so the areas add
    up to the city's recent level; the kernel map spreads it over the neighbours first."""
    periods = pd.date_range("2024-01-01", periods=2, freq="7D")
    panel = pd.DataFrame({  # area-major: each area's periods together
        "period": np.tile(periods, 3), "area_id": np.repeat(["A", "B", "C"], 2),
        "all_sum_52": [52.0, 104.0, 0.0, 52.0, 52.0, 52.0],
        "all_sum_4": [4.0, 4.0, 4.0, 4.0, 4.0, 4.0]})
    areas = pd.DataFrame({"centroid_x": [0.0, 1.0, 5.0], "centroid_y": [0.0, 0.0, 0.0]})
    smoothers = {"kernel_density_0.5": kernel_smoother(areas, 0.5)}
    found = map_rates(panel, "all", 4, ["year", "kernel_year", "long_run"], smoothers)
    assert set(found) == {"year", "kernel_year"}
    # Means of the last 52 periods (1 of period 1 over its one period): A 52, B 0, C 52 at
    # the first period, A 52, B 0.5... scaled to the city's 3 events a period.
    year = found["year"].reshape(3, 2)
    np.testing.assert_allclose(year.sum(axis=0), [3.0, 3.0])
    np.testing.assert_allclose(year[:, 1] / year[:, 1].sum(), [2 / 4, 1 / 4, 1 / 4])
    kernel = found["kernel_year"].reshape(3, 2)
    np.testing.assert_allclose(kernel.sum(axis=0), [3.0, 3.0])
    assert kernel[1, 0] > year[1, 0] == 0  # B gets some of its neighbours' events
    assert kernel[2, 1] == pytest.approx(year[2, 1])  # C is too far from the others
    assert map_rates(panel, "all", 4, ["kernel_year"], {}) == {}


def test_rounds_can_be_chosen_by_the_loss_before_the_blend():
    """A map metric cannot tell a flat forecast from a sharp one of the same order; the
    deviance can, so choosing the rounds by the loss keeps the sharper forecast."""
    rng = np.random.default_rng(4)
    truth = rng.gamma(2.0, 1.0, 40)
    rows = rows_for(truth, 30)
    count = rng.poisson(rows.long_run).astype(float)
    forecasts = {25: rows.long_run * 0.5 + 0.5, 300: rows.long_run}
    config = TrainingConfig(primary_metric="pai@10%", shrinkage_weights=[1.0],
                            rounds_by="loss")
    assert choose(forecasts, count, rows, config).rounds == 300
    joint = choose(forecasts, count, rows, config.model_copy(update={"rounds_by":
                                                                     "primary_metric"}))
    assert joint.rounds == 25  # the same ranking: the tie goes to fewer rounds


def test_a_block_of_rows_gets_the_draws_it_gets_in_the_whole_sample():
    rng = np.random.default_rng(3)
    count, flag = rng.poisson(0.3, 1000).astype(float), np.zeros(1000)
    config = TrainingConfig(zero_share=0.3)
    whole = sample_weights(count, flag, config)
    blocks = [sample_weights(count[lo:hi], flag[lo:hi], config, offset=lo)
              for lo, hi in ((0, 137), (137, 600), (600, 1000))]
    np.testing.assert_array_equal(np.concatenate(blocks), whole)
    # By area: a block of whole areas draws what it draws in the whole sample.
    area = np.repeat(np.arange(10), 100).astype(str)
    whole = sample_weights(count, flag, config, area=area)
    blocks = [sample_weights(count[lo:hi], flag[lo:hi], config, area=area[lo:hi])
              for lo, hi in ((0, 300), (300, 1000))]
    np.testing.assert_array_equal(np.concatenate(blocks), whole)


def test_among_candidates_tied_on_a_map_the_better_count_forecast_wins():
    """Two anchors rank the areas alike (the same map, one at twice the scale), so PAI ties
    them; one_se_deviance takes the one whose counts are right, one_se the first anchor."""
    rng = np.random.default_rng(11)
    truth = rng.gamma(2.0, 1.0, 40)
    rows = rows_for(truth, 30)
    rows = TrainingRows(rows.period, rows.area_id, rows.area_size, 2 * rows.long_run,
                        anchors={"kernel_long_run": rows.long_run.copy()})
    count = rng.poisson(np.tile(truth, 30)).astype(float)
    config = TrainingConfig(primary_metric="pai@10%", shrinkage_weights=[0.0],
                            anchors=["long_run", "kernel_long_run"],
                            choice_rule="one_se_deviance")
    found = choose({100: rng.gamma(2.0, 1.0, len(count))}, count, rows, config)
    assert (found.weight, found.anchor) == (0.0, "kernel_long_run")
    plain = choose({100: rng.gamma(2.0, 1.0, len(count))}, count, rows,
                   config.model_copy(update={"choice_rule": "one_se"}))
    assert plain.anchor == "long_run"
