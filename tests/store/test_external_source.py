"""series() from a platform's own wide ClickHouse table through a column mapping."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from urllib.parse import urlparse

import pytest
from clickhouse_driver import Client

from server.config import ExternalSource
from server.store import Store, open_store
from tests.store.helpers import HOUR, T0, T0_S


@pytest.fixture
def platform_table(clickhouse_url: str) -> Iterator[tuple[Client, str]]:
    """A wide engagement table in a database of its own, as a platform would keep it."""
    url = urlparse(clickhouse_url)
    client = Client(url.hostname or "127.0.0.1", port=url.port or 9000)
    db = f"platform_{uuid.uuid4().hex[:12]}"
    client.execute(f"CREATE DATABASE {db}")
    client.execute(
        f"""CREATE TABLE {db}.engagement_wide (
            user_id UInt64, ts DateTime, new_followers UInt32, link_clicks UInt64,
            views Float64, note String
        ) ENGINE = MergeTree() ORDER BY (user_id, ts)"""
    )
    yield client, f"{db}.engagement_wide"
    client.execute(f"DROP DATABASE IF EXISTS {db}")
    client.disconnect()


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(T0_S + seconds).replace(tzinfo=None)


def test_series_from_external_table(
    clickhouse_url: str, platform_table: tuple[Client, str]
) -> None:
    client, table = platform_table
    client.execute(
        f"INSERT INTO {table} (user_id, ts, new_followers, link_clicks, views, note) VALUES",
        [
            (1, T0_S + 60, 3, 10, 100.5, "x"),
            (1, T0_S + 120, 2, 5, 50.0, "y"),  # same hour: summed at read time
            (1, T0_S + HOUR + 1, 7, 0, 0.0, ""),
            (22, T0_S + 2 * HOUR, 1, 1, 1.0, ""),
            (22, T0_S - 1, 99, 99, 99.0, ""),  # before the window
            (33, T0_S + 3 * HOUR, 5, 5, 5.0, ""),  # at the window's end: outside
        ],
    )
    source = ExternalSource(
        table=table,
        account_column="user_id",
        time_column="ts",
        metric_columns={
            "follows": "new_followers",
            "clicks": "link_clicks",
            "impressions": "views",
        },
    )
    store: Store = open_store(f"{clickhouse_url}/ext_{uuid.uuid4().hex[:12]}", source)
    try:
        panel = store.series(T0, T0 + timedelta(hours=3), judge_from=T0 + timedelta(hours=1))

        assert panel.account_ids.tolist() == ["1", "22"]
        assert panel.n_buckets == 3
        assert panel.judge_from == 1
        assert panel.metric("follows").tolist() == [[5.0, 7.0, 0.0], [0.0, 0.0, 1.0]]
        assert panel.metric("clicks").tolist() == [[15.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
        assert panel.metric("impressions").tolist() == [[150.5, 0.0, 0.0], [0.0, 0.0, 1.0]]
        for unmapped in ("unfollows", "shares", "comments"):
            assert unmapped in panel.values
            assert panel.values[unmapped].tolist() == [[0.0] * 3] * 2

        only = store.series(T0, T0 + timedelta(hours=3), account_ids=["22"])
        assert only.account_ids.tolist() == ["22"]
        assert store.account_count(T0, T0 + timedelta(hours=3)) == 2
        assert store.account_count(T0, T0 + timedelta(hours=4)) == 3
    finally:
        store.close()


@pytest.mark.parametrize(
    "change",
    [
        {"table": "db.t; DROP TABLE x"},
        {"table": "a.b.c"},
        {"account_column": "user_id`"},
        {"time_column": "ts, 1"},
        {"metric_columns": {"follows": "new followers"}},
        {"metric_columns": {"likes": "likes"}},  # not a metric
    ],
)
def test_bad_mapping_is_refused(change: dict[str, object]) -> None:
    fields: dict[str, object] = {
        "table": "db.t",
        "account_column": "user_id",
        "time_column": "ts",
        "metric_columns": {"follows": "f"},
    }
    fields.update(change)
    with pytest.raises(ValueError):
        open_store("clickhouse://127.0.0.1/db", ExternalSource.model_validate(fields))
