"""Alert lifecycle: findings become stable, sequenced alerts with a severity and a measure.

The same finding detected again (same detector and key) is the same alert_id: it is updated
with a new sequence number only when something a reader cares about changed, so WatchAlerts
consumers are not flooded by repeated runs. Dismissed alerts stay dismissed.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from detectors.findings import METRICS, PATTERNS, Finding
from engagewatch.v1 import types_pb2
from server.records import AlertFilter, AlertRecord

MAX_GROUP_SAMPLE = 200  # members/targets kept in the alert; the counts say how many in all

SEVERITY_FLOORS = (  # score at or above -> severity
    (0.95, types_pb2.SEVERITY_CRITICAL),
    (0.85, types_pb2.SEVERITY_HIGH),
    (0.70, types_pb2.SEVERITY_MEDIUM),
    (0.0, types_pb2.SEVERITY_LOW),
)
_BASE_ACTION = {
    types_pb2.SEVERITY_LOW: types_pb2.ACTION_WARN,
    types_pb2.SEVERITY_MEDIUM: types_pb2.ACTION_LIMIT_FEATURES,
    types_pb2.SEVERITY_HIGH: types_pb2.ACTION_SUSPEND_UPDATES,
    types_pb2.SEVERITY_CRITICAL: types_pb2.ACTION_STOP_ADS,
}
# Automated measures stop here until a reviewer has confirmed fraud on the account.
AUTOMATED_ACTION_CAP = types_pb2.ACTION_SUSPEND_UPDATES


_MAX_CONFIRMED_SCAN = 100_000


class AlertStore(Protocol):
    """The part of the store the alert book needs."""

    def max_alert_sequence(self) -> int: ...
    def get_alerts(self, alert_ids: Sequence[str]) -> dict[str, AlertRecord]: ...
    def write_alerts(self, records: Sequence[AlertRecord]) -> None: ...
    def write_alert_members(
        self, alert_id: str, sequence: int, member_ids: Sequence[str], target_ids: Sequence[str]
    ) -> None: ...
    def list_alerts(
        self, flt: AlertFilter, before_sequence: int | None, limit: int
    ) -> list[AlertRecord]: ...


def pattern_number(name: str) -> int:
    return PATTERNS.index(name) + 1


def pattern_name(number: int) -> str:
    return PATTERNS[number - 1]


def metric_number(name: str | None) -> int:
    return 0 if name is None else METRICS.index(name) + 1


def severity_for(score: float) -> int:
    return int(next(sev for floor, sev in SEVERITY_FLOORS if score >= floor))


def recommended_action(severity: int, confirmed_on_account: int) -> int:
    """The ladder: severity sets the step, each confirmed fraud on the account climbs one more.

    Without any confirmed review the measure never passes SUSPEND_UPDATES: harsher steps
    (no ads, closure, blacklist) need a person's confirmation.
    """
    action = _BASE_ACTION[severity] + max(confirmed_on_account - 1, 0)
    if confirmed_on_account == 0:
        action = min(action, AUTOMATED_ACTION_CAP)
    return min(int(action), int(types_pb2.ACTION_BLACKLIST))


def alert_id_for(detector: str, key: str) -> str:
    return "alr_" + hashlib.sha256(f"{detector}\x00{key}".encode()).hexdigest()[:24]


def evidence_json(finding: Finding) -> str:
    return json.dumps(
        [
            {"kind": e.kind, "values": {k: _readable(v) for k, v in e.values.items()}}
            for e in finding.evidence
        ],
        sort_keys=True,
    )


def _readable(value: float | str) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _materially_changed(old: AlertRecord, new: AlertRecord) -> bool:
    return (
        abs(old.score - new.score) > 0.01
        or old.window_start != new.window_start
        or old.window_end != new.window_end
        or abs(old.observed - new.observed) > 0.01 * max(abs(old.observed), 1.0)
        or old.member_count != new.member_count
        or old.target_count != new.target_count
        or old.severity != new.severity
    )


@dataclass(frozen=True, slots=True)
class ApplyResult:
    raised: list[AlertRecord]
    updated: list[AlertRecord]


@dataclass(frozen=True, slots=True)
class ReviewOutcome:
    record: AlertRecord  # the alert after the review
    previous_verdict: int  # the verdict it had before (0: none), so feedback counts changes only


class AlertBook:
    """Turns findings into alert records and hands out sequence numbers.

    One AlertBook per service process; it owns the sequence counter and wakes WatchAlerts
    streams when new versions are written.
    """

    def __init__(self, store: AlertStore) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._sequence: int | None = None

    def _next_sequence(self) -> int:
        if self._sequence is None:
            self._sequence = self._store.max_alert_sequence()
        self._sequence += 1
        return self._sequence

    def apply(self, findings: Sequence[Finding], now: datetime | None = None) -> ApplyResult:
        """Raises new alerts and updates re-detected ones; returns what was written."""
        now = now or datetime.now(UTC)
        best: dict[str, Finding] = {}
        for finding in findings:  # one detector may report the same key twice: keep the stronger
            alert_id = alert_id_for(finding.detector, finding.key)
            if alert_id not in best or finding.score > best[alert_id].score:
                best[alert_id] = finding
        with self._lock:
            existing = self._store.get_alerts(list(best))
            confirmed = self._confirmed_counts()
            raised: list[AlertRecord] = []
            updated: list[AlertRecord] = []
            for alert_id, finding in best.items():
                old = existing.get(alert_id)
                if old is not None and old.state == types_pb2.ALERT_STATE_DISMISSED:
                    continue
                record = self._record(
                    alert_id, finding, old, confirmed.get(finding.subject, 0), now
                )
                if old is None:
                    raised.append(record)
                elif _materially_changed(old, record):
                    updated.append(record)
            written = raised + updated
            for record in written:
                record.sequence = self._next_sequence()
            if written:
                # Full group lists first: once the alert is visible, so are its lists.
                for record in written:
                    finding = best[record.alert_id]
                    if finding.member_ids or finding.target_ids:
                        self._store.write_alert_members(
                            record.alert_id,
                            record.sequence,
                            finding.member_ids,
                            finding.target_ids,
                        )
                self._store.write_alerts(written)
                self._changed.notify_all()
        return ApplyResult(raised=raised, updated=updated)

    def review(
        self, alert_id: str, verdict: int, note: str, reviewer: str, now: datetime | None = None
    ) -> AlertRecord | None:
        """Records a verdict on an alert; None if there is no such alert."""
        outcome = self.review_verdict(alert_id, verdict, note, reviewer, now)
        return outcome.record if outcome is not None else None

    def review_verdict(
        self, alert_id: str, verdict: int, note: str, reviewer: str, now: datetime | None = None
    ) -> ReviewOutcome | None:
        """Records a verdict on an alert and says what it replaced; None if there is no alert."""
        now = now or datetime.now(UTC)
        with self._lock:
            record = self._store.get_alerts([alert_id]).get(alert_id)
            if record is None:
                return None
            previous_verdict = record.verdict
            record.verdict = verdict
            record.review_note = note
            record.reviewer = reviewer
            record.updated_at = now
            if verdict == types_pb2.VERDICT_CONFIRMED_FRAUD:
                was_confirmed = record.state == types_pb2.ALERT_STATE_CONFIRMED
                confirmed = self._confirmed_counts().get(record.account_id, 0)
                record.state = types_pb2.ALERT_STATE_CONFIRMED
                record.recommended_action = recommended_action(
                    record.severity, confirmed + (0 if was_confirmed else 1)
                )
            else:
                record.state = types_pb2.ALERT_STATE_DISMISSED
                record.recommended_action = types_pb2.ACTION_UNSPECIFIED
            record.sequence = self._next_sequence()
            self._store.write_alerts([record])
            self._changed.notify_all()
            return ReviewOutcome(record=record, previous_verdict=previous_verdict)

    def wait_for_change(self, after_sequence: int, timeout: float) -> None:
        """Blocks until an alert version newer than after_sequence may exist, or timeout."""
        with self._changed:
            if self._sequence is not None and self._sequence > after_sequence:
                return
            self._changed.wait(timeout)

    def _confirmed_counts(self) -> Counter[str]:
        """Confirmed alerts per account: each one climbs the ladder a step."""
        confirmed = self._store.list_alerts(
            AlertFilter(state=types_pb2.ALERT_STATE_CONFIRMED), None, _MAX_CONFIRMED_SCAN
        )
        return Counter(a.account_id for a in confirmed)

    @staticmethod
    def _record(
        alert_id: str,
        finding: Finding,
        old: AlertRecord | None,
        confirmed_on_account: int,
        now: datetime,
    ) -> AlertRecord:
        severity = severity_for(finding.score)
        state = old.state if old is not None else types_pb2.ALERT_STATE_OPEN
        if state == types_pb2.ALERT_STATE_CONFIRMED:
            confirmed_on_account = max(confirmed_on_account, 1)
        return AlertRecord(
            alert_id=alert_id,
            sequence=0,
            account_id=finding.subject,
            detector=finding.detector,
            pattern=pattern_number(finding.pattern),
            metric=metric_number(finding.metric),
            severity=severity,
            score=finding.score,
            window_start=min(finding.start_time, old.window_start) if old else finding.start_time,
            window_end=max(finding.end_time, old.window_end) if old else finding.end_time,
            observed=finding.observed,
            expected=finding.expected,
            evidence_json=evidence_json(finding),
            explanation=finding.explanation,
            recommended_action=recommended_action(severity, confirmed_on_account),
            state=state,
            created_at=old.created_at if old else now,
            updated_at=now,
            member_ids=list(finding.member_ids[:MAX_GROUP_SAMPLE]),
            target_ids=list(finding.target_ids[:MAX_GROUP_SAMPLE]),
            member_count=max(finding.member_count, len(finding.member_ids)),
            target_count=max(finding.target_count, len(finding.target_ids)),
            verdict=old.verdict if old else 0,
            review_note=old.review_note if old else "",
            reviewer=old.reviewer if old else "",
        )
