"""Scores alerts against a simulation's truth: precision, recall, hard-negative hits."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol


class TruthLike(Protocol):
    # Read-only, so frozen dataclasses (the simulator's TruthCase) match too.
    @property
    def pattern(self) -> str: ...
    @property
    def account_ids(self) -> tuple[str, ...]: ...
    @property
    def member_ids(self) -> tuple[str, ...]: ...


class AlertLike(Protocol):
    account_id: str
    detector: str
    member_ids: Sequence[str]
    target_ids: Sequence[str]


@dataclass(slots=True)
class PatternScore:
    cases: int = 0
    found: int = 0

    @property
    def recall(self) -> float:
        return self.found / self.cases if self.cases else 1.0


@dataclass(slots=True)
class Evaluation:
    alerts: int
    true_alerts: int
    per_pattern: dict[str, PatternScore] = field(default_factory=dict)
    # "account: detector/pattern on <hard negative kind>" for each alert on a hard negative.
    hard_negative_hits: list[str] = field(default_factory=list)

    @property
    def hard_negative_alerts(self) -> int:
        return len(self.hard_negative_hits)

    @property
    def precision(self) -> float:
        return self.true_alerts / self.alerts if self.alerts else 1.0

    @property
    def recall(self) -> float:
        cases = sum(p.cases for p in self.per_pattern.values())
        found = sum(p.found for p in self.per_pattern.values())
        return found / cases if cases else 1.0

    def summary(self) -> str:
        return (
            f"precision {self.precision:.2f} ({self.true_alerts}/{self.alerts} alerts on planted "
            f"fraud), recall {self.recall:.2f} of planted cases, "
            f"{self.hard_negative_alerts} alerts on hard negatives"
        )


def _touches(alert: AlertLike, case: TruthLike) -> bool:
    accounts = set(case.account_ids)
    return (
        alert.account_id in accounts
        or not accounts.isdisjoint(alert.target_ids)
        or not set(case.member_ids).isdisjoint(alert.member_ids)
    )


def evaluate(alerts: Sequence[AlertLike], truth: Iterable[TruthLike]) -> Evaluation:
    """An alert is true if it touches a planted fraud case (its account, targets or members).

    A case is found if any alert touches it, whatever pattern the alert names: the reviewer
    is sent to the right place either way.
    """
    cases = list(truth)
    fraud = [c for c in cases if not c.pattern.startswith("hard_negative")]
    negatives = [c for c in cases if c.pattern.startswith("hard_negative")]
    per_pattern: dict[str, PatternScore] = {}
    for case in fraud:
        score = per_pattern.setdefault(case.pattern, PatternScore())
        score.cases += 1
        score.found += any(_touches(a, case) for a in alerts)
    true_alerts = sum(1 for a in alerts if any(_touches(a, c) for c in fraud))
    hard_negative_hits = []
    for alert in alerts:
        if any(_touches(alert, c) for c in fraud):
            continue
        hit = next((c for c in negatives if _touches(alert, c)), None)
        if hit is not None:
            kind = hit.pattern.removeprefix("hard_negative:")
            hard_negative_hits.append(f"{alert.account_id}: {alert.detector} on {kind}")
    return Evaluation(
        alerts=len(alerts),
        true_alerts=true_alerts,
        per_pattern=per_pattern,
        hard_negative_hits=hard_negative_hits,
    )
