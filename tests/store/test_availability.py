"""A store that loses its server raises StoreUnavailable, then works again once it is back."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from server.errors import StoreUnavailable
from server.store import open_store
from tests.conftest import ClickHouseServer, drop_database
from tests.store.helpers import T0, events, points


def test_clickhouse_down_then_back(restartable_clickhouse: ClickHouseServer) -> None:
    store = open_store(f"{restartable_clickhouse.url}/avail_{uuid.uuid4().hex[:12]}")
    try:
        store.migrate()
        assert store.write_metric_batch("before", *points([("a", "clicks", 1, 2.0)]))

        restartable_clickhouse.stop()

        with pytest.raises(StoreUnavailable) as caught:
            store.ping()
        assert caught.value.__cause__ is not None
        with pytest.raises(StoreUnavailable):
            store.series(T0, T0 + timedelta(hours=1))
        with pytest.raises(StoreUnavailable):
            store.write_metric_batch("during", *points([("a", "clicks", 1, 1.0)]))
        with pytest.raises(StoreUnavailable):
            store.write_event_batch("during", events([("u", "a", "click", 1)]))
        with pytest.raises(StoreUnavailable):
            store.max_alert_sequence()

        restartable_clickhouse.start()

        # More calls than pooled clients, so every client has to find its way back.
        for _ in range(10):
            store.ping()
        assert store.write_metric_batch("during", *points([("a", "clicks", 1, 1.0)]))
        assert not store.write_metric_batch("before", *points([("a", "clicks", 1, 2.0)]))
        panel = store.series(T0, T0 + timedelta(hours=1))
        assert panel.metric("clicks").tolist() == [[3.0]]
    finally:
        store.close()


def test_closed_store_is_unavailable(store_url: str) -> None:
    store = open_store(store_url)
    store.migrate()
    drop_database(store)
    store.close()

    with pytest.raises(StoreUnavailable):
        store.ping()
    with pytest.raises(StoreUnavailable):
        store.write_metric_batch("b", *points([("a", "clicks", 1, 1.0)]))
    store.close()  # closing twice is harmless


def test_chdb_sql_error_becomes_unavailable(chdb_url: str) -> None:
    store = open_store(chdb_url)
    try:
        with pytest.raises(StoreUnavailable):
            store.series(T0, T0 + timedelta(hours=1))  # no schema yet
    finally:
        store.close()
