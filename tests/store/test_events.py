"""events(): raw interaction events back as an EventFrame, and hostile strings kept exact."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from detectors.findings import EventFrame
from server.store import Store
from tests.store.helpers import HOUR, T0, T0_S, events, points

HOSTILE = [
    "it's",
    'say "hi"',
    "back\\slash",
    "trailing\\",
    "new\nline\r\ttab",
    "'; DROP TABLE engagement_buckets; --",
    "%(start)s %s %% {db}",
    "`backtick`",
    "ünïcödé ✓ 账户",
    "\\'",
    "",
]


def test_events_round_trip_sorted_by_time(store: Store) -> None:
    frame = EventFrame(
        actor_ids=np.array(["u2", "u1", "u3"]),
        account_ids=np.array(["acc", "acc", "other"]),
        types=np.array(["share", "follow", "unfollow"]),
        times=np.array([T0_S + 50, T0_S + 10, T0_S + HOUR + 5], dtype=np.int64),
        content_ids=np.array(["post-1", "", ""]),
        sources=np.array(["recommendation", "signup_flow", "profile"]),
        consented=np.array([True, False, True]),
        client_ids=np.array(["dev-9", "dev-1", ""]),
    )
    assert store.write_event_batch("ev", frame)

    got = store.events(T0, T0 + timedelta(hours=2))

    assert got.actor_ids.tolist() == ["u1", "u2", "u3"]
    assert got.account_ids.tolist() == ["acc", "acc", "other"]
    assert got.types.tolist() == ["follow", "share", "unfollow"]
    assert got.times.tolist() == [T0_S + 10, T0_S + 50, T0_S + HOUR + 5]
    assert got.times.dtype == np.int64
    assert got.content_ids.tolist() == ["", "post-1", ""]
    assert got.sources.tolist() == ["signup_flow", "recommendation", "profile"]
    assert got.consented.tolist() == [False, True, True]
    assert got.consented.dtype == np.bool_
    assert got.client_ids.tolist() == ["dev-1", "dev-9", ""]


def test_events_filters(store: Store) -> None:
    store.write_event_batch(
        "ev",
        events(
            [
                ("u1", "a", "follow", 1),
                ("u2", "b", "click", 2),
                ("u3", "a", "click", 3),
                ("u4", "c", "comment", 4),
                ("u5", "a", "follow", 2 * HOUR),  # outside [T0, T0 + 2h)
            ]
        ),
    )
    end = T0 + timedelta(hours=2)

    assert store.events(T0, end, types=["click"]).actor_ids.tolist() == ["u2", "u3"]
    assert store.events(T0, end, account_ids=["a"]).actor_ids.tolist() == ["u1", "u3"]
    both = store.events(T0, end, account_ids=["a", "c"], types=["click", "comment"])
    assert both.actor_ids.tolist() == ["u3", "u4"]
    assert len(store.events(T0, end, account_ids=[])) == 0
    assert len(store.events(T0, end, types=[])) == 0
    assert len(store.events(T0 + timedelta(hours=3), T0 + timedelta(hours=4))) == 0
    with pytest.raises(ValueError, match="unknown event types"):
        store.events(T0, end, types=["retweet"])


def test_hostile_strings_in_events_stored_and_read_back_exactly(store: Store) -> None:
    n = len(HOSTILE)
    frame = EventFrame(
        actor_ids=np.array(HOSTILE, dtype=object),
        account_ids=np.array(HOSTILE, dtype=object),
        types=np.array(["follow"] * n),
        times=np.arange(T0_S, T0_S + n, dtype=np.int64),
        content_ids=np.array(HOSTILE[::-1], dtype=object),
        sources=np.array(HOSTILE, dtype=object),
        consented=np.ones(n, dtype=bool),
        client_ids=np.array(HOSTILE[::-1], dtype=object),
    )
    assert store.write_event_batch("'; DROP TABLE engagement_events; --", frame)

    got = store.events(T0, T0 + timedelta(hours=1))
    assert got.actor_ids.tolist() == HOSTILE
    assert got.account_ids.tolist() == HOSTILE
    assert got.content_ids.tolist() == HOSTILE[::-1]
    assert got.sources.tolist() == HOSTILE
    assert got.client_ids.tolist() == HOSTILE[::-1]

    # Hostile values also travel as query parameters, one at a time.
    for value in HOSTILE:
        one = store.events(T0, T0 + timedelta(hours=1), account_ids=[value])
        assert one.actor_ids.tolist() == [value]


def test_hostile_strings_in_points_and_batch_ids(store: Store) -> None:
    rows = [(value, "follows", i, float(i + 1)) for i, value in enumerate(HOSTILE)]
    for value in HOSTILE:
        assert store.write_metric_batch(value, *points(rows[:1]))
        assert not store.write_metric_batch(value, *points(rows[:1]))
    assert store.write_metric_batch("rows", *points(rows))

    panel = store.series(T0, T0 + timedelta(hours=1), account_ids=HOSTILE)

    assert sorted(panel.account_ids.tolist()) == sorted(HOSTILE)
    by_id = dict(zip(panel.account_ids.tolist(), panel.metric("follows")[:, 0], strict=True))
    expected = {value: float(i + 1) for i, value in enumerate(HOSTILE)}
    expected[HOSTILE[0]] += len(HOSTILE)  # the first row also went in once per hostile batch
    assert by_id == expected
