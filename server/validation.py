"""Turns ingest requests into columnar arrays, or names every bad field.

A batch is all-or-nothing: `InvalidArgument` carries one (field, description) pair per bad
field so the servicer can answer with a google.rpc.BadRequest.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from detectors.findings import EVENT_TYPES, EventFrame
from engagewatch.v1 import ingest_service_pb2, types_pb2
from server.errors import InvalidArgument
from server.records import EventBatch, MetricBatch

MAX_ID_BYTES = 128
MAX_SOURCE_BYTES = 64
MIN_UNIX_SECONDS = 946_684_800  # 2000-01-01: older data is a client bug, not history
MAX_FUTURE_SECONDS = 3600  # clocks drift; more than an hour ahead is a bug
MAX_VIOLATIONS_LISTED = 50  # keeps the error inside gRPC's trailing-metadata limit

_FieldNamer = Callable[[int], str]
_METRIC_NUMBERS = frozenset(v for v in types_pb2.Metric.values() if v != 0)
_EVENT_NUMBERS = frozenset(v for v in types_pb2.EventType.values() if v != 0)


class _Violations:
    """Collects bad fields, listing at most MAX_VIOLATIONS_LISTED of them."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []
        self.unlisted = 0

    def add(self, field: str, description: str) -> None:
        if len(self.items) < MAX_VIOLATIONS_LISTED:
            self.items.append((field, description))
        else:
            self.unlisted += 1

    def raise_if_any(self, what: str) -> None:
        if not self.items:
            return
        if self.unlisted:
            self.items.append(("", f"{self.unlisted} more invalid fields not listed"))
        total = len(self.items) + self.unlisted - (1 if self.unlisted else 0)
        raise InvalidArgument(
            f"{what} rejected: {total} invalid field(s); nothing of it was written", self.items
        )


def _check_batch_id(batch_id: str, violations: _Violations) -> None:
    size = len(batch_id.encode())
    if size == 0 or size > MAX_ID_BYTES:
        violations.add("batch_id", f"must be 1 to {MAX_ID_BYTES} bytes, got {size}")


def _check_rows(n: int, max_rows: int, field: str, violations: _Violations) -> None:
    if n == 0:
        violations.add(field, "a batch needs at least one row")
    elif n > max_rows:
        violations.add(field, f"at most {max_rows} rows per batch, got {n}; split the batch")


def _check_ids(
    values: Sequence[str],
    field: _FieldNamer,
    violations: _Violations,
    *,
    required: bool,
    max_bytes: int,
) -> None:
    low = 1 if required else 0
    for i, value in enumerate(values):
        size = len(value.encode())
        if size < low or size > max_bytes:
            violations.add(field(i), f"must be {low} to {max_bytes} bytes, got {size}")


def _check_times(
    seconds: npt.NDArray[np.int64], field: _FieldNamer, violations: _Violations
) -> None:
    latest = int(time.time()) + MAX_FUTURE_SECONDS
    for i in np.flatnonzero((seconds < MIN_UNIX_SECONDS) | (seconds > latest)):
        violations.add(
            field(int(i)), f"{int(seconds[i])} is before 2000-01-01 or more than an hour ahead"
        )


def _namer(template: str) -> _FieldNamer:
    return lambda i: template.format(i=i)


def metric_batch(request: ingest_service_pb2.WriteMetricsRequest, max_rows: int) -> MetricBatch:
    """Validates a WriteMetricsRequest (either row form) into arrays."""
    violations = _Violations()
    _check_batch_id(request.batch_id, violations)
    if request.WhichOneof("rows") == "columns":
        cols = request.columns
        account_ids = list(cols.account_ids)
        metrics = np.array(cols.metrics, dtype=np.int64)
        seconds = np.array(cols.unix_seconds, dtype=np.int64)
        values = np.array(cols.values, dtype=np.float64)
        lengths = {len(account_ids), len(metrics), len(seconds), len(values)}
        if len(lengths) != 1:
            violations.add("columns", f"arrays must have equal lengths, got {sorted(lengths)}")
            violations.raise_if_any(f"batch {request.batch_id!r}")
        names = {
            k: _namer(f"columns.{k}[{{i}}]")
            for k in ("account_ids", "metrics", "unix_seconds", "values")
        }
        field_of = {
            "account_id": names["account_ids"],
            "metric": names["metrics"],
            "time": names["unix_seconds"],
            "value": names["values"],
        }
        rows_field = "columns"
    else:
        points = request.points.points
        account_ids = [p.account_id for p in points]
        metrics = np.fromiter((p.metric for p in points), dtype=np.int64, count=len(points))
        seconds = np.fromiter((p.time.seconds for p in points), dtype=np.int64, count=len(points))
        values = np.fromiter((p.value for p in points), dtype=np.float64, count=len(points))
        field_of = {
            k: _namer(f"points.points[{{i}}].{k}")
            for k in ("account_id", "metric", "time", "value")
        }
        for i, p in enumerate(points):
            if not p.HasField("time"):
                violations.add(field_of["time"](i), "time is required")
        rows_field = "points.points"
    _check_rows(len(values), max_rows, rows_field, violations)
    _check_ids(
        account_ids, field_of["account_id"], violations, required=True, max_bytes=MAX_ID_BYTES
    )
    for bad in np.flatnonzero(~np.isin(metrics, list(_METRIC_NUMBERS))):
        violations.add(field_of["metric"](int(bad)), f"unknown metric {int(metrics[bad])}")
    for bad in np.flatnonzero(~np.isfinite(values) | (values < 0)):
        violations.add(field_of["value"](int(bad)), f"must be finite and >= 0, got {values[bad]}")
    _check_times(seconds, field_of["time"], violations)
    violations.raise_if_any(f"batch {request.batch_id!r}")
    return MetricBatch(
        batch_id=request.batch_id,
        account_ids=np.array(account_ids, dtype=str),
        metrics=metrics.astype(np.uint8),
        unix_seconds=seconds,
        values=values,
    )


_EVENT_TYPE_NAMES = {i + 1: name for i, name in enumerate(EVENT_TYPES)}


def event_batch(request: ingest_service_pb2.WriteEventsRequest, max_rows: int) -> EventBatch:
    """Validates a WriteEventsRequest into a batch of events sorted by time."""
    violations = _Violations()
    _check_batch_id(request.batch_id, violations)
    events = request.events
    _check_rows(len(events), max_rows, "events", violations)
    field_of = {
        k: _namer(f"events[{{i}}].{k}")
        for k in ("actor_id", "account_id", "type", "time", "content_id", "source", "client_id")
    }
    columns = {
        k: [getattr(e, k) for e in events]
        for k in ("actor_id", "account_id", "content_id", "source", "client_id")
    }
    for key in ("actor_id", "account_id"):
        _check_ids(columns[key], field_of[key], violations, required=True, max_bytes=MAX_ID_BYTES)
    for key, limit in (
        ("content_id", MAX_ID_BYTES),
        ("client_id", MAX_ID_BYTES),
        ("source", MAX_SOURCE_BYTES),
    ):
        _check_ids(columns[key], field_of[key], violations, required=False, max_bytes=limit)
    types = np.fromiter((e.type for e in events), dtype=np.int64, count=len(events))
    for bad in np.flatnonzero(~np.isin(types, list(_EVENT_NUMBERS))):
        violations.add(field_of["type"](int(bad)), f"unknown event type {int(types[bad])}")
    for i, e in enumerate(events):
        if not e.HasField("time"):
            violations.add(field_of["time"](i), "time is required")
    seconds = np.fromiter((e.time.seconds for e in events), dtype=np.int64, count=len(events))
    _check_times(seconds, field_of["time"], violations)
    violations.raise_if_any(f"batch {request.batch_id!r}")
    order = np.argsort(seconds, kind="stable")
    frame = EventFrame(
        actor_ids=np.array(columns["actor_id"], dtype=str)[order],
        account_ids=np.array(columns["account_id"], dtype=str)[order],
        types=np.array([_EVENT_TYPE_NAMES[int(t)] for t in types], dtype=str)[order],
        times=seconds[order],
        content_ids=np.array(columns["content_id"], dtype=str)[order],
        sources=np.array(columns["source"], dtype=str)[order],
        consented=np.fromiter((e.consented for e in events), dtype=bool, count=len(events))[order],
        client_ids=np.array(columns["client_id"], dtype=str)[order],
    )
    return EventBatch(request.batch_id, frame)
