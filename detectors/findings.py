"""The shapes shared by every detector: what goes in (panels, event frames) and what comes out.

Both families, statistical (`detectors/`) and graph (`graphs/`), return `Finding`s, so the
alert layer treats them alike. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar, Protocol, TypeVar

import numpy as np
import numpy.typing as npt

# Metric and pattern names as plain strings, so detectors need no generated protobuf code.
METRICS: tuple[str, ...] = ("follows", "unfollows", "clicks", "shares", "comments", "impressions")
EVENT_TYPES: tuple[str, ...] = ("follow", "unfollow", "click", "share", "comment")
PATTERNS: tuple[str, ...] = (
    "fake_followers",
    "fake_traffic",
    "fake_engagement",
    "lockstep_group",
    "forced_subscription",
    "coordinated_sharing",
)
BUCKET_SECONDS = 3600  # series are hourly


@dataclass(frozen=True, slots=True)
class Evidence:
    """One key fact behind a finding, e.g. kind="observed_vs_expected"."""

    kind: str
    values: Mapping[str, float | str]


@dataclass(frozen=True, slots=True)
class Finding:
    """One suspected case of faked engagement.

    `key` is the finding's identity within its detector: detecting the same thing again
    (in a later, overlapping run) must give the same key, so the alert is updated and
    never duplicated. For a metric anomaly that is account, metric and the first
    anomalous bucket; for a group, something that survives the group growing.
    """

    detector: str
    pattern: str  # one of PATTERNS
    subject: str  # the account concerned; for a group, the target most affected
    key: str
    start_time: datetime  # timezone-aware UTC
    end_time: datetime
    score: float  # in [0, 1], higher = more anomalous
    observed: float
    expected: float
    explanation: str  # one sentence a person can read
    evidence: tuple[Evidence, ...]  # never empty: say why
    metric: str | None = None  # one of METRICS, for metric detectors
    member_ids: tuple[str, ...] = ()  # group patterns: the actors
    target_ids: tuple[str, ...] = ()  # group patterns: every account acted on
    # Full group sizes when member_ids/target_ids hold only a sample (0: use their lengths).
    member_count: int = 0
    target_count: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.score <= 1.0:
            raise ValueError(f"score {self.score} outside [0, 1]")
        if not self.evidence:
            raise ValueError("a finding needs evidence")
        if self.pattern not in PATTERNS:
            raise ValueError(f"unknown pattern {self.pattern!r}")


# weakref_slot: the detectors' per-panel memo (detectors/_memo.py) holds panels weakly.
@dataclass(frozen=True, slots=True, weakref_slot=True)
class Panel:
    """Hourly series of every account, one accounts x buckets matrix per metric.

    `values[m][i, t]` is account i's count of metric m in bucket t; a bucket with no data is
    0. Buckets are contiguous hours. Buckets before `judge_from` are history: they form the
    baseline but are never flagged themselves.
    """

    account_ids: npt.NDArray[np.str_]  # (n,)
    bucket_times: npt.NDArray[np.datetime64]  # (t,), datetime64[s], UTC, hourly and contiguous
    values: Mapping[str, npt.NDArray[np.float64]]  # metric -> (n, t)
    judge_from: int = 0

    @property
    def n_accounts(self) -> int:
        return len(self.account_ids)

    @property
    def n_buckets(self) -> int:
        return len(self.bucket_times)

    def metric(self, name: str) -> npt.NDArray[np.float64]:
        """The (n, t) matrix of a metric, zeros if the panel has none of it."""
        found = self.values.get(name)
        if found is None:
            return np.zeros((self.n_accounts, self.n_buckets))
        return found


@dataclass(frozen=True, slots=True)
class EventFrame:
    """Raw interaction events as parallel arrays, sorted by time."""

    actor_ids: npt.NDArray[np.str_]
    account_ids: npt.NDArray[np.str_]
    types: npt.NDArray[np.str_]  # one of EVENT_TYPES
    times: npt.NDArray[np.int64]  # Unix seconds
    content_ids: npt.NDArray[np.str_]  # "" when none
    sources: npt.NDArray[np.str_]  # "" when unknown
    consented: npt.NDArray[np.bool_]
    client_ids: npt.NDArray[np.str_]  # "" when unknown

    def __len__(self) -> int:
        return len(self.times)

    def where(self, mask: npt.NDArray[np.bool_]) -> EventFrame:
        """The events for which `mask` is true."""
        return EventFrame(
            actor_ids=self.actor_ids[mask],
            account_ids=self.account_ids[mask],
            types=self.types[mask],
            times=self.times[mask],
            content_ids=self.content_ids[mask],
            sources=self.sources[mask],
            consented=self.consented[mask],
            client_ids=self.client_ids[mask],
        )

    @staticmethod
    def concat(frames: Sequence[EventFrame]) -> EventFrame:
        """The frames' events one after another (not re-sorted)."""
        if not frames:
            return EventFrame.empty()
        return EventFrame(
            *(
                np.concatenate([getattr(f, name) for f in frames])
                for name in EventFrame.__dataclass_fields__
            )
        )

    @staticmethod
    def empty() -> EventFrame:
        s = np.array([], dtype=str)
        return EventFrame(s, s, s, np.array([], dtype=np.int64), s, s, np.array([], bool), s)


InputT_contra = TypeVar("InputT_contra", contravariant=True)


class Detector(Protocol[InputT_contra]):
    """Data in, findings out. Statistical detectors take a Panel, graph detectors an EventFrame."""

    name: ClassVar[str]

    def detect(self, data: InputT_contra) -> Sequence[Finding]: ...
