"""`riskgrid equity`: the diagnostics of a trained city, printed and written as JSON."""

from __future__ import annotations

import json

import pytest

from riskgrid import Settings
from tests.cli.test_app import riskgrid

pytestmark = pytest.mark.slow


def test_equity_prints_the_units_and_writes_every_period_as_json(tmp_path):
    from riskgrid.experiment import load_experiment
    from serving import Scorer, load_champion, load_serving_data
    from tests.serving.conftest import SANE, train_and_promote, write_experiment
    from tests.training.test_registry import write_inputs

    settings = Settings(data_dir=tmp_path / "data", pseudonym_secret="test")
    path = write_experiment(tmp_path, SANE)
    # the tiny city's incidents all come from the hotline: call it the patrol's channel here
    path.write_text(path.read_text() + '[equity]\nofficer_channels = ["hotline_12345"]\n')
    experiment = load_experiment(path)
    write_inputs(experiment, settings)
    train_and_promote(path, settings, "first model")
    out = tmp_path / "equity.json"
    done = riskgrid("equity", str(path), "--json", str(out), data_dir=settings.data_dir)
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    assert report["as_of"] == "2023-12-25" and report["channels_known"]
    assert "equity as of 2023-12-25" in done.stdout and "S1" in done.stdout
    now = {(r["level"], r["unit_id"]): r for r in report["rows"]
           if r["period"] == report["as_of"]}
    assert set(now) == {("city", "city"), ("district", "D0"), ("street", "S0"),
                        ("street", "S1")}
    # no vintage in the ledger for the latest week: its flags are the champion's live levels
    scorer = Scorer(load_champion(settings, "tiny"), load_serving_data(experiment, settings),
                    experiment)
    levels = scorer.snapshot(scorer.latest).horizons[1]["risk_level"]
    city = now[("city", "city")]
    assert city["flagged"] == int((levels != "none").sum())
    assert city["high"] == int(levels.isin(["red", "orange"]).sum())
    assert city["officer_share"] == 1.0  # every incident came from the named channel
    assert 0 < city["officer_signal_share"] <= 1
    assert now[("street", "S0")]["flagged"] + now[("street", "S1")]["flagged"] == \
        city["flagged"]
    # the backtest's out-of-sample vintages are the earlier periods
    assert len(report["periods"]) > 1 and report["periods"][-1] == report["as_of"]
    assert {t["metric"] for t in report["trend"]} >= {"repeat_share", "flagged_officer_share"}
    bad = riskgrid("equity", str(path), "--as-of", "2031-01-01", data_dir=settings.data_dir)
    assert bad.returncode == 2 and "outside the data" in bad.stderr
    assert "Traceback" not in bad.stderr
