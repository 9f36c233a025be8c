"""A trained risk model: one count model and one calibrated classifier per horizon.

Saved in a plain folder (LightGBM text boosters, pickled calibrators, JSON metadata) so the
service can load native boosters without MLflow's pyfunc wrapper.
"""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd

from riskgrid import vocabulary as C
from training.models import HorizonModel
from training.targets import target_calendar


@dataclass
class RiskModel:
    """Everything needed to score panel rows: models by horizon and what they read."""

    experiment: str
    period: str
    target: str
    risk_flag: str
    features: list[str]
    horizons: dict[int, HorizonModel]
    thresholds: dict[str, float] = field(default_factory=dict)
    calendar: str = "CN"

    def area_thresholds(self, panel: pd.DataFrame) -> np.ndarray | None:
        """Each row's flag threshold (count-threshold flags only)."""
        if not self.thresholds:
            return None
        return panel[C.AREA_ID].map(self.thresholds).to_numpy(np.float64)

    def inputs(self, panel: pd.DataFrame, h: int) -> pd.DataFrame:
        """Panel rows (complete area x period grid) with the calendar of period t+h."""
        calendar = target_calendar(panel, self.period, h, self.calendar)
        return pd.concat([panel[self.features], calendar], axis=1)

    def predict(self, panel: pd.DataFrame) -> pd.DataFrame:
        """Expected count and risk probability of t+h for each row and horizon (long frame)."""
        frames = []
        for h, model in self.horizons.items():
            X = self.inputs(panel, h)
            frames.append(pd.DataFrame({
                C.AREA_ID: panel[C.AREA_ID].to_numpy(), C.PERIOD: panel[C.PERIOD].to_numpy(),
                "horizon": h, "expected_count": model.expected_count(X),
                "risk_probability": model.risk_probability(X, self.area_thresholds(panel))}))
        return pd.concat(frames, ignore_index=True)

    def save(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        meta = {"experiment": self.experiment, "period": self.period, "target": self.target,
                "risk_flag": self.risk_flag, "features": self.features,
                "calendar": self.calendar,
                "horizons": sorted(self.horizons), "thresholds": self.thresholds,
                "by_count": {str(h): m.by_count for h, m in self.horizons.items()},
                "dispersion": {str(h): m.dispersion for h, m in self.horizons.items()},
                "risk_law": {str(h): m.risk_law for h, m in self.horizons.items()}}
        (folder / "model.json").write_text(json.dumps(meta, indent=2))
        for h, model in self.horizons.items():
            model.count.save_model(str(folder / f"count_h{h}.txt"))
            model.risk.save_model(str(folder / f"risk_h{h}.txt"))
            (folder / f"calibrator_h{h}.pkl").write_bytes(pickle.dumps(model.calibrator))
            (folder / f"inputs_h{h}.json").write_text(json.dumps(model.features))
        return folder

    @classmethod
    def load(cls, folder: Path) -> RiskModel:
        meta = json.loads((folder / "model.json").read_text())
        horizons = {}
        for h in meta["horizons"]:
            horizons[h] = HorizonModel(
                horizon=h, features=json.loads((folder / f"inputs_h{h}.json").read_text()),
                count=lgb.Booster(model_file=str(folder / f"count_h{h}.txt")),
                risk=lgb.Booster(model_file=str(folder / f"risk_h{h}.txt")),
                calibrator=pickle.loads((folder / f"calibrator_h{h}.pkl").read_bytes()),
                by_count=meta["by_count"][str(h)],
                dispersion=float(meta.get("dispersion", {}).get(str(h), 0.0)),
                # saved before the law was recorded: a Poisson law's raw risk
                risk_law=meta.get("risk_law", {}).get(str(h), "poisson"))
        return cls(experiment=meta["experiment"], period=meta["period"], target=meta["target"],
                   risk_flag=meta["risk_flag"], features=meta["features"], horizons=horizons,
                   thresholds=meta["thresholds"], calendar=meta.get("calendar", "CN"))


def contributions(model: HorizonModel, X: pd.DataFrame) -> pd.DataFrame:
    """TreeSHAP contributions of each input to the count model's log-rate (LightGBM's own
    exact TreeSHAP); the last column, ``base_value``, is the expected log-rate."""
    values = model.count.predict(X[model.features].to_numpy(np.float32), pred_contrib=True)
    return pd.DataFrame(values, columns=[*model.features, "base_value"], index=X.index)
