"""accounts_by_action: accounts counted once each at the measure GetAccountRisk recommends."""

from __future__ import annotations

from datetime import timedelta

from server.records import AlertRecord
from server.risk import account_risk
from server.store import Store
from tests.store.helpers import T0
from tests.store.test_alerts import (
    CONFIRMED,
    CRITICAL,
    DISMISSED,
    HIGH,
    LOW,
    MEDIUM,
    OPEN,
    alert,
)

WARN, LIMIT_FEATURES, SUSPEND_UPDATES, STOP_ADS, BLACKLIST = 1, 2, 3, 4, 6


def on(account: str, alert_id: str, sequence: int, severity: int, state: int) -> AlertRecord:
    return alert(alert_id, sequence, account_id=account, severity=severity, state=state)


def ladder_rows() -> list[AlertRecord]:
    return [
        on("warned", "w1", 1, LOW, OPEN),
        # Open only: critical would mean STOP_ADS, capped at SUSPEND_UPDATES until confirmed.
        on("capped", "c1", 2, MEDIUM, OPEN),
        on("capped", "c2", 3, CRITICAL, OPEN),
        # Two confirmed climb one step above the harshest severity (HIGH): STOP_ADS.
        on("climbed", "k1", 4, HIGH, CONFIRMED),
        on("climbed", "k2", 5, LOW, CONFIRMED),
        on("climbed", "k3", 6, MEDIUM, OPEN),
        on("climbed", "k4", 7, CRITICAL, DISMISSED),  # dismissed: neither severity nor count
        # Three confirmed criticals: STOP_ADS + 2 = BLACKLIST.
        on("listed", "b1", 8, CRITICAL, CONFIRMED),
        on("listed", "b2", 9, CRITICAL, CONFIRMED),
        on("listed", "b3", 10, CRITICAL, CONFIRMED),
        on("listed", "b4", 11, CRITICAL, DISMISSED),
        # Only dismissed alerts, one of them confirmed first: the account is not counted.
        on("cleared", "d1", 12, CRITICAL, DISMISSED),
        on("cleared", "d2", 13, HIGH, CONFIRMED),
        on("cleared", "d2", 14, HIGH, DISMISSED),
        # The latest version wins: was critical, now low.
        on("eased", "e1", 15, CRITICAL, OPEN),
        on("eased", "e1", 16, LOW, OPEN),
        # An alert whose window ended long ago still counts while open (the store has no expiry;
        # only Alertmanager's copy expires).
        alert(
            "o1",
            17,
            account_id="old",
            severity=MEDIUM,
            state=OPEN,
            window_start=T0 - timedelta(days=400),
            window_end=T0 - timedelta(days=399),
        ),
        # One confirmed MEDIUM: no climb. Written twice: the duplicate is one alert.
        on("confirmed-once", "m1", 18, MEDIUM, CONFIRMED),
        on("confirmed-once", "m1", 18, MEDIUM, CONFIRMED),
    ]


EXPECTED = {WARN: 2, LIMIT_FEATURES: 2, SUSPEND_UPDATES: 1, STOP_ADS: 1, BLACKLIST: 1}


def test_counts_each_account_once_at_its_measure(store: Store) -> None:
    rows = ladder_rows()
    store.write_alerts(rows[:9])  # versions arrive in several inserts, as the book writes them
    store.write_alerts(rows[9:])

    assert store.accounts_by_action() == EXPECTED


def test_agrees_with_account_risk(store: Store) -> None:
    """The same numbers as GetAccountRisk's measure over each account's alerts."""
    rows = ladder_rows()
    store.write_alerts(rows)
    expected: dict[int, int] = {}
    for account in sorted({r.account_id for r in rows}):
        risk = account_risk(store.account_alerts(account), follows_total=0.0)
        if risk.recommended_action:
            expected[risk.recommended_action] = expected.get(risk.recommended_action, 0) + 1

    assert store.accounts_by_action() == expected == EXPECTED


def test_review_moves_an_account(store: Store) -> None:
    store.write_alerts([on("acc", "a1", 1, HIGH, OPEN), on("acc", "a2", 2, HIGH, OPEN)])
    assert store.accounts_by_action() == {SUSPEND_UPDATES: 1}

    store.write_alerts([on("acc", "a1", 3, HIGH, CONFIRMED), on("acc", "a2", 4, HIGH, CONFIRMED)])
    assert store.accounts_by_action() == {STOP_ADS: 1}

    store.write_alerts([on("acc", "a1", 5, HIGH, DISMISSED), on("acc", "a2", 6, HIGH, DISMISSED)])
    assert store.accounts_by_action() == {}


def test_empty_store(store: Store) -> None:
    assert store.accounts_by_action() == {}
