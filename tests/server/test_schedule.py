"""The detection schedule: runs on its own, raises alerts, and outlives a ClickHouse outage."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator

import grpc
import pytest

from engagewatch.v1 import (
    alert_service_pb2,
    alert_service_pb2_grpc,
    ingest_service_pb2_grpc,
    types_pb2,
)
from server.app import Service
from server.config import DetectionSettings
from tests.clickhouse_server import ClickHouseServer
from tests.conftest import drop_database
from tests.server.conftest import make_service, wait_until
from tests.server.test_detection_service import SPIKED, planted_traffic

EVERY_SECONDS = 0.5
RUNS = "engagewatch_detection_runs_total"


def scheduled_runs(service: Service, outcome: str) -> float:
    value = service.metrics.registry.get_sample_value(
        RUNS, {"trigger": "schedule", "outcome": outcome}
    )
    return value or 0.0


def scheduled_service(store_url: str) -> Service:
    # The schedule judges the 24 hours up to the last complete hour: planted_traffic's spike,
    # 7-10 hours before the current hour, stays inside it even if the hour turns mid-test.
    return make_service(
        store_url, detection=DetectionSettings(every_seconds=EVERY_SECONDS, window_hours=24)
    )


@pytest.fixture
def service_on_schedule(chdb_url: str) -> Iterator[Service]:
    running = scheduled_service(chdb_url)
    yield running
    drop_database(running.store)
    running.stop(grace=0)


def test_the_schedule_raises_alerts_without_being_asked(service_on_schedule: Service) -> None:
    service = service_on_schedule
    began = time.time()
    with grpc.insecure_channel(service.target) as channel:
        ingest_service_pb2_grpc.IngestServiceStub(channel).WriteMetrics(iter(planted_traffic()))
        alerts_stub = alert_service_pb2_grpc.AlertServiceStub(channel)

        def alerts() -> list[alert_service_pb2.Alert]:
            request = alert_service_pb2.ListAlertsRequest(page_size=100)
            return list(alerts_stub.ListAlerts(request).alerts)

        wait_until(lambda: len(alerts()) > 0, timeout=60)
        top = max(alerts(), key=lambda a: a.score)
    assert top.account_id == SPIKED
    assert top.pattern == types_pb2.PATTERN_FAKE_FOLLOWERS

    registry = service.metrics.registry
    # A run's alerts are visible to readers before the run returns and is counted.
    wait_until(lambda: scheduled_runs(service, "ok") >= 1, timeout=30)
    assert scheduled_runs(service, "error") == 0
    assert registry.get_sample_value(RUNS, {"trigger": "request", "outcome": "ok"}) is None
    last_success = registry.get_sample_value("engagewatch_detection_last_success_timestamp_seconds")
    assert last_success is not None and began <= last_success <= time.time()
    # It keeps going: more runs after the one that raised the alerts.
    runs_so_far = scheduled_runs(service, "ok")
    wait_until(lambda: scheduled_runs(service, "ok") > runs_so_far, timeout=30)


@pytest.fixture
def clickhouse_service_on_schedule(
    restartable_clickhouse: ClickHouseServer,
) -> Iterator[tuple[Service, ClickHouseServer]]:
    running = scheduled_service(f"{restartable_clickhouse.url}/schedule_{uuid.uuid4().hex[:12]}")
    yield running, restartable_clickhouse
    restartable_clickhouse.start()
    drop_database(running.store)
    running.stop(grace=0)


def test_the_schedule_survives_a_clickhouse_outage(
    clickhouse_service_on_schedule: tuple[Service, ClickHouseServer],
    caplog: pytest.LogCaptureFixture,
) -> None:
    service, clickhouse = clickhouse_service_on_schedule
    wait_until(lambda: scheduled_runs(service, "ok") >= 1, timeout=30)

    with caplog.at_level(logging.ERROR, logger="server.detection"):
        clickhouse.stop()
        # Two failed runs: the first did not end the schedule.
        wait_until(lambda: scheduled_runs(service, "error") >= 2, timeout=30)
        ok_during_outage = scheduled_runs(service, "ok")
        clickhouse.start()
        wait_until(lambda: scheduled_runs(service, "ok") > ok_during_outage, timeout=60)
    failures = [r for r in caplog.records if r.getMessage() == "scheduled detection run failed"]
    assert failures and failures[0].exc_info is not None
