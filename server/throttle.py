"""`engagewatch throttle`: a reference throttling consumer of WatchAlerts.

It follows the alert stream from its last applied sequence, keeps each account's live alerts
and ladder level (server/throttle_ladder.py), and records every decision (who: the consumer,
what: the measure on the account, why: the alerts and scores, when) as one JSON line per alert
version received. Measures are records only: acting on the platform is the platform's job.
Every alert version is applied exactly once, across crashes and restarts
(server/throttle_state.py says how).

The stream is watched with no severity filter and the threshold is applied here: an alert
that falls below it must still take back what it caused, which a filtered stream would hide.
"""

from __future__ import annotations

import argparse
import logging
import signal
import socket
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc

from engagewatch.v1 import alert_service_pb2, alert_service_pb2_grpc, types_pb2
from server.throttle_ladder import AccountState, AlertView, action_name, apply_alert
from server.throttle_state import ConsumerState, StateLocked, account_to_json

logger = logging.getLogger(__name__)

_MIN_BACKOFF_SECONDS = 0.5
_MAX_BACKOFF_SECONDS = 10.0
_SEVERITIES = ("low", "medium", "high", "critical")


def _name(enum: Any, number: int, prefix: str) -> str:
    return str(enum.Name(number)).removeprefix(prefix).lower()


class ThrottleConsumer:
    """Applies the alert stream to per-account measures, durably and exactly once."""

    def __init__(
        self,
        target: str,
        state: ConsumerState,
        consumer_id: str,
        min_severity: int = types_pb2.SEVERITY_LOW,
    ) -> None:
        self._target = target
        self._state = state
        self._consumer_id = consumer_id
        self._min_severity = min_severity
        recovered = state.recover()
        self.last_sequence = recovered.last_sequence
        self.accounts: dict[str, AccountState] = recovered.accounts
        logger.info(
            "resuming after sequence %d (%d decisions logged, %d accounts%s)",
            recovered.last_sequence,
            recovered.decisions,
            len(recovered.accounts),
            ", cursor rolled forward" if recovered.rolled_forward else "",
        )
        self._stop = threading.Event()
        self._call: Any = None  # the live WatchAlerts call, to cancel on stop
        self._call_lock = threading.Lock()

    def stop(self) -> None:
        """Ends run() soon; safe from a signal handler or another thread."""
        self._stop.set()
        with self._call_lock:
            if self._call is not None:
                self._call.cancel()

    def apply(self, alert: alert_service_pb2.Alert) -> dict[str, Any] | None:
        """Applies one alert version; returns its decision record, None if already applied."""
        if alert.sequence <= self.last_sequence:
            return None
        before = self.accounts.get(alert.account_id, AccountState())
        after, kind = apply_alert(
            before,
            AlertView(
                alert_id=alert.alert_id,
                state=alert.state,
                severity=alert.severity,
                score=alert.score,
                recommended_action=alert.recommended_action,
            ),
            self._min_severity,
        )
        record = {
            "sequence": alert.sequence,
            "who": self._consumer_id,
            "when": datetime.now(UTC).isoformat(),
            "account_id": alert.account_id,
            "what": {
                "decision": kind,
                "action": action_name(after.level),
                "previous_action": action_name(before.level),
            },
            "why": {
                "alert_id": alert.alert_id,
                "alert_state": _name(types_pb2.AlertState, alert.state, "ALERT_STATE_"),
                "alert_severity": _name(types_pb2.Severity, alert.severity, "SEVERITY_"),
                "alert_score": alert.score,
                "pattern": _name(types_pb2.Pattern, alert.pattern, "PATTERN_"),
                "reviewer": alert.reviewer,
                "risk": round(after.risk, 6),
                "alert_ids": sorted(after.alerts),
                "scores": {k: a.score for k, a in sorted(after.alerts.items())},
            },
            "account": account_to_json(after),
        }
        self._state.append_decision(record)
        self._state.save_cursor(alert.sequence)
        self.accounts[alert.account_id] = after
        self.last_sequence = alert.sequence
        logger.debug("sequence %d: %s -> %s", alert.sequence, kind, record["what"]["action"])
        return record

    def run(self) -> None:
        """Follows WatchAlerts until stop(), reconnecting with backoff when the server is away."""
        backoff = _MIN_BACKOFF_SECONDS
        with grpc.insecure_channel(self._target) as channel:
            stub = alert_service_pb2_grpc.AlertServiceStub(channel)
            while not self._stop.is_set():
                request = alert_service_pb2.WatchAlertsRequest(after_sequence=self.last_sequence)
                with self._call_lock:
                    self._call = stub.WatchAlerts(request)
                try:
                    for alert in self._call:
                        self.apply(alert)
                        backoff = _MIN_BACKOFF_SECONDS
                except grpc.RpcError as err:
                    if self._stop.is_set():
                        break
                    code = err.code() if isinstance(err, grpc.Call) else None
                    logger.warning("alert stream ended (%s); reconnecting in %.1f s", code, backoff)
                finally:
                    with self._call_lock:
                        self._call = None
                self._stop.wait(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF_SECONDS)


def add_throttle_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", required=True, help="engagewatch gRPC address, host:port")
    parser.add_argument(
        "--state", required=True, type=Path, help="cursor file (JSON), replaced atomically"
    )
    parser.add_argument(
        "--decisions",
        type=Path,
        help="decisions log, JSON lines (default: the state path with .decisions.jsonl)",
    )
    parser.add_argument(
        "--min-severity",
        choices=_SEVERITIES,
        default="low",
        help="alerts below this severity are not acted on (and take back what they caused)",
    )
    parser.add_argument(
        "--consumer-id",
        default=f"throttle@{socket.gethostname()}",
        help="who the decisions are recorded as",
    )


def run_throttle(args: argparse.Namespace) -> int:
    decisions = args.decisions or args.state.with_suffix(".decisions.jsonl")
    try:
        state = ConsumerState(args.state, decisions)
    except StateLocked as err:
        logger.error("%s", err)
        return 1
    try:
        consumer = ThrottleConsumer(
            args.target,
            state,
            args.consumer_id,
            int(types_pb2.Severity.Value("SEVERITY_" + args.min_severity.upper())),
        )
        stop = lambda *_: consumer.stop()  # noqa: E731 - a signal handler
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        consumer.run()
    finally:
        state.close()
    return 0
