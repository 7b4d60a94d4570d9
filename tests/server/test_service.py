"""The running service: health, reflection, /metrics, and a ClickHouse outage mid-stream."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from datetime import timedelta

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

from engagewatch.v1 import (
    alert_service_pb2,
    alert_service_pb2_grpc,
    ingest_service_pb2,
    ingest_service_pb2_grpc,
)
from server.app import SERVICE_NAMES, Service
from tests.conftest import ClickHouseServer, drop_database
from tests.server.conftest import make_service, wait_until
from tests.server.test_ingest import FOLLOWS, HOUR, T0, points_request


def test_health_reports_serving(channel: grpc.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    for name in ("", *SERVICE_NAMES):
        response = health.Check(health_pb2.HealthCheckRequest(service=name))
        assert response.status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_lists_every_service(channel: grpc.Channel) -> None:
    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
    responses = reflection.ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")])
    )
    names = {s.name for r in responses for s in r.list_services_response.service}
    assert set(SERVICE_NAMES) <= names
    assert "grpc.health.v1.Health" in names


def test_metrics_endpoint_counts_requests_by_method_and_code(
    channel: grpc.Channel, service: Service
) -> None:
    ingest = ingest_service_pb2_grpc.IngestServiceStub(channel)
    ingest.WriteMetrics(iter([points_request("m1", [("a1", FOLLOWS, T0, 4.0)])]))
    with pytest.raises(grpc.RpcError):
        ingest.WriteMetrics(iter([points_request("m2", [("a1", FOLLOWS, T0, -4.0)])]))
    url = f"http://127.0.0.1:{service.metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }

    def value(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted(labels.items())))]

    handled = "engagewatch_grpc_server_handled_total"
    assert value(handled, grpc_method="WriteMetrics", grpc_code="OK") == 1
    assert value(handled, grpc_method="WriteMetrics", grpc_code="INVALID_ARGUMENT") == 1
    assert value("engagewatch_ingest_points_total", metric="follows") == 1
    assert value("engagewatch_ingest_rejected_rows_total", kind="metrics") == 1
    assert value("engagewatch_grpc_server_handling_seconds_count", grpc_method="WriteMetrics") == 2
    label_values = {v for _, labels in samples for _, v in labels}
    assert "a1" not in label_values  # no account ids in labels


@pytest.fixture
def clickhouse_service(
    restartable_clickhouse: ClickHouseServer, clickhouse_url: str
) -> Iterator[tuple[Service, ClickHouseServer]]:
    running = make_service(f"{restartable_clickhouse.url}/outage_test")
    yield running, restartable_clickhouse
    restartable_clickhouse.start()
    drop_database(running.store)
    running.stop(grace=0)


def test_clickhouse_outage_gives_unavailable_and_loses_nothing(
    clickhouse_service: tuple[Service, ClickHouseServer],
) -> None:
    service, clickhouse = clickhouse_service
    batches = [points_request(f"b{i}", [("a1", FOLLOWS, T0, 1.0 + i)]) for i in range(4)]

    def stream_with_outage() -> Iterator[ingest_service_pb2.WriteMetricsRequest]:
        yield batches[0]
        yield batches[1]
        clickhouse.stop()  # ClickHouse goes away mid-stream
        yield from batches[2:]

    with grpc.insecure_channel(service.target) as channel:
        ingest = ingest_service_pb2_grpc.IngestServiceStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            ingest.WriteMetrics(stream_with_outage())
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
        with pytest.raises(grpc.RpcError) as listing:
            alert_service_pb2_grpc.AlertServiceStub(channel).ListAlerts(
                alert_service_pb2.ListAlertsRequest()
            )
        assert listing.value.code() == grpc.StatusCode.UNAVAILABLE
        health = health_pb2_grpc.HealthStub(channel)
        wait_until(
            lambda: (
                health.Check(health_pb2.HealthCheckRequest()).status
                == health_pb2.HealthCheckResponse.NOT_SERVING
            )
        )

        clickhouse.start()
        retried = ingest.WriteMetrics(iter(batches))  # the client retries the whole stream
        assert retried.accepted_batches + retried.duplicate_batches == 4
        panel = service.store.series(HOUR, HOUR + timedelta(hours=1))
        assert panel.metric("follows").sum() == 1 + 2 + 3 + 4  # nothing lost, nothing twice
        assert (
            service.metrics.registry.get_sample_value(
                "engagewatch_store_errors_total", {"operation": "WriteMetrics"}
            )
            == 1
        )
        wait_until(
            lambda: (
                health.Check(health_pb2.HealthCheckRequest()).status
                == health_pb2.HealthCheckResponse.SERVING
            )
        )
