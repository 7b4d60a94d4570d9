"""series(): hourly panels from streamed points and counted events, on both backends."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from detectors.findings import METRICS
from server.store import Store
from tests.store.helpers import HOUR, T0, events, points


def test_points_round_trip_summed_per_hour(store: Store) -> None:
    rows = [
        ("acc-a", "follows", 10, 1.0),
        ("acc-a", "follows", 20, 2.5),  # same hour: summed
        ("acc-a", "follows", HOUR + 1, 4.0),
        ("acc-b", "clicks", 2 * HOUR + 59, 7.0),
        ("acc-a", "impressions", 3 * HOUR - 1, 9.0),
    ]
    assert store.write_metric_batch("batch-1", *points(rows))

    panel = store.series(T0, T0 + timedelta(hours=4))

    assert panel.account_ids.tolist() == ["acc-a", "acc-b"]
    assert panel.bucket_times.tolist() == [
        (T0 + timedelta(hours=h)).replace(tzinfo=None) for h in range(4)
    ]
    assert panel.bucket_times.dtype == np.dtype("datetime64[s]")
    assert set(panel.values) == set(METRICS)
    for matrix in panel.values.values():
        assert matrix.shape == (2, 4)
        assert matrix.dtype == np.float64
    assert panel.metric("follows").tolist() == [[3.5, 4.0, 0, 0], [0, 0, 0, 0]]
    assert panel.metric("clicks").tolist() == [[0, 0, 0, 0], [0, 0, 7.0, 0]]
    assert panel.metric("impressions").tolist() == [[0, 0, 9.0, 0], [0, 0, 0, 0]]
    assert panel.metric("shares").sum() == 0
    assert panel.judge_from == 0


def test_batches_add_up_in_a_bucket(store: Store) -> None:
    store.write_metric_batch("one", *points([("a", "shares", 5, 2.0)]))
    store.write_metric_batch("two", *points([("a", "shares", 50, 3.0)]))
    store.write_metric_batch("three", *points([("a", "shares", 500, 3.0)]))  # same value again

    panel = store.series(T0, T0 + timedelta(hours=1))

    assert panel.metric("shares").tolist() == [[8.0]]


def test_window_is_half_open_and_start_floored(store: Store) -> None:
    store.write_metric_batch(
        "b",
        *points(
            [
                ("a", "follows", -1, 100.0),  # the hour before: outside
                ("a", "follows", 0, 1.0),
                ("a", "follows", 2 * HOUR, 5.0),  # bucket == end: outside
                ("late", "follows", 2 * HOUR + 10, 5.0),
            ]
        ),
    )

    panel = store.series(T0 + timedelta(minutes=30), T0 + timedelta(hours=2))

    assert panel.n_buckets == 2
    assert panel.bucket_times[0] == np.datetime64(T0.replace(tzinfo=None), "s")
    assert panel.account_ids.tolist() == ["a"]
    assert panel.metric("follows").tolist() == [[1.0, 0.0]]
    assert store.account_count(T0, T0 + timedelta(hours=2)) == 1
    assert store.account_count(T0, T0 + timedelta(hours=3)) == 2


def test_events_only_are_counted(store: Store) -> None:
    store.write_event_batch(
        "ev",
        events(
            [
                ("u1", "acc", "follow", 1),
                ("u2", "acc", "follow", 2),
                ("u3", "acc", "unfollow", 3),
                ("u1", "acc", "click", HOUR),
                ("u1", "acc", "share", HOUR),
                ("u1", "acc", "comment", HOUR),
            ]
        ),
    )

    panel = store.series(T0, T0 + timedelta(hours=2))

    assert panel.account_ids.tolist() == ["acc"]
    assert panel.metric("follows").tolist() == [[2.0, 0.0]]
    assert panel.metric("unfollows").tolist() == [[1.0, 0.0]]
    assert panel.metric("clicks").tolist() == [[0.0, 1.0]]
    assert panel.metric("shares").tolist() == [[0.0, 1.0]]
    assert panel.metric("comments").tolist() == [[0.0, 1.0]]
    assert panel.metric("impressions").tolist() == [[0.0, 0.0]]


@pytest.mark.parametrize(
    ("point_value", "n_events", "expected"),
    [
        (10.0, 0, 10.0),  # points only
        (0.0, 3, 3.0),  # events only (no point row at all)
        (10.0, 3, 10.0),  # sampled events below the full count never lower it
        (2.0, 3, 3.0),  # more events than streamed: the larger wins, never the sum
        (3.0, 3, 3.0),  # both say the same: not doubled
    ],
)
def test_bucket_is_max_of_points_and_events(
    store: Store, point_value: float, n_events: int, expected: float
) -> None:
    if point_value:
        store.write_metric_batch("p", *points([("acc", "clicks", 100, point_value)]))
    if n_events:
        rows = [(f"u{i}", "acc", "click", 200 + i) for i in range(n_events)]
        store.write_event_batch("e", events(rows))

    panel = store.series(T0, T0 + timedelta(hours=1))

    assert panel.metric("clicks").tolist() == [[expected]]


def test_max_rule_sums_each_side_over_batches_first(store: Store) -> None:
    store.write_metric_batch("p1", *points([("acc", "follows", 1, 2.0)]))
    store.write_metric_batch("p2", *points([("acc", "follows", 2, 2.0)]))
    store.write_event_batch("e1", events([("u1", "acc", "follow", 3), ("u2", "acc", "follow", 4)]))
    store.write_event_batch("e2", events([("u3", "acc", "follow", 5)]))

    panel = store.series(T0, T0 + timedelta(hours=1))

    assert panel.metric("follows").tolist() == [[4.0]]  # max(2 + 2, 2 + 1)


def test_account_filter_and_judge_from(store: Store) -> None:
    rows = [(f"acc{i}", "follows", i * HOUR, float(i + 1)) for i in range(4)]
    store.write_metric_batch("b", *points(rows))

    panel = store.series(
        T0,
        T0 + timedelta(hours=4),
        account_ids=["acc3", "acc1", "nobody"],
        judge_from=T0 + timedelta(hours=2),
    )

    assert panel.account_ids.tolist() == ["acc1", "acc3"]
    assert panel.metric("follows").tolist() == [[0, 2.0, 0, 0], [0, 0, 0, 4.0]]
    assert panel.judge_from == 2
    # Between hours: the bucket that started before judge_from stays history.
    half = store.series(T0, T0 + timedelta(hours=4), judge_from=T0 + timedelta(minutes=90))
    assert half.judge_from == 2
    assert store.series(T0, T0 + timedelta(hours=4), account_ids=[]).n_accounts == 0


def test_empty_window(store: Store) -> None:
    panel = store.series(T0, T0 + timedelta(hours=3))

    assert panel.n_accounts == 0
    assert panel.n_buckets == 3
    assert all(m.shape == (0, 3) for m in panel.values.values())
    assert store.account_count(T0, T0 + timedelta(hours=3)) == 0


def test_large_account_filter_applied_after_read(store: Store) -> None:
    rows = [(f"acc{i}", "clicks", 0, 1.0) for i in range(10)]
    store.write_metric_batch("b", *points(rows))
    wanted = [f"acc{i}" for i in range(0, 10, 3)] + [f"x{i}" for i in range(5000)]

    panel = store.series(T0, T0 + timedelta(hours=1), account_ids=wanted)

    assert panel.account_ids.tolist() == ["acc0", "acc3", "acc6", "acc9"]
    assert panel.metric("clicks").tolist() == [[1.0]] * 4
