"""ListAlertMembers over a real server on both stores: the full lists of a group alert.

The group comes from the real coordinated sharing detector: a 300-account sharing ring, more
than the 200 ids an alert carries. A later run sees the ring grown: the same alert is updated
(same alert_id) and its full list follows, while a listing already under way stays on the
version it started with.
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import numpy as np
import pytest

from detectors.findings import Finding
from engagewatch.v1 import alert_service_pb2, alert_service_pb2_grpc
from graphs.coordinated_sharing import CoordinatedSharingDetector
from graphs.synthetic import Organic, Rows, make_organic, plant_coordinated, to_frame
from server.alerts import alert_id_for
from server.app import Service
from tests.conftest import drop_database
from tests.server.conftest import finding, make_service

Req = alert_service_pb2
MEMBER, TARGET = Req.GROUP_ROLE_MEMBER, Req.GROUP_ROLE_TARGET


@pytest.fixture(scope="module")
def organic() -> Organic:
    return make_organic(n_users=8_000, n_accounts=800)


@pytest.fixture(scope="module")
def runs(organic: Organic) -> tuple[Finding, Finding]:
    """The ring's finding in a first run, and in a later run with 40 more accounts."""
    ring = plant_coordinated(organic, seed=31, n_members=300)
    frame = to_frame(ring.rows)
    grown = Rows()
    newcomers = np.array([f"bot-late{i:02d}" for i in range(40)])
    rng = np.random.default_rng(32)
    for content in np.unique(frame.content_ids[np.char.find(frame.content_ids, "ring") >= 0]):
        on = frame.content_ids == content
        t0, owner = int(frame.times[on].min()), str(frame.account_ids[on][0])
        grown.add(newcomers, owner, "share", t0 + rng.integers(0, 20, 40), content=content)
    detector = CoordinatedSharingDetector()
    (first,) = detector.detect(to_frame(organic.rows, ring.rows))
    (second,) = detector.detect(to_frame(organic.rows, ring.rows, grown))
    return first, second


@pytest.fixture
def running(store_url: str) -> Iterator[Service]:
    service = make_service(store_url)
    yield service
    drop_database(service.store)
    service.stop(grace=0)


@pytest.fixture
def stub(running: Service) -> Iterator[alert_service_pb2_grpc.AlertServiceStub]:
    with grpc.insecure_channel(running.target) as channel:
        grpc.channel_ready_future(channel).result(timeout=10)
        yield alert_service_pb2_grpc.AlertServiceStub(channel)


def _all(
    stub: alert_service_pb2_grpc.AlertServiceStub, alert_id: str, role: int, page_size: int
) -> tuple[list[str], list[alert_service_pb2.ListAlertMembersResponse]]:
    ids: list[str] = []
    pages = []
    token = ""
    while True:
        page = stub.ListAlertMembers(
            Req.ListAlertMembersRequest(
                alert_id=alert_id, role=role, page_size=page_size, page_token=token
            )
        )
        pages.append(page)
        ids.extend(page.ids)
        token = page.next_page_token
        if not token:
            return ids, pages


def test_full_lists_page_through_and_follow_the_group_growing(
    running: Service, stub: alert_service_pb2_grpc.AlertServiceStub, runs: tuple[Finding, Finding]
) -> None:
    first, second = runs
    assert first.member_count == 300 and second.member_count == 340
    assert first.key == second.key  # the grown group is the same finding ...

    running.book.apply([first])
    (alert,) = stub.ListAlerts(Req.ListAlertsRequest()).alerts
    assert alert.alert_id == alert_id_for(first.detector, first.key)
    assert len(alert.member_ids) == 200 and alert.member_count == 300
    members, pages = _all(stub, alert.alert_id, MEMBER, page_size=120)
    assert members == list(first.member_ids)
    assert [len(p.ids) for p in pages] == [120, 120, 60]
    assert {p.total_size for p in pages} == {300} and {p.sequence for p in pages} == {
        alert.sequence
    }
    assert members[:200] == list(alert.member_ids)  # the alert's sample is the list's head
    targets, _ = _all(stub, alert.alert_id, TARGET, page_size=1000)
    assert targets == list(first.target_ids) and len(targets) == alert.target_count

    # A listing under way when the next run updates the group stays on its version.
    under_way = stub.ListAlertMembers(
        Req.ListAlertMembersRequest(alert_id=alert.alert_id, page_size=100)
    )
    running.book.apply([second])
    (updated,) = stub.ListAlerts(Req.ListAlertsRequest()).alerts
    assert updated.alert_id == alert.alert_id  # ... so it keeps its alert
    assert updated.sequence > alert.sequence and updated.member_count == 340
    rest = stub.ListAlertMembers(
        Req.ListAlertMembersRequest(
            alert_id=alert.alert_id, page_size=1000, page_token=under_way.next_page_token
        )
    )
    assert list(under_way.ids) + list(rest.ids) == list(first.member_ids)
    assert rest.sequence == alert.sequence and not rest.next_page_token

    grown, _ = _all(stub, alert.alert_id, MEMBER, page_size=1000)
    assert grown == list(second.member_ids) and len(grown) == 340
    assert set(first.member_ids) < set(grown)


def test_alert_without_a_stored_list_and_bad_requests(
    running: Service, stub: alert_service_pb2_grpc.AlertServiceStub
) -> None:
    running.book.apply([finding(score=0.9)])  # a metric alert: no group lists
    (alert,) = stub.ListAlerts(Req.ListAlertsRequest()).alerts
    empty = stub.ListAlertMembers(Req.ListAlertMembersRequest(alert_id=alert.alert_id))
    assert list(empty.ids) == [] and empty.total_size == 0 and not empty.next_page_token

    with pytest.raises(grpc.RpcError) as missing:
        stub.ListAlertMembers(Req.ListAlertMembersRequest(alert_id="alr_nope"))
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    for bad in (
        Req.ListAlertMembersRequest(),
        Req.ListAlertMembersRequest(alert_id=alert.alert_id, page_size=-1),
        Req.ListAlertMembersRequest(alert_id=alert.alert_id, page_token="not-a-token"),
    ):
        with pytest.raises(grpc.RpcError) as err:
            stub.ListAlertMembers(bad)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
