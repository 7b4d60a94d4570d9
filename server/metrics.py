"""Every Prometheus metric of the service. Labels are small fixed sets, never account ids."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from engagewatch.v1 import types_pb2

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_RUN_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)


class Metrics:
    """The service's metrics, registered in one registry (a fresh one per test)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.ingest_points = Counter(
            "engagewatch_ingest_points_total",
            "Metric points written, by metric.",
            ["metric"],
            registry=registry,
        )
        self.ingest_events = Counter(
            "engagewatch_ingest_events_total",
            "Interaction events written, by event type.",
            ["type"],
            registry=registry,
        )
        self.ingest_batches = Counter(
            "engagewatch_ingest_batches_total",
            "Ingest batches by kind (metrics, events) and outcome (accepted, duplicate, rejected).",
            ["kind", "outcome"],
            registry=registry,
        )
        self.ingest_rejected_rows = Counter(
            "engagewatch_ingest_rejected_rows_total",
            "Rows in rejected batches, by kind.",
            ["kind"],
            registry=registry,
        )
        self.ingest_duplicate_rows = Counter(
            "engagewatch_ingest_duplicate_rows_total",
            "Rows in duplicate batches that were not written again, by kind.",
            ["kind"],
            registry=registry,
        )
        self.detector_run_seconds = Histogram(
            "engagewatch_detector_run_seconds",
            "Seconds one detector took in one detection run.",
            ["detector"],
            buckets=_RUN_BUCKETS,
            registry=registry,
        )
        self.detection_run_seconds = Histogram(
            "engagewatch_detection_run_seconds",
            "Seconds a whole detection run took, by trigger (schedule, request, cli).",
            ["trigger"],
            buckets=_RUN_BUCKETS,
            registry=registry,
        )
        self.detection_runs = Counter(
            "engagewatch_detection_runs_total",
            "Detection runs by trigger and outcome (ok, error).",
            ["trigger", "outcome"],
            registry=registry,
        )
        self.last_detection_success = Gauge(
            "engagewatch_detection_last_success_timestamp_seconds",
            "Unix time when the last detection run completed.",
            registry=registry,
        )
        self.accounts_scored = Counter(
            "engagewatch_accounts_scored_total",
            "Accounts scored, summed over detection runs.",
            registry=registry,
        )
        self.findings = Counter(
            "engagewatch_findings_total",
            "Findings produced, by detector.",
            ["detector"],
            registry=registry,
        )
        self.alerts_raised = Counter(
            "engagewatch_alerts_raised_total",
            "Alerts raised for the first time, by detector, pattern and severity.",
            ["detector", "pattern", "severity"],
            registry=registry,
        )
        self.alerts_updated = Counter(
            "engagewatch_alerts_updated_total",
            "Existing alerts detected again and updated, by detector.",
            ["detector"],
            registry=registry,
        )
        self.open_alerts = Gauge(
            "engagewatch_open_alerts",
            "Alerts currently open (unreviewed), by pattern and severity.",
            ["pattern", "severity"],
            registry=registry,
        )
        self.reviews = Counter(
            "engagewatch_reviews_total",
            "Reviewer verdicts by detector, pattern and verdict (confirmed_fraud, false_positive).",
            ["detector", "pattern", "verdict"],
            registry=registry,
        )
        self.grpc_handled = Counter(
            "engagewatch_grpc_server_handled_total",
            "gRPC requests completed, by method and status code.",
            ["grpc_method", "grpc_code"],
            registry=registry,
        )
        self.grpc_handling_seconds = Histogram(
            "engagewatch_grpc_server_handling_seconds",
            "Seconds to complete a gRPC request (for streams: the whole stream), by method.",
            ["grpc_method"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.store_errors = Counter(
            "engagewatch_store_errors_total",
            "Store operations that failed because the store was unavailable, by operation.",
            ["operation"],
            registry=registry,
        )

    def set_open_alerts(self, rows: Iterable[tuple[str, int, int, int, int]]) -> None:
        """Sets the open-alerts gauge from (detector, pattern, severity, state, count) rows."""
        totals: dict[tuple[str, str], int] = {}
        for _detector, pattern, severity, state, count in rows:
            if state != types_pb2.ALERT_STATE_OPEN:
                continue
            key = (
                types_pb2.Pattern.Name(pattern).removeprefix("PATTERN_").lower(),
                types_pb2.Severity.Name(severity).removeprefix("SEVERITY_").lower(),
            )
            totals[key] = totals.get(key, 0) + count
        self.open_alerts.clear()
        for (pattern_label, severity_label), total in totals.items():
            self.open_alerts.labels(pattern_label, severity_label).set(total)
