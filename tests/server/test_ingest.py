"""IngestService over a real server: batches, idempotency, and every bad-input case."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime, timedelta

import grpc
import numpy as np
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from engagewatch.v1 import ingest_service_pb2, ingest_service_pb2_grpc, types_pb2
from server import ingest_servicer
from server.app import Service
from tests.server.conftest import MAX_BATCH_ROWS

HOUR = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=5)


def points_request(
    batch_id: str, rows: list[tuple[str, int, float, float]]
) -> ingest_service_pb2.WriteMetricsRequest:
    """rows: (account, metric, unix seconds, value)."""
    request = ingest_service_pb2.WriteMetricsRequest(batch_id=batch_id)
    for account, metric, seconds, value in rows:
        point = request.points.points.add(account_id=account, metric=metric, value=value)
        point.time.seconds = int(seconds)
    return request


def columns_request(
    batch_id: str, rows: list[tuple[str, int, float, float]]
) -> ingest_service_pb2.WriteMetricsRequest:
    request = ingest_service_pb2.WriteMetricsRequest(batch_id=batch_id)
    for account, metric, seconds, value in rows:
        request.columns.account_ids.append(account)
        request.columns.metrics.append(metric)
        request.columns.unix_seconds.append(int(seconds))
        request.columns.values.append(value)
    return request


def follow_event(
    request: ingest_service_pb2.WriteEventsRequest, actor: str, account: str, seconds: float
) -> ingest_service_pb2.Event:
    event = request.events.add(
        actor_id=actor,
        account_id=account,
        type=types_pb2.EVENT_TYPE_FOLLOW,
        source="profile",
        consented=True,
        client_id="app-1",
    )
    event.time.seconds = int(seconds)
    return event


T0 = HOUR.timestamp()
FOLLOWS = types_pb2.METRIC_FOLLOWS
CLICKS = types_pb2.METRIC_CLICKS


def series_total(service: Service, metric: str = "follows") -> float:
    panel = service.store.series(HOUR - timedelta(hours=2), HOUR + timedelta(hours=3))
    return float(panel.metric(metric).sum())


def bad_request_fields(err: grpc.RpcError) -> list[str]:
    status = rpc_status.from_call(err)
    assert status is not None, "INVALID_ARGUMENT must carry a google.rpc.Status"
    fields = []
    for detail in status.details:
        bad = error_details_pb2.BadRequest()
        assert detail.Unpack(bad)
        fields.extend(v.field for v in bad.field_violations)
    return fields


def test_points_are_summed_per_hour_and_reported(channel: grpc.Channel, service: Service) -> None:
    stub = ingest_service_pb2_grpc.IngestServiceStub(channel)
    rows = [("a1", FOLLOWS, T0 + 60, 3.0), ("a1", FOLLOWS, T0 + 120, 4.0), ("a2", CLICKS, T0, 5)]
    response = stub.WriteMetrics(iter([points_request("b1", rows)]))
    assert (response.accepted_points, response.accepted_batches) == (3, 1)
    panel = service.store.series(HOUR, HOUR + timedelta(hours=1))
    row = list(panel.account_ids).index("a1")
    assert panel.metric("follows")[row, 0] == 7.0


def test_columnar_batches_write_the_same_as_messages(
    channel: grpc.Channel, service: Service
) -> None:
    stub = ingest_service_pb2_grpc.IngestServiceStub(channel)
    rows = [(f"acct{i}", FOLLOWS, T0 + i, float(i)) for i in range(200)]
    response = stub.WriteMetrics(iter([columns_request("cols", rows)]))
    assert response.accepted_points == 200
    assert series_total(service) == sum(range(200))


def test_a_retried_batch_is_never_counted_twice(channel: grpc.Channel, service: Service) -> None:
    stub = ingest_service_pb2_grpc.IngestServiceStub(channel)
    first = points_request("retry-me", [("a1", FOLLOWS, T0, 10.0)])
    second = points_request("other", [("a1", FOLLOWS, T0, 1.0)])
    stub.WriteMetrics(iter([first]))
    response = stub.WriteMetrics(iter([first, second, first]))
    assert response.accepted_batches == 1 and response.duplicate_batches == 2
    assert response.duplicate_points == 2
    assert series_total(service) == 11.0
    assert (
        service.metrics.registry.get_sample_value(
            "engagewatch_ingest_batches_total", {"kind": "metrics", "outcome": "duplicate"}
        )
        == 2
    )


def test_events_are_counted_and_deduplicated(channel: grpc.Channel, service: Service) -> None:
    stub = ingest_service_pb2_grpc.IngestServiceStub(channel)
    request = ingest_service_pb2.WriteEventsRequest(batch_id="ev1")
    for i in range(5):
        follow_event(request, f"user{i}", "a1", T0 + i)
    response = stub.WriteEvents(iter([request, request]))
    assert (response.accepted_events, response.duplicate_events) == (5, 5)
    assert series_total(service) == 5.0
    events = service.store.events(HOUR, HOUR + timedelta(hours=1))
    assert sorted(events.actor_ids) == [f"user{i}" for i in range(5)]


def test_points_and_events_for_the_same_bucket_take_the_larger(
    channel: grpc.Channel, service: Service
) -> None:
    stub = ingest_service_pb2_grpc.IngestServiceStub(channel)
    stub.WriteMetrics(iter([points_request("p", [("a1", FOLLOWS, T0, 100.0)])]))
    sampled = ingest_service_pb2.WriteEventsRequest(batch_id="e")
    for i in range(5):  # a 5% sample of the same follows
        follow_event(sampled, f"user{i}", "a1", T0 + i)
    stub.WriteEvents(iter([sampled]))
    assert series_total(service) == 100.0


NOW = time.time()
GOOD = ("a1", FOLLOWS, T0, 1.0)
BAD_METRIC_ROWS = {
    "empty account id": (("", FOLLOWS, T0, 1.0), "points.points[1].account_id"),
    "oversized account id": (("x" * 129, FOLLOWS, T0, 1.0), "points.points[1].account_id"),
    "unknown metric": (("a1", 99, T0, 1.0), "points.points[1].metric"),
    "unspecified metric": (("a1", 0, T0, 1.0), "points.points[1].metric"),
    "negative value": (("a1", FOLLOWS, T0, -1.0), "points.points[1].value"),
    "NaN value": (("a1", FOLLOWS, T0, math.nan), "points.points[1].value"),
    "infinite value": (("a1", FOLLOWS, T0, math.inf), "points.points[1].value"),
    "far future": (("a1", FOLLOWS, NOW + 86400 * 30, 1.0), "points.points[1].time"),
    "before 2000": (("a1", FOLLOWS, 900_000_000, 1.0), "points.points[1].time"),
}


@pytest.mark.parametrize("case", sorted(BAD_METRIC_ROWS))
def test_a_batch_with_a_bad_row_is_rejected_whole(
    case: str, channel: grpc.Channel, service: Service
) -> None:
    bad_row, field = BAD_METRIC_ROWS[case]
    stub = ingest_service_pb2_grpc.IngestServiceStub(channel)
    with pytest.raises(grpc.RpcError) as caught:
        stub.WriteMetrics(iter([points_request("bad", [GOOD, bad_row])]))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in bad_request_fields(caught.value)
    assert series_total(service) == 0.0  # the good row of the batch was not written either
    # The same batch_id, corrected, is not treated as a duplicate of the rejected one.
    response = stub.WriteMetrics(iter([points_request("bad", [GOOD])]))
    assert response.accepted_batches == 1


def test_every_bad_field_is_named(channel: grpc.Channel) -> None:
    stub = ingest_service_pb2_grpc.IngestServiceStub(channel)
    rows = [("", 99, 5, -1.0), GOOD, ("a2", FOLLOWS, T0, math.nan)]
    with pytest.raises(grpc.RpcError) as caught:
        stub.WriteMetrics(iter([points_request("", rows)]))
    assert set(bad_request_fields(caught.value)) == {
        "batch_id",
        "points.points[0].account_id",
        "points.points[0].metric",
        "points.points[0].time",
        "points.points[0].value",
        "points.points[2].value",
    }


def test_too_many_rows_and_empty_batches_are_rejected(
    channel: grpc.Channel, service: Service
) -> None:
    stub = ingest_service_pb2_grpc.IngestServiceStub(channel)
    for rows, field in (([GOOD] * (MAX_BATCH_ROWS + 1), "points.points"), ([], "points.points")):
        with pytest.raises(grpc.RpcError) as caught:
            stub.WriteMetrics(iter([points_request("big", rows)]))
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert field in bad_request_fields(caught.value)
    assert series_total(service) == 0.0


def test_columns_of_unequal_length_are_rejected(channel: grpc.Channel) -> None:
    request = columns_request("c", [GOOD, GOOD])
    request.columns.values.append(3.0)
    stub = ingest_service_pb2_grpc.IngestServiceStub(channel)
    with pytest.raises(grpc.RpcError) as caught:
        stub.WriteMetrics(iter([request]))
    assert bad_request_fields(caught.value) == ["columns"]


def test_bad_column_rows_are_named_by_column(channel: grpc.Channel) -> None:
    request = columns_request("c", [GOOD, ("a1", 42, T0, -3.0)])
    stub = ingest_service_pb2_grpc.IngestServiceStub(channel)
    with pytest.raises(grpc.RpcError) as caught:
        stub.WriteMetrics(iter([request]))
    assert set(bad_request_fields(caught.value)) == {"columns.metrics[1]", "columns.values[1]"}


def test_batches_before_a_bad_one_in_the_stream_stay_written(
    channel: grpc.Channel, service: Service
) -> None:
    stub = ingest_service_pb2_grpc.IngestServiceStub(channel)
    good = points_request("good", [("a1", FOLLOWS, T0, 2.0)])
    bad = points_request("bad", [("a1", FOLLOWS, T0, -2.0)])
    with pytest.raises(grpc.RpcError) as caught:
        stub.WriteMetrics(iter([good, bad]))
    assert "1 earlier batch" in (caught.value.details() or "")
    assert series_total(service) == 2.0
    retried = stub.WriteMetrics(iter([good, points_request("bad", [("a1", FOLLOWS, T0, 2.0)])]))
    assert (retried.duplicate_batches, retried.accepted_batches) == (1, 1)
    assert series_total(service) == 4.0


BAD_EVENTS = {
    "empty actor": ({"actor_id": ""}, "events[0].actor_id"),
    "empty account": ({"account_id": ""}, "events[0].account_id"),
    "unknown type": ({"type": 42}, "events[0].type"),
    "oversized content id": ({"content_id": "c" * 200}, "events[0].content_id"),
    "oversized source": ({"source": "s" * 65}, "events[0].source"),
    "oversized client id": ({"client_id": "k" * 129}, "events[0].client_id"),
}


@pytest.mark.parametrize("case", sorted(BAD_EVENTS))
def test_bad_events_are_rejected_whole(case: str, channel: grpc.Channel, service: Service) -> None:
    change, field = BAD_EVENTS[case]
    request = ingest_service_pb2.WriteEventsRequest(batch_id="bad-events")
    event = follow_event(request, "u1", "a1", T0)
    for name, value in change.items():
        setattr(event, name, value)
    follow_event(request, "u2", "a1", T0 + 1)
    stub = ingest_service_pb2_grpc.IngestServiceStub(channel)
    with pytest.raises(grpc.RpcError) as caught:
        stub.WriteEvents(iter([request]))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in bad_request_fields(caught.value)
    assert len(service.store.events(HOUR, HOUR + timedelta(hours=1))) == 0


def test_an_event_without_time_is_rejected(channel: grpc.Channel) -> None:
    request = ingest_service_pb2.WriteEventsRequest(batch_id="no-time")
    request.events.add(actor_id="u", account_id="a", type=types_pb2.EVENT_TYPE_CLICK)
    stub = ingest_service_pb2_grpc.IngestServiceStub(channel)
    with pytest.raises(grpc.RpcError) as caught:
        stub.WriteEvents(iter([request]))
    assert "events[0].time" in bad_request_fields(caught.value)


def test_large_columnar_batch_round_trips(channel: grpc.Channel, service: Service) -> None:
    rng = np.random.default_rng(3)
    n = MAX_BATCH_ROWS
    rows = [
        (f"acct{int(a)}", int(m), T0 + int(s), float(v))
        for a, m, s, v in zip(
            rng.integers(0, 50, n),
            rng.integers(1, 7, n),
            rng.integers(0, 3600, n),
            rng.integers(0, 100, n),
            strict=True,
        )
    ]
    stub = ingest_service_pb2_grpc.IngestServiceStub(channel)
    stub.WriteMetrics(iter([columns_request("big", rows)]))
    panel = service.store.series(HOUR, HOUR + timedelta(hours=1))
    assert sum(float(m.sum()) for m in panel.values.values()) == sum(r[3] for r in rows)


def test_a_long_stream_is_written_in_groups_with_exact_counts(
    channel: grpc.Channel, service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Groups of two rows, so this stream is written by the stream's writer thread in
    # several groups while later requests are still being read.
    monkeypatch.setattr(ingest_servicer, "FLUSH_ROWS", 2)
    stub = ingest_service_pb2_grpc.IngestServiceStub(channel)
    requests = [
        columns_request(f"g{i}", [(f"a{i}", FOLLOWS, T0 + i, 1.0), ("z", CLICKS, T0, 2.0)])
        for i in range(12)
    ]
    # g3 again in a later group: a duplicate though its first copy was written just before.
    response = stub.WriteMetrics(iter([*requests, requests[3]]))
    assert (response.accepted_batches, response.accepted_points) == (12, 24)
    assert (response.duplicate_batches, response.duplicate_points) == (1, 2)
    assert series_total(service) == 12.0
    assert series_total(service, "clicks") == 24.0


def test_a_bad_batch_late_in_a_long_stream_comes_after_every_earlier_write(
    channel: grpc.Channel, service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest_servicer, "FLUSH_ROWS", 2)
    stub = ingest_service_pb2_grpc.IngestServiceStub(channel)
    good = [columns_request(f"ok{i}", [(f"a{i}", FOLLOWS, T0, 1.0)]) for i in range(7)]
    bad = columns_request("bad", [("a1", FOLLOWS, T0, math.nan)])
    after = columns_request("after", [("a1", FOLLOWS, T0, 100.0)])
    with pytest.raises(grpc.RpcError) as caught:
        stub.WriteMetrics(iter([*good, bad, after]))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_request_fields(caught.value) == ["columns.values[0]"]
    assert "7 earlier batch(es)" in (caught.value.details() or "")
    assert series_total(service) == 7.0
