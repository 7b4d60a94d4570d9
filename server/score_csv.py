"""Offline scoring of one CSV series: reads timestamp,value and adds anomaly_score."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from detectors.streaming import causal_scores
from server.errors import InvalidArgument

logger = logging.getLogger(__name__)


def score_csv_file(source: str | Path, destination: str | Path) -> None:
    frame = pd.read_csv(source)
    missing = {"timestamp", "value"} - set(frame.columns)
    if missing:
        raise InvalidArgument(f"{source}: missing column(s) {sorted(missing)}")
    values = pd.to_numeric(frame["value"], errors="coerce").to_numpy(dtype=float)
    if pd.isna(values).any():
        raise InvalidArgument(f"{source}: non-numeric values in column 'value'")
    frame["anomaly_score"] = causal_scores(values)
    frame.to_csv(destination, index=False)
    logger.info("scored %d rows of %s into %s", len(frame), source, destination)
