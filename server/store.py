"""The store: the one place that holds SQL. One interface, two backends.

Backends: a ClickHouse server over the native protocol (clickhouse-driver) and chDB in-process.
CONTRACT (implemented by the backends below this interface):

- Series are hourly. Metric points are summed per (account, metric, hour). Events are counted
  per (account, metric of the event type, hour) at write time. `series()` returns, per bucket,
  max(summed points, event count), so a platform sending both is never double-counted.
- Idempotency: a batch_id written once is never counted again, even if the process died
  between writing the rows and recording the batch: every try is an attempt recorded as
  started before its rows and done after them; a re-sent batch voids unfinished attempts,
  and reads skip rows of void attempts (see store_sql).
- Every value goes through driver parameters; identifiers are module constants or validated
  configuration, never request data.
- Driver errors become StoreUnavailable.

`Store` implements every public method once over four primitives (`_execute`, `_select`,
`_insert`, `_close`); the backends only move SQL text and columns.
"""

from __future__ import annotations

import abc
import io
import logging
import queue
import secrets
import threading
import time
import zlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import parse_qs, unquote, urlparse

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa  # type: ignore[import-untyped]

from detectors.findings import BUCKET_SECONDS, EVENT_TYPES, METRICS, EventFrame, Panel
from engagewatch.v1 import types_pb2
from server import store_sql as q
from server.alerts import recommended_action
from server.config import ExternalSource
from server.errors import StoreUnavailable
from server.feedback import OperatingPointChange
from server.records import AlertFilter, AlertRecord, EventBatch, MetricBatch, ReviewRecord

logger = logging.getLogger(__name__)

# Protobuf enum numbers: Metric and EventType share numbering (follow=1 -> follows=1, ...).
METRIC_NUMBERS: dict[str, int] = {name: i + 1 for i, name in enumerate(METRICS)}
EVENT_TYPE_NUMBERS: dict[str, int] = {name: i + 1 for i, name in enumerate(EVENT_TYPES)}
_EVENT_TYPE_NAMES = np.array(("", *EVENT_TYPES))  # number -> name

DEFAULT_DATABASE = "engagewatch"

Columns = dict[str, npt.NDArray[Any]]


def _floor_hour(seconds: int) -> int:
    return seconds - seconds % BUCKET_SECONDS


def _unix_ms(when: datetime) -> int:
    q.unix_seconds(when)  # refuses naive datetimes
    return int(when.timestamp() * 1000)


def _strings(values: npt.NDArray[Any]) -> npt.NDArray[np.str_]:
    return np.asarray(values, dtype=np.str_) if len(values) else np.array([], dtype=np.str_)


class Store(abc.ABC):
    """Metrics, events, alerts and reviews in ClickHouse (server or chDB)."""

    # Batches whose check-then-write may race are serialized per stripe of batch_ids.
    _STRIPES: ClassVar[int] = 64

    def __init__(self, database: str, external_source: ExternalSource | None = None) -> None:
        self._sql = q.Queries(database)
        self._external = (
            q.ExternalQueries(external_source, METRIC_NUMBERS) if external_source else None
        )
        self._batch_locks = [threading.Lock() for _ in range(self._STRIPES)]

    @property
    def database(self) -> str:
        return self._sql.db

    # ------------------------------------------------------------ primitives

    @abc.abstractmethod
    def _execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        """Run a statement that returns nothing."""

    @abc.abstractmethod
    def _select(
        self, sql: str, params: Mapping[str, Any] | None = None, *, arrays: bool = False
    ) -> Columns:
        """Run a query and return its columns by name (empty arrays when no rows).

        `arrays` says the result has Array columns, which the driver cannot read as NumPy.
        """

    @abc.abstractmethod
    def _insert(self, table: q.Table, columns: Mapping[str, Any]) -> None:
        """Insert columns (numpy arrays or lists, every column of `table`) in one block."""

    @abc.abstractmethod
    def _close(self) -> None: ...

    # ------------------------------------------------------------ lifecycle

    def migrate(self) -> None:
        """Create the database and tables if missing (idempotent)."""
        for ddl in q.migrations(self.database):
            self._execute(ddl)
        logger.info("store schema ready in database %s", self.database)

    def ping(self) -> None:
        """Raise StoreUnavailable unless the store answers."""
        self._select("SELECT 1 AS ok")

    def close(self) -> None:
        self._close()

    # ------------------------------------------------------------ ingest

    def write_metric_batch(
        self,
        batch_id: str,
        account_ids: npt.NDArray[np.str_],
        metrics: npt.NDArray[np.uint8],
        unix_seconds: npt.NDArray[np.int64],
        values: npt.NDArray[np.float64],
    ) -> bool:
        """Sum a validated batch of points per (account, metric, hour) and store it once.

        Returns:
            True if written; False if batch_id was written before (nothing is written).
        """
        batch = MetricBatch(batch_id, account_ids, metrics, unix_seconds, values)
        return self.write_metric_batches([batch])[0]

    def write_metric_batches(self, batches: Sequence[MetricBatch]) -> list[bool]:
        """Store several batches of points in one set of round trips (the same rules as one).

        Per-insert overhead dominates small batches, so the servicer hands over a stream's
        batches together. Returns, per batch, True if written and False if it is a duplicate
        (written before, or earlier in `batches`).
        """
        ids = [b.batch_id for b in batches]
        with self._batch_locks_for(ids):
            fresh = self._claim_batches(q.KIND_POINTS, ids)
            chosen = [b for b, ok in zip(batches, fresh, strict=True) if ok]
            if chosen:
                attempts = self._begin_attempts(q.KIND_POINTS, [b.batch_id for b in chosen])
                per_row = np.repeat(np.array(attempts, np.uint64), [len(b) for b in chosen])
                self._write_metric_rows(
                    per_row,
                    np.concatenate([b.account_ids for b in chosen]),
                    np.concatenate([b.metrics for b in chosen]),
                    np.concatenate([b.unix_seconds for b in chosen]),
                    np.concatenate([b.values for b in chosen]),
                )
                self._mark_batches(q.KIND_POINTS, chosen, attempts, q.STATE_DONE)
                self._record_arrivals([b.unix_seconds for b in chosen])
        return fresh

    def write_event_batch(self, batch_id: str, events: EventFrame) -> bool:
        """Store a validated batch of raw events and their per-hour counts, once.

        Returns:
            True if written; False if batch_id was written before (nothing is written).
        """
        return self.write_event_batches([EventBatch(batch_id, events)])[0]

    def write_event_batches(self, batches: Sequence[EventBatch]) -> list[bool]:
        """Store several batches of events in one set of round trips; see write_metric_batches."""
        ids = [b.batch_id for b in batches]
        with self._batch_locks_for(ids):
            fresh = self._claim_batches(q.KIND_EVENTS, ids)
            chosen = [b for b, ok in zip(batches, fresh, strict=True) if ok]
            if chosen:
                attempts = self._begin_attempts(q.KIND_EVENTS, [b.batch_id for b in chosen])
                lengths = [len(b) for b in chosen]
                self._write_event_rows(
                    np.repeat(np.array(attempts, np.uint64), lengths),
                    EventFrame.concat([b.events for b in chosen]),
                    np.concatenate([np.arange(n, dtype=np.uint32) for n in lengths]),
                )
                self._mark_batches(q.KIND_EVENTS, chosen, attempts, q.STATE_DONE)
                self._record_arrivals([b.events.times for b in chosen])
        return fresh

    def _record_arrivals(self, unix_seconds: Sequence[npt.NDArray[np.int64]]) -> None:
        """Note which hours just received data, so late hours get judged (one small row each)."""
        seconds = np.concatenate([np.asarray(s, np.int64) for s in unix_seconds])
        if len(seconds) == 0:
            return
        # bincount over the hour span: O(n), several times cheaper than np.unique's sort.
        hour_of_row = seconds // BUCKET_SECONDS
        first = int(hour_of_row.min())
        counts = np.bincount(hour_of_row - first)
        hours = np.flatnonzero(counts) + first
        rows = counts[counts > 0]
        now_ms = time.time_ns() // 1_000_000
        self._insert(
            q.BUCKET_ARRIVALS,
            {
                "arrived_ms": np.full(len(hours), now_ms, np.uint64),
                "bucket": (hours * BUCKET_SECONDS).astype(np.uint32),
                "rows": rows.astype(np.uint64),
            },
        )

    def arrived_buckets(self, since: datetime, start: datetime, end: datetime) -> list[datetime]:
        """Hours in [start, end) that received data at or after `since`, ascending."""
        return sorted({hour for hour, _ in self.arrivals(since, start, end)})

    def arrivals(
        self, since: datetime, start: datetime, end: datetime
    ) -> list[tuple[datetime, int]]:
        """(hour, arrival in Unix ms) of writes at or after `since` for hours in [start, end)."""
        params = {"since_ms": _unix_ms(since), "start": start, "end": end}
        cols = self._select(self._sql.arrived_buckets, params)
        return [
            (q.from_unix(b), int(ms))
            for b, ms in zip(cols["bucket"], cols["arrived_ms"], strict=True)
        ]

    @contextmanager
    def _batch_locks_for(self, batch_ids: Sequence[str]) -> Iterator[None]:
        # Two writers of one batch_id in this process must not both pass the check; stripes
        # are taken in a fixed order so writers of overlapping sets cannot deadlock.
        stripes = sorted({zlib.crc32(b.encode()) % self._STRIPES for b in batch_ids})
        with ExitStack() as held:
            for stripe in stripes:
                held.enter_context(self._batch_locks[stripe])
            yield

    def _claim_batches(self, kind: int, batch_ids: Sequence[str]) -> list[bool]:
        """Per batch_id, False if it was fully written (or repeats an earlier one in the list);
        else True, after voiding its unfinished attempts, if any."""
        attempts = self._select(
            self._sql.batch_attempts, {"kind": kind, "batch_ids": tuple(set(batch_ids))}
        )
        done = set(attempts["batch_id"][attempts["state"] == q.STATE_DONE].tolist())
        claimed: list[bool] = []
        seen: set[str] = set()
        for batch_id in batch_ids:
            claimed.append(batch_id not in done and batch_id not in seen)
            seen.add(batch_id)
        # Attempts of a claimed batch that never finished: their rows must not count.
        retried = np.isin(attempts["batch_id"], list(seen - done))
        unfinished = attempts["attempt_key"][retried & (attempts["state"] != q.STATE_DONE)]
        if len(unfinished):
            logger.warning("batch re-sent after an unfinished write; discarding its old rows")
            now = int(datetime.now(UTC).timestamp())
            self._insert(
                q.VOID_ATTEMPTS,
                {
                    "attempt_key": np.asarray(unfinished, np.uint64),
                    "voided_at": np.full(len(unfinished), now, np.uint32),
                },
            )
        return claimed

    def _begin_attempt(self, kind: int, batch_id: str) -> int:
        """Record that an attempt at writing batch_id starts; returns its attempt key."""
        return self._begin_attempts(kind, [batch_id])[0]

    def _begin_attempts(self, kind: int, batch_ids: Sequence[str]) -> list[int]:
        attempts = [secrets.randbits(64) for _ in batch_ids]
        self._insert_batch_marks(kind, batch_ids, attempts, q.STATE_STARTED, [0] * len(batch_ids))
        return attempts

    def _mark_batches(
        self,
        kind: int,
        batches: Sequence[MetricBatch | EventBatch],
        attempts: Sequence[int],
        state: int,
    ) -> None:
        ids = [b.batch_id for b in batches]
        self._insert_batch_marks(kind, ids, attempts, state, [len(b) for b in batches])

    def _insert_batch_marks(
        self,
        kind: int,
        batch_ids: Sequence[str],
        attempts: Sequence[int],
        state: int,
        rows: Sequence[int],
    ) -> None:
        now = int(datetime.now(UTC).timestamp())
        n = len(batch_ids)
        self._insert(
            q.BATCHES,
            {
                "kind": np.full(n, kind, np.uint8),
                "batch_id": np.array(batch_ids, dtype=object),
                "attempt_key": np.array(attempts, np.uint64),
                "state": np.full(n, state, np.uint8),
                "rows": np.array(rows, np.uint64),
                "written_at": np.full(n, now, np.uint32),
            },
        )

    def _write_metric_rows(
        self,
        attempts: int | npt.NDArray[np.uint64],
        account_ids: npt.NDArray[np.str_],
        metrics: npt.NDArray[np.uint8],
        unix_seconds: npt.NDArray[np.int64],
        values: npt.NDArray[np.float64],
    ) -> None:
        """Write attempts' bucket rows (the part a crash can cut short).

        `attempts` is one attempt key for every row, or an attempt key per row.
        """
        if len(values) == 0:
            return
        self._insert_buckets(
            q.KIND_POINTS,
            np.broadcast_to(np.asarray(attempts, np.uint64), len(values)),
            account_ids,
            metrics,
            unix_seconds,
            np.asarray(values, np.float64),
        )

    def _write_event_rows(
        self,
        attempts: int | npt.NDArray[np.uint64],
        events: EventFrame,
        row_index: npt.NDArray[np.uint32] | None = None,
    ) -> None:
        """Write attempts' raw events and per-hour counts.

        `attempts` is one attempt key for every event, or one per event; `row_index` numbers
        each event within its batch (default: 0..n-1).
        """
        n = len(events)
        if n == 0:
            return
        per_event = np.broadcast_to(np.asarray(attempts, np.uint64), n)
        types = self._event_type_numbers(events.types)
        self._insert(
            q.EVENTS,
            {
                "time": np.asarray(events.times, np.int64).astype(np.uint32),
                "account_id": np.asarray(events.account_ids, dtype=object),
                "actor_id": np.asarray(events.actor_ids, dtype=object),
                "type": types,
                "content_id": np.asarray(events.content_ids, dtype=object),
                "source": np.asarray(events.sources, dtype=object),
                "consented": np.asarray(events.consented, dtype=np.uint8),
                "client_id": np.asarray(events.client_ids, dtype=object),
                "attempt_key": per_event,
                "row_index": np.arange(n, dtype=np.uint32) if row_index is None else row_index,
            },
        )
        # An event type counts toward the metric of the same number, one per event.
        self._insert_buckets(
            q.KIND_EVENTS, per_event, events.account_ids, types, events.times, np.ones(n)
        )

    @staticmethod
    def _event_type_numbers(types: npt.NDArray[np.str_]) -> npt.NDArray[np.uint8]:
        names = np.asarray(types, dtype=np.str_)
        known = np.array(sorted(EVENT_TYPES), dtype=np.str_)
        numbers = np.array([EVENT_TYPE_NUMBERS[t] for t in known], dtype=np.uint8)
        idx = np.clip(np.searchsorted(known, names), 0, len(known) - 1)
        bad = known[idx] != names
        if bad.any():
            raise ValueError(f"unknown event type {names[bad][0]!r}")
        return numbers[idx]

    def _insert_buckets(
        self,
        kind: int,
        attempts: npt.NDArray[np.uint64],
        account_ids: npt.NDArray[np.str_],
        metrics: npt.NDArray[np.uint8],
        unix_seconds: npt.NDArray[np.int64],
        values: npt.NDArray[np.float64],
    ) -> None:
        """Sum values per (attempt, account, metric, hour) and insert one row per group.

        Rows go out sorted by the table's key: ClickHouse then spends about 40% less CPU
        on the insert (its sort finds them in order), which is what bounds ingest.
        """
        n_rows = len(values)
        # Hash-factorize each key column with sorted codes (str order is UTF-8 byte order,
        # as ClickHouse compares String), fold the codes into one int64 in key order and
        # sum with bincount: about twice as fast as a pandas groupby over object columns.
        account_codes, accounts = pd.factorize(np.asarray(account_ids, dtype=object), sort=True)
        attempt_codes, attempt_keys = pd.factorize(np.asarray(attempts, np.uint64), sort=True)
        hours = np.asarray(unix_seconds, np.int64) // BUCKET_SECONDS
        first_hour = int(hours.min())
        hour_codes = hours - first_hour
        n_hours = int(hour_codes.max()) + 1
        n_metrics = len(METRICS) + 1
        if n_hours * len(accounts) * n_metrics * len(attempt_keys) >= 2**62 and n_rows > 1:
            # The folded key would overflow int64: sum each half on its own (reads add up
            # every row of a bucket, so two rows for one key are as good as one).
            half = n_rows // 2
            for part in (slice(0, half), slice(half, n_rows)):
                self._insert_buckets(
                    kind,
                    attempts[part],
                    account_ids[part],
                    metrics[part],
                    unix_seconds[part],
                    values[part],
                )
            return
        combined = (
            (hour_codes * len(accounts) + account_codes) * n_metrics + np.asarray(metrics, np.int64)
        ) * len(attempt_keys) + attempt_codes
        group_of_row, groups = pd.factorize(combined, sort=True)
        sums = np.bincount(group_of_row, weights=values, minlength=len(groups))
        rest, group_attempts = np.divmod(groups, len(attempt_keys))
        rest, group_metrics = np.divmod(rest, n_metrics)
        group_hours, group_accounts = np.divmod(rest, len(accounts))
        n = len(groups)
        self._insert(
            q.BUCKETS,
            {
                "bucket": ((group_hours + first_hour) * BUCKET_SECONDS).astype(np.uint32),
                "account_id": np.asarray(accounts, dtype=object)[group_accounts],
                "metric": group_metrics.astype(np.uint8),
                "kind": np.full(n, kind, np.uint8),
                "attempt_key": np.asarray(attempt_keys, np.uint64)[group_attempts],
                "value": sums,
            },
        )

    # ------------------------------------------------------------ reads

    def series(
        self,
        start: datetime,
        end: datetime,
        account_ids: Sequence[str] | None = None,
        judge_from: datetime | None = None,
    ) -> Panel:
        """Hourly panel over [start floored to the hour, end) of every account with data.

        Per bucket the value is max(summed points, event count); all six metrics are present.
        """
        first = _floor_hour(q.unix_seconds(start))
        last = q.unix_seconds(end)
        bucket_secs = np.arange(first, max(first, last), BUCKET_SECONDS, dtype=np.int64)
        judge = 0
        if judge_from is not None:
            # The first bucket starting at or after judge_from is the first judged.
            offset = q.unix_seconds(judge_from) - first
            judge = int(np.clip(-(-offset // BUCKET_SECONDS), 0, len(bucket_secs)))
        if account_ids is not None and len(account_ids) == 0:
            return self._panel(np.array([], np.str_), bucket_secs, {}, judge)

        params: dict[str, Any] = {"start": first, "end": last}
        in_sql = account_ids is not None and len(account_ids) <= q.MAX_SQL_ID_LIST
        if in_sql:
            params["account_ids"] = tuple(account_ids or ())
        if self._external is None:
            cols, row, accounts = self._bucket_rows(in_sql, params)
        else:
            cols = self._select(self._external.series(in_sql), params)
            row, accounts = self._account_rows(cols["account_id"])
        if account_ids is not None and not in_sql:
            wanted = np.isin(accounts, np.asarray(list(account_ids), dtype=np.str_))
            keep = wanted[row]
            cols = {k: v[keep] for k, v in cols.items()}
            row, accounts = self._compact(row[keep], accounts)

        col = (cols["bucket"].astype(np.int64) - first) // BUCKET_SECONDS
        shape = (len(accounts), len(bucket_secs))
        matrices: dict[str, npt.NDArray[np.float64]] = {}
        if self._external is None:
            metric = cols["metric"]
            for name, number in METRIC_NUMBERS.items():
                mask = metric == number
                matrix = np.zeros(shape, dtype=np.float64)
                matrix[row[mask], col[mask]] = cols["value"][mask]
                matrices[name] = matrix
        else:
            for name, alias in self._external.metric_aliases.items():
                matrix = np.zeros(shape, dtype=np.float64)
                matrix[row, col] = cols[alias]
                matrices[name] = matrix
        return self._panel(accounts, bucket_secs, matrices, judge)

    def _bucket_rows(
        self, in_sql: bool, params: Mapping[str, Any]
    ) -> tuple[Columns, npt.NDArray[np.intp], npt.NDArray[np.str_]]:
        """Bucket rows with each row's index into the sorted account ids."""
        cols = self._select(self._sql.series(in_sql, hashed=True), params)
        # Read after the rows: every account in them is listed (data is never deleted).
        names = self._select(self._sql.series_accounts(in_sql), params)
        hashes = pd.Index(names["account_hash"].astype(np.uint64))
        if not hashes.is_unique:
            # Two ids share a 64-bit hash: astronomically rare, but never merge accounts.
            logger.warning("account id hash collision; reading ids as strings")
            cols = self._select(self._sql.series(in_sql, hashed=False), params)
            row, accounts = self._account_rows(cols["account_id"])
            return cols, row, accounts
        position = hashes.get_indexer(cols["account_hash"].astype(np.uint64))
        row, accounts = self._account_rows(names["account_id"])
        # An account written between the two queries has no rows here: leave it out.
        row, accounts = self._compact(row[position], accounts)
        return cols, row, accounts

    @staticmethod
    def _account_rows(
        ids: npt.NDArray[Any],
    ) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.str_]]:
        """Each id's index into the sorted distinct ids, and those ids."""
        # factorize hashes the ids: much cheaper than sorting strings with np.unique.
        row, uniques = pd.factorize(ids, sort=True)
        return row.astype(np.intp), _strings(np.asarray(uniques, dtype=object))

    @staticmethod
    def _compact(
        row: npt.NDArray[np.intp], accounts: npt.NDArray[np.str_]
    ) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.str_]]:
        """Drop accounts no row refers to, renumbering the rows."""
        used = np.zeros(len(accounts), dtype=bool)
        used[row] = True
        renumber = np.cumsum(used) - 1
        return renumber[row], accounts[used]

    @staticmethod
    def _panel(
        accounts: npt.NDArray[np.str_],
        bucket_secs: npt.NDArray[np.int64],
        matrices: dict[str, npt.NDArray[np.float64]],
        judge: int,
    ) -> Panel:
        shape = (len(accounts), len(bucket_secs))
        values = {m: matrices.get(m, np.zeros(shape)) for m in METRICS}
        return Panel(
            account_ids=accounts,
            bucket_times=bucket_secs.astype("datetime64[s]"),
            values=values,
            judge_from=judge,
        )

    def events(
        self,
        start: datetime,
        end: datetime,
        account_ids: Sequence[str] | None = None,
        types: Sequence[str] | None = None,
    ) -> EventFrame:
        """Raw events in [start, end), sorted by time; types are names from EVENT_TYPES."""
        if (account_ids is not None and len(account_ids) == 0) or (
            types is not None and len(types) == 0
        ):
            return EventFrame.empty()
        params: dict[str, Any] = {"start": start, "end": end}
        in_sql = account_ids is not None and len(account_ids) <= q.MAX_SQL_ID_LIST
        if in_sql:
            params["account_ids"] = tuple(account_ids or ())
        if types is not None:
            unknown = set(types) - set(EVENT_TYPES)
            if unknown:
                raise ValueError(f"unknown event types {sorted(unknown)}")
            params["types"] = tuple(EVENT_TYPE_NUMBERS[t] for t in types)
        cols = self._select(self._sql.events(in_sql, types is not None), params)
        if account_ids is not None and not in_sql:
            keep = np.isin(cols["account_id"], np.asarray(list(account_ids), dtype=object))
            cols = {k: v[keep] for k, v in cols.items()}
        return EventFrame(
            actor_ids=_strings(cols["actor_id"]),
            account_ids=_strings(cols["account_id"]),
            types=_EVENT_TYPE_NAMES[cols["type"].astype(np.int64)],
            times=cols["time"].astype(np.int64),
            content_ids=_strings(cols["content_id"]),
            sources=_strings(cols["source"]),
            consented=cols["consented"].astype(bool),
            client_ids=_strings(cols["client_id"]),
        )

    def account_count(self, start: datetime, end: datetime) -> int:
        """How many accounts have any data in [start floored to the hour, end)."""
        params = {"start": _floor_hour(q.unix_seconds(start)), "end": end}
        sql = self._external.account_count if self._external else self._sql.account_count
        return int(self._select(sql, params)["n"][0])

    # ------------------------------------------------------------ alerts

    def max_alert_sequence(self) -> int:
        found = self._select(self._sql.max_sequence)["n"]
        return int(found[0]) if len(found) else 0

    def write_alerts(self, records: Sequence[AlertRecord]) -> None:
        """Append a new version row for each record."""
        if not records:
            return
        columns: dict[str, list[Any]] = {c: [] for c in q.ALERTS.column_names}
        for r in records:
            for c, t in q.ALERTS.columns:
                value = getattr(r, c)
                if t == "DateTime":
                    value = q.unix_seconds(value)
                elif t == "Array(String)":
                    value = [str(v) for v in value]
                columns[c].append(value)
        self._insert(q.ALERTS, columns)

    def get_alerts(self, alert_ids: Sequence[str]) -> dict[str, AlertRecord]:
        """Latest versions of the given alerts that exist, by alert_id."""
        if not alert_ids:
            return {}
        sql = self._sql.latest_alerts(inner_where=["alert_id IN %(ids)s"])
        found = self._alerts(sql, {"ids": tuple(alert_ids)})
        return {a.alert_id: a for a in found}

    def list_alerts(
        self, flt: AlertFilter, before_sequence: int | None, limit: int
    ) -> list[AlertRecord]:
        """Latest versions matching `flt` (and sequence < before_sequence), newest first."""
        where: list[str] = []
        params: dict[str, Any] = {"limit": int(limit)}
        if flt.account_id is not None:
            where.append("account_id = %(account_id)s")
            params["account_id"] = flt.account_id
        if flt.detector is not None:
            where.append("detector = %(detector)s")
            params["detector"] = flt.detector
        if flt.pattern:
            where.append("pattern = %(pattern)s")
            params["pattern"] = flt.pattern
        if flt.min_severity:
            where.append("severity >= %(min_severity)s")
            params["min_severity"] = flt.min_severity
        if flt.since is not None:
            where.append("updated_at >= toDateTime(%(since)s)")
            params["since"] = flt.since
        if flt.state:
            where.append("state = %(state)s")
            params["state"] = flt.state
        if before_sequence is not None:
            where.append("sequence < %(before)s")
            params["before"] = int(before_sequence)
        sql = self._sql.latest_alerts(outer_where=where, descending=True, limit=True)
        return self._alerts(sql, params)

    def alerts_after(self, after_sequence: int, min_severity: int, limit: int) -> list[AlertRecord]:
        """Latest versions with sequence > after_sequence and severity >= min, ascending."""
        # The latest sequence exceeds after_sequence only if some row's does, so the inner
        # scan may skip older rows; severity must be judged on the latest version only.
        sql = self._sql.latest_alerts(
            inner_where=["sequence > %(after)s"],
            outer_where=["severity >= %(min_severity)s"],
            limit=True,
        )
        params = {"after": int(after_sequence), "min_severity": int(min_severity)}
        return self._alerts(sql, {**params, "limit": int(limit)})

    def account_alerts(self, account_id: str) -> list[AlertRecord]:
        """Latest versions of the alerts concerning one account, newest first."""
        sql = self._sql.latest_alerts(outer_where=["account_id = %(account_id)s"], descending=True)
        return self._alerts(sql, {"account_id": account_id})

    def alert_counts_by_state(self) -> list[tuple[str, int, int, int, int]]:
        """(detector, pattern, severity, state, count) over latest versions."""
        cols = self._select(self._sql.alert_counts)
        return [
            (str(d), int(p), int(s), int(st), int(n))
            for d, p, s, st, n in zip(
                cols["detector"],
                cols["pattern"],
                cols["severity"],
                cols["state"],
                cols["n"],
                strict=True,
            )
        ]

    def accounts_by_action(self) -> dict[int, int]:
        """How many accounts stand at each measure (Action number), over latest alert versions.

        An account counts once, if it has an open or confirmed alert, at the measure
        GetAccountRisk recommends for it: the harshest `recommended_action` among its live
        alerts, given how many of them are confirmed. Measures no account stands at are absent.
        """
        params = {
            "open": types_pb2.ALERT_STATE_OPEN,
            "confirmed": types_pb2.ALERT_STATE_CONFIRMED,
        }
        cols = self._select(self._sql.live_account_profiles, params)
        counts: dict[int, int] = {}
        for mask, confirmed, accounts in zip(
            cols["severities"], cols["confirmed"], cols["accounts"], strict=True
        ):
            bits = int(mask)
            severities = [s for s in range(bits.bit_length()) if bits >> s & 1]
            action = max(recommended_action(s, int(confirmed)) for s in severities)
            counts[action] = counts.get(action, 0) + int(accounts)
        return counts

    def _alerts(self, sql: str, params: Mapping[str, Any]) -> list[AlertRecord]:
        cols = self._select(sql, params, arrays=True)
        out: list[AlertRecord] = []
        names = q.ALERTS.columns
        # Alert pages are small (<= 1000): building records row by row is fine here.
        for i in range(len(cols["alert_id"])):
            fields: dict[str, Any] = {}
            for c, t in names:
                v = cols[c][i]
                if t == "DateTime":
                    fields[c] = q.from_unix(v)
                elif t == "Array(String)":
                    fields[c] = [str(x) for x in v]
                elif t == "String":
                    fields[c] = str(v)
                elif t == "Float64":
                    fields[c] = float(v)
                else:
                    fields[c] = int(v)
            out.append(AlertRecord(**fields))
        return out

    # ------------------------------------------------------------ reviews

    def write_review(self, review: ReviewRecord) -> None:
        self._insert(
            q.REVIEWS,
            {
                "alert_id": [review.alert_id],
                "verdict": [int(review.verdict)],
                "note": [review.note],
                "reviewer": [review.reviewer],
                "reviewed_at": [q.unix_seconds(review.reviewed_at)],
                "detector": [review.detector],
                "pattern": [int(review.pattern)],
            },
        )

    def reviews(self, alert_id: str) -> list[ReviewRecord]:
        """Every review of an alert, oldest first."""
        cols = self._select(self._sql.reviews, {"alert_id": alert_id})
        return [
            ReviewRecord(
                alert_id=str(cols["alert_id"][i]),
                verdict=int(cols["verdict"][i]),
                note=str(cols["note"][i]),
                reviewer=str(cols["reviewer"][i]),
                reviewed_at=q.from_unix(cols["reviewed_at"][i]),
                detector=str(cols["detector"][i]),
                pattern=int(cols["pattern"][i]),
            )
            for i in range(len(cols["alert_id"]))
        ]

    # ------------------------------------------------------------ feedback and job marks

    def write_operating_point_change(self, change: OperatingPointChange) -> None:
        self._insert(
            q.OPERATING_POINTS,
            {
                "detector": [change.detector],
                "pattern": [int(change.pattern)],
                "change_id": np.array([change.change_id], np.uint64),
                "changed_at": [q.unix_seconds(change.changed_at)],
                "verdict": [int(change.verdict)],
                "alert_id": [change.alert_id],
                "old_value": [float(change.old_value)],
                "new_value": [float(change.new_value)],
            },
        )

    def operating_points(self) -> dict[tuple[str, int], float]:
        """The current operating point of every (detector, pattern) that reviews have moved."""
        cols = self._select(self._sql.operating_points)
        return {
            (str(d), int(p)): float(v)
            for d, p, v in zip(cols["detector"], cols["pattern"], cols["value"], strict=True)
        }

    def operating_point_changes(self, detector: str, pattern: int) -> list[OperatingPointChange]:
        """Every change of one operating point, oldest first: the audit trail of feedback."""
        cols = self._select(
            self._sql.operating_point_changes, {"detector": detector, "pattern": int(pattern)}
        )
        return [
            OperatingPointChange(
                detector=str(cols["detector"][i]),
                pattern=int(cols["pattern"][i]),
                change_id=int(cols["change_id"][i]),
                changed_at=q.from_unix(cols["changed_at"][i]),
                verdict=int(cols["verdict"][i]),
                alert_id=str(cols["alert_id"][i]),
                old_value=float(cols["old_value"][i]),
                new_value=float(cols["new_value"][i]),
            )
            for i in range(len(cols["detector"]))
        ]

    def read_mark(self, name: str) -> datetime | None:
        """The latest mark written under `name`, or None if there is none."""
        cols = self._select(self._sql.mark, {"name": name})
        if not len(cols["n"]) or int(cols["n"][0]) == 0:
            return None
        return datetime.fromtimestamp(int(cols["mark_ms"][0]) / 1000, tz=UTC)

    def write_mark(self, name: str, mark: datetime) -> None:
        self._insert(
            q.MARKS,
            {
                "name": [name],
                "version": np.array([time.time_ns()], np.uint64),
                "mark_ms": np.array([_unix_ms(mark)], np.uint64),
            },
        )

    # ------------------------------------------------------------ group alert lists

    def write_alert_members(
        self, alert_id: str, sequence: int, member_ids: Sequence[str], target_ids: Sequence[str]
    ) -> None:
        """Store the full member and target lists of one alert version (ranked as given)."""
        ids = [str(v) for v in (*member_ids, *target_ids)]
        if not ids:
            return
        n_m, n_t = len(member_ids), len(target_ids)
        self._insert(
            q.ALERT_MEMBERS,
            {
                "alert_id": [alert_id] * len(ids),
                "sequence": np.full(len(ids), sequence, np.uint64),
                "role": np.repeat(np.array([1, 2], np.uint8), [n_m, n_t]),
                "position": np.concatenate([np.arange(n_m), np.arange(n_t)]).astype(np.uint32),
                "entity_id": ids,
            },
        )

    def alert_members(
        self, alert_id: str, role: int, sequence: int | None, start: int, limit: int
    ) -> tuple[int, int, list[str]]:
        """A page of an alert's stored list: (version, total ids in the list, the ids).

        `sequence` None reads the latest stored version; version 0 means none is stored.
        """
        if sequence is None:
            found = self._select(self._member_sql.latest_sequence, {"alert_id": alert_id})
            if not len(found["n"]) or int(found["n"][0]) == 0:
                return 0, 0, []
            sequence = int(found["sequence"][0])
        params = {"alert_id": alert_id, "sequence": int(sequence), "role": int(role)}
        total = int(self._select(self._member_sql.size, params)["n"][0])
        page = self._select(
            self._member_sql.page, {**params, "start": int(start), "stop": int(start + limit)}
        )
        return sequence, total, [str(v) for v in page["entity_id"]]

    @property
    def _member_sql(self) -> q.MemberQueries:
        return q.MemberQueries(self.database)


# ---------------------------------------------------------------- ClickHouse server

_NUMPY_DTYPES: dict[str, Any] = {
    "UInt8": np.uint8,
    "UInt16": np.uint16,
    "UInt32": np.uint32,
    "UInt64": np.uint64,
    "Int64": np.int64,
    "Float64": np.float64,
    "DateTime": np.uint32,  # Unix seconds: the driver sends integers as they are
    "String": object,
}


def _column_array(values: Any, ch_type: str) -> npt.NDArray[Any]:
    if isinstance(values, np.ndarray):
        return values
    dtype = _NUMPY_DTYPES.get(ch_type, object)
    if dtype is object:
        out = np.empty(len(values), dtype=object)
        out[:] = list(values)
        return out
    return np.asarray(values, dtype=dtype)


class ClickHouseStore(Store):
    """A ClickHouse server over the native protocol, with a small pool of driver clients.

    A clickhouse-driver Client is not thread-safe, so each call borrows one from the pool;
    a client whose connection broke reconnects by itself on its next query.
    """

    def __init__(
        self,
        host: str,
        port: int = 9000,
        database: str = DEFAULT_DATABASE,
        user: str = "default",
        password: str = "",
        external_source: ExternalSource | None = None,
        pool_size: int = 4,
        connect_timeout: float = 3.0,
        send_receive_timeout: float = 300.0,
    ) -> None:
        super().__init__(database, external_source)
        from clickhouse_driver import Client

        self._address = f"{host}:{port}"
        self._pool: queue.SimpleQueue[Any] = queue.SimpleQueue()
        for _ in range(pool_size):
            # The database may not exist before migrate(); every statement names it.
            self._pool.put(
                Client(
                    host=host,
                    port=port,
                    user=user,
                    password=password,
                    database="default",
                    connect_timeout=connect_timeout,
                    send_receive_timeout=send_receive_timeout,
                    sync_request_timeout=connect_timeout,
                )
            )
        self._pool_size = pool_size
        self._closed = False

    @contextmanager
    def _client(self) -> Iterator[Any]:
        from clickhouse_driver.errors import Error as DriverError

        if self._closed:
            raise StoreUnavailable("the ClickHouse store is closed")
        client = self._pool.get()
        try:
            yield client
        except (DriverError, OSError, EOFError) as e:
            raise StoreUnavailable(f"ClickHouse at {self._address} is unavailable") from e
        finally:
            self._pool.put(client)

    def _execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        with self._client() as client:
            client.execute(sql, q.sql_params(params or {}))

    def _select(
        self, sql: str, params: Mapping[str, Any] | None = None, *, arrays: bool = False
    ) -> Columns:
        with self._client() as client:
            data, types = client.execute(
                sql,
                q.sql_params(params or {}),
                columnar=True,
                with_column_types=True,
                settings={"use_numpy": not arrays},
            )
        out: Columns = {}
        for i, (name, ch_type) in enumerate(types):
            if data:
                out[name] = _column_array(data[i], ch_type)
            else:
                out[name] = np.array([], dtype=_NUMPY_DTYPES.get(ch_type, object))
        return out

    def _insert(self, table: q.Table, columns: Mapping[str, Any]) -> None:
        names = table.column_names
        quoted = ", ".join(q.quote_identifier(c) for c in names)
        sql = f"INSERT INTO {q.quote_identifier(self.database)}.{table.name} ({quoted}) VALUES"
        # NumPy columns are 10x cheaper to send, but the driver has no NumPy Array(String).
        numpy_ok = not any(t.startswith("Array") for _, t in table.columns)
        data: list[Any]
        if numpy_ok:
            data = [_column_array(columns[c], t) for c, t in table.columns]
        else:
            data = [list(columns[c]) for c in names]
        with self._client() as client:
            client.execute(sql, data, columnar=True, settings={"use_numpy": numpy_ok})

    def _close(self) -> None:
        self._closed = True
        # Waits for calls in flight to hand their clients back.
        clients = [self._pool.get() for _ in range(self._pool_size)]
        for client in clients:
            client.disconnect()
            self._pool.put(client)


# ---------------------------------------------------------------- chDB in-process


@dataclass(slots=True)
class _SharedConnection:
    path: str
    connection: Any
    lock: threading.Lock
    users: int


_chdb_connections: dict[str, _SharedConnection] = {}
_chdb_connections_lock = threading.Lock()


def _acquire_chdb_connection(path: str) -> _SharedConnection:
    """The process's chDB connection to `path`, shared by every store on it.

    chDB embeds one ClickHouse per process: connections to one path can coexist, but a second
    path is refused until every connection to the first is closed.
    """
    import chdb

    with _chdb_connections_lock:
        shared = _chdb_connections.get(path)
        if shared is None:
            if _chdb_connections:
                active = next(iter(_chdb_connections))
                raise ValueError(
                    f"chDB already runs on {active!r} in this process; "
                    f"close its stores before opening {path!r}"
                )
            try:
                connection = chdb.connect(path)  # type: ignore[no-untyped-call]
            except RuntimeError as e:
                raise StoreUnavailable(f"chDB at {path} could not start") from e
            shared = _SharedConnection(path, connection, threading.Lock(), 0)
            _chdb_connections[path] = shared
        shared.users += 1
        return shared


def _release_chdb_connection(shared: _SharedConnection) -> None:
    with _chdb_connections_lock:
        shared.users -= 1
        if shared.users == 0:
            _chdb_connections.pop(shared.path, None)
            shared.connection.close()


def _arrow_type(ch_type: str) -> Any:
    types = {
        "String": pa.string(),
        "UInt8": pa.uint8(),
        "UInt32": pa.uint32(),
        "UInt64": pa.uint64(),
        "Float64": pa.float64(),
        "DateTime": pa.uint32(),  # Unix seconds, as for the server backend
        "Array(String)": pa.list_(pa.string()),
    }
    return types[ch_type]


class ChdbStore(Store):
    """ClickHouse in-process via chDB: the embedded default, no server to start.

    Inserts stream Arrow IPC into `send_insert`; reads come back as Arrow tables. One lock
    per connection orders statements, since a streaming insert owns the connection.
    """

    def __init__(
        self,
        path: str,
        database: str = DEFAULT_DATABASE,
        external_source: ExternalSource | None = None,
    ) -> None:
        super().__init__(database, external_source)
        self._path = path
        self._shared: _SharedConnection | None = _acquire_chdb_connection(path)

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        shared = self._shared
        if shared is None:
            raise StoreUnavailable("the chDB store is closed")
        with shared.lock:
            try:
                yield shared.connection
            except RuntimeError as e:  # chdb's ChdbError derives from RuntimeError
                raise StoreUnavailable(f"chDB at {self._path} failed a query") from e

    def _execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        text = q.render(sql, params or {})
        with self._connection() as conn:
            conn.query(text, "CSV")

    def _select(
        self, sql: str, params: Mapping[str, Any] | None = None, *, arrays: bool = False
    ) -> Columns:
        text = q.render(sql, params or {})
        with self._connection() as conn:
            table = conn.query(text, "ArrowTable")
        out: Columns = {}
        for name in table.column_names:
            column = table.column(name)
            out[name] = column.to_numpy(zero_copy_only=False)
        return out

    def _insert(self, table: q.Table, columns: Mapping[str, Any]) -> None:
        schema = pa.schema([(c, _arrow_type(t)) for c, t in table.columns])
        arrays = [pa.array(columns[c], type=schema.field(c).type) for c in table.column_names]
        batch = pa.Table.from_arrays(arrays, schema=schema)
        sink = io.BytesIO()
        with pa.ipc.new_stream(sink, schema) as writer:
            writer.write_table(batch)
        quoted = ", ".join(q.quote_identifier(c) for c in table.column_names)
        sql = f"INSERT INTO {q.quote_identifier(self.database)}.{table.name} ({quoted})"
        with self._connection() as conn, conn.send_insert(sql, "ArrowStream") as ins:
            ins.append(sink.getvalue())
            ins.finish()

    def _close(self) -> None:
        shared, self._shared = self._shared, None
        if shared is not None:
            _release_chdb_connection(shared)


# ---------------------------------------------------------------- factory


def open_store(url: str, external_source: ExternalSource | None = None) -> Store:
    """A store for `clickhouse://[user[:password]@]host[:port]/db` or `chdb:///dir[?database=db]`.

    Raises:
        ValueError: the URL has an unknown scheme or an invalid database name.
    """
    parsed = urlparse(url)
    query = parse_qs(parsed.query)
    if parsed.scheme == "clickhouse":
        database = parsed.path.lstrip("/") or DEFAULT_DATABASE
        return ClickHouseStore(
            host=parsed.hostname or "localhost",
            port=parsed.port or 9000,
            database=database,
            user=unquote(parsed.username or "default"),
            password=unquote(parsed.password or ""),
            external_source=external_source,
        )
    if parsed.scheme == "chdb":
        path = unquote(parsed.netloc + parsed.path)
        if not path:
            raise ValueError("a chdb store URL needs a directory: chdb:///path/to/dir")
        database = query.get("database", [DEFAULT_DATABASE])[0]
        return ChdbStore(path, database=database, external_source=external_source)
    raise ValueError(f"unknown store URL scheme {parsed.scheme!r}; use clickhouse:// or chdb://")
