"""The final fit from the panel's parts: the same rows as the in-process fit, on the workers."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import mean_poisson_deviance

from features import Engine, build_panel
from riskgrid import vocabulary as C
from riskgrid.experiment import Experiment
from tests.training.test_distributed import EXPERIMENT, skewed_city
from training.backtest import design, feature_columns, training_rows
from training.baselines import hotspot_smoothers
from training.models import fit_horizon, fit_local
from training.partitioned import (
    block_areas,
    final_origin,
    fit_final_partitioned,
    fold_piece,
    outcome_columns,
    panel_parts,
    sample_areas,
    shap_importance_partitioned,
    train_rows,
)
from training.partitioned_anchors import (
    MAP_PREFIX,
    add_frames,
    anchor_columns,
    block_maps,
    block_reach,
    frame_sums,
    held_rows,
    map_columns,
    period_sums,
    read_part,
    with_columns,
)
from training.pipeline import Inputs, fit_final, shap_importance
from training.targets import flag_threshold, target_counts, target_flags

BLOCKS = 5  # parts of 2 or 3 of the 12 areas, as the workers write them


def write_parts(panel, areas: pd.DataFrame, features: Path, blocks: int) -> Path:
    """The panel as the workers write it: ``blocks`` parts of contiguous areas in
    ``features``/panel.parquet, and its catalogue beside them."""
    parts = features / "panel.parquet"
    parts.mkdir(parents=True)
    edges = np.linspace(0, len(areas), blocks + 1).astype(int)
    ids = areas[C.AREA_ID].to_numpy()
    for i, (lo, hi) in enumerate(itertools.pairwise(edges)):
        block = panel.frame[panel.frame[C.AREA_ID].isin(ids[lo:hi])]
        block.to_parquet(parts / f"area-{i:05d}.parquet", index=False)
    panel.catalogue.to_json(features / "catalogue.json", orient="records")
    return parts


@pytest.fixture(scope="module")
def city(tmp_path_factory) -> tuple[Inputs, Path]:
    """The skewed test city's panel, and a folder holding it as parts of blocks of areas."""
    areas, incidents, petitions = skewed_city()
    panel = build_panel(areas, incidents, petitions, EXPERIMENT.features)
    folder = tmp_path_factory.mktemp("parts")
    write_parts(panel, areas, folder / "features", BLOCKS)
    (folder / "clean").mkdir()
    areas.to_parquet(folder / "clean" / "areas.parquet", index=False)
    inputs = Inputs(panel=panel.frame, catalogue=panel.catalogue, areas=areas,
                    incidents=incidents, petitions=petitions, counts=pd.DataFrame(), meta={})
    return inputs, folder


def with_training(**changes) -> Experiment:
    return EXPERIMENT.model_copy(update={"training": EXPERIMENT.training.model_copy(
        update=changes)})


def in_process_samples(experiment: Experiment, inputs: Inputs, h: int = 1) -> list:
    """The samples fit_final's fit_horizon gives each booster it fits, in order."""
    config, panel = experiment.training, inputs.panel
    features = feature_columns(panel, inputs.catalogue)
    threshold = flag_threshold(panel, config)
    rows = training_rows(panel, inputs.areas, config, threshold, experiment.features.windows[-1])
    count, flag = target_counts(panel, config, h), target_flags(panel, config, h, threshold)
    known = ~np.isnan(count) & ~np.isnan(flag)
    X = design(panel, features, experiment.features.period, h, experiment.features.calendar)
    samples = []

    def recording(sample, params, rounds):
        samples.append(sample)
        return fit_local(sample, params, rounds)

    fit_horizon(X[known], count[known], flag[known], rows.take(known), config, h, recording)
    return samples


@pytest.mark.parametrize(("changes", "roles"), [
    # count-threshold flag, zero rows sampled
    ({"zero_share": 0.5, "shrinkage_weights": [1.0], "choose_rounds": False},
     ["risk", "count"]),
    # A classifier, a shrinkage weight to choose toward the long-run rate.
    ({"risk_flag": "collective_or_group", "shrinkage_weights": [1.0, 0.6],
      "choose_rounds": False, "anchors": ["long_run"]}, ["risk", "early_count", "count"]),
])
def test_the_blocks_give_each_booster_the_in_process_rows(city, changes, roles):
    inputs, folder = city
    experiment = with_training(**changes)
    expected = in_process_samples(experiment, inputs)
    features = feature_columns(inputs.panel, inputs.catalogue)
    parts = [str(p) for p in panel_parts(folder)]
    window = experiment.features.windows[-1]
    sums = add_frames(*[period_sums(p, [f"all_sum_{window}", "all_mean_all"]) for p in parts])
    columns = [C.AREA_ID, C.PERIOD, *features, *outcome_columns(experiment)]
    step = pd.Timedelta(weeks=1)
    rows = []
    for part in parts:
        ids = pd.read_parquet(part, columns=[C.AREA_ID])[C.AREA_ID].unique()
        origin = final_origin(part, columns, block_areas(inputs.areas, ids), experiment)
        rows.append(train_rows(origin, features, experiment, None, 1, sums,
                               {"long_run": "all_mean_all"}, step))
    unique = np.unique(np.concatenate([r.period for r in rows]))
    late_from = unique[int(len(unique) * (1 - experiment.training.calibration_share))]
    by_count = experiment.training.risk_flag == "above_quantile"
    assert len(expected) == len(roles)
    for sample, role in zip(expected, roles, strict=True):
        shrink = 0.6 if role == "count" and 0.6 in changes["shrinkage_weights"] else 1.0
        pieces = [fold_piece(r, late_from, role, by_count, shrink) for r in rows]
        X, label, weight = (np.concatenate([piece[i] for piece in pieces]) for i in range(3))
        np.testing.assert_array_equal(X, sample.X)
        np.testing.assert_allclose(label, sample.label, rtol=1e-6)  # float32 sums, in-process
        np.testing.assert_array_equal(weight, 1.0 if sample.weight is None else sample.weight)


def test_the_blocks_anchors_are_the_in_process_ones(city):
    """Every anchor the count model can be shrunk toward, at the city's level, computed per
    block: the long-run ones from the part's columns, the last-year map from each area's
    own rows, its kernel smoothing from the rows of the areas within the kernel's reach (in
    other parts), the city's level from the blocks' sums per period."""
    inputs, folder = city
    experiment = with_training(anchors=["long_run", "kernel_long_run", "recent", "year",
                                        "kernel_year"])
    config, panel, window = experiment.training, inputs.panel, experiment.features.windows[-1]
    threshold = flag_threshold(panel, config)
    count, flag = target_counts(panel, config, 1), target_flags(panel, config, 1, threshold)
    known = ~np.isnan(count) & ~np.isnan(flag)
    local = training_rows(panel, inputs.areas, config, threshold, window).take(known)
    assert set(local.anchors) == {"kernel_long_run", "recent", "year", "kernel_year"}
    features = feature_columns(panel, inputs.catalogue)
    parts = [str(p) for p in panel_parts(folder)]
    area_ids = panel[C.AREA_ID].unique()
    smoothers = hotspot_smoothers(inputs.areas, area_ids)
    frames = [read_part(p, map_columns("all")) for p in parts]
    edges = np.r_[0, np.cumsum([f[C.AREA_ID].nunique() for f in frames])]
    maps = [block_maps(held_rows(area_ids[reach], local_smoothers, lo, hi,
                                 *[frames[b] for b in mine]), "all", ["year", "kernel_year"])
            for reach, local_smoothers, (lo, hi), mine in block_reach(edges, smoothers)]
    assert any(len(mine) > 1 for *_, mine in block_reach(edges, smoothers))
    anchors = anchor_columns(experiment, set(panel.columns)) | {
        n: f"{MAP_PREFIX}{n}" for n in ("year", "kernel_year")}
    sums = with_columns(add_frames(*[period_sums(p, [f"all_sum_{window}", *[
        c for c in anchors.values() if c in panel]]) for p in parts]), *map(frame_sums, maps))
    columns = [C.AREA_ID, C.PERIOD, *features, *outcome_columns(experiment)]
    rows = []
    for b, part in enumerate(parts):
        ids = pd.read_parquet(part, columns=[C.AREA_ID])[C.AREA_ID].unique()
        origin = final_origin(part, columns, block_areas(inputs.areas, ids), experiment)
        rows.append(train_rows(origin, features, experiment, None, 1, sums, anchors,
                               pd.Timedelta(weeks=1), maps[b]))
    for name in anchors:
        expected = local.anchor(name)
        assert expected.std() > 0, name
        # float64 sums per block, added across blocks: to within float32's rounding
        np.testing.assert_allclose(np.concatenate([r.anchors[name] for r in rows]), expected,
                                   rtol=1e-6, atol=1e-12, err_msg=name)
    # the count model's labels shrunk toward the kernel map, as fit_horizon shrinks them
    kept = np.concatenate([r.weight for r in rows]) > 0
    label = np.concatenate([fold_piece(r, np.datetime64("NaT"), "count", True, 0.6,
                                       "kernel_year")[1] for r in rows])
    np.testing.assert_allclose(label, (0.6 * count[known] + 0.4 * local.anchor(
        "kernel_year"))[kept], rtol=1e-6)


def test_the_calibration_sample_is_every_area_unless_the_slice_is_large():
    ids = np.array([f"G{i}" for i in range(1000)])
    assert sample_areas(ids, 5_000, seed=7) == set(ids)
    drawn = sample_areas(ids, 40_000, seed=7, limit=10_000)
    assert 200 < len(drawn) < 300 and drawn == sample_areas(ids, 40_000, seed=7, limit=10_000)


@pytest.mark.distributed
def test_the_final_fit_from_the_parts_is_as_good_as_the_in_process_one(city, dask_cluster):
    inputs, folder = city
    engine = Engine(scheduler=dask_cluster.scheduler_address)
    local = fit_final(EXPERIMENT, inputs)
    model, stated = fit_final_partitioned(EXPERIMENT, folder, engine)
    # the slice is small: every area, its 13 latest training weeks
    assert stated["calibration_sample"][1] == {"rows": 12 * 13, "areas": 12, "of_areas": 12}
    for booster in (model.horizons[1].count, model.horizons[1].risk):
        assert "[num_machines: 2]" in booster.model_to_string()
    assert model.thresholds == local.thresholds and model.features == local.features
    # The nested choices and the count's law are made as in process, on the inner slice.
    assert model.horizons[1].dispersion > 0
    np.testing.assert_allclose(model.horizons[1].dispersion, local.horizons[1].dispersion,
                               rtol=0.1)
    count = target_counts(inputs.panel, EXPERIMENT.training, 1)
    known = ~np.isnan(count)
    here, there = local.predict(inputs.panel), model.predict(inputs.panel)
    deviance = [mean_poisson_deviance(count[known], p["expected_count"].to_numpy()[known])
                for p in (here, there)]
    constant = mean_poisson_deviance(count[known], np.full(known.sum(), count[known].mean()))
    # data-parallel LightGBM bins and bags per worker: close to the local fit, not equal
    assert deviance[1] < 0.8 * constant and deviance[1] <= 1.05 * deviance[0], deviance
    importance, values, X = shap_importance_partitioned(model, folder, engine)
    whole, _, _ = shap_importance(model, inputs)
    pd.testing.assert_series_equal(importance.set_index("feature")["mean_abs_shap"],
                                   whole.set_index("feature")["mean_abs_shap"].loc[
                                       importance["feature"]], rtol=1e-9)
    assert list(values.columns) == model.horizons[1].features and len(values) == len(X) > 0
