"""IngestService: validate each batch whole, write it once, count what happened."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import grpc
import numpy as np

from detectors.findings import METRICS
from engagewatch.v1 import ingest_service_pb2, ingest_service_pb2_grpc
from server import validation
from server.boundary import unary
from server.errors import InvalidArgument
from server.metrics import Metrics
from server.records import EventBatch, MetricBatch
from server.store import Store

# Batches of a stream are written together up to this many rows: each write costs a few
# round trips whatever its size, so many small batches written one by one crawl.
FLUSH_ROWS = 100_000


BatchT = TypeVar("BatchT", MetricBatch, EventBatch)


@dataclass(slots=True)
class _Tally:
    accepted_rows: int = 0
    accepted_batches: int = 0
    duplicate_rows: int = 0
    duplicate_batches: int = 0


class _StreamWriter(Generic[BatchT]):
    """Collects a stream's validated batches and writes them in groups of FLUSH_ROWS rows."""

    def __init__(
        self,
        kind: str,
        write: Callable[[Sequence[BatchT]], list[bool]],
        on_written: Callable[[BatchT], None],
        metrics: Metrics,
    ) -> None:
        self.kind = kind
        self.tally = _Tally()
        # Annotated again: mypy cannot infer attributes typed by a constrained TypeVar.
        self._write: Callable[[Sequence[BatchT]], list[bool]] = write
        self._on_written: Callable[[BatchT], None] = on_written
        self._metrics = metrics
        self._pending: list[BatchT] = []
        self._pending_rows = 0

    def add(self, batch: BatchT) -> None:
        self._pending.append(batch)
        self._pending_rows += len(batch)
        if self._pending_rows >= FLUSH_ROWS:
            self.flush()

    def flush(self) -> None:
        batches, self._pending, self._pending_rows = self._pending, [], 0
        if not batches:
            return
        for batch, written in zip(batches, self._write(batches), strict=True):
            if written:
                self.tally.accepted_batches += 1
                self.tally.accepted_rows += len(batch)
                self._metrics.ingest_batches.labels(self.kind, "accepted").inc()
                self._on_written(batch)
            else:
                self.tally.duplicate_batches += 1
                self.tally.duplicate_rows += len(batch)
                self._metrics.ingest_batches.labels(self.kind, "duplicate").inc()
                self._metrics.ingest_duplicate_rows.labels(self.kind).inc(len(batch))

    def reject(self, rows: int, err: InvalidArgument) -> None:
        """Writes the valid batches before the bad one, then raises for the bad one."""
        self.flush()
        self._metrics.ingest_batches.labels(self.kind, "rejected").inc()
        self._metrics.ingest_rejected_rows.labels(self.kind).inc(rows)
        written = self.tally.accepted_batches + self.tally.duplicate_batches
        if written:
            # Say so, so the client knows retrying the whole stream is what to do.
            err.args = (f"{err}; {written} earlier batch(es) of this stream were written",)
        raise err


class IngestServicer(ingest_service_pb2_grpc.IngestServiceServicer):
    def __init__(self, store: Store, metrics: Metrics, max_batch_rows: int) -> None:
        self.store = store
        self.metrics = metrics
        self.max_batch_rows = max_batch_rows

    @unary("WriteMetrics")
    def WriteMetrics(
        self,
        request_iterator: Iterable[ingest_service_pb2.WriteMetricsRequest],
        context: grpc.ServicerContext,
    ) -> ingest_service_pb2.WriteMetricsResponse:
        writer = _StreamWriter[MetricBatch](
            "metrics", self.store.write_metric_batches, self._count_points, self.metrics
        )
        for request in request_iterator:
            try:
                writer.add(validation.metric_batch(request, self.max_batch_rows))
            except InvalidArgument as err:
                writer.reject(_metric_rows(request), err)
        writer.flush()
        tally = writer.tally
        return ingest_service_pb2.WriteMetricsResponse(
            accepted_points=tally.accepted_rows,
            accepted_batches=tally.accepted_batches,
            duplicate_points=tally.duplicate_rows,
            duplicate_batches=tally.duplicate_batches,
        )

    @unary("WriteEvents")
    def WriteEvents(
        self,
        request_iterator: Iterable[ingest_service_pb2.WriteEventsRequest],
        context: grpc.ServicerContext,
    ) -> ingest_service_pb2.WriteEventsResponse:
        writer = _StreamWriter[EventBatch](
            "events", self.store.write_event_batches, self._count_events, self.metrics
        )
        for request in request_iterator:
            try:
                writer.add(validation.event_batch(request, self.max_batch_rows))
            except InvalidArgument as err:
                writer.reject(len(request.events), err)
        writer.flush()
        tally = writer.tally
        return ingest_service_pb2.WriteEventsResponse(
            accepted_events=tally.accepted_rows,
            accepted_batches=tally.accepted_batches,
            duplicate_events=tally.duplicate_rows,
            duplicate_batches=tally.duplicate_batches,
        )

    def _count_points(self, batch: MetricBatch) -> None:
        counts = np.bincount(batch.metrics, minlength=len(METRICS) + 1)
        for number, name in enumerate(METRICS, start=1):
            if counts[number]:
                self.metrics.ingest_points.labels(name).inc(int(counts[number]))

    def _count_events(self, batch: EventBatch) -> None:
        kinds, counts = np.unique(batch.events.types, return_counts=True)
        for kind, count in zip(kinds, counts, strict=True):
            self.metrics.ingest_events.labels(str(kind)).inc(int(count))


def _metric_rows(request: ingest_service_pb2.WriteMetricsRequest) -> int:
    if request.WhichOneof("rows") == "columns":
        return len(request.columns.values)
    return len(request.points.points)
