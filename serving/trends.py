"""Prophet trend forecasts of streets, districts and the city, cached per as-of period."""

from __future__ import annotations

import threading
from collections import OrderedDict

import pandas as pd

from riskgrid import vocabulary as C
from riskgrid.errors import InputError
from riskgrid.experiment import Experiment
from riskgrid.vocabulary import DS, IS_FORECAST, TREND_LEVELS, YHAT, YHAT_LOWER, YHAT_UPPER, Y
from training import TrendConfig, forecast_trend, surges, unit_series


class TrendService:
    """Trend forecasts for the API and the surge rule; one Prophet fit per unit and as-of."""

    def __init__(self, counts: pd.DataFrame, experiment: Experiment, cache: int = 256):
        self.counts = counts
        self.config = TrendConfig(period=experiment.features.period)
        self.streams = [c for c in counts.columns
                        if c not in ("level", "unit_id", "unit_name", C.PERIOD)]
        self._cache: OrderedDict[tuple, pd.DataFrame] = OrderedDict()
        self._size = cache
        self._lock = threading.Lock()

    def frame(self, level: str, unit_id: str, stream: str, horizon: int,
              as_of: pd.Timestamp) -> pd.DataFrame:
        if level not in TREND_LEVELS:
            raise InputError(f"{unit_id!r} is a {level}; trend forecasts are made for "
                             f"{', '.join(TREND_LEVELS)} (finer units are too sparse)")
        if stream not in self.streams:
            raise InputError(f"stream must be one of {self.streams}, not {stream!r}")
        key = (level, unit_id, stream, horizon, as_of)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        series = unit_series(self.counts, level, unit_id, stream)
        out = forecast_trend(series, self.config, horizon, as_of)
        with self._lock:
            self._cache[key] = out
            while len(self._cache) > self._size:
                self._cache.popitem(last=False)
        return out

    def forecast(self, level: str, unit_id: str, stream: str, horizon: int,
                 as_of: pd.Timestamp) -> dict:
        """The API's answer: the fitted history of the last year and the forecast."""
        frame = self.frame(level, unit_id, stream, horizon, as_of)
        shown = frame.tail(horizon + 52)
        points = [{"period": str(row[DS].date()), "forecast": float(row[YHAT]),
                   "low": float(row[YHAT_LOWER]), "high": float(row[YHAT_UPPER]),
                   "observed": None if pd.isna(row[Y]) else float(row[Y]),
                   "is_forecast": bool(row[IS_FORECAST])}
                  for _, row in shown.iterrows()]
        return {"unit_id": unit_id, "level": level, "stream": stream,
                "interval": self.config.interval_width, "points": points}

    def surges(self, as_of: pd.Timestamp, previous: pd.Timestamp,
               levels: tuple[str, ...] = ("street", "district")) -> pd.DataFrame:
        """Units whose as-of count came in above the upper interval of the forecast made the
        period before (point in time: that forecast saw nothing of the as-of period)."""
        frames = []
        for level in levels:
            units = self.counts.loc[self.counts["level"] == level, "unit_id"].unique()
            for unit in sorted(units):
                f = self.frame(level, unit, "all", 1, previous)
                f = f[f[DS] <= as_of]
                found = surges(f.assign(unit_id=unit), recent=1)
                if len(found):
                    frames.append(found)
        if not frames:
            return pd.DataFrame(columns=["unit_id", DS, Y, YHAT, YHAT_UPPER, "excess"])
        return pd.concat(frames, ignore_index=True)
