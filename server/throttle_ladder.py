"""The throttling consumer's action ladder: per-account levels with hysteresis and auto-revert.

An account's risk is the noisy-or of its live (open or confirmed) alert scores. A level is
entered when the risk reaches its `enter` threshold and left only when the risk falls below
its lower `leave` threshold, so an alert re-detected with a score wobbling around a threshold
does not flap the measure. The steps past SUSPEND_UPDATES need a reviewer's confirmation, as
the service's own ladder does. A dismissed alert (reviewed as a false positive) reverts what
it caused: the level is recomputed from the remaining alerts as if from scratch, never higher.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from engagewatch.v1 import types_pb2

# The service's own cap (server.alerts.AUTOMATED_ACTION_CAP, checked equal by the tests);
# not imported, because server.alerts loads every detector and the consumer should start fast.
AUTOMATED_ACTION_CAP = types_pb2.ACTION_SUSPEND_UPDATES


@dataclass(frozen=True, slots=True)
class Step:
    action: int  # engagewatch.v1 Action number; the ladder's level is the action number
    enter: float  # risk at or above which the step is taken
    leave: float  # risk below which the step is given up again


LADDER = (
    Step(types_pb2.ACTION_WARN, 0.50, 0.40),
    Step(types_pb2.ACTION_LIMIT_FEATURES, 0.70, 0.62),
    Step(types_pb2.ACTION_SUSPEND_UPDATES, 0.85, 0.78),
    Step(types_pb2.ACTION_STOP_ADS, 0.95, 0.90),
    Step(types_pb2.ACTION_CLOSE_ACCOUNT, 0.98, 0.96),
    Step(types_pb2.ACTION_BLACKLIST, 0.995, 0.99),
)
_STEPS = {step.action: step for step in LADDER}
NO_ACTION = types_pb2.ACTION_UNSPECIFIED
TOP = types_pb2.ACTION_BLACKLIST

# Decision kinds, one per alert applied.
ESCALATE = "escalate"
DEESCALATE = "de-escalate"
REVERT = "revert"  # a dismissed alert was taken back
HOLD = "hold"  # the alert changed the account's evidence but not its measure
IGNORE = "ignore"  # below the consumer's severity, or dismissed before it was ever applied


@dataclass(frozen=True, slots=True)
class LiveAlert:
    score: float
    confirmed: bool
    action: int  # the service's recommended action for it


@dataclass(frozen=True, slots=True)
class AccountState:
    level: int = NO_ACTION
    alerts: Mapping[str, LiveAlert] = field(default_factory=dict)

    @property
    def risk(self) -> float:
        clean = 1.0
        for alert in self.alerts.values():
            clean *= 1.0 - min(max(alert.score, 0.0), 1.0)
        return 1.0 - clean

    @property
    def cap(self) -> int:
        """How far the ladder may go: past SUSPEND_UPDATES only on confirmed fraud."""
        confirmed = [a.action for a in self.alerts.values() if a.confirmed]
        return int(max([AUTOMATED_ACTION_CAP, *confirmed]))


@dataclass(frozen=True, slots=True)
class AlertView:
    """What the ladder reads from one alert version."""

    alert_id: str
    state: int  # engagewatch.v1 AlertState
    severity: int
    score: float
    recommended_action: int


def settle(level: int, risk: float, cap: int) -> int:
    """The level after hysteresis: climb while the next step's enter is met, fall below leave."""
    while level < min(cap, TOP) and risk >= _STEPS[level + 1].enter:
        level += 1
    while level > NO_ACTION and risk < _STEPS[level].leave:
        level -= 1
    return min(level, cap)


def apply_alert(
    account: AccountState, alert: AlertView, min_severity: int
) -> tuple[AccountState, str]:
    """The account's state after one alert version, and the kind of decision it is."""
    alerts = dict(account.alerts)
    known = alerts.pop(alert.alert_id, None) is not None
    if alert.state == types_pb2.ALERT_STATE_DISMISSED:
        if not known:
            return account, IGNORE
        remaining = AccountState(NO_ACTION, alerts)
        fresh = settle(NO_ACTION, remaining.risk, remaining.cap)
        return AccountState(min(account.level, fresh), alerts), REVERT
    if alert.severity < min_severity:
        if not known:
            return account, IGNORE
    else:
        alerts[alert.alert_id] = LiveAlert(
            score=alert.score,
            confirmed=alert.state == types_pb2.ALERT_STATE_CONFIRMED,
            action=alert.recommended_action,
        )
    updated = AccountState(account.level, alerts)
    level = settle(account.level, updated.risk, updated.cap)
    if level > account.level:
        kind = ESCALATE
    elif level < account.level:
        kind = DEESCALATE
    else:
        kind = HOLD
    return AccountState(level, alerts), kind


def action_name(level: int) -> str:
    if level == NO_ACTION:
        return "none"
    return str(types_pb2.Action.Name(level)).removeprefix("ACTION_").lower()
