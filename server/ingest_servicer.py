"""IngestService: validate each batch whole, write it once, count what happened."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import numpy as np

from detectors.findings import METRICS, EventFrame
from engagewatch.v1 import ingest_service_pb2, ingest_service_pb2_grpc
from server import validation
from server.boundary import unary
from server.errors import InvalidArgument
from server.metrics import Metrics
from server.store import Store


class IngestServicer(ingest_service_pb2_grpc.IngestServiceServicer):
    def __init__(self, store: Store, metrics: Metrics, max_batch_rows: int) -> None:
        self.store = store
        self.metrics = metrics
        self.max_batch_rows = max_batch_rows

    @unary("WriteMetrics")
    def WriteMetrics(
        self,
        request_iterator: Iterator[ingest_service_pb2.WriteMetricsRequest],
        context: grpc.ServicerContext,
    ) -> ingest_service_pb2.WriteMetricsResponse:
        response = ingest_service_pb2.WriteMetricsResponse()
        for request in request_iterator:
            try:
                batch = validation.metric_batch(request, self.max_batch_rows)
            except InvalidArgument as err:
                self._rejected("metrics", _metric_rows(request), response.accepted_batches, err)
            written = self.store.write_metric_batch(
                batch.batch_id, batch.account_ids, batch.metrics, batch.unix_seconds, batch.values
            )
            if written:
                response.accepted_batches += 1
                response.accepted_points += len(batch)
                self.metrics.ingest_batches.labels("metrics", "accepted").inc()
                counts = np.bincount(batch.metrics, minlength=len(METRICS) + 1)
                for number, name in enumerate(METRICS, start=1):
                    if counts[number]:
                        self.metrics.ingest_points.labels(name).inc(int(counts[number]))
            else:
                response.duplicate_batches += 1
                response.duplicate_points += len(batch)
                self.metrics.ingest_batches.labels("metrics", "duplicate").inc()
                self.metrics.ingest_duplicate_rows.labels("metrics").inc(len(batch))
        return response

    @unary("WriteEvents")
    def WriteEvents(
        self,
        request_iterator: Iterator[ingest_service_pb2.WriteEventsRequest],
        context: grpc.ServicerContext,
    ) -> ingest_service_pb2.WriteEventsResponse:
        response = ingest_service_pb2.WriteEventsResponse()
        for request in request_iterator:
            try:
                batch_id, events = validation.event_batch(request, self.max_batch_rows)
            except InvalidArgument as err:
                self._rejected("events", len(request.events), response.accepted_batches, err)
            if self.store.write_event_batch(batch_id, events):
                response.accepted_batches += 1
                response.accepted_events += len(events)
                self.metrics.ingest_batches.labels("events", "accepted").inc()
                self._count_events(events)
            else:
                response.duplicate_batches += 1
                response.duplicate_events += len(events)
                self.metrics.ingest_batches.labels("events", "duplicate").inc()
                self.metrics.ingest_duplicate_rows.labels("events").inc(len(events))
        return response

    def _count_events(self, events: EventFrame) -> None:
        kinds, counts = np.unique(events.types, return_counts=True)
        for kind, count in zip(kinds, counts, strict=True):
            self.metrics.ingest_events.labels(str(kind)).inc(int(count))

    def _rejected(self, kind: str, rows: int, committed: int, err: InvalidArgument) -> None:
        self.metrics.ingest_batches.labels(kind, "rejected").inc()
        self.metrics.ingest_rejected_rows.labels(kind).inc(rows)
        if committed:
            # Earlier batches of this stream stay written; say so, so the client retries safely.
            err.args = (f"{err}; {committed} earlier batch(es) of this stream were written",)
        raise err


def _metric_rows(request: ingest_service_pb2.WriteMetricsRequest) -> int:
    if request.WhichOneof("rows") == "columns":
        return len(request.columns.values)
    return len(request.points.points)
