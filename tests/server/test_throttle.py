"""The reference throttling consumer: ladder, durable state, and exactly-once across kill -9."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import pytest

from engagewatch.v1 import alert_service_pb2, alert_service_pb2_grpc, types_pb2
from server import alerts
from server.alerts import alert_id_for
from server.app import Service
from server.throttle_ladder import (
    AUTOMATED_ACTION_CAP,
    DEESCALATE,
    ESCALATE,
    HOLD,
    IGNORE,
    REVERT,
    AccountState,
    AlertView,
    action_name,
    apply_alert,
)
from server.throttle_state import ConsumerState, StateLocked
from tests.server.conftest import finding, wait_until

OPEN = types_pb2.ALERT_STATE_OPEN
HIGH = types_pb2.SEVERITY_HIGH


def _view(
    alert_id: str,
    score: float,
    state: int = OPEN,
    severity: int = HIGH,
    action: int = types_pb2.ACTION_SUSPEND_UPDATES,
) -> AlertView:
    return AlertView(alert_id, state, severity, score, action)


def _walk(
    steps: list[AlertView], min_severity: int = types_pb2.SEVERITY_LOW
) -> list[tuple[str, str]]:
    account = AccountState()
    out = []
    for view in steps:
        account, kind = apply_alert(account, view, min_severity)
        out.append((kind, action_name(account.level)))
    return out


# ---------------------------------------------------------------- ladder


def test_a_marginal_alert_does_not_flap() -> None:
    scores = [0.86, 0.84, 0.80, 0.86, 0.79, 0.77, 0.72, 0.69, 0.71, 0.63, 0.60]
    assert _walk([_view("a", s) for s in scores]) == [
        (ESCALATE, "suspend_updates"),
        (HOLD, "suspend_updates"),  # below 0.85 but above the 0.78 to leave it
        (HOLD, "suspend_updates"),
        (HOLD, "suspend_updates"),
        (HOLD, "suspend_updates"),
        (DEESCALATE, "limit_features"),
        (HOLD, "limit_features"),
        (HOLD, "limit_features"),  # 0.69: not enough to enter limit_features, enough to keep it
        (HOLD, "limit_features"),
        (HOLD, "limit_features"),
        (DEESCALATE, "warn"),
    ]


def test_steps_past_suspend_updates_need_confirmed_fraud() -> None:
    assert AUTOMATED_ACTION_CAP == alerts.AUTOMATED_ACTION_CAP
    confirmed = types_pb2.ALERT_STATE_CONFIRMED
    assert _walk(
        [
            _view("a", 0.999),
            _view("a", 0.999, confirmed, types_pb2.SEVERITY_CRITICAL, types_pb2.ACTION_STOP_ADS),
        ]
    ) == [(ESCALATE, "suspend_updates"), (ESCALATE, "stop_ads")]


def test_a_dismissal_reverts_what_the_alert_caused() -> None:
    dismissed = types_pb2.ALERT_STATE_DISMISSED
    assert _walk(
        [
            _view("a", 0.9),
            _view("b", 0.6, severity=types_pb2.SEVERITY_LOW, action=types_pb2.ACTION_WARN),
            _view("a", 0.9, dismissed),  # b alone (0.6) earns a warning, no more
            _view("b", 0.6, dismissed),
            _view("c", 0.9, dismissed),  # never applied: nothing to take back
        ]
    ) == [
        (ESCALATE, "suspend_updates"),
        (HOLD, "suspend_updates"),
        (REVERT, "warn"),
        (REVERT, "none"),
        (IGNORE, "none"),
    ]


def test_alerts_below_the_consumer_severity_are_ignored_or_taken_back() -> None:
    medium = types_pb2.SEVERITY_MEDIUM
    assert _walk(
        [_view("a", 0.75, severity=medium), _view("b", 0.9), _view("b", 0.75, severity=medium)],
        min_severity=HIGH,
    ) == [(IGNORE, "none"), (ESCALATE, "suspend_updates"), (DEESCALATE, "none")]


# ---------------------------------------------------------------- durable state


def _record(sequence: int, account: str = "acct") -> dict[str, Any]:
    return {
        "sequence": sequence,
        "account_id": account,
        "account": {"level": 1, "alerts": {"x": {"score": 0.6, "confirmed": False, "action": 1}}},
    }


def test_a_crash_between_decision_and_cursor_rolls_forward_and_a_torn_line_is_cut(
    tmp_path: Path,
) -> None:
    state_path, log_path = tmp_path / "t.json", tmp_path / "t.decisions.jsonl"
    state = ConsumerState(state_path, log_path)
    assert state.recover().last_sequence == 0
    state.append_decision(_record(4))
    state.save_cursor(4)
    state.append_decision(_record(7))  # crash here: decision durable, cursor still at 4
    state.close()
    with log_path.open("ab") as log:
        log.write(b'{"sequence": 9, "acc')  # crash in the middle of the next append

    with pytest.raises(StateLocked):  # one consumer per state file
        _locked_twice(state_path)

    again = ConsumerState(state_path, log_path)
    recovered = again.recover()
    again.close()
    assert (recovered.last_sequence, recovered.decisions, recovered.rolled_forward) == (7, 2, True)
    assert json.loads(state_path.read_text())["last_sequence"] == 7
    assert log_path.read_bytes().endswith(b"}\n")
    assert recovered.accounts["acct"].level == 1


def _locked_twice(state_path: Path) -> None:
    first = ConsumerState(state_path, state_path.with_suffix(".log"))
    try:
        ConsumerState(state_path, state_path.with_suffix(".log"))
    finally:
        first.close()


# ---------------------------------------------------------------- real service, kill -9


def _throttle(service: Service, state: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "server.cli",
            "--log-level",
            "WARNING",
            "throttle",
            "--target",
            service.target,
            "--state",
            str(state),
            "--consumer-id",
            "throttle-test",
        ],
        cwd=Path(__file__).resolve().parents[2],
    )


def _decisions(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    lines = path.read_bytes().split(b"\n")
    return [json.loads(line) for line in lines if line.endswith(b"}")]


def _latest_sequences(service: Service) -> dict[str, int]:
    return {r.alert_id: r.sequence for r in service.store.alerts_after(0, 0, 100_000)}


def _produce(service: Service, rounds: int, start: int, prefix: str, pause: float = 0.0) -> None:
    """Raises alerts in small runs, as repeated detection runs would; later runs re-detect
    earlier keys with other scores, so some versions are superseded before they are read."""
    for i in range(start, start + rounds):
        findings = [
            finding(
                f"acct_{(i * 7 + j) % 40}",
                key=f"{prefix}{i % 24}_{j}",
                score=0.5 + ((i * 13 + j) % 50) / 100,
            )
            for j in range(5)
        ]
        service.book.apply(findings)
        time.sleep(pause)


def _caught_up(log: Path, latest: dict[str, int]) -> Callable[[], bool]:
    return lambda: max([0, *(r["sequence"] for r in _decisions(log))]) >= max(latest.values())


def test_kill_9_and_restart_apply_every_alert_exactly_once(
    service: Service, channel: grpc.Channel, tmp_path: Path
) -> None:
    state = tmp_path / "throttle.json"
    log = tmp_path / "throttle.decisions.jsonl"
    _produce(service, 30, 0, "k")  # a backlog of 150 alerts, so that the kill lands mid-stream
    consumer = _throttle(service, state)
    try:
        producer = threading.Thread(target=_produce, args=(service, 10, 30, "n", 0.05))
        producer.start()
        wait_until(lambda: len(_decisions(log)) >= 20, timeout=30)
        consumer.send_signal(signal.SIGKILL)
        consumer.wait(timeout=10)
        applied_before_kill = len(_decisions(log))
        assert applied_before_kill < 150, "the kill must come while the backlog is being applied"
        producer.join()
        _produce(service, 10, 40, "n")

        # The marginal alert and the dismissed one, while the consumer is down.
        marginal = finding("acct_m", key="m", score=0.86)
        service.book.apply([marginal])
        doomed = finding("acct_d", key="d", score=0.9)
        service.book.apply([doomed])
        consumer = _throttle(service, state)
        latest = _latest_sequences(service)
        wait_until(_caught_up(log, latest), timeout=30)
        service.book.apply([finding("acct_m", key="m", score=0.83)])  # wobbles below 0.85
        doomed_id = alert_id_for(doomed.detector, doomed.key)
        alert_service_pb2_grpc.AlertServiceStub(channel).ReviewAlert(
            alert_service_pb2.ReviewAlertRequest(
                alert_id=doomed_id,
                verdict=types_pb2.VERDICT_FALSE_POSITIVE,
                reviewer="analyst",
            )
        )
        latest = _latest_sequences(service)
        wait_until(_caught_up(log, latest), timeout=30)
        consumer.send_signal(signal.SIGTERM)
        assert consumer.wait(timeout=10) == 0
    finally:
        if consumer.poll() is None:
            consumer.kill()
            consumer.wait()

    records = _decisions(log)
    sequences = [r["sequence"] for r in records]
    assert sequences == sorted(set(sequences)), "an alert version was applied twice"
    assert set(latest.values()) <= set(sequences), "an alert version was missed"
    assert json.loads(state.read_text())["last_sequence"] == max(latest.values())
    assert {r["who"] for r in records} == {"throttle-test"}

    # Each account's decisions chain: nothing was lost or re-applied across the kill.
    last_action: dict[str, str] = {}
    for record in records:
        what = record["what"]
        assert what["previous_action"] == last_action.get(record["account_id"], "none")
        last_action[record["account_id"]] = what["action"]

    by_alert = {r["why"]["alert_id"]: r for r in records}
    assert len(by_alert) == len(latest)
    doomed_decisions = [r for r in records if r["why"]["alert_id"] == doomed_id]
    assert [(r["what"]["decision"], r["what"]["action"]) for r in doomed_decisions] == [
        (ESCALATE, "suspend_updates"),
        (REVERT, "none"),
    ]
    assert doomed_decisions[-1]["why"]["reviewer"] == "analyst"
    marginal_decisions = [r["what"] for r in records if r["account_id"] == "acct_m"]
    assert [(w["decision"], w["action"]) for w in marginal_decisions] == [
        (ESCALATE, "suspend_updates"),
        (HOLD, "suspend_updates"),
    ]
    assert Counter(r["what"]["decision"] for r in records)[ESCALATE] > 0
    assert log.read_bytes().count(b"\n") == len(records), "a torn record was left behind"
