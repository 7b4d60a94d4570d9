"""Groups a run's alerts into cases for the report: a group with the accounts it hit, or an account.

A lockstep group that followed 40 accounts raises one group alert and, on each of those 40
accounts, follow-spike alerts of its own. An analyst reads that as one case, so the report
puts the group alert first and the targets' own alerts under it; every other alert is
grouped by its account. Only the leading alert of the first `max_detailed` cases gets
figures: rendering is what costs time, and a reader works down from the worst case anyway.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeAlias

from engagewatch.v1 import alert_service_pb2, types_pb2

Alert: TypeAlias = alert_service_pb2.Alert

GROUP_PATTERNS = frozenset(
    {
        types_pb2.PATTERN_LOCKSTEP_GROUP,
        types_pb2.PATTERN_COORDINATED_SHARING,
        types_pb2.PATTERN_FORCED_SUBSCRIPTION,
    }
)


@dataclass(frozen=True, slots=True)
class Case:
    """Alerts that tell one story; `alerts[0]` leads and is the one drawn."""

    anchor: str  # HTML id of the case's section
    alerts: tuple[Alert, ...]
    detailed: bool

    @property
    def lead(self) -> Alert:
        return self.alerts[0]

    @property
    def accounts(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(a.account_id for a in self.alerts))


def rank_key(alert: Alert) -> tuple[int, float, str]:
    """Worst first: severity, then score; the id keeps the order stable."""
    return (-alert.severity, -alert.score, alert.alert_id)


def is_group(alert: Alert) -> bool:
    return alert.pattern in GROUP_PATTERNS and bool(alert.member_ids)


def build_cases(alerts: Sequence[Alert], max_detailed: int) -> list[Case]:
    """Cases worst first; the first `max_detailed` are marked for figures."""
    ranked = sorted(alerts, key=rank_key)
    owner: dict[str, int] = {}  # account -> index of the group case that claimed it
    groups: list[list[Alert]] = []
    for alert in ranked:
        if not is_group(alert):
            continue
        groups.append([alert])
        # A group claims its accounts once: the worse group explains them first.
        for account in (alert.account_id, *alert.target_ids):
            owner.setdefault(account, len(groups) - 1)
    by_account: dict[str, list[Alert]] = {}
    for alert in ranked:
        if is_group(alert):
            continue
        claimed = owner.get(alert.account_id)
        if claimed is not None:
            groups[claimed].append(alert)
        else:
            by_account.setdefault(alert.account_id, []).append(alert)
    stories = [*groups, *by_account.values()]
    # A case ranks by its worst alert, which may be a target's rather than the group's.
    stories.sort(key=lambda story: min(rank_key(a) for a in story))
    return [
        Case(anchor=f"case-{i + 1}", alerts=tuple(story), detailed=i < max_detailed)
        for i, story in enumerate(stories)
    ]
