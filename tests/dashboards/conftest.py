"""A fed service on the real ClickHouse server, scraped by a real Prometheus with our rules.

One session-scoped setup serves both the Prometheus and the ClickHouse panel tests:
1. `engagewatch` in-process (server.app.start_service) on a fresh database of the
   clickhouse_server fixture, /metrics on a loopback port;
2. Debian's /usr/bin/prometheus on a free loopback port, scraping it every second and evaluating
   dashboards/prometheus/engagewatch.rules.yml every second;
3. once Prometheus has scraped the idle service, the simulator streams a small platform through
   the gRPC API, a batch is re-sent (duplicates) and a bad one rejected, detection runs twice
   over the fraud window (the second after a scrape, so per-detector timings have a rate),
   the throttling lookups run and two alerts are reviewed;
4. the fixture returns once Prometheus has scraped all of it and evaluated the rules again.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from prometheus_client import CollectorRegistry

from engagewatch.v1 import (
    alert_service_pb2,
    alert_service_pb2_grpc,
    detection_service_pb2,
    detection_service_pb2_grpc,
    ingest_service_pb2,
    ingest_service_pb2_grpc,
    types_pb2,
)
from server.app import Service, start_service
from server.config import DetectionSettings, Settings
from server.sim_client import stream_simulation
from server.simulator import Simulation, SimulationConfig, simulate
from tests.clickhouse_server import free_port
from tests.conftest import drop_database
from tests.dashboards.panels import RULES_FILE

PROMETHEUS_BINARY = "/usr/bin/prometheus"
SIM = SimulationConfig(seed=11, accounts=60, actors=2000, days=5, fraud_accounts_per_pattern=1)
FRAUD_WINDOW_DAYS = 3  # the simulator plants its fraud in the last 3 days


class Prometheus:
    """A Prometheus server child process and its HTTP API."""

    def __init__(self, root: Path, target: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(RULES_FILE)],
            "scrape_configs": [
                {"job_name": "engagewatch", "static_configs": [{"targets": [target]}]}
            ],
        }
        config_file = root / "prometheus.yml"
        config_file.write_text(json.dumps(config))  # JSON is YAML
        self.log = root / "prometheus.log"
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [
                    PROMETHEUS_BINARY,
                    f"--config.file={config_file}",
                    f"--storage.tsdb.path={root / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def get(self, path: str, **params: str) -> Any:
        """GET an API path; the decoded JSON body (error bodies too)."""
        url = f"{self.url}{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as e:  # 400/422 carry the error in JSON; 503 = starting
            text = e.read()
            if e.code == 503:
                raise ConnectionError(f"prometheus not ready: {text!r}") from e
            return json.loads(text)

    def query(self, expr: str, at: float | None = None) -> dict[str, Any]:
        """/api/v1/query at time `at` (default: now); the whole response."""
        params = {"query": expr} if at is None else {"query": expr, "time": f"{at:.3f}"}
        body: dict[str, Any] = self.get("/api/v1/query", **params)
        return body

    def vector(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        body = self.query(expr, at)
        assert body["status"] == "success", f"{expr}: {body}"
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def wait_until(self, expr: str, timeout: float = 30.0) -> None:
        """Wait until the instant query returns something."""
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise AssertionError(f"prometheus exited:\n{self.log.read_text()[-3000:]}")
            try:
                if self.vector(expr):
                    return
            except (urllib.error.URLError, ConnectionError, AssertionError):
                pass  # not listening or not ready yet
            if time.monotonic() > deadline:
                raise AssertionError(f"no result for {expr} within {timeout} s")
            time.sleep(0.2)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@dataclass(frozen=True)
class FedPlatform:
    """What the dashboard tests look at."""

    service: Service
    prometheus: Prometheus
    sim: Simulation
    database: str
    group_account: str  # an account with a lockstep or forced-subscription alert on it
    # When the dashboards are looked at: after the last scrape of the fed service and a rule
    # evaluation on top. Queries at this instant do not depend on how long the tests take.
    at: float


def _timestamp(when: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(when)
    return stamp


def _feed(service: Service, prometheus: Prometheus, sim: Simulation) -> str:
    """Drives every kind of traffic the panels show; returns an account with a group alert."""
    stream_simulation(service.target, sim, batch_size=10_000, timeout=120)
    with grpc.insecure_channel(service.target) as channel:
        ingest = ingest_service_pb2_grpc.IngestServiceStub(channel)
        good = ingest_service_pb2.WriteMetricsRequest(
            batch_id="dashboards-resent",
            columns=ingest_service_pb2.MetricColumns(
                account_ids=["acct_resent"],
                metrics=[types_pb2.METRIC_FOLLOWS],
                unix_seconds=[int(SIM.start.timestamp())],
                values=[1.0],
            ),
        )
        sent = ingest.WriteMetrics(iter([good, good]))
        assert sent.duplicate_batches == 1
        bad = ingest_service_pb2.WriteMetricsRequest(
            batch_id="dashboards-bad",
            columns=ingest_service_pb2.MetricColumns(
                account_ids=[""], metrics=[0], unix_seconds=[0], values=[-1.0]
            ),
        )
        with pytest.raises(grpc.RpcError) as rejected:
            ingest.WriteMetrics(iter([bad]))
        assert rejected.value.code() == grpc.StatusCode.INVALID_ARGUMENT

        detection = detection_service_pb2_grpc.DetectionServiceStub(channel)
        window = detection_service_pb2.RunDetectionRequest(
            start=_timestamp(SIM.end - timedelta(days=FRAUD_WINDOW_DAYS)), end=_timestamp(SIM.end)
        )
        first = detection.RunDetection(window, timeout=120)
        assert first.alerts_raised > 0
        # The per-detector histograms appear with the first run; a rate needs a later sample.
        prometheus.wait_until('engagewatch_detector_run_seconds_count{job="engagewatch"}')
        detection.RunDetection(window, timeout=120)

        alerts_api = alert_service_pb2_grpc.AlertServiceStub(channel)
        alerts = list(
            alerts_api.ListAlerts(alert_service_pb2.ListAlertsRequest(page_size=1000)).alerts
        )
        for alert in alerts[:20]:
            alerts_api.GetAccountRisk(
                alert_service_pb2.GetAccountRiskRequest(account_id=alert.account_id)
            )
        groups = [
            a
            for a in alerts
            if a.pattern
            in (types_pb2.PATTERN_LOCKSTEP_GROUP, types_pb2.PATTERN_FORCED_SUBSCRIPTION)
            and a.member_ids
        ]
        assert groups, "the simulation's lockstep/forced-subscription fraud raised no alert"
        confirmed = groups[0]
        dismissed = next(a for a in alerts if a.detector != confirmed.detector)
        for alert, verdict in (
            (confirmed, types_pb2.VERDICT_CONFIRMED_FRAUD),
            (dismissed, types_pb2.VERDICT_FALSE_POSITIVE),
        ):
            alerts_api.ReviewAlert(
                alert_service_pb2.ReviewAlertRequest(
                    alert_id=alert.alert_id, verdict=verdict, reviewer="dashboards-test"
                )
            )
        return str(confirmed.account_id)


@pytest.fixture(scope="session")
def fed_platform(
    clickhouse_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FedPlatform]:
    database = f"dash_{uuid.uuid4().hex[:12]}"
    settings = Settings(
        store_url=f"{clickhouse_url}/{database}",
        grpc_address="127.0.0.1:0",
        metrics_address="127.0.0.1:0",
        # A schedule that does not fire during the test: its interval is exported all the same.
        detection=DetectionSettings(every_seconds=3600),
    )
    service = start_service(settings, registry=CollectorRegistry())
    prometheus = Prometheus(
        tmp_path_factory.mktemp("prometheus"), f"127.0.0.1:{service.metrics_port}"
    )
    try:
        prometheus.wait_until('up{job="engagewatch"} == 1')
        sim = simulate(SIM)
        group_account = _feed(service, prometheus, sim)
        fed_at = time.time()
        # A successful scrape after the last request, then rule evaluations on top of it.
        # (A scrape that times out on the busy 2-core machine marks every series stale.)
        prometheus.wait_until(
            f'up{{job="engagewatch"}} == 1 and timestamp(up{{job="engagewatch"}}) > {fed_at + 1}'
        )
        prometheus.wait_until("job_detector:engagewatch_alert_precision:ratio")
        time.sleep(2.0)
        at = time.time()
        assert prometheus.vector('up{job="engagewatch"} == 1', at), "the last scrape failed"
        yield FedPlatform(service, prometheus, sim, database, group_account, at)
    finally:
        prometheus.stop()
        drop_database(service.store)
        service.stop(grace=0)
