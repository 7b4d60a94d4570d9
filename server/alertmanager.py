"""Pushes fraud alerts to Alertmanager's v2 API so that on-call staff get paged.

The pusher follows the alert book the way a WatchAlerts stream does (store reads after the
last sequence, woken by the book), in its own thread: detection never waits for Alertmanager.
Alertmanager forgets an alert whose endsAt passes without a re-send, so every firing alert is
re-sent each `resend_seconds` with endsAt a few re-sends ahead (as Prometheus does); if the
service dies, its alerts resolve themselves. An alert is resolved (endsAt = now) when a
reviewer dismisses it, when its severity falls below the configured level, and when it
expires (`expire_after_seconds` after its window ends). Failed pushes are logged, counted and
retried with backoff; nothing is lost, because the pending set is kept until a POST succeeds.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from urllib.parse import quote

from engagewatch.v1 import types_pb2
from server.alerts import pattern_name
from server.config import AlertmanagerSettings
from server.metrics import Metrics
from server.records import AlertRecord

logger = logging.getLogger(__name__)

ALERTS_PATH = "/api/v2/alerts"
READ_BATCH = 500
POST_BATCH = 1000  # alerts per POST; Alertmanager takes any number, this bounds the body
WAKE_SECONDS = 1.0  # how soon a stop, a due re-send or an expiry is noticed at the latest
LIFETIME_RESENDS = 4  # endsAt of a firing alert lies this many re-sends ahead
_MAX_BACKOFF_SECONDS = 30.0
_LIVE_STATES = frozenset({types_pb2.ALERT_STATE_OPEN, types_pb2.ALERT_STATE_CONFIRMED})


class PusherStore(Protocol):
    """The part of the store the pusher reads."""

    def alerts_after(
        self, after_sequence: int, min_severity: int, limit: int
    ) -> list[AlertRecord]: ...


class ChangeSource(Protocol):
    """The part of the alert book the pusher waits on."""

    def wait_for_change(self, after_sequence: int, timeout: float) -> None: ...


class AlertmanagerError(Exception):
    """A POST to Alertmanager failed (unreachable, timed out or refused the alerts)."""


def severity_number(name: str) -> int:
    return int(types_pb2.Severity.Value("SEVERITY_" + name.upper()))


def _label(enum: Any, number: int, prefix: str) -> str:
    return str(enum.Name(number)).removeprefix(prefix).lower()


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def drilldown_url(template: str, record: AlertRecord) -> str:
    """The configured drill-down link for an alert, or "" when no template is set."""
    if not template:
        return ""
    return template.format(**_link_fields(record))


def _link_fields(record: AlertRecord) -> dict[str, str]:
    fields = {
        "account_id": record.account_id,
        "alert_id": record.alert_id,
        "detector": record.detector,
        "pattern": pattern_name(record.pattern),
        "window_start_ms": str(int(record.window_start.timestamp() * 1000)),
        "window_end_ms": str(int(record.window_end.timestamp() * 1000)),
    }
    return {k: quote(v, safe="") for k, v in fields.items()}


def check_template(template: str) -> None:
    """Raises ValueError at start-up, not on every push, if the link template is unusable."""
    fields = ("account_id", "alert_id", "detector", "pattern", "window_start_ms", "window_end_ms")
    try:
        template.format(**dict.fromkeys(fields, "x"))
    except (KeyError, IndexError, ValueError) as err:
        raise ValueError(f"drilldown_url_template {template!r}: {err!r}; fields: {fields}") from err


@dataclass(frozen=True, slots=True)
class Tracked:
    """One alert as Alertmanager knows it: its identity (labels) and what to show."""

    labels: dict[str, str]
    annotations: dict[str, str]
    generator_url: str
    starts_at: datetime
    expires_at: datetime

    @property
    def fingerprint(self) -> tuple[tuple[str, str], ...]:
        return tuple(sorted(self.labels.items()))

    def payload(self, ends_at: datetime) -> dict[str, Any]:
        body: dict[str, Any] = {
            "labels": self.labels,
            "annotations": self.annotations,
            "startsAt": _rfc3339(self.starts_at),
            "endsAt": _rfc3339(max(ends_at, self.starts_at)),
        }
        if self.generator_url:
            body["generatorURL"] = self.generator_url
        return body


def tracked_alert(record: AlertRecord, settings: AlertmanagerSettings) -> Tracked:
    """Labels and annotations of an alert; labels hold only what routing and grouping need."""
    pattern = pattern_name(record.pattern)
    severity = _label(types_pb2.Severity, record.severity, "SEVERITY_")
    action = _label(types_pb2.Action, record.recommended_action, "ACTION_")
    link = drilldown_url(settings.drilldown_url_template, record)
    annotations = {
        "summary": (
            f"{pattern.replace('_', ' ')} on account {record.account_id}: "
            f"score {record.score:.2f} ({severity}), recommended action {action}"
        ),
        "explanation": record.explanation,
        "state": _label(types_pb2.AlertState, record.state, "ALERT_STATE_"),
        "score": f"{record.score:.4f}",
        "observed": f"{record.observed:.6g}",
        "expected": f"{record.expected:.6g}",
        "window_start": _rfc3339(record.window_start),
        "window_end": _rfc3339(record.window_end),
    }
    if record.member_count:
        annotations["member_count"] = str(record.member_count)
    if link:
        annotations["drilldown_url"] = link
    return Tracked(
        labels={
            "alertname": settings.alertname,
            "pattern": pattern,
            "severity": severity,
            "action": action,
            "detector": record.detector,
            "account_id": record.account_id,
            "alert_id": record.alert_id,
        },
        annotations=annotations,
        generator_url=link,
        starts_at=record.created_at,
        expires_at=record.window_end + timedelta(seconds=settings.expire_after_seconds),
    )


def post_alerts(url: str, alerts: Sequence[dict[str, Any]], timeout: float) -> None:
    """POSTs alerts to an Alertmanager's v2 API.

    Raises:
        AlertmanagerError: it could not be reached or did not accept them.
    """
    request = urllib.request.Request(
        url.rstrip("/") + ALERTS_PATH,
        data=json.dumps(list(alerts)).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
    except urllib.error.HTTPError as err:
        detail = err.read(500).decode(errors="replace")
        raise AlertmanagerError(f"Alertmanager answered {err.code}: {detail}") from err
    except (urllib.error.URLError, OSError) as err:
        raise AlertmanagerError(f"Alertmanager unreachable: {err}") from err


class AlertmanagerPusher:
    """Keeps Alertmanager's view of our alerts current, from a daemon thread."""

    def __init__(
        self,
        store: PusherStore,
        book: ChangeSource,
        settings: AlertmanagerSettings,
        metrics: Metrics,
    ) -> None:
        if not settings.url:
            raise ValueError("alertmanager url is required")
        if settings.resend_seconds <= 0:
            raise ValueError("resend_seconds must be > 0")
        check_template(settings.drilldown_url_template)
        self._store = store
        self._book = book
        self._settings = settings
        self._metrics = metrics
        self._min_severity = severity_number(settings.min_severity)
        self._active: dict[str, Tracked] = {}  # alert_id -> what Alertmanager shows as firing
        # Alerts whose latest change is not yet delivered, by label set: a resolved old label
        # set and the firing new one (after an action change) are two Alertmanager alerts.
        # The value is the time it was resolved, or None while it fires.
        self._pending: dict[tuple[tuple[str, str], ...], tuple[Tracked, datetime | None]] = {}
        self._last_sequence = 0
        self._next_resend = 0.0
        self._failures = 0
        self._retry_at = 0.0
        self._step_failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="alertmanager-push", daemon=True)
        for outcome in ("sent", "failed"):
            metrics.alertmanager_pushes.labels(outcome)
        for status in ("firing", "resolved"):
            metrics.alertmanager_alerts.labels(status)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout=timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                caught_up = self._step()
                self._step_failures = 0
            except Exception:  # a store outage must not end paging; the next step retries
                self._step_failures += 1
                if self._step_failures == 1:  # once per outage, not once a second
                    logger.exception("alertmanager pusher cannot read alerts; retrying")
                caught_up = True
                self._stop.wait(WAKE_SECONDS)
            if caught_up:
                due = self._next_resend
                if self._retry_at:  # a failed push waits for its backoff, not for the re-send
                    due = min(due, self._retry_at)
                wait = min(max(due - time.monotonic(), 0.05), WAKE_SECONDS)
                self._book.wait_for_change(self._last_sequence, wait)
                self._stop.wait(0.05)  # the book may announce a sequence before it is written

    def _step(self) -> bool:
        """Reads new alert versions, expires old ones, pushes what is due; True when caught up."""
        records = self._store.alerts_after(self._last_sequence, 0, READ_BATCH)
        now = datetime.now(UTC)
        for record in records:
            self._track(record, now)
            self._last_sequence = record.sequence
        self._expire(now)
        if len(records) == READ_BATCH:
            return False  # drain the backlog (a restart replays everything) before pushing
        self._push(now)
        return True

    def _track(self, record: AlertRecord, now: datetime) -> None:
        old = self._active.pop(record.alert_id, None)
        new = None
        if record.state in _LIVE_STATES and record.severity >= self._min_severity:
            new = tracked_alert(record, self._settings)
            if new.expires_at <= now:
                new = None
        if old is not None and (new is None or old.fingerprint != new.fingerprint):
            self._pending[old.fingerprint] = (old, now)
        if new is not None:
            self._active[record.alert_id] = new
            self._pending[new.fingerprint] = (new, None)

    def _expire(self, now: datetime) -> None:
        for alert_id, tracked in list(self._active.items()):
            if tracked.expires_at <= now:
                del self._active[alert_id]
                self._pending[tracked.fingerprint] = (tracked, now)

    def _firing_until(self, now: datetime) -> datetime:
        return now + timedelta(seconds=LIFETIME_RESENDS * self._settings.resend_seconds)

    def _push(self, now: datetime) -> None:
        self._metrics.alertmanager_active.set(len(self._active))
        clock = time.monotonic()
        if clock < self._retry_at:
            return
        batch = dict(self._pending)
        resend = clock >= self._next_resend
        if resend:
            self._next_resend = clock + self._settings.resend_seconds
            for tracked in self._active.values():
                batch.setdefault(tracked.fingerprint, (tracked, None))
        if not batch:
            return
        until = self._firing_until(now)
        alerts = [t.payload(ends_at=until if at is None else at) for t, at in batch.values()]
        try:
            for i in range(0, len(alerts), POST_BATCH):
                post_alerts(
                    self._settings.url, alerts[i : i + POST_BATCH], self._settings.timeout_seconds
                )
        except AlertmanagerError as err:
            self._metrics.alertmanager_pushes.labels("failed").inc()
            self._failures += 1
            backoff = min(2.0 ** (self._failures - 1), _MAX_BACKOFF_SECONDS)
            self._retry_at = clock + backoff
            self._pending.update(batch)  # the re-sends too: Alertmanager may have lost them
            # One warning per outage, not one per retry.
            log = logger.warning if self._failures == 1 else logger.debug
            log("pushing %d alerts failed (retry in %.0f s): %s", len(alerts), backoff, err)
            return
        self._metrics.alertmanager_pushes.labels("sent").inc()
        for _tracked, resolved_at in batch.values():
            status = "firing" if resolved_at is None else "resolved"
            self._metrics.alertmanager_alerts.labels(status).inc()
        if self._failures:
            logger.info("Alertmanager reachable again after %d failed pushes", self._failures)
        self._failures = 0
        self._retry_at = 0.0
        for key in batch:  # one thread reads and writes _pending: nothing changed meanwhile
            self._pending.pop(key, None)
