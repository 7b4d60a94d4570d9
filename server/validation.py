"""Turns ingest requests into columnar arrays, or names every bad field.

A batch is all-or-nothing: `InvalidArgument` carries one (field, description) pair per bad
field so the servicer can answer with a google.rpc.BadRequest.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

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
    # Characters first (map(len) runs in C); only ids that might exceed max_bytes once
    # UTF-8 encoded (up to 4 bytes a character) are encoded and measured.
    chars = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
    suspects = np.flatnonzero((chars < low) | (chars * 4 > max_bytes))
    for i in suspects:
        size = len(values[int(i)].encode())
        if not low <= size <= max_bytes:
            violations.add(field(int(i)), f"must be {low} to {max_bytes} bytes, got {size}")


def _check_times(
    seconds: npt.NDArray[np.int64], field: _FieldNamer, violations: _Violations
) -> None:
    latest = int(time.time()) + MAX_FUTURE_SECONDS
    for i in np.flatnonzero((seconds < MIN_UNIX_SECONDS) | (seconds > latest)):
        violations.add(
            field(int(i)), f"{int(seconds[i])} is before 2000-01-01 or more than an hour ahead"
        )


def _check_missing_times(
    messages: Sequence[Any],
    seconds: npt.NDArray[np.int64],
    field: _FieldNamer,
    violations: _Violations,
) -> None:
    """Names rows whose time is unset; they read as 0 and are then named only once."""
    for i in np.flatnonzero(seconds == 0):
        if not messages[int(i)].HasField("time"):
            violations.add(field(int(i)), "time is required")
            seconds[i] = MIN_UNIX_SECONDS  # so it is not named again as "before 2000"


def _namer(template: str) -> _FieldNamer:
    return lambda i: template.format(i=i)


def _object_array(values: Sequence[str]) -> npt.NDArray[Any]:  # of str objects
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


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
        # One pass over the messages: attribute access on upb messages is the cost here.
        rows = [(p.account_id, p.metric, p.time.seconds, p.value) for p in points]
        ids, metric_numbers, times, counts = zip(*rows, strict=True) if rows else ((),) * 4
        account_ids = list(ids)
        metrics = np.array(metric_numbers, dtype=np.int64)
        seconds = np.array(times, dtype=np.int64)
        values = np.array(counts, dtype=np.float64)
        field_of = {
            k: _namer(f"points.points[{{i}}].{k}")
            for k in ("account_id", "metric", "time", "value")
        }
        _check_missing_times(points, seconds, field_of["time"], violations)
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
        # Python str objects, not a fixed-width np.str_ copy: the store hashes and sends them
        # as objects, and converting there and back cost more than the rest of validation.
        account_ids=_object_array(account_ids),
        metrics=metrics.astype(np.uint8),
        unix_seconds=seconds,
        values=values,
    )


_EVENT_TYPE_NAME_ARRAY = np.array(("", *EVENT_TYPES))  # number -> name


def event_batch(request: ingest_service_pb2.WriteEventsRequest, max_rows: int) -> EventBatch:
    """Validates a WriteEventsRequest into a batch of events sorted by time."""
    violations = _Violations()
    _check_batch_id(request.batch_id, violations)
    events = request.events
    _check_rows(len(events), max_rows, "events", violations)
    names = ("actor_id", "account_id", "type", "time", "content_id", "source", "client_id")
    field_of = {k: _namer(f"events[{{i}}].{k}") for k in names}
    # One pass over the messages: attribute access on upb messages is the cost here.
    rows = [
        (
            e.actor_id,
            e.account_id,
            e.content_id,
            e.source,
            e.client_id,
            e.type,
            e.time.seconds,
            e.consented,
        )
        for e in events
    ]
    columns = list(zip(*rows, strict=True)) if rows else [()] * 8
    actor_ids, account_ids, content_ids, sources, client_ids = (list(c) for c in columns[:5])
    types = np.array(columns[5], dtype=np.int64)
    seconds = np.array(columns[6], dtype=np.int64)
    consented = np.array(columns[7], dtype=bool)
    for key, ids in (("actor_id", actor_ids), ("account_id", account_ids)):
        _check_ids(ids, field_of[key], violations, required=True, max_bytes=MAX_ID_BYTES)
    for key, ids, limit in (
        ("content_id", content_ids, MAX_ID_BYTES),
        ("client_id", client_ids, MAX_ID_BYTES),
        ("source", sources, MAX_SOURCE_BYTES),
    ):
        _check_ids(ids, field_of[key], violations, required=False, max_bytes=limit)
    for bad in np.flatnonzero(~np.isin(types, list(_EVENT_NUMBERS))):
        violations.add(field_of["type"](int(bad)), f"unknown event type {int(types[bad])}")
    _check_missing_times(events, seconds, field_of["time"], violations)
    _check_times(seconds, field_of["time"], violations)
    violations.raise_if_any(f"batch {request.batch_id!r}")
    order = np.argsort(seconds, kind="stable")
    type_names = _EVENT_TYPE_NAME_ARRAY[types]
    frame = EventFrame(
        actor_ids=np.array(actor_ids, dtype=str)[order],
        account_ids=np.array(account_ids, dtype=str)[order],
        types=type_names[order],
        times=seconds[order],
        content_ids=np.array(content_ids, dtype=str)[order],
        sources=np.array(sources, dtype=str)[order],
        consented=consented[order],
        client_ids=np.array(client_ids, dtype=str)[order],
    )
    return EventBatch(request.batch_id, frame)
