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
from server.feedback import OperatingPoints
from server.metrics import Metrics
from server.records import AlertFilter, ReviewRecord
from server.risk import account_risk
from server.store import Store
from server.validation import MAX_ID_BYTES

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
DEFAULT_MEMBER_PAGE = 1000  # ids per ListAlertMembers page
MAX_MEMBER_PAGE = 10_000
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


def _encode_member_token(alert_id: str, role: int, sequence: int, start: int) -> str:
    raw = json.dumps({"alert": alert_id, "role": role, "sequence": sequence, "start": start})
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _decode_member_token(token: str, alert_id: str, role: int) -> tuple[int | None, int]:
    """(list version, first position) of a ListAlertMembers page token; (None, 0) for none."""
    if not token:
        return None, 0
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        same = data["alert"] == alert_id and int(data["role"]) == role
        sequence, start = int(data["sequence"]), int(data["start"])
    except (binascii.Error, ValueError, KeyError, TypeError) as err:
        raise InvalidArgument(
            "page_token is not one this service issued", [("page_token", "malformed")]
        ) from err
    if not same or start < 0:
        raise InvalidArgument(
            "page_token belongs to another alert or role",
            [("page_token", "issued for another alert_id or role")],
        )
    return sequence, start


class AlertServicer(alert_service_pb2_grpc.AlertServiceServicer):
    def __init__(
        self,
        store: Store,
        book: AlertBook,
        metrics: Metrics,
        on_alerts_changed: Callable[[], None] | None = None,
        operating_points: OperatingPoints | None = None,
    ) -> None:
        self.store = store
        self.book = book
        self.metrics = metrics
        self._on_alerts_changed = on_alerts_changed
        # Verdicts move the detectors' operating points (see server/feedback.py).
        self._operating_points = operating_points

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

    @unary("ListAlertMembers")
    def ListAlertMembers(
        self, request: alert_service_pb2.ListAlertMembersRequest, context: grpc.ServicerContext
    ) -> alert_service_pb2.ListAlertMembersResponse:
        if not request.alert_id or len(request.alert_id.encode()) > MAX_ID_BYTES:
            raise InvalidArgument(
                "alert_id is required", [("alert_id", f"must be 1 to {MAX_ID_BYTES} bytes")]
            )
        if request.page_size < 0:
            raise InvalidArgument("page_size must be >= 0", [("page_size", "must be >= 0")])
        if request.role not in alert_service_pb2.GroupRole.values():
            raise InvalidArgument("unknown role", [("role", "must be MEMBER or TARGET")])
        role = request.role or alert_service_pb2.GROUP_ROLE_MEMBER
        page_size = min(request.page_size or DEFAULT_MEMBER_PAGE, MAX_MEMBER_PAGE)
        sequence, start = _decode_member_token(request.page_token, request.alert_id, role)
        alert = self.store.get_alerts([request.alert_id]).get(request.alert_id)
        if alert is None:
            raise NotFound(f"no alert {request.alert_id!r}")
        version, total, ids = self.store.alert_members(
            request.alert_id, role, sequence, start, page_size
        )
        if version == 0:
            # No stored list (not a group alert, or raised before lists were stored): the
            # alert's own sample is the whole list there is.
            is_member = role == alert_service_pb2.GROUP_ROLE_MEMBER
            sample = alert.member_ids if is_member else alert.target_ids
            version, total, ids = alert.sequence, len(sample), sample[start : start + page_size]
        stop = start + len(ids)
        return alert_service_pb2.ListAlertMembersResponse(
            ids=ids,
            next_page_token=(
                _encode_member_token(request.alert_id, role, version, stop) if stop < total else ""
            ),
            total_size=total,
            sequence=version,
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
        outcome = self.book.review_verdict(
            request.alert_id, request.verdict, request.note, request.reviewer, now
        )
        if outcome is None:
            raise NotFound(f"no alert {request.alert_id!r}")
        record = outcome.record
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
        if self._operating_points is not None:
            self._operating_points.record_verdict(
                record.detector,
                record.pattern,
                request.verdict,
                outcome.previous_verdict,
                record.alert_id,
                now,
            )
        if self._on_alerts_changed is not None:
            self._on_alerts_changed()
        return alert_service_pb2.ReviewAlertResponse(alert=alert_message(record))
