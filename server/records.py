"""Plain records the store reads and writes, independent of protobuf and of detectors."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from detectors.findings import EventFrame


@dataclass(frozen=True, slots=True)
class MetricBatch:
    """One validated batch of metric points, as parallel arrays."""

    batch_id: str
    account_ids: npt.NDArray[Any]  # str objects (or np.str_): the store hashes either
    metrics: npt.NDArray[np.uint8]  # engagewatch.v1 Metric numbers
    unix_seconds: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.values)


@dataclass(frozen=True, slots=True)
class EventBatch:
    """One validated batch of events."""

    batch_id: str
    events: EventFrame

    def __len__(self) -> int:
        return len(self.events)


@dataclass(slots=True)
class AlertRecord:
    """One alert as stored: the latest version of an alert_id is the one with the highest sequence.

    Enums are stored as their protobuf numbers (engagewatch.v1 Pattern, Metric, Severity,
    Action, AlertState, Verdict); 0 means unset.
    """

    alert_id: str
    sequence: int
    account_id: str
    detector: str
    pattern: int
    metric: int
    severity: int
    score: float
    window_start: datetime
    window_end: datetime
    observed: float
    expected: float
    evidence_json: str  # JSON list of {"kind": str, "values": {str: str}}
    explanation: str
    recommended_action: int
    state: int
    created_at: datetime
    updated_at: datetime
    member_ids: list[str] = field(default_factory=list)  # bounded sample
    target_ids: list[str] = field(default_factory=list)  # bounded sample
    member_count: int = 0
    target_count: int = 0
    verdict: int = 0
    review_note: str = ""
    reviewer: str = ""


@dataclass(frozen=True, slots=True)
class AlertFilter:
    """Filters of ListAlerts; None or 0 means any."""

    account_id: str | None = None
    detector: str | None = None
    pattern: int = 0
    min_severity: int = 0
    since: datetime | None = None
    state: int = 0


@dataclass(frozen=True, slots=True)
class ReviewRecord:
    """One reviewer verdict, kept as a permanent record of the measure taken."""

    alert_id: str
    verdict: int
    note: str
    reviewer: str
    reviewed_at: datetime
    detector: str
    pattern: int
