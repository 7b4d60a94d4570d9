"""Builders of store inputs shared by the store tests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np

from detectors.findings import METRICS, EventFrame

T0 = datetime(2024, 3, 4, tzinfo=UTC)  # a Monday, on the hour
T0_S = int(T0.timestamp())
HOUR = 3600


def metric_number(name: str) -> int:
    return METRICS.index(name) + 1


def points(
    rows: Sequence[tuple[str, str, int, float]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(account, metric name, seconds after T0, value) rows as write_metric_batch arrays."""
    return (
        np.array([r[0] for r in rows], dtype=np.str_),
        np.array([metric_number(r[1]) for r in rows], dtype=np.uint8),
        np.array([T0_S + r[2] for r in rows], dtype=np.int64),
        np.array([r[3] for r in rows], dtype=np.float64),
    )


def events(
    rows: Sequence[tuple[str, str, str, int]],
    *,
    content_id: str = "",
    source: str = "profile",
    consented: bool = True,
    client_id: str = "",
) -> EventFrame:
    """(actor, account, type, seconds after T0) rows as an EventFrame."""
    n = len(rows)
    return EventFrame(
        actor_ids=np.array([r[0] for r in rows], dtype=np.str_),
        account_ids=np.array([r[1] for r in rows], dtype=np.str_),
        types=np.array([r[2] for r in rows], dtype=np.str_),
        times=np.array([T0_S + r[3] for r in rows], dtype=np.int64),
        content_ids=np.array([content_id] * n, dtype=np.str_),
        sources=np.array([source] * n, dtype=np.str_),
        consented=np.array([consented] * n, dtype=bool),
        client_ids=np.array([client_id] * n, dtype=np.str_),
    )
