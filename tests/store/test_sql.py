"""Parameter escaping, identifier validation, URLs and schema migration."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from server import store_sql
from server.store import ChdbStore, ClickHouseStore, Store, open_store
from tests.store.helpers import T0, points
from tests.store.test_events import HOSTILE


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_parameter_comes_back_exactly(store: Store, value: str) -> None:
    got = store._select("SELECT %(v)s AS v, length(%(v)s) AS n", {"v": value})

    assert got["v"].tolist() == [value]
    assert int(got["n"][0]) == len(value.encode())


def test_render_uses_driver_escaping() -> None:
    sql = store_sql.render(
        "SELECT %(s)s, %(n)s, %(t)s, %(ids)s, %(b)s",
        {
            "s": "'; DROP TABLE x; --\\",
            "n": 3,
            "t": datetime(2024, 1, 1, 1, tzinfo=timezone(timedelta(hours=1))),
            "ids": ["a'", "b"],
            "b": True,
        },
    )

    assert sql == "SELECT '\\'; DROP TABLE x; --\\\\', 3, 1704067200, ('a\\'', 'b'), 1"


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        store_sql.render("SELECT %(t)s", {"t": datetime(2024, 1, 1)})


@pytest.mark.parametrize("name", ["ok", "_x1", "Table_2"])
def test_valid_identifiers_are_backticked(name: str) -> None:
    assert store_sql.quote_identifier(name) == f"`{name}`"


@pytest.mark.parametrize(
    "name", ["", "1abc", "a-b", "a b", "a`b", "a;DROP", "x'", "db.t", "ä", "a" * 200]
)
def test_invalid_identifiers_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="identifier"):
        store_sql.quote_identifier(name)


def test_table_names_allow_one_database_part() -> None:
    assert store_sql.quote_table("db.t") == "`db`.`t`"
    assert store_sql.quote_table("t") == "`t`"
    for bad in ["a.b.c", "db.", ".t", "db.t;", "db.`t`"]:
        with pytest.raises(ValueError):
            store_sql.quote_table(bad)


def test_open_store_urls(chdb_dir: Path) -> None:
    ch = open_store("clickhouse://user%40x:p%3Ass@db.example:9440/metrics")
    assert isinstance(ch, ClickHouseStore)
    assert ch.database == "metrics"
    ch.close()
    assert open_store("clickhouse://localhost").database == "engagewatch"

    local = open_store(f"chdb://{chdb_dir}?database=urltest")
    assert isinstance(local, ChdbStore)
    assert local.database == "urltest"
    local.close()

    with pytest.raises(ValueError, match="scheme"):
        open_store("postgres://localhost/db")
    with pytest.raises(ValueError, match="identifier"):
        open_store("clickhouse://localhost/bad-name")
    with pytest.raises(ValueError, match="identifier"):
        open_store(f"chdb://{chdb_dir}?database=x;DROP")


def test_migrate_is_idempotent_and_keeps_data(store: Store) -> None:
    store.write_metric_batch("b", *points([("a", "follows", 0, 1.0)]))

    store.migrate()
    store.migrate()

    assert store.series(T0, T0 + timedelta(hours=1)).metric("follows").tolist() == [[1.0]]
    assert not store.write_metric_batch("b", *points([("a", "follows", 0, 1.0)]))


def test_ping(store: Store) -> None:
    store.ping()


def test_datetimes_come_back_utc(store: Store) -> None:
    from server.records import AlertRecord

    local = timezone(timedelta(hours=-5))
    when = datetime(2024, 3, 4, 7, 30, 15, tzinfo=local)
    store.write_alerts(
        [
            AlertRecord(
                alert_id="a",
                sequence=1,
                account_id="acc",
                detector="d",
                pattern=1,
                metric=1,
                severity=1,
                score=0.5,
                window_start=when,
                window_end=when,
                observed=1.0,
                expected=0.0,
                evidence_json="[]",
                explanation="",
                recommended_action=1,
                state=1,
                created_at=when,
                updated_at=when,
            )
        ]
    )

    got = store.get_alerts(["a"])["a"]

    assert got.window_start == when
    assert got.window_start.tzinfo == UTC
