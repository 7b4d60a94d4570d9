"""AlertService: list, watch, review alerts and look up an account's risk."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import grpc

from engagewatch.v1 import alert_service_pb2, alert_service_pb2_grpc, types_pb2
from server.alerts import AlertBook, pattern_name
from server.boundary import server_stream, unary
from server.convert import alert_message, from_timestamp
from server.errors import InvalidArgument, NotFound
from server.metrics import Metrics
from server.records import AlertFilter, ReviewRecord
from server.risk import account_risk
from server.store import Store
from server.validation import MAX_ID_BYTES

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
WATCH_BATCH = 500
WATCH_POLL_SECONDS = 1.0  # also how soon a cancelled stream notices
MAX_NOTE_BYTES = 2000
RISK_LOOKBACK = timedelta(days=90)  # follows counted for the fake follower share


def _filter_of(request: alert_service_pb2.ListAlertsRequest) -> AlertFilter:
    return AlertFilter(
        account_id=request.account_id or None,
        detector=request.detector or None,
        pattern=request.pattern,
        min_severity=request.min_severity,
        since=from_timestamp(request.since) if request.HasField("since") else None,
        state=request.state,
    )


def _fingerprint(flt: AlertFilter) -> str:
    return hashlib.sha256(repr(flt).encode()).hexdigest()[:16]


def _encode_token(before_sequence: int, flt: AlertFilter) -> str:
    raw = json.dumps({"before": before_sequence, "filter": _fingerprint(flt)})
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _decode_token(token: str, flt: AlertFilter) -> int | None:
    if not token:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        before = int(data["before"])
        same_filter = data["filter"] == _fingerprint(flt)
    except (binascii.Error, ValueError, KeyError, TypeError) as err:
        raise InvalidArgument(
            "page_token is not one this service issued", [("page_token", "malformed")]
        ) from err
    if not same_filter:
        raise InvalidArgument(
            "page_token belongs to a listing with other filters",
            [("page_token", "filters changed since the token was issued")],
        )
    return before


class AlertServicer(alert_service_pb2_grpc.AlertServiceServicer):
    def __init__(
        self,
        store: Store,
        book: AlertBook,
        metrics: Metrics,
        on_alerts_changed: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.book = book
        self.metrics = metrics
        self._on_alerts_changed = on_alerts_changed

    @unary("GetAccountRisk")
    def GetAccountRisk(
        self, request: alert_service_pb2.GetAccountRiskRequest, context: grpc.ServicerContext
    ) -> alert_service_pb2.GetAccountRiskResponse:
        if not request.account_id or len(request.account_id.encode()) > MAX_ID_BYTES:
            raise InvalidArgument(
                "account_id is required", [("account_id", f"must be 1 to {MAX_ID_BYTES} bytes")]
            )
        alerts = self.store.account_alerts(request.account_id)
        now = datetime.now(UTC)
        panel = self.store.series(now - RISK_LOOKBACK, now, [request.account_id])
        follows_total = float(panel.metric("follows").sum())
        risk = account_risk(alerts, follows_total)
        return alert_service_pb2.GetAccountRiskResponse(
            account_id=request.account_id,
            risk_score=risk.risk_score,
            severity=risk.severity,
            recommended_action=risk.recommended_action,
            open_alerts=[alert_message(a) for a in risk.open_alerts],
            estimated_fake_follower_share=risk.estimated_fake_follower_share,
            confirmed_alerts=risk.confirmed_alerts,
            dismissed_alerts=risk.dismissed_alerts,
        )

    @unary("ListAlerts")
    def ListAlerts(
        self, request: alert_service_pb2.ListAlertsRequest, context: grpc.ServicerContext
    ) -> alert_service_pb2.ListAlertsResponse:
        if request.page_size < 0:
            raise InvalidArgument("page_size must be >= 0", [("page_size", "must be >= 0")])
        page_size = min(request.page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        flt = _filter_of(request)
        before = _decode_token(request.page_token, flt)
        records = self.store.list_alerts(flt, before, page_size + 1)
        page, more = records[:page_size], len(records) > page_size
        return alert_service_pb2.ListAlertsResponse(
            alerts=[alert_message(r) for r in page],
            next_page_token=_encode_token(page[-1].sequence, flt) if more else "",
        )

    @server_stream("WatchAlerts")
    def WatchAlerts(
        self, request: alert_service_pb2.WatchAlertsRequest, context: grpc.ServicerContext
    ) -> Iterator[alert_service_pb2.Alert]:
        if request.after_sequence < 0:
            raise InvalidArgument(
                "after_sequence must be >= 0", [("after_sequence", "must be >= 0")]
            )
        last = request.after_sequence
        while context.is_active():
            records = self.store.alerts_after(last, request.min_severity, WATCH_BATCH)
            for record in records:
                yield alert_message(record)
                last = record.sequence
            if len(records) < WATCH_BATCH:
                self.book.wait_for_change(last, WATCH_POLL_SECONDS)

    @unary("ReviewAlert")
    def ReviewAlert(
        self, request: alert_service_pb2.ReviewAlertRequest, context: grpc.ServicerContext
    ) -> alert_service_pb2.ReviewAlertResponse:
        violations = []
        if not request.alert_id:
            violations.append(("alert_id", "is required"))
        if request.verdict not in (
            types_pb2.VERDICT_CONFIRMED_FRAUD,
            types_pb2.VERDICT_FALSE_POSITIVE,
        ):
            violations.append(("verdict", "must be CONFIRMED_FRAUD or FALSE_POSITIVE"))
        if not request.reviewer or len(request.reviewer.encode()) > MAX_ID_BYTES:
            violations.append(("reviewer", f"must be 1 to {MAX_ID_BYTES} bytes"))
        if len(request.note.encode()) > MAX_NOTE_BYTES:
            violations.append(("note", f"at most {MAX_NOTE_BYTES} bytes"))
        if violations:
            raise InvalidArgument("review rejected", violations)
        now = datetime.now(UTC)
        record = self.book.review(
            request.alert_id, request.verdict, request.note, request.reviewer, now
        )
        if record is None:
            raise NotFound(f"no alert {request.alert_id!r}")
        self.store.write_review(
            ReviewRecord(
                alert_id=record.alert_id,
                verdict=request.verdict,
                note=request.note,
                reviewer=request.reviewer,
                reviewed_at=now,
                detector=record.detector,
                pattern=record.pattern,
            )
        )
        verdict = types_pb2.Verdict.Name(request.verdict).removeprefix("VERDICT_").lower()
        self.metrics.reviews.labels(record.detector, pattern_name(record.pattern), verdict).inc()
        if self._on_alerts_changed is not None:
            self._on_alerts_changed()
        return alert_service_pb2.ReviewAlertResponse(alert=alert_message(record))
