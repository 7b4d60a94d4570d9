"""The SQL of the store: schema, queries, identifier quoting and parameter rendering.

Everything here must run on ClickHouse 18.16 (Debian's server) and on chDB/current releases:
no DateTime64, no LowCardinality, no window functions, no server-side `{name:Type}`
parameters. Values are substituted client-side by clickhouse-driver's escaping
(`clickhouse_driver.util.escape`), the same function for both backends; identifiers are
module constants or validated configuration, backtick-quoted.

Times travel as Unix seconds (`toDateTime(%(x)s)` in, `toUInt32(col)` out) so no query
depends on the server's time zone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from clickhouse_driver.util.escape import escape_params

from server.config import ExternalSource

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")

# Kinds of rows in the bucket table: streamed metric points and counted events.
KIND_POINTS = 1
KIND_EVENTS = 2

# Above this many ids an IN list would exceed ClickHouse's default max_query_size (256 KiB),
# so the filter is applied to the result instead.
MAX_SQL_ID_LIST = 1000


def quote_identifier(name: str) -> str:
    """Backtick-quote one identifier after checking it against a strict pattern.

    Raises:
        ValueError: the name is not a plain identifier.
    """
    if not _IDENTIFIER.fullmatch(name):
        raise ValueError(f"not a valid ClickHouse identifier: {name!r}")
    return f"`{name}`"


def quote_table(name: str) -> str:
    """Quote `table` or `db.table`, validating each part."""
    parts = name.split(".")
    if not 1 <= len(parts) <= 2:
        raise ValueError(f"not a valid table name: {name!r}")
    return ".".join(quote_identifier(p) for p in parts)


def sql_value(value: Any) -> Any:
    """Convert one Python or numpy value into what the driver's escaping understands.

    Datetimes become Unix seconds (the SQL wraps them in toDateTime), so escaping never
    consults a server time zone; sequences become tuples for `IN %(x)s`.
    """
    if isinstance(value, datetime):
        return unix_seconds(value)
    if isinstance(value, bool | np.bool_):
        return int(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return tuple(sql_value(v) for v in value.tolist())
    if isinstance(value, list | tuple):
        return tuple(sql_value(v) for v in value)
    return value


def sql_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Convert every parameter with `sql_value`."""
    return {k: sql_value(v) for k, v in params.items()}


def render(sql: str, params: Mapping[str, Any]) -> str:
    """Substitute parameters client-side exactly as clickhouse-driver does.

    This is `Client.substitute_params` without a connection: escape_params has no need of
    one because datetimes were converted to integers by `sql_params`.
    """
    return str(sql % escape_params(sql_params(params), None))


def unix_seconds(when: datetime) -> int:
    """Unix seconds of a timezone-aware datetime.

    Raises:
        ValueError: the datetime is naive (its meaning would depend on the host's zone).
    """
    if when.tzinfo is None:
        raise ValueError("datetimes given to the store must be timezone-aware")
    return int(when.timestamp())


def from_unix(seconds: int) -> datetime:
    return datetime.fromtimestamp(int(seconds), tz=UTC)


# ---------------------------------------------------------------- schema


@dataclass(frozen=True, slots=True)
class Table:
    """A table of the schema: its columns (in insert order) and engine clause."""

    name: str
    columns: tuple[tuple[str, str], ...]  # (column, ClickHouse type)
    engine: str

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c for c, _ in self.columns)

    def create_sql(self, db: str) -> str:
        cols = ",\n    ".join(f"{quote_identifier(c)} {t}" for c, t in self.columns)
        return (
            f"CREATE TABLE IF NOT EXISTS {quote_identifier(db)}.{quote_identifier(self.name)} "
            f"(\n    {cols}\n) ENGINE = {self.engine}"
        )


# Idempotency. Each try at writing a batch is an attempt with a random attempt key:
#   1. a "started" row in ingested_batches, 2. the data rows tagged with the attempt key,
#   3. a "done" row. A batch_id with a done attempt is a duplicate. An attempt that started
# but never finished (the process died) is written to void_attempts when the batch comes
# again, and every read skips rows of void attempts. Reads then need no per-batch collapse:
# one GROUP BY per bucket, with a small NOT IN set.
STATE_STARTED = 1
STATE_DONE = 2

# Per (account, metric, hour, kind, attempt): the batch's sum (points) or count (events).
BUCKETS = Table(
    name="engagement_buckets",
    columns=(
        ("bucket", "DateTime"),
        ("account_id", "String"),
        ("metric", "UInt8"),
        ("kind", "UInt8"),
        ("attempt_key", "UInt64"),
        ("value", "Float64"),
    ),
    engine=(
        "MergeTree() PARTITION BY toYYYYMM(bucket) "
        "ORDER BY (bucket, account_id, metric, kind, attempt_key)"
    ),
)

# Raw interaction events for the graph detectors.
EVENTS = Table(
    name="engagement_events",
    columns=(
        ("time", "DateTime"),
        ("account_id", "String"),
        ("actor_id", "String"),
        ("type", "UInt8"),
        ("content_id", "String"),
        ("source", "String"),
        ("consented", "UInt8"),
        ("client_id", "String"),
        ("attempt_key", "UInt64"),
        ("row_index", "UInt32"),
    ),
    engine=(
        "MergeTree() PARTITION BY toYYYYMM(time) "
        "ORDER BY (time, account_id, attempt_key, row_index)"
    ),
)

# Attempts at writing batches: the duplicate check and the record of what was ingested.
BATCHES = Table(
    name="ingested_batches",
    columns=(
        ("kind", "UInt8"),
        ("batch_id", "String"),
        ("attempt_key", "UInt64"),
        ("state", "UInt8"),
        ("rows", "UInt64"),
        ("written_at", "DateTime"),
    ),
    engine="MergeTree() ORDER BY (kind, batch_id, attempt_key)",
)

# Attempts that died half-way; their rows never count.
VOID_ATTEMPTS = Table(
    name="void_attempts",
    columns=(("attempt_key", "UInt64"), ("voided_at", "DateTime")),
    engine="MergeTree() ORDER BY attempt_key",
)

# Every version of every alert; the latest per alert_id (highest sequence) is the alert.
ALERTS = Table(
    name="alerts",
    columns=(
        ("alert_id", "String"),
        ("sequence", "UInt64"),
        ("account_id", "String"),
        ("detector", "String"),
        ("pattern", "UInt8"),
        ("metric", "UInt8"),
        ("severity", "UInt8"),
        ("score", "Float64"),
        ("window_start", "DateTime"),
        ("window_end", "DateTime"),
        ("observed", "Float64"),
        ("expected", "Float64"),
        ("evidence_json", "String"),
        ("explanation", "String"),
        ("recommended_action", "UInt8"),
        ("state", "UInt8"),
        ("created_at", "DateTime"),
        ("updated_at", "DateTime"),
        ("member_ids", "Array(String)"),
        ("target_ids", "Array(String)"),
        ("member_count", "UInt32"),
        ("target_count", "UInt32"),
        ("verdict", "UInt8"),
        ("review_note", "String"),
        ("reviewer", "String"),
    ),
    engine="MergeTree() ORDER BY (alert_id, sequence)",
)

# Append-only log of reviewer verdicts.
REVIEWS = Table(
    name="alert_reviews",
    columns=(
        ("alert_id", "String"),
        ("verdict", "UInt8"),
        ("note", "String"),
        ("reviewer", "String"),
        ("reviewed_at", "DateTime"),
        ("detector", "String"),
        ("pattern", "UInt8"),
    ),
    engine="MergeTree() ORDER BY (alert_id, reviewed_at)",
)

# Feedback: every change of a detector's operating point per pattern (the minimum score
# at which its findings alert). The latest change_id per (detector, pattern) is the current one.
OPERATING_POINTS = Table(
    name="operating_points",
    columns=(
        ("detector", "String"),
        ("pattern", "UInt8"),
        ("change_id", "UInt64"),
        ("changed_at", "DateTime"),
        ("verdict", "UInt8"),
        ("alert_id", "String"),
        ("old_value", "Float64"),
        ("new_value", "Float64"),
    ),
    engine="MergeTree() ORDER BY (detector, pattern, change_id)",
)

# Late data: per write, the hours it brought data for and when. The schedule re-judges hours
# outside its window that received data since its last run.
BUCKET_ARRIVALS = Table(
    name="bucket_arrivals",
    # Milliseconds: the schedule's watermark must tell apart writes within one second.
    columns=(("arrived_ms", "UInt64"), ("bucket", "DateTime"), ("rows", "UInt64")),
    engine="MergeTree() PARTITION BY toYYYYMM(bucket) ORDER BY (bucket, arrived_ms)",
)

# Progress marks of background jobs (e.g. the schedule's arrival watermark); latest version wins.
MARKS = Table(
    name="job_marks",
    columns=(("name", "String"), ("version", "UInt64"), ("mark_ms", "UInt64")),
    engine="MergeTree() ORDER BY (name, version)",
)

# The full member and target lists of group alerts (an alert row keeps a sample of each), one
# version per alert sequence that wrote them; the latest version is the list.
ALERT_MEMBERS = Table(
    name="alert_members",
    columns=(
        ("alert_id", "String"),
        ("sequence", "UInt64"),
        ("role", "UInt8"),  # GroupRole: 1 member, 2 target
        ("position", "UInt32"),  # rank given by the detector, from 0
        ("entity_id", "String"),
    ),
    engine="MergeTree() ORDER BY (alert_id, sequence, role, position)",
)

TABLES: tuple[Table, ...] = (
    BUCKETS,
    EVENTS,
    BATCHES,
    VOID_ATTEMPTS,
    ALERTS,
    REVIEWS,
    OPERATING_POINTS,
    BUCKET_ARRIVALS,
    MARKS,
    ALERT_MEMBERS,
)

# The bucket rows again, ordered by account: reads of a few accounts (GetAccountRisk,
# RunDetection with account_ids) use the primary key instead of scanning every account's rows
# in the window. ClickHouse fills it on every insert into BUCKETS.
ACCOUNT_BUCKETS = "account_buckets"


def _account_buckets_sql(db: str) -> str:
    d = quote_identifier(db)
    return (
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS {d}.{quote_identifier(ACCOUNT_BUCKETS)} "
        "ENGINE = MergeTree() PARTITION BY toYYYYMM(bucket) "
        "ORDER BY (account_id, bucket, metric, kind, attempt_key) "
        f"AS SELECT * FROM {d}.{quote_identifier(BUCKETS.name)}"
    )


def migrations(db: str) -> list[str]:
    """Idempotent DDL creating the database, every table and the account-ordered view."""
    return [
        f"CREATE DATABASE IF NOT EXISTS {quote_identifier(db)}",
        *(t.create_sql(db) for t in TABLES),
        _account_buckets_sql(db),
    ]


# ---------------------------------------------------------------- queries


class Queries:
    """The store's statements with the database name bound (a validated identifier)."""

    def __init__(self, db: str) -> None:
        d = quote_identifier(db)
        self.db = db
        buckets = f"{d}.{BUCKETS.name}"
        self._by_account = f"{d}.{ACCOUNT_BUCKETS}"
        self._by_time = buckets
        events = f"{d}.{EVENTS.name}"
        batches = f"{d}.{BATCHES.name}"
        alerts = f"{d}.{ALERTS.name}"
        reviews = f"{d}.{REVIEWS.name}"
        void = f"{d}.{VOID_ATTEMPTS.name}"
        live = f"attempt_key NOT IN (SELECT attempt_key FROM {void})"

        # Per attempt of some batch_ids: whether it finished.
        self.batch_attempts = f"""
            SELECT batch_id, attempt_key, max(state) AS state FROM {batches}
            WHERE kind = %(kind)s AND batch_id IN %(batch_ids)s
            GROUP BY batch_id, attempt_key"""

        # Per bucket: each side summed over batches, then the larger of points and events.
        # Accounts travel as cityHash64 (8 bytes, decoded by numpy) rather than strings,
        # which the driver decodes one by one; the names come from series_accounts.
        self._series = f"""
            SELECT {{account}}, metric, toUInt32(bucket) AS bucket,
                   greatest(sumIf(value, kind = {KIND_POINTS}), sumIf(value, kind = {KIND_EVENTS}))
                       AS value
            FROM {{table}}
            WHERE bucket >= toDateTime(%(start)s) AND bucket < toDateTime(%(end)s)
              AND {live} {{account_filter}}
            GROUP BY account_id, metric, bucket"""

        self._series_accounts = f"""
            SELECT account_id, cityHash64(account_id) AS account_hash FROM {{table}}
            WHERE bucket >= toDateTime(%(start)s) AND bucket < toDateTime(%(end)s)
              AND {live} {{account_filter}}
            GROUP BY account_id"""

        self.account_count = f"""
            SELECT uniqExact(account_id) AS n FROM {buckets}
            WHERE bucket >= toDateTime(%(start)s) AND bucket < toDateTime(%(end)s) AND {live}"""

        self._events = f"""
            SELECT toUInt32(time) AS time, account_id, actor_id, type, content_id, source,
                   consented, client_id
            FROM {events}
            WHERE time >= toDateTime(%(start)s) AND time < toDateTime(%(end)s) AND {live}
            {{filters}}
            ORDER BY time, attempt_key, row_index"""

        alert_cols = ", ".join(
            f"toUInt32({c}) AS {c}" if t == "DateTime" else c for c, t in ALERTS.columns
        )
        # Latest version per alert_id; LIMIT 1 BY guards against the same version
        # written twice. Filters go on the outer query so they see only latest versions.
        self._latest_alerts = f"""
            SELECT {alert_cols} FROM {alerts}
            WHERE (alert_id, sequence) IN (
                SELECT alert_id, max(sequence) FROM {alerts} {{inner_where}} GROUP BY alert_id
            )
            {{outer_where}}
            ORDER BY sequence {{direction}}
            LIMIT 1 BY alert_id
            {{limit}}"""

        self.max_sequence = f"SELECT max(sequence) AS n FROM {alerts}"

        self.alert_counts = f"""
            SELECT detector, pattern, severity, state, count() AS n FROM (
                SELECT alert_id, argMax(detector, sequence) AS detector,
                       argMax(pattern, sequence) AS pattern,
                       argMax(severity, sequence) AS severity,
                       argMax(state, sequence) AS state
                FROM {alerts} GROUP BY alert_id
            )
            GROUP BY detector, pattern, severity, state
            ORDER BY detector, pattern, severity, state"""

        # Accounts with live (open or confirmed) alerts, grouped by what decides their measure:
        # the set of severities among their live alerts (a bitmask) and how many are confirmed.
        # The ladder itself stays in Python (server.alerts); this result has a few dozen rows
        # however many alerts there are.
        self.live_account_profiles = f"""
            SELECT severities, confirmed, count() AS accounts FROM (
                SELECT account_id,
                       groupBitOr(bitShiftLeft(toUInt64(1), severity)) AS severities,
                       toUInt64(sum(state = %(confirmed)s)) AS confirmed
                FROM (
                    SELECT alert_id, argMax(account_id, sequence) AS account_id,
                           argMax(severity, sequence) AS severity,
                           argMax(state, sequence) AS state
                    FROM {alerts} GROUP BY alert_id
                )
                WHERE state IN (%(open)s, %(confirmed)s)
                GROUP BY account_id
            )
            GROUP BY severities, confirmed
            ORDER BY severities, confirmed"""

        review_cols = ", ".join(
            f"toUInt32({c}) AS {c}" if t == "DateTime" else c for c, t in REVIEWS.columns
        )
        self.reviews = f"""
            SELECT {review_cols} FROM {reviews}
            WHERE alert_id = %(alert_id)s ORDER BY reviewed_at, verdict"""

        points = f"{d}.{OPERATING_POINTS.name}"
        self.operating_points = f"""
            SELECT detector, pattern, argMax(new_value, change_id) AS value FROM {points}
            GROUP BY detector, pattern ORDER BY detector, pattern"""
        point_cols = ", ".join(
            f"toUInt32({c}) AS {c}" if t == "DateTime" else c for c, t in OPERATING_POINTS.columns
        )
        self.operating_point_changes = f"""
            SELECT {point_cols} FROM {points}
            WHERE detector = %(detector)s AND pattern = %(pattern)s ORDER BY change_id"""

        arrivals = f"{d}.{BUCKET_ARRIVALS.name}"
        self.arrived_buckets = f"""
            SELECT DISTINCT toUInt32(bucket) AS bucket, arrived_ms FROM {arrivals}
            WHERE arrived_ms >= %(since_ms)s
              AND bucket >= toDateTime(%(start)s) AND bucket < toDateTime(%(end)s)
            ORDER BY bucket, arrived_ms"""

        marks = f"{d}.{MARKS.name}"
        self.mark = f"""
            SELECT argMax(mark_ms, version) AS mark_ms, count() AS n FROM {marks}
            WHERE name = %(name)s"""

    def series(self, filter_accounts: bool, hashed: bool) -> str:
        """Bucket rows; with `hashed`, accounts as `account_hash` instead of `account_id`."""
        account = "cityHash64(account_id) AS account_hash" if hashed else "account_id"
        return self._series.format(account=account, **self._bucket_source(filter_accounts))

    def series_accounts(self, filter_accounts: bool) -> str:
        return self._series_accounts.format(**self._bucket_source(filter_accounts))

    def _bucket_source(self, filter_accounts: bool) -> dict[str, str]:
        """The table to read and the filter: by account when a few accounts are asked for."""
        if filter_accounts:
            return {
                "table": self._by_account,
                "account_filter": "AND account_id IN %(account_ids)s",
            }
        return {"table": self._by_time, "account_filter": ""}

    def events(self, filter_accounts: bool, filter_types: bool) -> str:
        filters = []
        if filter_accounts:
            filters.append("AND account_id IN %(account_ids)s")
        if filter_types:
            filters.append("AND type IN %(types)s")
        return self._events.format(filters=" ".join(filters))

    def latest_alerts(
        self,
        *,
        inner_where: Sequence[str] = (),
        outer_where: Sequence[str] = (),
        descending: bool = False,
        limit: bool = False,
    ) -> str:
        """Latest alert versions; the where clauses are fixed fragments with %(param)s slots."""
        return self._latest_alerts.format(
            inner_where=("WHERE " + " AND ".join(inner_where)) if inner_where else "",
            outer_where=("AND " + " AND ".join(outer_where)) if outer_where else "",
            direction="DESC" if descending else "ASC",
            limit="LIMIT %(limit)s" if limit else "",
        )


class ExternalQueries:
    """Reads from a platform's own wide table (one column per metric), summed per hour."""

    def __init__(self, source: ExternalSource, metric_numbers: Mapping[str, int]) -> None:
        for metric in source.metric_columns:
            if metric not in metric_numbers:
                raise ValueError(f"external source maps unknown metric {metric!r}")
        table = quote_table(source.table)
        account = quote_identifier(source.account_column)
        time = quote_identifier(source.time_column)
        # Output columns are named by metric number so names never come from configuration.
        self.metric_aliases = {m: f"m{metric_numbers[m]}" for m in source.metric_columns}
        sums = "".join(
            f", toFloat64(sum({quote_identifier(col)})) AS {self.metric_aliases[m]}"
            for m, col in source.metric_columns.items()
        )
        where = f"{time} >= toDateTime(%(start)s) AND {time} < toDateTime(%(end)s)"
        self._series = f"""
            SELECT toString({account}) AS account_id,
                   toUInt32(toStartOfHour({time}, 'UTC')) AS bucket{sums}
            FROM {table}
            WHERE {where} {{account_filter}}
            GROUP BY account_id, bucket"""
        self.account_count = (
            f"SELECT uniqExact(toString({account})) AS n FROM {table} WHERE {where}"
        )
        self._account = account

    def series(self, filter_accounts: bool) -> str:
        account_filter = (
            f"AND toString({self._account}) IN %(account_ids)s" if filter_accounts else ""
        )
        return self._series.format(account_filter=account_filter)


class MemberQueries:
    """Reads of the full group lists (ALERT_MEMBERS), with the database name bound."""

    def __init__(self, db: str) -> None:
        members = f"{quote_identifier(db)}.{ALERT_MEMBERS.name}"
        self.latest_sequence = f"""
            SELECT max(sequence) AS sequence, count() AS n FROM {members}
            WHERE alert_id = %(alert_id)s"""
        self.size = f"""
            SELECT count() AS n FROM {members}
            WHERE alert_id = %(alert_id)s AND sequence = %(sequence)s AND role = %(role)s"""
        # Positions are dense from 0, so a page is a primary-key range, not an OFFSET scan.
        self.page = f"""
            SELECT entity_id FROM {members}
            WHERE alert_id = %(alert_id)s AND sequence = %(sequence)s AND role = %(role)s
              AND position >= %(start)s AND position < %(stop)s
            ORDER BY position"""
