"""IngestService: validate each batch whole, write it once, count what happened."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, NoReturn, TypeVar

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
# round trips and new parts whatever its size, so many small batches written one by one
# crawl (bench.ingest: 200k rows ingest about 25% faster than 100k; 300k no faster).
FLUSH_ROWS = 200_000
# Groups of a stream waiting to be written behind the one being written: bounds the memory
# a stream holds to (FLUSHES_AHEAD + 2) * FLUSH_ROWS rows.
FLUSHES_AHEAD = 1


BatchT = TypeVar("BatchT", MetricBatch, EventBatch)


@dataclass(slots=True)
class _Tally:
    accepted_rows: int = 0
    accepted_batches: int = 0
    duplicate_rows: int = 0
    duplicate_batches: int = 0


class _StreamWriter(Generic[BatchT]):
    """Writes a stream's validated batches in groups of FLUSH_ROWS rows.

    Groups are written by a thread of the stream, in order, while the caller goes on
    reading and validating the next requests: parsing (Python) and inserting (mostly the
    store's own CPU) then overlap. At most FLUSHES_AHEAD groups wait behind the one being
    written. After a failed write nothing more is written and the failure is raised to the
    caller at its next hand-over or at finish().
    """

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
        self._groups: queue.Queue[list[BatchT] | None] = queue.Queue(maxsize=FLUSHES_AHEAD)
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None

    def __enter__(self) -> _StreamWriter[BatchT]:
        return self

    def __exit__(self, *exc: object) -> None:
        # Also on errors: the writer thread ends after the groups already handed over.
        self._stop()

    def add(self, batch: BatchT) -> None:
        self._pending.append(batch)
        self._pending_rows += len(batch)
        if self._pending_rows >= FLUSH_ROWS:
            self._hand_over()

    def finish(self) -> _Tally:
        """Writes what is pending, waits for every write, and raises the first failure."""
        if self._thread is None:
            # Nothing handed over yet (a short stream): no thread is worth starting.
            self._write_group(self._take_pending())
        else:
            self._hand_over()
            self._stop()
        self._raise_failure()
        return self.tally

    def reject(self, rows: int, err: InvalidArgument) -> NoReturn:
        """Writes the valid batches before the bad one, then raises for the bad one."""
        self.finish()
        self._metrics.ingest_batches.labels(self.kind, "rejected").inc()
        self._metrics.ingest_rejected_rows.labels(self.kind).inc(rows)
        written = self.tally.accepted_batches + self.tally.duplicate_batches
        if written:
            # Say so, so the client knows retrying the whole stream is what to do.
            err.args = (f"{err}; {written} earlier batch(es) of this stream were written",)
        raise err

    def _take_pending(self) -> list[BatchT]:
        batches, self._pending, self._pending_rows = self._pending, [], 0
        return batches

    def _hand_over(self) -> None:
        batches = self._take_pending()
        if not batches:
            return
        self._raise_failure()  # stop reading a stream whose writes fail
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name=f"ingest-{self.kind}", daemon=True
            )
            self._thread.start()
        self._groups.put(batches)

    def _stop(self) -> None:
        if self._thread is not None:
            self._groups.put(None)
            self._thread.join()
            self._thread = None

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

    def _run(self) -> None:
        while (batches := self._groups.get()) is not None:
            if self._failure is None:  # after a failure, only drain so put() never blocks
                try:
                    self._write_group(batches)
                except BaseException as e:  # raised again in the caller's thread
                    self._failure = e

    def _write_group(self, batches: list[BatchT]) -> None:
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
        with _StreamWriter[MetricBatch](
            "metrics", self.store.write_metric_batches, self._count_points, self.metrics
        ) as writer:
            for request in request_iterator:
                try:
                    batch = validation.metric_batch(request, self.max_batch_rows)
                except InvalidArgument as err:
                    writer.reject(_metric_rows(request), err)
                writer.add(batch)
            tally = writer.finish()
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
        with _StreamWriter[EventBatch](
            "events", self.store.write_event_batches, self._count_events, self.metrics
        ) as writer:
            for request in request_iterator:
                try:
                    batch = validation.event_batch(request, self.max_batch_rows)
                except InvalidArgument as err:
                    writer.reject(len(request.events), err)
                writer.add(batch)
            tally = writer.finish()
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
