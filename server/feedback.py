"""Reviewer feedback moves each detector's operating point per pattern.

The operating point of (detector, pattern) is the lowest finding score that still becomes an
alert. A false positive raises it one step, a confirmed fraud lowers it one step; it never
leaves [floor, ceiling], where the floor is where the detector starts reporting at all (its own
`min_score`, or the configured floor if higher). Only a change of verdict on an alert moves the
point, so a reviewer saving the same verdict twice does not push it twice. Every change is
appended to the store (the point survives restarts and is auditable), logged, and shown as
`engagewatch_operating_point{detector,pattern}`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from detectors.findings import PATTERNS, Finding
from engagewatch.v1 import types_pb2
from server.config import FeedbackSettings
from server.errors import StoreUnavailable
from server.metrics import Metrics

logger = logging.getLogger(__name__)

_DIGITS = 6  # points are rounded so repeated steps do not drift (0.5 + 3 * 0.05 == 0.65)


@dataclass(frozen=True, slots=True)
class OperatingPointChange:
    """One move of an operating point, kept as the record of why detection changed."""

    detector: str
    pattern: int  # engagewatch.v1 Pattern number
    change_id: int  # orders the changes of one point; the highest is the current value
    changed_at: datetime
    verdict: int  # engagewatch.v1 Verdict number that caused the change
    alert_id: str
    old_value: float
    new_value: float


class OperatingPointStore(Protocol):
    """The part of the store feedback needs."""

    def operating_points(self) -> dict[tuple[str, int], float]: ...
    def write_operating_point_change(self, change: OperatingPointChange) -> None: ...


def reporting_floor(detector: Any) -> float:
    """The score below which a detector reports nothing: its config's `min_score`, else 0."""
    config = getattr(detector, "config", None)
    return float(getattr(config, "min_score", 0.0))


def _pattern_number(name: str) -> int:
    return PATTERNS.index(name) + 1


def _pattern_name(number: int) -> str:
    return PATTERNS[number - 1]


class OperatingPoints:
    """The current operating points, read from the store and moved by review verdicts.

    Thread-safe; one per process. Reads go to the store each time `current()` is called,
    so a backtest process sees what the service's reviewers set.
    """

    def __init__(
        self,
        store: OperatingPointStore,
        metrics: Metrics,
        settings: FeedbackSettings,
        floors: Mapping[str, float],
    ) -> None:
        if not 0.0 <= settings.floor <= settings.ceiling <= 1.0 or settings.step <= 0.0:
            raise ValueError("feedback needs 0 <= floor <= ceiling <= 1 and a positive step")
        self._store = store
        self._metrics = metrics
        self._settings = settings
        self._floors = {
            name: min(max(settings.floor, floor), settings.ceiling)
            for name, floor in floors.items()
        }
        self._lock = threading.Lock()
        self._last_change_id = 0

    def floor(self, detector: str) -> float:
        return self._floors.get(detector, self._settings.floor)

    @property
    def ceiling(self) -> float:
        return self._settings.ceiling

    @property
    def step(self) -> float:
        return self._settings.step

    def current(self) -> dict[tuple[str, str], float]:
        """(detector, pattern name) -> point for every detector and pattern; sets the gauge too."""
        moved = self._store.operating_points()
        points = {
            (detector, pattern): self.floor(detector)
            for detector in self._floors
            for pattern in PATTERNS
        }
        for (detector, number), value in moved.items():
            if 1 <= number <= len(PATTERNS):
                points[(detector, _pattern_name(number))] = self._bounded(detector, value)
        self._publish((d, p, v) for (d, p), v in points.items() if (d, _pattern_number(p)) in moved)
        return points

    def load(self) -> None:
        """Sets the gauge from the store at start; a store that is down is read on the next run."""
        try:
            self.current()
        except StoreUnavailable:
            logger.warning("store unavailable; operating points are read on the next run")

    def split(
        self, findings: Sequence[Finding], points: Mapping[tuple[str, str], float]
    ) -> tuple[list[Finding], list[Finding]]:
        """(findings at or above their operating point, findings below it)."""
        kept: list[Finding] = []
        below: list[Finding] = []
        for finding in findings:
            point = points.get((finding.detector, finding.pattern), self.floor(finding.detector))
            (kept if finding.score >= point else below).append(finding)
        return kept, below

    def record_verdict(
        self,
        detector: str,
        pattern: int,
        verdict: int,
        previous_verdict: int,
        alert_id: str,
        now: datetime | None = None,
    ) -> OperatingPointChange | None:
        """Moves the point of (detector, pattern) for a new verdict; None if it did not move.

        A false positive raises the point one step, a confirmed fraud lowers it one step,
        within [floor, ceiling]. Repeating an alert's verdict changes nothing.
        """
        if verdict == previous_verdict or not 1 <= pattern <= len(PATTERNS):
            return None
        if verdict == types_pb2.VERDICT_FALSE_POSITIVE:
            direction = 1.0
        elif verdict == types_pb2.VERDICT_CONFIRMED_FRAUD:
            direction = -1.0
        else:
            return None
        with self._lock:
            old = self._bounded(
                detector,
                self._store.operating_points().get((detector, pattern), self.floor(detector)),
            )
            new = self._bounded(detector, old + direction * self._settings.step)
            if new == old:
                logger.info(
                    "operating point %s/%s stays at %.4g after %s (at its %s)",
                    detector,
                    _pattern_name(pattern),
                    old,
                    _verdict_label(verdict),
                    "ceiling" if direction > 0 else "floor",
                )
                return None
            # Nanoseconds, made strictly increasing within the process.
            change_id = max(time.time_ns(), self._last_change_id + 1)
            self._last_change_id = change_id
            change = OperatingPointChange(
                detector=detector,
                pattern=pattern,
                change_id=change_id,
                changed_at=now or datetime.now(UTC),
                verdict=verdict,
                alert_id=alert_id,
                old_value=old,
                new_value=new,
            )
            self._store.write_operating_point_change(change)
        logger.info(
            "operating point %s/%s %.4g -> %.4g after %s on %s",
            detector,
            _pattern_name(pattern),
            old,
            new,
            _verdict_label(verdict),
            alert_id,
        )
        self._publish([(detector, _pattern_name(pattern), new)])
        self._metrics.operating_point_changes.labels(
            detector, _pattern_name(pattern), "up" if direction > 0 else "down"
        ).inc()
        return change

    def _bounded(self, detector: str, value: float) -> float:
        return round(min(max(value, self.floor(detector)), self._settings.ceiling), _DIGITS)

    def _publish(self, points: Iterable[tuple[str, str, float]]) -> None:
        for detector, pattern, value in points:
            self._metrics.operating_point.labels(detector, pattern).set(value)


def _verdict_label(verdict: int) -> str:
    return str(types_pb2.Verdict.Name(verdict)).removeprefix("VERDICT_").lower()
