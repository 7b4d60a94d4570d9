"""Alerts pushed to a real Alertmanager (Debian's prometheus-alertmanager) and on to a webhook."""

from __future__ import annotations

import json
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import grpc
import pytest

from detectors.findings import Finding
from engagewatch.v1 import (
    alert_service_pb2,
    alert_service_pb2_grpc,
    detection_service_pb2,
    detection_service_pb2_grpc,
    types_pb2,
)
from server.alerts import alert_id_for
from server.app import Service
from server.config import AlertmanagerSettings
from server.convert import to_timestamp
from server.demo import JUDGED_WINDOW
from server.sim_client import stream_simulation
from server.simulator import SimulationConfig, simulate
from tests.clickhouse_server import free_port
from tests.conftest import drop_database
from tests.server.conftest import finding, make_service, wait_until

ALERTMANAGER_BIN = "/usr/bin/prometheus-alertmanager"  # Debian's prometheus-alertmanager
DRILLDOWN = (
    "http://grafana.test/d/engagewatch-account?var-account={account_id}&from={window_start_ms}"
)


class Webhook:
    """Alertmanager's receiver: an HTTP server that keeps every notification it is sent."""

    def __init__(self) -> None:
        self.notifications: list[dict[str, Any]] = []
        lock = threading.Lock()
        self._lock = lock
        received = self.notifications

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with lock:
                    received.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}/hook"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def statuses(self, alert_id: str) -> list[str]:
        """Status of each notification that carried the alert, in arrival order."""
        with self._lock:
            return [
                a["status"]
                for n in self.notifications
                for a in n["alerts"]
                if a["labels"].get("alert_id") == alert_id
            ]

    def actions(self, alert_id: str) -> set[tuple[str, str]]:
        """(action label, status) pairs the alert was notified with."""
        with self._lock:
            return {
                (a["labels"]["action"], a["status"])
                for n in self.notifications
                for a in n["alerts"]
                if a["labels"].get("alert_id") == alert_id
            }

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class Alertmanager:
    """prometheus-alertmanager on loopback with its own config and storage; no gossip."""

    def __init__(self, root: Path, webhook_url: str, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = root / "alertmanager.yml"
        config.write_text(
            "route:\n"
            "  receiver: hook\n"
            "  group_by: ['alert_id']\n"
            "  group_wait: 1s\n"
            "  group_interval: 1s\n"
            "  repeat_interval: 1h\n"
            "receivers:\n"
            "  - name: hook\n"
            "    webhook_configs:\n"
            f"      - url: {webhook_url}\n"
            "        send_resolved: true\n"
        )
        self._args = [
            ALERTMANAGER_BIN,
            f"--config.file={config}",
            f"--storage.path={root / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--cluster.listen-address=",
        ]
        self._log = (root / "alertmanager.log").open("wb")
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._process = subprocess.Popen(self._args, stdout=self._log, stderr=self._log)
        wait_until(self._ready, timeout=20)

    def _ready(self) -> bool:
        assert self._process is not None and self._process.poll() is None, "alertmanager exited"
        try:
            with urllib.request.urlopen(self.url + "/-/ready", timeout=1) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def alerts(self) -> dict[str, dict[str, Any]]:
        """The alerts Alertmanager holds as firing, by our alert_id label."""
        with urllib.request.urlopen(self.url + "/api/v2/alerts", timeout=5) as response:
            return {a["labels"].get("alert_id", ""): a for a in json.loads(response.read())}

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
        self._log.close()


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.close()


@pytest.fixture
def alertmanager(tmp_path: Path, webhook: Webhook) -> Iterator[Alertmanager]:
    server = Alertmanager(tmp_path, webhook.url)
    server.start()
    yield server
    server.stop()


def _service(chdb_url: str, url: str, **overrides: Any) -> Service:
    settings = AlertmanagerSettings(
        url=url, resend_seconds=1.0, **{"drilldown_url_template": DRILLDOWN, **overrides}
    )
    return make_service(chdb_url, alertmanager=settings)


def _stop(service: Service) -> None:
    drop_database(service.store)
    service.stop(grace=0)


def _sample(service: Service, name: str, **labels: str) -> float:
    return service.metrics.registry.get_sample_value(name, labels) or 0.0


def _recent(finding_: Finding, ends_ago: timedelta = timedelta(minutes=10)) -> Finding:
    end = datetime.now(UTC).replace(microsecond=0) - ends_ago
    return replace(finding_, start_time=end - timedelta(hours=3), end_time=end)


def test_simulated_fraud_pages_and_a_false_positive_review_resolves(
    chdb_url: str, alertmanager: Alertmanager, webhook: Webhook
) -> None:
    service = _service(chdb_url, alertmanager.url, min_severity="high")
    try:
        end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        config = SimulationConfig(
            seed=5,
            accounts=40,
            actors=1_000,
            days=7,
            start=end - timedelta(days=7),
            fraud_accounts_per_pattern=1,
            hard_negatives=False,
        )
        sim = simulate(config)
        stream_simulation(service.target, sim, batch_size=1_000)
        with grpc.insecure_channel(service.target) as channel:
            detection_service_pb2_grpc.DetectionServiceStub(channel).RunDetection(
                detection_service_pb2.RunDetectionRequest(
                    start=to_timestamp(end - JUDGED_WINDOW), end=to_timestamp(end)
                )
            )
            alerts_api = alert_service_pb2_grpc.AlertServiceStub(channel)
            listed = alerts_api.ListAlerts(
                alert_service_pb2.ListAlertsRequest(page_size=1000)
            ).alerts
            paged = {a.alert_id: a for a in listed if a.severity >= types_pb2.SEVERITY_HIGH}
            fraud = sim.fraud_accounts()
            assert any(a.account_id in fraud for a in paged.values()), "no fraud was paged"

            # Every high+ alert, and nothing below the level, reaches Alertmanager.
            wait_until(lambda: set(alertmanager.alerts()) == set(paged), timeout=20)
            held = alertmanager.alerts()
            for alert_id, alert in paged.items():
                labels = held[alert_id]["labels"]
                assert labels == {
                    "alertname": "EngagementFraud",
                    "pattern": types_pb2.Pattern.Name(alert.pattern)
                    .removeprefix("PATTERN_")
                    .lower(),
                    "severity": types_pb2.Severity.Name(alert.severity)
                    .removeprefix("SEVERITY_")
                    .lower(),
                    "action": types_pb2.Action.Name(alert.recommended_action)
                    .removeprefix("ACTION_")
                    .lower(),
                    "detector": alert.detector,
                    "account_id": alert.account_id,
                    "alert_id": alert_id,
                }
                annotations = held[alert_id]["annotations"]
                assert annotations["explanation"] == alert.explanation
                assert f"var-account={alert.account_id}" in annotations["drilldown_url"]
                assert alert.account_id in annotations["summary"]

            # ... and on to the webhook receiver.
            for alert_id in paged:
                wait_until(lambda a=alert_id: "firing" in webhook.statuses(a), timeout=20)

            dismissed = next(a for a, alert in paged.items() if alert.account_id in fraud)
            alerts_api.ReviewAlert(
                alert_service_pb2.ReviewAlertRequest(
                    alert_id=dismissed,
                    verdict=types_pb2.VERDICT_FALSE_POSITIVE,
                    reviewer="oncall",
                    note="organic",
                )
            )
        wait_until(lambda: webhook.statuses(dismissed)[-1] == "resolved", timeout=20)
        assert set(alertmanager.alerts()) == set(paged) - {dismissed}
        assert _sample(service, "engagewatch_alertmanager_pushes_total", outcome="sent") > 0
        assert _sample(service, "engagewatch_alertmanager_pushes_total", outcome="failed") == 0
        assert _sample(service, "engagewatch_alertmanager_alerts_total", status="resolved") == 1
        assert _sample(service, "engagewatch_alertmanager_active_alerts") == len(paged) - 1
    finally:
        _stop(service)


def test_expiry_threshold_and_action_change(
    chdb_url: str, alertmanager: Alertmanager, webhook: Webhook
) -> None:
    expire_after = 3600.0
    service = _service(
        chdb_url, alertmanager.url, min_severity="high", expire_after_seconds=expire_after
    )
    try:
        expiring = _recent(
            finding("acct_exp", score=0.9), ends_ago=timedelta(seconds=expire_after - 4)
        )
        long_gone = _recent(finding("acct_old", score=0.9), ends_ago=timedelta(days=2))
        below = _recent(finding("acct_low", score=0.75))  # medium: under the paging level
        critical = _recent(finding("acct_crit", score=0.97))
        service.book.apply([expiring, long_gone, below, critical])
        ids = {f.subject: alert_id_for(f.detector, f.key) for f in (expiring, long_gone, below)}
        crit_id = alert_id_for(critical.detector, critical.key)

        wait_until(lambda: set(alertmanager.alerts()) == {ids["acct_exp"], crit_id}, timeout=10)
        assert alertmanager.alerts()[crit_id]["labels"]["action"] == "suspend_updates"

        # Confirmed fraud climbs past the automated cap: the action label changes, so the old
        # label set is resolved and the new one fires.
        service.book.review(crit_id, types_pb2.VERDICT_CONFIRMED_FRAUD, "", "oncall")
        wait_until(
            lambda: (
                alertmanager.alerts().get(crit_id, {}).get("labels", {}).get("action") == "stop_ads"
            ),
            timeout=10,
        )
        # The expiring alert resolves by itself once window_end + expire_after passes.
        wait_until(lambda: set(alertmanager.alerts()) == {crit_id}, timeout=15)
        wait_until(lambda: "resolved" in webhook.statuses(ids["acct_exp"]), timeout=10)
        wait_until(
            lambda: (
                ("suspend_updates", "resolved") in webhook.actions(crit_id)
                and ("stop_ads", "firing") in webhook.actions(crit_id)
            ),
            timeout=10,
        )
        assert webhook.statuses(ids["acct_old"]) == webhook.statuses(ids["acct_low"]) == []
    finally:
        _stop(service)


def test_pushes_are_retried_until_alertmanager_comes_up(
    chdb_url: str, tmp_path: Path, webhook: Webhook
) -> None:
    port = free_port()
    service = _service(chdb_url, f"http://127.0.0.1:{port}")
    manager = Alertmanager(tmp_path, webhook.url, port=port)
    try:
        record = _recent(finding("acct_retry", score=0.9))
        service.book.apply([record])  # returns at once: pushing is another thread's job
        wait_until(
            lambda: (
                _sample(service, "engagewatch_alertmanager_pushes_total", outcome="failed") >= 2
            ),
            timeout=10,
        )
        manager.start()
        alert_id = alert_id_for(record.detector, record.key)
        wait_until(lambda: alert_id in manager.alerts(), timeout=20)
        wait_until(lambda: "firing" in webhook.statuses(alert_id), timeout=10)
        assert _sample(service, "engagewatch_alertmanager_pushes_total", outcome="sent") >= 1
    finally:
        manager.stop()
        _stop(service)


def test_a_bad_drilldown_template_fails_the_start(chdb_url: str) -> None:
    with pytest.raises(ValueError, match="acount"):
        _service(chdb_url, "http://127.0.0.1:9", drilldown_url_template="{acount}")
