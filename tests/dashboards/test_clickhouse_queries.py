"""Every ClickHouse query of the account drill-down, against the real ClickHouse 18.16 server.

The service of conftest.py wrote the simulator's platform, its alerts and reviews into a
database of the clickhouse_server fixture. Each panel, annotation and variable query is sent
with Grafana's variables and the plugin's macros expanded, and must return rows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from clickhouse_driver import Client

from tests.dashboards.conftest import FedPlatform
from tests.dashboards.panels import (
    CLICKHOUSE_TYPE,
    Query,
    clickhouse_sql_as_sent,
    panel_queries,
    variable_queries,
)

CLICKHOUSE_QUERIES = [
    q for q in [*panel_queries(), *variable_queries()] if q.datasource_type == CLICKHOUSE_TYPE
]


@pytest.fixture(scope="module")
def client(fed_platform: FedPlatform, clickhouse_url: str) -> Any:
    host, _, port = clickhouse_url.removeprefix("clickhouse://").partition(":")
    return Client(host=host, port=int(port or 9000))


def variables(fed: FedPlatform, **overrides: str) -> dict[str, str]:
    """Dashboard variables: the drill-down on an account with a group alert, filters at All."""
    return {
        "database": fed.database,
        "account": fed.group_account,
        "detector": "__all",
        "pattern": "0",
        **overrides,
    }


def run(client: Any, fed: FedPlatform, query: Query, values: dict[str, str]) -> list[Any]:
    # The dashboards' default range is the last 7 days; the simulation's 5 days are the range.
    start: datetime = fed.sim.config.start
    end: datetime = fed.sim.config.end
    sql = clickhouse_sql_as_sent(query.text, values, start, end)
    rows: list[Any] = client.execute(sql)
    return rows


def test_the_drilldown_has_clickhouse_queries() -> None:
    where = {q.where for q in CLICKHOUSE_QUERIES}
    assert "annotation: Alerts of the account" in where
    assert {"variable: account", "variable: detector"} <= where
    assert len(CLICKHOUSE_QUERIES) >= 7


@pytest.mark.parametrize("query", CLICKHOUSE_QUERIES, ids=lambda q: q.id)
def test_query_returns_rows(client: Any, fed_platform: FedPlatform, query: Query) -> None:
    rows = run(client, fed_platform, query, variables(fed_platform))
    assert rows, f"{query.id} returned no rows"


def test_filters_narrow_to_the_chosen_pattern_and_detector(
    client: Any, fed_platform: FedPlatform
) -> None:
    (alerts_table,) = [q for q in CLICKHOUSE_QUERIES if q.where.startswith("Alerts concerning")]
    everything = run(client, fed_platform, alerts_table, variables(fed_platform))
    # Columns: alert_id, detector, pattern, ...
    detector, pattern = everything[0][1], everything[0][2]
    number = str(
        [
            "fake_followers",
            "fake_traffic",
            "fake_engagement",
            "lockstep_group",
            "forced_subscription",
            "coordinated_sharing",
        ].index(pattern)
        + 1
    )
    narrowed = run(
        client,
        fed_platform,
        alerts_table,
        variables(fed_platform, detector=detector, pattern=number),
    )
    assert narrowed and all(r[1] == detector and r[2] == pattern for r in narrowed)
    nothing = run(
        client, fed_platform, alerts_table, variables(fed_platform, account="no-such-account")
    )
    assert nothing == []


def test_series_match_the_store(client: Any, fed_platform: FedPlatform) -> None:
    """The drill-down series is what the detectors read for the account."""
    (series,) = [q for q in CLICKHOUSE_QUERIES if q.where.startswith("Metric series of")]
    rows = run(client, fed_platform, series, variables(fed_platform))
    config = fed_platform.sim.config
    panel = fed_platform.service.store.series(
        config.start, config.end, [fed_platform.group_account]
    )
    follows = sum(value for _time, metric, value in rows if metric == "follows")
    assert follows == pytest.approx(float(panel.metric("follows").sum()))
    assert follows > 0
