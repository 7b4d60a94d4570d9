"""An account's risk: its open and confirmed alerts combined, and the measure it calls for."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from engagewatch.v1 import types_pb2
from server.alerts import recommended_action, severity_for
from server.records import AlertRecord

# An unreviewed alert counts for less than a confirmed one; dismissed ones not at all.
_OPEN_WEIGHT = 0.8
_CONFIRMED_WEIGHT = 1.0
_FOLLOWER_PATTERNS = frozenset(
    {
        types_pb2.PATTERN_FAKE_FOLLOWERS,
        types_pb2.PATTERN_LOCKSTEP_GROUP,
        types_pb2.PATTERN_FORCED_SUBSCRIPTION,
    }
)


@dataclass(frozen=True, slots=True)
class AccountRisk:
    risk_score: float
    severity: int
    recommended_action: int
    open_alerts: list[AlertRecord]
    confirmed_alerts: int
    dismissed_alerts: int
    estimated_fake_follower_share: float


def account_risk(alerts: Sequence[AlertRecord], follows_total: float) -> AccountRisk:
    """Combines an account's alerts into one risk.

    Risk is a noisy-or of alert scores (independent pieces of evidence each raise it), with
    unreviewed alerts discounted. The fake follower share is the excess follows that
    follower-pattern alerts attribute to fraud, over all follows the store holds for the
    account (`follows_total`).
    """
    open_alerts = [a for a in alerts if a.state == types_pb2.ALERT_STATE_OPEN]
    confirmed = [a for a in alerts if a.state == types_pb2.ALERT_STATE_CONFIRMED]
    dismissed = sum(1 for a in alerts if a.state == types_pb2.ALERT_STATE_DISMISSED)
    clean = 1.0
    for alert in open_alerts:
        clean *= 1.0 - _OPEN_WEIGHT * alert.score
    for alert in confirmed:
        clean *= 1.0 - _CONFIRMED_WEIGHT * alert.score
    risk = 1.0 - clean
    live = open_alerts + confirmed
    if live:
        severity = severity_for(risk)
        action = max(recommended_action(a.severity, len(confirmed)) for a in live)
    else:
        severity = types_pb2.SEVERITY_UNSPECIFIED
        action = types_pb2.ACTION_UNSPECIFIED
    fake_follows = sum(_fake_follows(a) for a in live if a.pattern in _FOLLOWER_PATTERNS)
    share = min(fake_follows / follows_total, 1.0) if follows_total > 0 else 0.0
    return AccountRisk(
        risk_score=risk,
        severity=severity,
        recommended_action=action,
        open_alerts=sorted(open_alerts, key=lambda a: -a.sequence),
        confirmed_alerts=len(confirmed),
        dismissed_alerts=dismissed,
        estimated_fake_follower_share=share,
    )


def _fake_follows(alert: AlertRecord) -> float:
    """Follows an alert attributes to fraud: the excess over expected, or one per group member."""
    if alert.metric == types_pb2.METRIC_FOLLOWS:
        return max(alert.observed - alert.expected, 0.0)
    if alert.metric == types_pb2.METRIC_UNSPECIFIED:
        return float(alert.member_count)
    return 0.0
