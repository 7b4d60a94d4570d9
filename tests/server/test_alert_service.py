"""AlertService over a real server: listing, paging, watching, reviewing, risk."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import grpc
import pytest

from engagewatch.v1 import alert_service_pb2, alert_service_pb2_grpc, types_pb2
from server.app import Service
from tests.server.conftest import finding

Req = alert_service_pb2


def stub(channel: grpc.Channel) -> alert_service_pb2_grpc.AlertServiceStub:
    return alert_service_pb2_grpc.AlertServiceStub(channel)


def test_redetection_updates_the_same_alert(channel: grpc.Channel, service: Service) -> None:
    service.book.apply([finding(score=0.8)])
    first = stub(channel).ListAlerts(Req.ListAlertsRequest()).alerts
    service.book.apply([finding(score=0.8)])  # nothing changed: no new version
    service.book.apply([finding(score=0.97, observed=900)])
    alerts = stub(channel).ListAlerts(Req.ListAlertsRequest()).alerts
    assert len(first) == len(alerts) == 1
    assert alerts[0].alert_id == first[0].alert_id
    assert alerts[0].sequence == first[0].sequence + 1
    assert alerts[0].severity == types_pb2.SEVERITY_CRITICAL
    assert alerts[0].observed == 900
    assert alerts[0].created_at == first[0].created_at


def test_alert_carries_evidence_explanation_and_a_capped_action(
    channel: grpc.Channel, service: Service
) -> None:
    service.book.apply([finding(score=0.99)])
    (alert,) = stub(channel).ListAlerts(Req.ListAlertsRequest()).alerts
    assert alert.explanation and alert.evidence[0].kind == "observed_vs_expected"
    assert alert.pattern == types_pb2.PATTERN_FAKE_FOLLOWERS
    assert alert.metric == types_pb2.METRIC_FOLLOWS
    assert alert.state == types_pb2.ALERT_STATE_OPEN
    # No reviewer has confirmed anything: automation stops at SUSPEND_UPDATES.
    assert alert.recommended_action == types_pb2.ACTION_SUSPEND_UPDATES


def test_group_alerts_keep_a_bounded_sample_and_the_full_counts(
    channel: grpc.Channel, service: Service
) -> None:
    members = tuple(f"actor{i}" for i in range(500))
    targets = tuple(f"acct{i}" for i in range(30))
    service.book.apply(
        [
            finding(
                pattern="lockstep_group",
                detector="lockstep",
                metric=None,
                members=members,
                targets=targets,
            )
        ]
    )
    (alert,) = stub(channel).ListAlerts(Req.ListAlertsRequest()).alerts
    assert (alert.member_count, alert.target_count) == (500, 30)
    assert len(alert.member_ids) == 200 and list(alert.target_ids) == list(targets)


def test_list_filters(channel: grpc.Channel, service: Service) -> None:
    service.book.apply(
        [
            finding("a1", score=0.75),
            finding("a2", score=0.99, pattern="fake_traffic", metric="clicks"),
            finding("a3", score=0.9, detector="partner_coherence", pattern="fake_engagement"),
        ]
    )
    alerts = stub(channel)

    def accounts(**filters: object) -> set[str]:
        return {a.account_id for a in alerts.ListAlerts(Req.ListAlertsRequest(**filters)).alerts}

    assert accounts() == {"a1", "a2", "a3"}
    assert accounts(account_id="a2") == {"a2"}
    assert accounts(detector="partner_coherence") == {"a3"}
    assert accounts(pattern=types_pb2.PATTERN_FAKE_TRAFFIC) == {"a2"}
    assert accounts(min_severity=types_pb2.SEVERITY_HIGH) == {"a2", "a3"}
    assert accounts(state=types_pb2.ALERT_STATE_DISMISSED) == set()
    future = Req.ListAlertsRequest()
    future.since.FromDatetime(datetime(2100, 1, 1, tzinfo=UTC))
    assert list(alerts.ListAlerts(future).alerts) == []


def test_pagination_walks_every_alert_once_newest_first(
    channel: grpc.Channel, service: Service
) -> None:
    service.book.apply([finding(f"acct{i}") for i in range(23)])
    seen: list[alert_service_pb2.Alert] = []
    token = ""
    pages = 0
    while True:
        page = stub(channel).ListAlerts(Req.ListAlertsRequest(page_size=5, page_token=token))
        seen.extend(page.alerts)
        pages += 1
        token = page.next_page_token
        if not token:
            break
    assert pages == 5
    sequences = [a.sequence for a in seen]
    assert sequences == sorted(sequences, reverse=True) and len(set(sequences)) == 23


def test_page_tokens_are_checked(channel: grpc.Channel, service: Service) -> None:
    service.book.apply([finding(f"acct{i}") for i in range(3)])
    page = stub(channel).ListAlerts(Req.ListAlertsRequest(page_size=1))
    for request in (
        Req.ListAlertsRequest(page_token="not-a-token"),
        Req.ListAlertsRequest(page_token=page.next_page_token, account_id="acct1"),
        Req.ListAlertsRequest(page_size=-1),
    ):
        with pytest.raises(grpc.RpcError) as caught:
            stub(channel).ListAlerts(request)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_watch_resumes_after_a_sequence_without_gaps(
    channel: grpc.Channel, service: Service
) -> None:
    service.book.apply([finding(f"acct{i}") for i in range(6)])
    alerts = stub(channel)
    stream = alerts.WatchAlerts(Req.WatchAlertsRequest(after_sequence=0))
    first = [next(stream) for _ in range(6)]
    stream.cancel()
    assert [a.sequence for a in first] == sorted(a.sequence for a in first)
    resume_after = first[2].sequence
    service.book.apply([finding(f"new{i}") for i in range(2)])  # raised while disconnected
    resumed = alerts.WatchAlerts(Req.WatchAlertsRequest(after_sequence=resume_after))
    got = [next(resumed) for _ in range(5)]
    assert [a.account_id for a in got] == [*(a.account_id for a in first[3:]), "new0", "new1"]
    assert [a.sequence for a in got] == sorted(a.sequence for a in got)
    assert got[0].sequence > resume_after

    # Live: an alert raised while the stream is open arrives on it.
    received: list[alert_service_pb2.Alert] = []
    reader = threading.Thread(target=lambda: received.append(next(resumed)), daemon=True)
    reader.start()
    service.book.apply([finding("live")])
    reader.join(timeout=10)
    resumed.cancel()
    assert [a.account_id for a in received] == ["live"]


def test_watch_filters_by_severity(channel: grpc.Channel, service: Service) -> None:
    service.book.apply([finding("low", score=0.5), finding("critical", score=0.99)])
    stream = stub(channel).WatchAlerts(Req.WatchAlertsRequest(min_severity=types_pb2.SEVERITY_HIGH))
    assert next(stream).account_id == "critical"
    stream.cancel()


def test_review_confirms_or_dismisses_and_is_counted(
    channel: grpc.Channel, service: Service
) -> None:
    service.book.apply([finding("a1", score=0.99), finding("a2", score=0.99)])
    alerts = {a.account_id: a for a in stub(channel).ListAlerts(Req.ListAlertsRequest()).alerts}
    confirmed = (
        stub(channel)
        .ReviewAlert(
            Req.ReviewAlertRequest(
                alert_id=alerts["a1"].alert_id,
                verdict=types_pb2.VERDICT_CONFIRMED_FRAUD,
                note="bought from a panel",
                reviewer="ana",
            )
        )
        .alert
    )
    assert confirmed.state == types_pb2.ALERT_STATE_CONFIRMED
    assert confirmed.reviewer == "ana" and confirmed.sequence > alerts["a1"].sequence
    # A confirmed critical alert may now go past the automated cap.
    assert confirmed.recommended_action == types_pb2.ACTION_STOP_ADS
    dismissed = (
        stub(channel)
        .ReviewAlert(
            Req.ReviewAlertRequest(
                alert_id=alerts["a2"].alert_id,
                verdict=types_pb2.VERDICT_FALSE_POSITIVE,
                reviewer="ana",
            )
        )
        .alert
    )
    assert dismissed.state == types_pb2.ALERT_STATE_DISMISSED
    assert dismissed.recommended_action == types_pb2.ACTION_UNSPECIFIED
    # Detected again, a dismissed alert stays dismissed.
    service.book.apply([finding("a2", score=0.99, observed=1234)])
    (again,) = stub(channel).ListAlerts(Req.ListAlertsRequest(account_id="a2")).alerts
    assert again.state == types_pb2.ALERT_STATE_DISMISSED
    registry = service.metrics.registry
    labels = {"detector": "seasonal_baseline", "pattern": "fake_followers"}
    assert (
        registry.get_sample_value(
            "engagewatch_reviews_total", {**labels, "verdict": "confirmed_fraud"}
        )
        == 1
    )
    assert (
        registry.get_sample_value(
            "engagewatch_reviews_total", {**labels, "verdict": "false_positive"}
        )
        == 1
    )
    assert [r.verdict for r in service.store.reviews(alerts["a1"].alert_id)] == [
        types_pb2.VERDICT_CONFIRMED_FRAUD
    ]


def test_review_errors(channel: grpc.Channel, service: Service) -> None:
    service.book.apply([finding("a1")])
    (alert,) = stub(channel).ListAlerts(Req.ListAlertsRequest()).alerts
    cases = {
        grpc.StatusCode.NOT_FOUND: Req.ReviewAlertRequest(
            alert_id="alr_missing", verdict=types_pb2.VERDICT_FALSE_POSITIVE, reviewer="r"
        ),
        grpc.StatusCode.INVALID_ARGUMENT: Req.ReviewAlertRequest(
            alert_id=alert.alert_id, reviewer="r"
        ),
    }
    for code, request in cases.items():
        with pytest.raises(grpc.RpcError) as caught:
            stub(channel).ReviewAlert(request)
        assert caught.value.code() == code
    with pytest.raises(grpc.RpcError) as caught:
        stub(channel).ReviewAlert(
            Req.ReviewAlertRequest(
                alert_id=alert.alert_id, verdict=types_pb2.VERDICT_FALSE_POSITIVE
            )
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_account_risk_combines_open_and_confirmed_alerts(
    channel: grpc.Channel, service: Service
) -> None:
    alerts = stub(channel)
    clean = alerts.GetAccountRisk(Req.GetAccountRiskRequest(account_id="nobody"))
    assert clean.risk_score == 0 and clean.recommended_action == types_pb2.ACTION_UNSPECIFIED

    service.book.apply([finding("a1", score=0.7, key="k1")])
    one = alerts.GetAccountRisk(Req.GetAccountRiskRequest(account_id="a1"))
    service.book.apply([finding("a1", score=0.9, key="k2", pattern="fake_traffic")])
    two = alerts.GetAccountRisk(Req.GetAccountRiskRequest(account_id="a1"))
    assert 0 < one.risk_score < two.risk_score <= 1
    assert len(two.open_alerts) == 2
    top = max(two.open_alerts, key=lambda a: a.score)
    alerts.ReviewAlert(
        Req.ReviewAlertRequest(
            alert_id=top.alert_id, verdict=types_pb2.VERDICT_CONFIRMED_FRAUD, reviewer="r"
        )
    )
    reviewed = alerts.GetAccountRisk(Req.GetAccountRiskRequest(account_id="a1"))
    assert reviewed.confirmed_alerts == 1 and len(reviewed.open_alerts) == 1
    assert reviewed.risk_score > two.risk_score

    with pytest.raises(grpc.RpcError) as caught:
        alerts.GetAccountRisk(Req.GetAccountRiskRequest())
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
