"""The backtest on the workers against the in-process one, on the partitioned test's city.

Builds the city of ``tests/training/test_partitioned_backtest.py`` (12 grids in 5 parts, 2
origins of 4 weeks, horizons 1 and 2), runs ``training.backtest.run_backtest`` and
``training.partitioned_backtest.run_backtest_partitioned`` (on a local cluster of two
one-thread workers) for each of the test's cases, and prints per case and horizon the
model's Poisson deviance, CRPS and Brier score on the workers / in process, the best
baseline of the same run, and the nested choices that differ (docs/distributed.md).

    PYTHONPATH=. .venv/bin/python bench/partitioned_agreement.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from distributed import LocalCluster

from features import Engine
from tests.training.test_partitioned_backtest import CASES, case, run_backtest
from tests.training.test_partitioned_backtest import city as city_fixture
from training.partitioned_backtest import run_backtest_partitioned


class _Folders:
    def mktemp(self, name: str) -> Path:
        return Path(tempfile.mkdtemp(prefix=name))


def main() -> None:
    folder, whole, areas, records = city_fixture.__wrapped__(_Folders())
    print("| case, horizon | Poisson deviance: workers / in process | CRPS | Brier | "
          "best baseline (deviance) |")
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None,
                      scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}) as cluster:
        engine = Engine(scheduler=cluster.scheduler_address)
        for name in CASES:
            experiment = case(name)
            here = run_backtest(whole.frame, whole.catalogue, areas, experiment.features,
                                experiment.training, records=records)
            there = run_backtest_partitioned(experiment, folder, engine).result
            for h in there.horizons:
                a, b = there.model[h], here.model[h]
                best = min(here.baselines,
                           key=lambda n, h=h: here.baselines[n][h]["poisson_deviance"])
                print(f"| {name}, h{h} | {a['poisson_deviance']:.3f} / "
                      f"{b['poisson_deviance']:.3f} | {a['crps']:.3f} / {b['crps']:.3f} | "
                      f"{a['brier']:.3f} / {b['brier']:.3f} | "
                      f"{best}: {here.baselines[best][h]['poisson_deviance']:.3f} |")
            ours, theirs = there.as_json()["choices"], here.as_json()["choices"]
            for o, t in zip(ours, theirs, strict=True):
                if o != t:
                    print(f"{name}: workers {o}\n{name}: in process {t}")


if __name__ == "__main__":
    main()
