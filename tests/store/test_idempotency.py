"""A re-sent batch is never counted twice, even after a crash between rows and marker."""

from __future__ import annotations

import threading
from datetime import timedelta

from server.records import EventBatch, MetricBatch
from server.store import Store
from server.store_sql import KIND_EVENTS, KIND_POINTS
from tests.store.helpers import HOUR, T0, events, points


def test_duplicate_metric_batch_is_not_written(store: Store) -> None:
    batch = points([("a", "follows", 1, 5.0), ("a", "follows", HOUR, 1.0)])

    assert store.write_metric_batch("dup", *batch) is True
    assert store.write_metric_batch("dup", *batch) is False
    # Different content under a used id is still a duplicate: nothing of it lands.
    assert store.write_metric_batch("dup", *points([("b", "clicks", 1, 9.0)])) is False

    panel = store.series(T0, T0 + timedelta(hours=2))
    assert panel.account_ids.tolist() == ["a"]
    assert panel.metric("follows").tolist() == [[5.0, 1.0]]


def test_duplicate_event_batch_is_not_written(store: Store) -> None:
    batch = events([("u1", "a", "click", 1), ("u2", "a", "click", 2)])

    assert store.write_event_batch("dup", batch) is True
    assert store.write_event_batch("dup", batch) is False

    assert store.series(T0, T0 + timedelta(hours=1)).metric("clicks").tolist() == [[2.0]]
    assert len(store.events(T0, T0 + timedelta(hours=1))) == 2


def test_metric_and_event_batch_ids_are_separate(store: Store) -> None:
    assert store.write_metric_batch("same", *points([("a", "clicks", 1, 1.0)]))
    assert store.write_event_batch("same", events([("u", "a", "follow", 1)]))


def test_metric_rows_written_without_marker_are_not_counted_twice(store: Store) -> None:
    batch = points([("a", "shares", 1, 2.0), ("a", "shares", 2, 3.0), ("b", "shares", 3, 1.0)])
    store.write_metric_batch("other", *points([("a", "shares", 4, 10.0)]))
    # The process died after writing the rows, before recording the batch as done ...
    attempt = store._begin_attempt(KIND_POINTS, "crashed")
    store._write_metric_rows(attempt, *batch)
    # ... so the platform re-sends it, and it is accepted as new.
    assert store.write_metric_batch("crashed", *batch) is True
    assert store.write_metric_batch("crashed", *batch) is False

    panel = store.series(T0, T0 + timedelta(hours=1))

    assert panel.account_ids.tolist() == ["a", "b"]
    assert panel.metric("shares").tolist() == [[15.0], [1.0]]
    assert store.account_count(T0, T0 + timedelta(hours=1)) == 2


def test_half_written_attempts_are_discarded(store: Store) -> None:
    batch = points([("a", "follows", 1, 2.0), ("b", "follows", 2, 3.0)])
    # Two attempts died: one after half the rows, one after all of them.
    first = store._begin_attempt(KIND_POINTS, "flaky")
    store._write_metric_rows(first, *(column[:1] for column in batch))
    store._begin_attempt(KIND_POINTS, "flaky")
    store._write_metric_rows(store._begin_attempt(KIND_POINTS, "flaky"), *batch)
    # Only-half-written data of a batch that never finished: here it is "c", seen only then.
    store._write_metric_rows(first, *points([("c", "follows", 3, 1.0)]))

    assert store.write_metric_batch("flaky", *batch) is True

    panel = store.series(T0, T0 + timedelta(hours=1))
    assert panel.account_ids.tolist() == ["a", "b"]
    assert panel.metric("follows").tolist() == [[2.0], [3.0]]
    assert store.account_count(T0, T0 + timedelta(hours=1)) == 2


def test_event_rows_written_without_marker_are_not_counted_twice(store: Store) -> None:
    batch = events([("u1", "a", "follow", 1), ("u2", "a", "follow", 2), ("u3", "b", "share", 3)])
    store._write_event_rows(store._begin_attempt(KIND_EVENTS, "crashed"), batch)
    store._write_event_rows(store._begin_attempt(KIND_EVENTS, "crashed"), batch)
    assert store.write_event_batch("crashed", batch) is True

    panel = store.series(T0, T0 + timedelta(hours=1))
    assert panel.metric("follows").tolist() == [[2.0], [0.0]]
    assert panel.metric("shares").tolist() == [[0.0], [1.0]]
    found = store.events(T0, T0 + timedelta(hours=1))
    assert found.actor_ids.tolist() == ["u1", "u2", "u3"]


def test_concurrent_writes_of_one_batch_write_once(store: Store) -> None:
    batch = points([("a", "clicks", i, 1.0) for i in range(50)])
    results: list[bool] = []
    lock = threading.Lock()
    start = threading.Barrier(6)

    def send() -> None:
        start.wait()
        written = store.write_metric_batch("raced", *batch)
        with lock:
            results.append(written)

    threads = [threading.Thread(target=send) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(results) == [False] * 5 + [True]
    assert store.series(T0, T0 + timedelta(hours=1)).metric("clicks").tolist() == [[50.0]]


def test_concurrent_distinct_batches_all_count(store: Store) -> None:
    def send(i: int) -> None:
        store.write_metric_batch(f"b{i}", *points([(f"acc{i % 3}", "follows", i, 1.0)]))

    threads = [threading.Thread(target=send, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    panel = store.series(T0, T0 + timedelta(hours=1))
    assert panel.metric("follows").tolist() == [[4.0], [4.0], [4.0]]


def test_many_batches_in_one_write_follow_the_same_rules(store: Store) -> None:
    def batch(batch_id: str, value: float, account: str = "a") -> MetricBatch:
        return MetricBatch(batch_id, *points([(account, "clicks", 1, value)]))

    assert store.write_metric_batch("old", *points([("a", "clicks", 1, 1.0)]))
    # A crashed earlier attempt of "retry" left rows behind that must not count.
    store._write_metric_rows(
        store._begin_attempt(KIND_POINTS, "retry"), *points([("a", "clicks", 1, 100.0)])
    )
    written = store.write_metric_batches(
        [batch("new", 2.0), batch("old", 50.0), batch("new", 70.0), batch("retry", 4.0, "b")]
    )
    assert written == [True, False, False, True]
    panel = store.series(T0, T0 + timedelta(hours=1))
    assert panel.account_ids.tolist() == ["a", "b"]
    assert panel.metric("clicks").tolist() == [[3.0], [4.0]]

    first = EventBatch("e1", events([("u1", "a", "share", 1), ("u2", "a", "share", 2)]))
    second = EventBatch("e2", events([("u1", "a", "share", 3)]))
    assert store.write_event_batches([first, second, first]) == [True, True, False]
    assert store.write_event_batches([second]) == [False]
    assert len(store.events(T0, T0 + timedelta(hours=1))) == 3
    assert store.series(T0, T0 + timedelta(hours=1)).metric("shares").tolist() == [[3.0], [0.0]]
