"""Causal anomaly scores for one series, for `engagewatch score-csv` and NAB-style use.

The score of row t uses rows up to t only: each value is judged against a robust baseline
(median and MAD) of the values before it, so the scorer can run online.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd


@dataclass(frozen=True, slots=True)
class StreamingConfig:
    window: int = 288  # trailing points in the baseline
    min_history: int = 24  # rows before any score above 0
    scale: float = 4.0  # robust z at which the score reaches 1 - 1/e

    def __post_init__(self) -> None:
        if self.window < 3 or self.min_history < 3 or self.scale <= 0:
            raise ValueError("window and min_history must be >= 3 and scale > 0")


def causal_scores(
    values: npt.NDArray[np.float64], config: StreamingConfig = StreamingConfig()
) -> npt.NDArray[np.float64]:
    """Anomaly score in [0, 1] per value; row t depends on rows 0..t only."""
    series = pd.Series(np.asarray(values, dtype=np.float64))
    past = series.shift(1).rolling(config.window, min_periods=config.min_history)
    median = past.median()
    deviation = (series.shift(1) - median.shift(1)).abs()
    mad = deviation.rolling(config.window, min_periods=config.min_history).median()
    # A flat history has MAD 0; fall back to a small share of the level so one blip is not infinite.
    floor = 0.01 * median.abs().fillna(0.0) + 1e-9
    spread = np.maximum(1.4826 * mad.fillna(0.0).to_numpy(), floor.to_numpy())
    z = np.abs(series.to_numpy() - median.to_numpy()) / spread
    scores = 1.0 - np.exp(-np.nan_to_num(z, nan=0.0) / config.scale)
    scores[mad.isna().to_numpy()] = 0.0  # not enough history yet to judge
    return np.asarray(np.clip(scores, 0.0, 1.0), dtype=np.float64)
