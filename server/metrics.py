"""Every Prometheus metric of the service. Labels are small fixed sets, never account ids."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from detectors.findings import EVENT_TYPES, METRICS
from engagewatch.v1 import types_pb2

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_RUN_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
# Every step of the measures ladder, as label values ("warn", "limit_features", ...).
_ACTION_LABELS = {
    number: name.removeprefix("ACTION_").lower()
    for name, number in types_pb2.Action.items()
    if number != types_pb2.ACTION_UNSPECIFIED
}


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
        self.detection_schedule_interval = Gauge(
            "engagewatch_detection_schedule_interval_seconds",
            "Seconds between scheduled detection runs; 0 when the schedule is off.",
            registry=registry,
        )
        # With the last-run time, lets a rule tell "late" from "just restarted, no run yet".
        self.start_time = Gauge(
            "engagewatch_start_time_seconds",
            "Unix time when the service started.",
            registry=registry,
        )
        self.start_time.set_to_current_time()
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
        self.reviewed_alerts = Gauge(
            "engagewatch_reviewed_alerts",
            "Alerts reviewed so far, by detector and verdict (confirmed_fraud, false_positive).",
            ["detector", "verdict"],
            registry=registry,
        )
        self.accounts_by_action = Gauge(
            "engagewatch_accounts_by_action",
            "Accounts with open or confirmed alerts, by the measure their risk calls for.",
            ["action"],
            registry=registry,
        )
        self.reviews = Counter(
            "engagewatch_reviews_total",
            "Reviewer verdicts by detector, pattern and verdict (confirmed_fraud, false_positive).",
            ["detector", "pattern", "verdict"],
            registry=registry,
        )
        self.operating_point = Gauge(
            "engagewatch_operating_point",
            "Lowest finding score that alerts, by detector and pattern, as reviews have moved it.",
            ["detector", "pattern"],
            registry=registry,
        )
        self.operating_point_changes = Counter(
            "engagewatch_operating_point_changes_total",
            "Moves of an operating point by review verdicts, by detector, pattern and direction.",
            ["detector", "pattern", "direction"],
            registry=registry,
        )
        self.findings_below_operating_point = Counter(
            "engagewatch_findings_below_operating_point_total",
            "Findings not turned into alerts because they scored below the operating point.",
            ["detector", "pattern"],
            registry=registry,
        )
        self.late_hours_judged = Counter(
            "engagewatch_late_hours_judged_total",
            "Hours outside the scheduled window judged again because data for them arrived late.",
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
        self.alertmanager_pushes = Counter(
            "engagewatch_alertmanager_pushes_total",
            "POSTs of alerts to Alertmanager, by outcome (sent, failed).",
            ["outcome"],
            registry=registry,
        )
        self.alertmanager_alerts = Counter(
            "engagewatch_alertmanager_alerts_total",
            "Alerts delivered to Alertmanager (re-sends included), by status (firing, resolved).",
            ["status"],
            registry=registry,
        )
        self.alertmanager_active = Gauge(
            "engagewatch_alertmanager_active_alerts",
            "Alerts the service currently keeps firing in Alertmanager.",
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
        self._set_reviewed_alerts(rows)

    def _set_reviewed_alerts(self, rows: Iterable[tuple[str, int, int, int, int]]) -> None:
        """Sets the reviewed-alerts gauge: the store's counts, so precision survives restarts."""
        verdicts = {
            types_pb2.ALERT_STATE_CONFIRMED: "confirmed_fraud",
            types_pb2.ALERT_STATE_DISMISSED: "false_positive",
        }
        totals: dict[tuple[str, str], int] = {}
        for detector, _pattern, _severity, state, count in rows:
            if state in verdicts:
                key = (detector, verdicts[state])
                totals[key] = totals.get(key, 0) + count
        self.reviewed_alerts.clear()
        for (detector, verdict), total in totals.items():
            self.reviewed_alerts.labels(detector, verdict).set(total)

    def initialize_series(self, grpc_methods: Iterable[str]) -> None:
        """Exports the fixed label sets at 0 from the start.

        A counter that appears only at its first increment hides that increment from rate(),
        and a series that does not exist leaves a dashboard panel or an alert rule empty.
        """
        for method in grpc_methods:
            self.grpc_handled.labels(method, "OK")
            self.grpc_handling_seconds.labels(method)
            self.store_errors.labels(method)
        for metric in METRICS:
            self.ingest_points.labels(metric)
        for event_type in EVENT_TYPES:
            self.ingest_events.labels(event_type)
        for kind in ("metrics", "events"):
            for outcome in ("accepted", "duplicate", "rejected"):
                self.ingest_batches.labels(kind, outcome)
            self.ingest_rejected_rows.labels(kind)
            self.ingest_duplicate_rows.labels(kind)

    def set_accounts_by_action(self, counts: Mapping[int, int]) -> None:
        """Sets the accounts-by-action gauge from the store's accounts per Action number.

        Each account counts once, at the measure GetAccountRisk would recommend for it; every
        ladder step is exported (0 when empty) so a panel shows the whole ladder.
        """
        for number, label in _ACTION_LABELS.items():
            self.accounts_by_action.labels(label).set(counts.get(number, 0))
