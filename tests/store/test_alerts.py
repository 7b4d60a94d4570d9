"""Alerts are versioned rows: the highest sequence per alert_id is the alert. Reviews are a log."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from server.records import AlertFilter, AlertRecord, ReviewRecord
from server.store import Store
from tests.store.helpers import T0

OPEN, CONFIRMED, DISMISSED = 1, 2, 3
LOW, MEDIUM, HIGH, CRITICAL = 1, 2, 3, 4


def alert(alert_id: str, sequence: int, **changes: object) -> AlertRecord:
    base = AlertRecord(
        alert_id=alert_id,
        sequence=sequence,
        account_id="acc-1",
        detector="volume_spike",
        pattern=1,
        metric=1,
        severity=MEDIUM,
        score=0.75,
        window_start=T0,
        window_end=T0 + timedelta(hours=6),
        observed=120.0,
        expected=10.5,
        evidence_json='[{"kind": "observed_vs_expected", "values": {"z": "9.1"}}]',
        explanation="Follows jumped 11x above the hour-of-week baseline.",
        recommended_action=2,
        state=OPEN,
        created_at=T0 + timedelta(hours=7),
        updated_at=T0 + timedelta(hours=7, seconds=sequence),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_round_trip_every_field(store: Store) -> None:
    full = alert(
        "a1",
        7,
        member_ids=["u1", "it's \\ odd\n"],
        target_ids=["acc-1", "acc-2", "acc-3"],
        member_count=250,
        target_count=3,
        verdict=1,
        review_note="checked 'by hand'",
        reviewer="ops@example.com",
        pattern=4,
        metric=0,
        score=1.0,
    )
    store.write_alerts([full])

    assert store.get_alerts(["a1", "missing"]) == {"a1": full}
    assert store.max_alert_sequence() == 7


def test_empty_store(store: Store) -> None:
    assert store.max_alert_sequence() == 0
    assert store.get_alerts([]) == {}
    assert store.get_alerts(["nope"]) == {}
    assert store.list_alerts(AlertFilter(), None, 10) == []
    assert store.alerts_after(0, 0, 10) == []
    assert store.account_alerts("acc-1") == []
    assert store.alert_counts_by_state() == []
    assert store.reviews("nope") == []


def test_latest_version_wins(store: Store) -> None:
    store.write_alerts([alert("a1", 1), alert("a2", 2)])
    store.write_alerts([alert("a1", 3, severity=HIGH, state=CONFIRMED, score=0.9)])
    store.write_alerts([alert("a1", 3, severity=HIGH, state=CONFIRMED, score=0.9)])  # twice

    got = store.get_alerts(["a1", "a2"])

    assert got["a1"].sequence == 3
    assert got["a1"].severity == HIGH
    assert got["a1"].state == CONFIRMED
    assert got["a2"].sequence == 2
    assert [a.alert_id for a in store.list_alerts(AlertFilter(), None, 10)] == ["a1", "a2"]
    assert store.max_alert_sequence() == 3
    assert store.alert_counts_by_state() == [
        ("volume_spike", 1, MEDIUM, OPEN, 1),
        ("volume_spike", 1, HIGH, CONFIRMED, 1),
    ]


def test_list_filters_apply_to_latest_version(store: Store) -> None:
    store.write_alerts(
        [
            alert("a1", 1, severity=CRITICAL),
            alert("a2", 2, account_id="acc-2", detector="lockstep", pattern=4),
            alert("a3", 3, severity=LOW, updated_at=T0 + timedelta(days=2)),
            alert("a4", 4, state=DISMISSED),
        ]
    )
    # a1 was critical; its latest version is low, so a critical filter no longer sees it.
    store.write_alerts([alert("a1", 5, severity=LOW)])

    def ids(flt: AlertFilter) -> list[str]:
        return [a.alert_id for a in store.list_alerts(flt, None, 100)]

    assert ids(AlertFilter()) == ["a1", "a4", "a3", "a2"]
    assert ids(AlertFilter(min_severity=CRITICAL)) == []
    assert ids(AlertFilter(min_severity=MEDIUM)) == ["a4", "a2"]
    assert ids(AlertFilter(account_id="acc-2")) == ["a2"]
    assert ids(AlertFilter(detector="lockstep")) == ["a2"]
    assert ids(AlertFilter(pattern=4)) == ["a2"]
    assert ids(AlertFilter(pattern=1, min_severity=LOW)) == ["a1", "a4", "a3"]
    assert ids(AlertFilter(state=DISMISSED)) == ["a4"]
    assert ids(AlertFilter(since=T0 + timedelta(days=1))) == ["a3"]
    assert ids(AlertFilter(account_id="'; DROP TABLE alerts; --")) == []


def test_paging_by_before_sequence(store: Store) -> None:
    store.write_alerts([alert(f"a{i}", i) for i in range(1, 8)])
    store.write_alerts([alert("a2", 9)])  # a2 moves to the front

    page1 = store.list_alerts(AlertFilter(), None, 3)
    page2 = store.list_alerts(AlertFilter(), page1[-1].sequence, 3)
    page3 = store.list_alerts(AlertFilter(), page2[-1].sequence, 3)

    assert [a.sequence for a in page1] == [9, 7, 6]
    assert [a.sequence for a in page2] == [5, 4, 3]
    assert [a.sequence for a in page3] == [1]
    assert [a.alert_id for a in page1 + page2 + page3] == ["a2", "a7", "a6", "a5", "a4", "a3", "a1"]


def test_alerts_after(store: Store) -> None:
    store.write_alerts(
        [alert("a1", 1, severity=HIGH), alert("a2", 2, severity=LOW), alert("a3", 3, severity=HIGH)]
    )
    store.write_alerts([alert("a1", 4, severity=CRITICAL)])

    assert [(a.alert_id, a.sequence) for a in store.alerts_after(0, 0, 10)] == [
        ("a2", 2),
        ("a3", 3),
        ("a1", 4),
    ]
    assert [a.alert_id for a in store.alerts_after(2, HIGH, 10)] == ["a3", "a1"]
    assert [a.alert_id for a in store.alerts_after(0, HIGH, 1)] == ["a3"]
    assert store.alerts_after(4, 0, 10) == []


def test_account_alerts(store: Store) -> None:
    store.write_alerts(
        [alert("a1", 1), alert("a2", 2, account_id="acc-2"), alert("a3", 3), alert("a1", 4)]
    )

    got = store.account_alerts("acc-1")

    assert [(a.alert_id, a.sequence) for a in got] == [("a1", 4), ("a3", 3)]
    assert store.account_alerts("acc-\\'") == []


def test_reviews_are_an_append_only_log(store: Store) -> None:
    first = ReviewRecord(
        alert_id="a1",
        verdict=1,
        note="bought followers; 'confirmed'\nsee ticket",
        reviewer="ann",
        reviewed_at=datetime(2024, 3, 5, 10, 0, 1, tzinfo=UTC),
        detector="volume_spike",
        pattern=1,
    )
    second = dataclasses.replace(
        first,
        verdict=2,
        note="",
        reviewer="bob",
        reviewed_at=first.reviewed_at + timedelta(hours=1),
    )
    store.write_review(second)
    store.write_review(first)
    store.write_review(dataclasses.replace(first, alert_id="a2"))

    assert store.reviews("a1") == [first, second]
    assert [r.alert_id for r in store.reviews("a2")] == ["a2"]
    assert store.reviews("a3") == []
