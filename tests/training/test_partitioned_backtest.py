"""The backtest from the panel's parts, on the workers: the in-process backtest's rows, folds,
keys and baselines, and models close to its own."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features import Engine, Layout, build_panel, outcomes_known_at, read_features
from riskgrid import InputError, Settings
from riskgrid import vocabulary as C
from tests.training.test_distributed import EXPERIMENT, skewed_city
from tests.training.test_partitioned import write_parts
from training.backtest import design, feature_columns, make_folds, run_backtest, training_rows
from training.baselines import hotspot_smoothers
from training.partitioned import panel_parts
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
    with_columns,
)
from training.partitioned_backtest import (
    at_origin,
    read_records,
    run_backtest_partitioned,
    train_rows,
)
from training.pipeline import load_inputs
from training.shrinkage import sample_weights
from training.targets import flag_threshold, target_counts, target_flags

BLOCKS = 5  # parts of 2 or 3 of the 12 areas, as the workers write them
# Two origins of 4 weeks, two horizons: the backtest's every step, kept short.
BACKTEST = EXPERIMENT.model_copy(update={
    "features": EXPERIMENT.features.model_copy(update={"horizons": [1, 2]}),
    "training": EXPERIMENT.training.model_copy(update={"folds": 2, "fold_step": 4})})
KEYS = ["fold", "horizon", C.AREA_ID, C.PERIOD]
# Data-parallel LightGBM bins and bags per worker (docs/distributed.md), so the models'
# forecasts are close to the in-process ones, not equal: the count metrics within this share
# of the in-process ones, the Brier score within BRIER (on 156 test rows, a flag of about one
# row in five: one row's probability moving by 0.5 moves the score by up to 0.0016).
TOLERANCE = 0.10
BRIER = 0.03
CASES = {
    # The defaults: rounds, shrinkage weight and anchor chosen at each origin; the
    # count-threshold flag forecast from the count booster.
    "defaults": {},
    # A classifier whose rounds are chosen, the count booster unshrunk, zero rows sampled.
    "classifier": {"risk_flag": "collective_or_group", "shrinkage_weights": [1.0],
                   "zero_share": 0.5},
}

pytestmark = pytest.mark.distributed


@pytest.fixture(scope="module")
def city(tmp_path_factory) -> tuple[Path, pd.DataFrame, pd.DataFrame, tuple]:
    """A folder holding the skewed test city as the workers leave it: the panel as parts of
    blocks of areas, the clean tables; the whole panel and the in-process backtest."""
    areas, incidents, petitions = skewed_city()
    panel = build_panel(areas, incidents, petitions, BACKTEST.features)
    folder = tmp_path_factory.mktemp("city")
    parts, clean = write_parts(panel, areas, folder / "features", BLOCKS), folder / "clean"
    clean.mkdir()
    (folder / "features" / "meta.json").write_text(json.dumps({"input_fingerprint": "f"}))
    counts = folder / "features" / "counts.parquet"
    counts.mkdir()
    pd.DataFrame({C.UNIT_LEVEL: ["grid", "city"], C.UNIT_ID: ["A0", C.CITY], "all": [1, 2]}
                 ).to_parquet(counts / "area-00000.parquet", index=False)
    # A file the whole-panel reader refuses (it takes a folder of area parts only): the
    # driver cannot read this panel whole, the workers read its parts.
    (parts / "notes.parquet").write_bytes(b"not a part")
    for name, table in (("areas", areas), ("incidents", incidents), ("petitions", petitions)):
        table.to_parquet(clean / f"{name}.parquet", index=False)
    return folder, panel, areas, (incidents, petitions)


def case(name: str):
    return BACKTEST.model_copy(update={"training": BACKTEST.training.model_copy(
        update=CASES[name])})


def keys_of(value) -> object:
    """The JSON's layout: its keys, nested, without the numbers."""
    if isinstance(value, dict):
        return {k: keys_of(v) for k, v in value.items()}
    if isinstance(value, list):
        return [keys_of(v) for v in value]
    return type(value).__name__


@pytest.mark.parametrize("name", CASES)
def test_the_backtest_on_the_workers_is_the_in_process_one(city, dask_cluster, name):
    folder, whole, areas, records = city
    experiment = case(name)
    local = run_backtest(whole.frame, whole.catalogue, areas, experiment.features,
                         experiment.training, records=records)
    engine = Engine(scheduler=dask_cluster.scheduler_address)
    found = run_backtest_partitioned(experiment, folder, engine)
    there, here = found.result, local
    ours, theirs = there.as_json(), here.as_json()
    assert keys_of(ours) == keys_of(theirs)
    assert ours["fold_periods"] == theirs["fold_periods"] and len(ours["fold_periods"]) == 2
    a, b = there.predictions, here.predictions
    assert list(a.columns) == list(b.columns)
    pd.testing.assert_frame_equal(a[[*KEYS, "y", "flag", "area_size"]],
                                  b[[*KEYS, "y", "flag", "area_size"]])
    # 12 areas x (4 test weeks of the first origin at horizons 1 and 2, and of the last
    # origin's 4 those whose target week is in the data: 3 and 2)
    assert len(a) == 12 * (4 + 4 + 3 + 2)
    # The baselines read the same rows (the kernel maps those of the neighbouring parts).
    baselines = list(here.baselines)
    assert list(there.baselines) == baselines and any(n.startswith("kernel") for n in baselines)
    for b_name in baselines:
        for column in (f"{b_name}_count", f"{b_name}_probability"):
            np.testing.assert_allclose(a[column], b[column], rtol=1e-12, err_msg=column)
        assert there.baselines[b_name].keys() == here.baselines[b_name].keys()
        for h in there.horizons:
            for metric, value in there.baselines[b_name][h].items():
                np.testing.assert_allclose(value, here.baselines[b_name][h][metric],
                                           rtol=1e-9, err_msg=f"{b_name} {metric} h{h}")
    for h in there.horizons:
        ours_h, theirs_h = there.model[h], here.model[h]
        for metric in ("poisson_deviance", "mae", "rmse", "crps"):
            assert abs(ours_h[metric] - theirs_h[metric]) <= TOLERANCE * theirs_h[metric], \
                (h, metric, ours_h[metric], theirs_h[metric])
        assert abs(ours_h["brier"] - theirs_h["brier"]) <= BRIER, (h, ours_h, theirs_h)
    assert [(c["fold"], c["horizon"]) for c in ours["choices"]] == \
        [(c["fold"], c["horizon"]) for c in theirs["choices"]]


def test_the_blocks_train_on_the_labels_known_at_the_origin(city):
    """Each block's training rows, from its part and its own records, are the in-process
    backtest's: inputs, labels as known at the origin (late reports left out), weights, and
    every anchor (the kernel map's from the neighbouring parts' rows)."""
    folder, whole, areas, records = city
    experiment = case("classifier")  # zero rows sampled
    config, fc, panel = experiment.training, experiment.features, whole.frame
    fold, h = make_folds(pd.DatetimeIndex(np.sort(panel[C.PERIOD].unique())), config)[0], 1
    periods = pd.DatetimeIndex(np.sort(panel[C.PERIOD].unique()))
    known = panel.assign(**{n: np.where(np.isnan(panel[n]), np.nan, v.ravel()) for n, v in
                            outcomes_known_at(areas, *records, fc, Layout(
                                panel[C.AREA_ID].unique(), periods, fc.period), fold.start).items()})
    threshold = flag_threshold(known, config, before=fold.start)
    count, flag = target_counts(known, config, h), target_flags(known, config, h, threshold)
    assert (count != target_counts(panel, config, h))[~np.isnan(count)].any()  # late reports
    step = periods[1] - periods[0]
    train = ((panel[C.PERIOD] + h * step < fold.start).to_numpy() & ~np.isnan(count)
             & ~np.isnan(flag))
    features = feature_columns(panel, whole.catalogue)
    X = design(panel, features, fc.period, h, fc.calendar)[train].to_numpy(np.float32)
    columns = [C.AREA_ID, C.PERIOD, *features, *[f"outcome_{s}" for s in
                                                  ("all", "collective", "group")]]
    clean = str(folder / "clean")
    parts = [str(p) for p in panel_parts(folder)]
    # The map anchors: each block's from the rows of the areas within the kernel's reach.
    area_ids = panel[C.AREA_ID].unique()
    smoothers = hotspot_smoothers(areas, area_ids)
    frames = [pd.read_parquet(p, columns=map_columns("all")[:2] + ["all_mean_all"])
              for p in parts]
    edges = np.r_[0, np.cumsum([f[C.AREA_ID].nunique() for f in frames])]
    maps = [block_maps(held_rows(area_ids[reach], local, lo, hi, *[frames[b] for b in mine]),
                       "all", ["year", "kernel_year"])
            for reach, local, (lo, hi), mine in block_reach(edges, smoothers)]
    anchors = anchor_columns(experiment, set(panel.columns)) | {
        n: f"{MAP_PREFIX}{n}" for n in ("year", "kernel_year")}
    assert set(anchors) == set(config.anchors)  # every anchor of the defaults
    sums = with_columns(add_frames(*[period_sums(p, ["all_sum_13", "all_mean_all",
                                                     "all_mean_all_kernel_1", "all_ewm"])
                                     for p in parts]), *map(frame_sums, maps))
    blocks = []
    for b, part in enumerate(parts):
        ids = pd.read_parquet(part, columns=[C.AREA_ID])[C.AREA_ID].unique()
        origin = at_origin(part, columns, read_records(clean, "incidents", list(ids)),
                           read_records(clean, "petitions"), Layout(ids, periods, fc.period),
                           areas[areas[C.AREA_ID].isin(ids)][[C.AREA_ID, C.AREA_KM2]],
                           experiment, fold.start)
        blocks.append(train_rows(origin, features, experiment, fold, h, sums, anchors, step,
                                 maps[b]))
    np.testing.assert_array_equal(np.concatenate([b.X for b in blocks]), X)
    np.testing.assert_array_equal(np.concatenate([b.count for b in blocks]), count[train])
    np.testing.assert_array_equal(np.concatenate([b.flag for b in blocks]), flag[train])
    np.testing.assert_array_equal(np.concatenate([b.weight for b in blocks]), sample_weights(
        count[train], flag[train], config, area=panel[C.AREA_ID].to_numpy()[train]))
    # The anchors the labels are shrunk toward, each at the city's level, as in-process
    # (sums in float64 per block, added across blocks: to within float32's rounding).
    local = training_rows(known, areas, config, threshold, fc.windows[-1], smoothers).take(train)
    assert set(local.anchors) | {"long_run"} == set(anchors)
    for name in anchors:
        expected = local.anchor(name)
        assert expected.std() > 0, name
        np.testing.assert_allclose(np.concatenate([b.anchors[name] for b in blocks]),
                                   expected, rtol=1e-6, atol=1e-12, err_msg=name)


def test_the_driver_reads_neither_the_panel_nor_the_records(city, dask_cluster, tmp_path):
    folder = city[0]
    with pytest.raises(InputError, match="parts must all be named"):
        read_features(folder)  # the whole panel: refused here, so the backtest never read it
    settings = Settings(data_dir=folder.parent, engine="dask",
                        dask_scheduler=dask_cluster.scheduler_address)
    inputs = load_inputs(BACKTEST.model_copy(update={"name": folder.name}), settings)
    assert inputs.folder == folder and inputs.rows == 12 * 52
    assert inputs.panel.empty and inputs.incidents.empty and inputs.petitions.empty
    assert list(inputs.counts[C.UNIT_LEVEL]) == ["city"]  # the grids' counts stay in the parts
    assert len(inputs.areas) == 12
