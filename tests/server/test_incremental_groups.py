"""A lockstep group that grows between scheduled runs keeps its alert, though the second run
reads only the new week: the runner carries the detector's group state from run to run."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from engagewatch.v1 import alert_service_pb2
from graphs.synthetic import T0, make_organic, plant_lockstep, to_frame
from server.alerts import AlertBook
from server.detection import DetectionRunner
from server.metrics import Metrics
from server.records import AlertFilter, EventBatch
from server.store import Store, open_store
from tests.conftest import drop_database

WEEK = 7 * 86_400


@pytest.fixture
def store(chdb_url: str) -> Iterator[Store]:
    opened = open_store(chdb_url)
    opened.migrate()
    yield opened
    drop_database(opened)
    opened.close()


def week_start(week: int) -> datetime:
    return datetime.fromtimestamp(int(T0) + week * WEEK, UTC)


def test_a_growing_group_keeps_its_alert_across_runs(store: Store) -> None:
    organic = make_organic(seed=5, n_users=5_000, n_accounts=500)
    farm = plant_lockstep(organic, seed=61)
    # The next week: the same farm, 20 accounts bigger, serving the same customers again.
    later = plant_lockstep(
        organic, seed=62, n_members=70, prefix="lk", targets=np.array(sorted(farm.targets))
    )
    first_week = to_frame(organic.rows, farm.rows)
    second_week = to_frame(organic.rows, later.rows)
    second_week = replace(second_week, times=second_week.times + WEEK)
    runner = DetectionRunner(
        store, AlertBook(store), Metrics(CollectorRegistry()), history=timedelta(hours=1)
    )

    def lockstep_alerts() -> dict[str, int]:
        alerts = store.list_alerts(AlertFilter(detector="lockstep"), None, 100)
        return {a.alert_id: a.sequence for a in alerts}

    store.write_event_batches([EventBatch("week-1", first_week)])
    runner.run(week_start(0), week_start(1), detector_names=["lockstep"])
    before = lockstep_alerts()
    assert len(before) == 1

    store.write_event_batches([EventBatch("week-2", second_week)])
    runner.run(week_start(1), week_start(2), detector_names=["lockstep"])
    after = lockstep_alerts()
    # The same alert, updated (a new version), not a second one.
    assert after.keys() == before.keys()
    (alert_id,) = after
    assert after[alert_id] > before[alert_id]
    # Its members are both weeks' farm accounts: the second run alone saw only the new part.
    member_role = alert_service_pb2.GROUP_ROLE_MEMBER
    _, total, members = store.alert_members(alert_id, member_role, None, 0, 10_000)
    assert total == len(members) == len(farm.members | later.members)
    assert set(members) == farm.members | later.members
