"""Progress people can see: in a log, one timestamped line per stage and per fold and horizon,
with the time elapsed and left; on a terminal, bars with the same."""

from __future__ import annotations

import io
import os
import re
import subprocess
from datetime import datetime

import pytest
from rich.console import Console

from cli.progress import Clock, about, duration, log_line, progress
from riskgrid import Settings, load_experiment
from tests.cli.test_app import RISKGRID
from tests.training.test_registry import write_inputs

TINY = """name = "tiny"
sources = {}
[areas]
path = "unused.csv"
[features]
start = "2023-01-02"
end = "2023-12-25"
horizons = [1, 2]
[training]
folds = 2
fold_step = 8
min_train_periods = 20
num_boost_round = 10
min_data_in_leaf = 20
risk_flag = "above_quantile"
flag_quantile = 0.8
"""
STAMP = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"


class FakeTime:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_durations_read_as_people_say_them():
    assert [duration(s) for s in (4.4, 100, 120, 3725)] == ["4 s", "1 min 40 s", "2 min",
                                                            "1 h 2 min"]
    assert [about(s) for s in (2, 42, 170, 4000)] == ["5 s", "40 s", "3 min", "1 h 7 min"]


def test_the_time_left_is_the_mean_step_times_the_steps_to_do():
    time = FakeTime()
    clock = Clock(time)
    time.now = 10
    assert clock.read((1, 4)) == (10, None)  # nothing done yet: no estimate
    time.now = 40
    assert clock.read((2, 4)) == (40, 90)  # 30 s for one step, three to do
    time.now = 100
    assert clock.read((4, 4)) == (100, 30)
    time.now = 110
    assert clock.read(None) == (110, None)  # a stage after the loop: no estimate
    assert clock.read((1, 2)) == (110, None)  # a new loop starts its own estimate


def test_a_log_line_says_when_what_and_how_long():
    at = datetime(2026, 12, 2, 15, 3, 12)
    assert log_line("train", "fold 2/4, horizon 3", 100, 170, at) == (
        "2026-12-02 15:03:12 train: fold 2/4, horizon 3, 1 min 40 s elapsed, about 3 min left")
    assert log_line("ingest", "reading incidents", 3, None, at) == (
        "2026-12-02 15:03:12 ingest: reading incidents, 3 s elapsed")


def test_a_terminal_gets_bars_with_the_step_and_the_times():
    out = io.StringIO()
    terminal = Console(file=out, force_terminal=True, width=120)
    with progress("backtest", terminal) as step:
        step("fold 1/2, horizon 1", (1, 4))
        step("fold 1/2, horizon 2", (2, 4))
    shown = out.getvalue()
    assert "backtest: fold 1/2, horizon 2" in shown and "2/4" in shown and "elapsed" in shown
    assert not re.search(STAMP, shown)  # bars, not log lines


@pytest.mark.slow
def test_train_writes_its_folds_and_horizons_into_a_log(tmp_path):
    """`riskgrid train` with its output to a pipe, as in `make demo > log` or a cron job."""
    path = tmp_path / "tiny.toml"
    path.write_text(TINY, encoding="utf-8")
    data = tmp_path / "data"
    write_inputs(load_experiment(path), Settings(data_dir=data, pseudonym_secret="test"))
    env = {**os.environ, "RISKGRID_DATA_DIR": str(data)}
    env.pop("MLFLOW_TRACKING_URI", None)
    done = subprocess.run([RISKGRID, "train", str(path)], capture_output=True, text=True,
                          env=env, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [line for line in done.stdout.splitlines() if re.match(f"{STAMP} train: ", line)]
    steps = [re.sub(f"^{STAMP} train: ", "", line) for line in lines]
    folds = [s.split(", ")[:2] for s in steps if s.startswith("fold")]
    assert folds == [["fold 1/2", "horizon 1"], ["fold 1/2", "horizon 2"],
                     ["fold 2/2", "horizon 1"], ["fold 2/2", "horizon 2"]]
    fold_lines = [s for s in steps if s.startswith("fold")]
    assert re.fullmatch(r"fold 1/2, horizon 1, [\d a-z]+ elapsed", fold_lines[0])
    assert all(re.fullmatch(r"fold \d/2, horizon \d, [\d a-z]+ elapsed, about [\d a-z]+ left",
                            s) for s in fold_lines[1:])
    for stage in ("reading the feature panel", "fitting the final models",
                  "logging to MLflow and registering the model"):
        assert any(s.startswith(stage) for s in steps), f"no line for {stage}"
    assert steps[-1].startswith("done in ")
    assert "registered riskgrid-tiny version 1 as challenger" in done.stdout
