"""Offline scoring of one CSV series: reads timestamp,value and adds anomaly_score."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from detectors.streaming import StreamingConfig, causal_scores
from server.errors import InvalidArgument

logger = logging.getLogger(__name__)


def score_frame(
    frame: pd.DataFrame, config: StreamingConfig | None = None
) -> npt.NDArray[np.float64]:
    """Causal anomaly score per row of a frame with `timestamp` and `value` columns.

    Raises:
        InvalidArgument: a column is missing, or a value or timestamp does not parse.
    """
    missing = {"timestamp", "value"} - set(frame.columns)
    if missing:
        raise InvalidArgument(f"missing column(s) {sorted(missing)}")
    values = pd.to_numeric(frame["value"], errors="coerce").to_numpy(dtype=np.float64)
    if np.isnan(values).any():
        raise InvalidArgument("non-numeric values in column 'value'")
    try:
        stamps = pd.to_datetime(frame["timestamp"], format="mixed", utc=True)
    except (ValueError, TypeError) as err:
        raise InvalidArgument(f"unparseable timestamp in column 'timestamp': {err}") from err
    timestamps = stamps.dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
    return causal_scores(values, config or StreamingConfig(), timestamps)


def score_csv_file(source: str | Path, destination: str | Path) -> None:
    frame = pd.read_csv(source)
    try:
        scores = score_frame(frame)
    except InvalidArgument as err:
        raise InvalidArgument(f"{source}: {err}") from err
    frame["anomaly_score"] = scores
    frame.to_csv(destination, index=False)
    logger.info("scored %d rows of %s into %s", len(frame), source, destination)
