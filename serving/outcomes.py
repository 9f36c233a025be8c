"""What happened, as the forecasts are judged: per grid and period, the count and the risk flag."""

from __future__ import annotations

import numpy as np
import pandas as pd

from riskgrid import vocabulary as C
from riskgrid.errors import InputError
from riskgrid.experiment import TrainingConfig
from training import OUTCOME, flag_streams, flag_threshold

FLAG = "flag"


def panel_outcomes(panel: pd.DataFrame, training: TrainingConfig) -> pd.DataFrame:
    """What happened: per grid and period, the target stream's final count and the risk flag.

    The count is ``outcome_<target>`` (late reports included), the same as the training
    targets. The flag is the experiment's risk flag: for ``collective_or_group`` any collective
    petition or group incident in the period; for ``above_quantile`` the count above the
    area's own ``flag_quantile`` over the whole panel (the threshold stored with the model).

    Returns:
        Columns area_id, period, count, flag (0.0 or 1.0).
    """
    column = OUTCOME + training.target
    if column not in panel:
        raise InputError(f"The feature panel has no {column} column; rebuild it with riskgrid "
                         f"features, or set [training] target to a stream it counts.")
    rows = panel.sort_values([C.AREA_ID, C.PERIOD], kind="stable").reset_index(drop=True)
    threshold = flag_threshold(rows, training)
    flags = flag_streams(rows, training) > threshold[:, None]
    return pd.DataFrame({C.AREA_ID: rows[C.AREA_ID].astype(str),
                         C.PERIOD: pd.to_datetime(rows[C.PERIOD]),
                         C.COUNT: rows[column].to_numpy(np.float64),
                         FLAG: flags.ravel().astype(np.float64)})
