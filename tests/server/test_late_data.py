"""Late data: an hour that receives data after the schedule's window has passed it is judged
when the data arrives, once, and its alert is not duplicated by later runs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import grpc
import pytest

from engagewatch.v1 import (
    alert_service_pb2,
    alert_service_pb2_grpc,
    ingest_service_pb2,
    ingest_service_pb2_grpc,
    types_pb2,
)
from server.app import Service
from server.config import DetectionSettings
from server.convert import from_timestamp
from server.detection import SCHEDULE_MARK
from server.store import open_store
from tests.conftest import drop_database
from tests.server.conftest import make_service, wait_until
from tests.server.test_feedback import END, graded_traffic

WINDOW_HOURS = 6
LATE_HOUR = END - timedelta(hours=20)  # outside the 6-hour window, inside the 7-day lookback
LATE_ACCOUNT = "acct_003"


def runs(service: Service, trigger: str) -> float:
    value = service.metrics.registry.get_sample_value(
        "engagewatch_detection_runs_total", {"trigger": trigger, "outcome": "ok"}
    )
    return value or 0.0


def late_spike() -> ingest_service_pb2.WriteMetricsRequest:
    """Follows bought in three hours the window has already passed, sent only now."""
    request = ingest_service_pb2.WriteMetricsRequest(batch_id="late-spike")
    hours = [int((LATE_HOUR + timedelta(hours=h)).timestamp()) for h in range(3)]
    request.columns.account_ids.extend([LATE_ACCOUNT] * 3)
    request.columns.metrics.extend([types_pb2.METRIC_FOLLOWS] * 3)
    request.columns.unix_seconds.extend(hours)
    request.columns.values.extend([600.0] * 3)
    return request


@pytest.fixture
def scheduled(chdb_url: str) -> Iterator[Service]:
    running = make_service(
        chdb_url,
        detection=DetectionSettings(every_seconds=0.5, window_hours=WINDOW_HOURS),
    )
    yield running
    running.stop(grace=0)
    reopened = open_store(chdb_url)
    drop_database(reopened)
    reopened.close()


def test_late_hours_are_judged_when_their_data_arrives(scheduled: Service) -> None:
    service = scheduled
    with grpc.insecure_channel(service.target) as channel:
        ingest = ingest_service_pb2_grpc.IngestServiceStub(channel)
        alert_stub = alert_service_pb2_grpc.AlertServiceStub(channel)

        def alerts() -> dict[str, alert_service_pb2.Alert]:
            listed = alert_stub.ListAlerts(alert_service_pb2.ListAlertsRequest(page_size=1000))
            return {a.alert_id: a for a in listed.alerts}

        def ticks(n: int) -> None:
            """Waits until n more scheduled ticks ran to their end.

            A tick counts its window run before it judges late hours, so a tick is over only
            once the next one's window run is counted (a count read in between missed a late
            run still in flight, once in a CI rehearsal)."""
            done = runs(service, "schedule")
            wait_until(lambda: runs(service, "schedule") >= done + n + 1, timeout=120)

        ticks(1)  # the first tick sets the watermark: data already stored is not late
        ingest.WriteMetrics(iter(graded_traffic(lifts=())))  # clean history
        # The history arrived late for every hour before the window: judged once.
        wait_until(lambda: runs(service, "late_data") >= 1, timeout=120)
        ticks(2)
        late_runs = runs(service, "late_data")
        quiet = alerts()
        assert not any(a.account_id == LATE_ACCOUNT for a in quiet.values())
        ticks(3)
        assert runs(service, "late_data") == late_runs  # nothing new arrived: no late run

        ingest.WriteMetrics(iter([late_spike()]))
        wait_until(lambda: any(a.account_id == LATE_ACCOUNT for a in alerts().values()), 120)
        raised = {k: a for k, a in alerts().items() if k not in quiet}
        assert {a.account_id for a in raised.values()} == {LATE_ACCOUNT}
        # Several detectors may report it, each once.
        assert len({a.detector for a in raised.values()}) == len(raised)
        for alert in raised.values():
            assert alert.pattern == types_pb2.PATTERN_FAKE_FOLLOWERS
            assert from_timestamp(alert.window_start) == LATE_HOUR
        wait_until(lambda: runs(service, "late_data") == late_runs + 1)
        judged = service.metrics.registry.get_sample_value("engagewatch_late_hours_judged_total")
        assert judged is not None and judged >= 3

        # Later ticks neither judge the hour again nor duplicate or re-sequence its alert.
        ticks(3)
        assert runs(service, "late_data") == late_runs + 1
        again = alerts()
        assert set(again) == set(quiet) | set(raised)
        assert all(again[k].sequence == a.sequence for k, a in raised.items())
    mark = service.store.read_mark(SCHEDULE_MARK)
    assert mark is not None and mark > LATE_HOUR
