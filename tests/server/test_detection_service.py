"""DetectionService over a real server: a planted anomaly is found, stably, through the API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import numpy as np
import numpy.typing as npt
import pytest

from engagewatch.v1 import (
    alert_service_pb2,
    alert_service_pb2_grpc,
    detection_service_pb2,
    detection_service_pb2_grpc,
    ingest_service_pb2,
    ingest_service_pb2_grpc,
    types_pb2,
)
from server.app import Service
from server.convert import to_timestamp
from tests.server.conftest import seasonal_traffic

END = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
DAYS = 14
SPIKED = "acct_000"


def planted_traffic(
    accounts: int = 40, seed: int = 5
) -> list[ingest_service_pb2.WriteMetricsRequest]:
    """Seasonal Poisson traffic; SPIKED gains 40x its follows for 3 hours, partners flat."""

    def spike(i: int, size: float, follows: npt.NDArray[np.float64]) -> None:
        if i == 0:
            follows[-10:-7] += 40 * size * 0.2 + 200

    return seasonal_traffic(END, DAYS, accounts, seed, 0.7, "acct", spike)


def run_request(**fields: object) -> detection_service_pb2.RunDetectionRequest:
    return detection_service_pb2.RunDetectionRequest(
        start=to_timestamp(END - timedelta(days=1)), end=to_timestamp(END), **fields
    )


def test_run_detection_finds_the_planted_spike_and_is_stable(
    channel: grpc.Channel, service: Service
) -> None:
    ingest_service_pb2_grpc.IngestServiceStub(channel).WriteMetrics(iter(planted_traffic()))
    detection = detection_service_pb2_grpc.DetectionServiceStub(channel)
    first = detection.RunDetection(run_request())
    assert first.accounts_scored == 40
    assert first.alerts_raised >= 1
    assert {t.detector for t in first.timings} >= {"seasonal_baseline", "lockstep"}
    alerts_stub = alert_service_pb2_grpc.AlertServiceStub(channel)
    alerts = alerts_stub.ListAlerts(alert_service_pb2.ListAlertsRequest(page_size=100)).alerts
    top = max(alerts, key=lambda a: a.score)
    assert top.account_id == SPIKED
    assert top.pattern == types_pb2.PATTERN_FAKE_FOLLOWERS
    assert top.observed > top.expected and top.explanation and top.evidence

    again = detection.RunDetection(run_request())
    assert again.alerts_raised == 0  # the same findings are the same alerts
    ids_after = {
        a.alert_id
        for a in alerts_stub.ListAlerts(alert_service_pb2.ListAlertsRequest(page_size=100)).alerts
    }
    assert ids_after == {a.alert_id for a in alerts}
    registry = service.metrics.registry
    assert registry.get_sample_value("engagewatch_accounts_scored_total") == 80
    assert (
        registry.get_sample_value(
            "engagewatch_detection_runs_total", {"trigger": "request", "outcome": "ok"}
        )
        == 2
    )


def test_run_detection_can_be_limited_to_accounts_and_detectors(
    channel: grpc.Channel, service: Service
) -> None:
    ingest_service_pb2_grpc.IngestServiceStub(channel).WriteMetrics(iter(planted_traffic()))
    detection = detection_service_pb2_grpc.DetectionServiceStub(channel)
    run = detection.RunDetection(
        run_request(account_ids=["acct_001", "acct_002"], detectors=["seasonal_baseline"])
    )
    assert run.accounts_scored == 2
    assert [t.detector for t in run.timings] == ["seasonal_baseline"]


@pytest.mark.parametrize(
    "request_fields",
    [
        {"start": to_timestamp(END)},  # no end
        {"start": to_timestamp(END), "end": to_timestamp(END - timedelta(hours=1))},
        {"start": to_timestamp(END - timedelta(days=100)), "end": to_timestamp(END)},
        {
            "start": to_timestamp(END - timedelta(days=1)),
            "end": to_timestamp(END),
            "detectors": ["no_such_detector"],
        },
    ],
    ids=["missing end", "end before start", "window too long", "unknown detector"],
)
def test_bad_detection_requests_are_rejected(
    request_fields: dict[str, object], channel: grpc.Channel
) -> None:
    detection = detection_service_pb2_grpc.DetectionServiceStub(channel)
    with pytest.raises(grpc.RpcError) as caught:
        detection.RunDetection(detection_service_pb2.RunDetectionRequest(**request_fields))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
