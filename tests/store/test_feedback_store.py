"""Store parts of feedback and late data: operating point changes, arrivals, job marks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from server.feedback import OperatingPointChange
from server.store import Store, open_store
from tests.store.helpers import HOUR, T0, events, points


def change(
    change_id: int, new_value: float, old_value: float, verdict: int = 2
) -> OperatingPointChange:
    return OperatingPointChange(
        detector="seasonal_baseline",
        pattern=1,
        change_id=change_id,
        changed_at=T0 + timedelta(seconds=change_id),
        verdict=verdict,
        alert_id=f"alr_{change_id}",
        old_value=old_value,
        new_value=new_value,
    )


def test_the_latest_operating_point_change_is_the_current_point(
    store: Store, store_url: str
) -> None:
    assert store.operating_points() == {}
    # Written out of order: the highest change_id wins, not the last insert.
    store.write_operating_point_change(change(2, 0.6, 0.55))
    store.write_operating_point_change(change(1, 0.55, 0.5))
    other = OperatingPointChange("lockstep", 4, 1, T0, 1, "alr_x", 0.1, 0.05)
    store.write_operating_point_change(other)
    assert store.operating_points() == {("seasonal_baseline", 1): 0.6, ("lockstep", 4): 0.05}
    trail = store.operating_point_changes("seasonal_baseline", 1)
    assert [c.change_id for c in trail] == [1, 2]
    assert trail[1] == change(2, 0.6, 0.55)

    reopened = open_store(store_url)  # another process's view: the point is in the store
    try:
        assert reopened.operating_points()[("seasonal_baseline", 1)] == 0.6
    finally:
        reopened.close()


def test_writes_record_the_hours_they_brought_data_for(store: Store) -> None:
    # Arrivals are stamped with the wall clock when written, whatever hour the data is for.
    started = datetime.now(UTC).replace(microsecond=0)
    store.write_metric_batch(
        "p1", *points([("a", "follows", 0, 3.0), ("a", "clicks", 2 * HOUR + 5, 1.0)])
    )
    store.write_event_batch("e1", events([("u1", "b", "follow", 5 * HOUR + 10)]))
    store.write_metric_batch("p1", *points([("a", "follows", 9 * HOUR, 3.0)]))  # duplicate: nothing
    window = (T0 - timedelta(hours=1), T0 + timedelta(hours=24))
    arrived = store.arrived_buckets(started, *window)
    assert arrived == [T0, T0 + timedelta(hours=2), T0 + timedelta(hours=5)]
    assert store.arrived_buckets(started, T0 + timedelta(hours=1), T0 + timedelta(hours=5)) == [
        T0 + timedelta(hours=2)
    ]
    assert store.arrived_buckets(datetime.now(UTC) + timedelta(minutes=1), *window) == []


def test_job_marks_keep_the_latest_value(store: Store) -> None:
    assert store.read_mark("schedule_arrivals") is None
    store.write_mark("schedule_arrivals", T0)
    store.write_mark("schedule_arrivals", T0 + timedelta(hours=3))
    store.write_mark("other", T0 - timedelta(days=1))
    assert store.read_mark("schedule_arrivals") == T0 + timedelta(hours=3)
    assert store.read_mark("other") == T0 - timedelta(days=1)
