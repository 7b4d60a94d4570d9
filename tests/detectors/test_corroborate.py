"""A second opinion on an incident another detector reports is evidence, not a second alert."""

from __future__ import annotations

from datetime import UTC, datetime

from detectors.corroborate import fold_second_opinions
from detectors.findings import Evidence, Finding


def _finding(detector: str, account: str, metric: str, start: int, end: int) -> Finding:
    return Finding(
        detector=detector,
        pattern="fake_followers" if metric == "follows" else "fake_traffic",
        subject=account,
        key=f"{account}:{metric}:{start}",
        start_time=datetime(2026, 11, 30, start, tzinfo=UTC),
        end_time=datetime(2026, 11, 30, end, tzinfo=UTC),
        score=0.9,
        observed=100.0,
        expected=10.0,
        explanation="up",
        evidence=(Evidence("observed_vs_expected", {"observed": 100.0}),),
        metric=metric,
    )


def test_overlapping_second_opinion_becomes_evidence_and_others_stay_alerts() -> None:
    first = _finding("seasonal_baseline", "a1", "follows", 10, 14)
    same = _finding("streaming", "a1", "follows", 12, 13)
    other_account = _finding("streaming", "a2", "follows", 12, 13)
    other_metric = _finding("streaming", "a1", "clicks", 12, 13)
    later = _finding("streaming", "a1", "follows", 15, 16)
    out = fold_second_opinions([first, same, other_account, other_metric, later])
    assert [f.detector for f in out].count("streaming") == 3
    assert same not in out
    assert all(f in out for f in (other_account, other_metric, later))
    host = next(f for f in out if f.detector == "seasonal_baseline")
    corroboration = [e for e in host.evidence if e.kind == "corroborated_by"]
    assert len(corroboration) == 1
    assert corroboration[0].values["detector"] == "streaming"
    assert corroboration[0].values["from"] == same.start_time.isoformat()
    assert host.evidence[0] == first.evidence[0] and host.key == first.key


def test_findings_of_first_detectors_are_never_folded() -> None:
    a = _finding("seasonal_baseline", "a1", "follows", 10, 14)
    b = _finding("partner_coherence", "a1", "follows", 11, 12)
    assert fold_second_opinions([a, b]) == [a, b]
