"""Every Prometheus query of every dashboard panel, and every rule, against a real Prometheus.

The Prometheus scrapes a real service the simulator fed (see conftest.py). A query passes when
Prometheus parses it and returns at least one series with a finite value: a panel that would
show "No data" (or only NaN) for a fed service fails here.
"""

from __future__ import annotations

import math
import re
from typing import Any

import grpc
import pytest
import yaml

from engagewatch.v1 import alert_service_pb2, alert_service_pb2_grpc, types_pb2
from tests.dashboards.conftest import FedPlatform
from tests.dashboards.panels import (
    PROMETHEUS_TYPE,
    RULES_FILE,
    Query,
    panel_queries,
    promql_as_sent,
    variable_queries,
)

PANEL_QUERIES = [q for q in panel_queries() if q.datasource_type == PROMETHEUS_TYPE]
VARIABLE_QUERIES = [q for q in variable_queries() if q.datasource_type == PROMETHEUS_TYPE]
RULES: list[dict[str, Any]] = [
    rule for group in yaml.safe_load(RULES_FILE.read_text())["groups"] for rule in group["rules"]
]
RECORDS = [r["record"] for r in RULES if "record" in r]
# Grafana's "All" for the include-all variables of the Prometheus dashboards.
ALL = {"instance": ".*", "detector": ".*", "pattern": ".*"}


def grafana_regex_escape(value: str) -> str:
    """How Grafana writes one selected value into a =~ matcher (prometheusSpecialRegexEscape)."""
    return re.sub(r"([$^*{}\[\]'+?.()|])", r"\\\\\1", value)


def finite_values(result: list[dict[str, Any]]) -> list[float]:
    return [v for v in (float(s["value"][1]) for s in result) if math.isfinite(v)]


def test_the_dashboards_have_prometheus_panels() -> None:
    dashboards = {q.dashboard for q in PANEL_QUERIES}
    assert dashboards == {"service-health.json", "fraud-overview.json"}
    assert len(PANEL_QUERIES) >= 25


@pytest.mark.parametrize("query", PANEL_QUERIES, ids=lambda q: q.id)
def test_panel_query_returns_data(fed_platform: FedPlatform, query: Query) -> None:
    instance = f"127.0.0.1:{fed_platform.service.metrics_port}"
    for values in (ALL, {**ALL, "instance": grafana_regex_escape(instance)}):
        expr = promql_as_sent(query.text, values)
        body = fed_platform.prometheus.query(expr, fed_platform.at)
        assert body["status"] == "success", f"{query.id}: {body.get('error')}\n{expr}"
        result = body["data"]["result"]
        assert finite_values(result), f"{query.id}: no finite data\n{expr}\n{result}"


@pytest.mark.parametrize("query", VARIABLE_QUERIES, ids=lambda q: q.id)
def test_variable_query_lists_values(fed_platform: FedPlatform, query: Query) -> None:
    """label_values(selector, label) is Grafana's call to /api/v1/label/<label>/values."""
    match = re.fullmatch(r"label_values\((?P<selector>.+),\s*(?P<label>\w+)\)", query.text)
    assert match, query.text
    body = fed_platform.prometheus.get(
        f"/api/v1/label/{match['label']}/values", **{"match[]": match["selector"]}
    )
    assert body["status"] == "success", body
    assert body["data"], f"{query.id} lists nothing"


def test_rule_file_loads_and_every_rule_evaluates(fed_platform: FedPlatform) -> None:
    body = fed_platform.prometheus.get("/api/v1/rules")
    assert body["status"] == "success", body
    loaded = [r for g in body["data"]["groups"] for r in g["rules"]]
    assert sorted(r["name"] for r in loaded) == sorted(r.get("record") or r["alert"] for r in RULES)
    for rule in loaded:
        assert rule["health"] == "ok", rule
    firing = [r["name"] for r in loaded if r.get("state") == "firing"]
    assert firing == [], "a healthy, fed service sets off no alert"


@pytest.mark.parametrize("record", RECORDS)
def test_recording_rule_has_data(fed_platform: FedPlatform, record: str) -> None:
    result = fed_platform.prometheus.vector(record, fed_platform.at)
    assert finite_values(result), f"{record}: {result}"


def test_panels_show_what_the_test_did(fed_platform: FedPlatform) -> None:
    """Spot checks that the numbers mean what the panels say, not just that they exist."""
    prometheus, at = fed_platform.prometheus, fed_platform.at
    rate = "[1m]"
    rejected = prometheus.vector(
        f'sum(rate(engagewatch_ingest_rejected_rows_total{{kind="metrics"}}{rate}))', at
    )
    assert finite_values(rejected)[0] > 0
    duplicates = prometheus.vector(
        f'sum(rate(engagewatch_ingest_duplicate_rows_total{{kind="metrics"}}{rate}))', at
    )
    assert finite_values(duplicates)[0] > 0
    points = prometheus.vector(f"sum(rate(engagewatch_ingest_points_total{rate}))", at)
    assert finite_values(points)[0] > 0
    precision = {
        s["metric"]["detector"]: float(s["value"][1])
        for s in prometheus.vector("job_detector:engagewatch_alert_precision:ratio", at)
    }
    assert sorted(precision.values()) == [0.0, 1.0]  # one confirmed, one dismissed
    actions = prometheus.vector("sum(engagewatch_accounts_by_action)", at)
    assert finite_values(actions)[0] >= 1
    lag = finite_values(prometheus.vector("instance:engagewatch_detection_lag:seconds", at))[0]
    assert 0 <= lag < 120  # the last run completed during this test


def test_accounts_by_action_agrees_with_get_account_risk(fed_platform: FedPlatform) -> None:
    """The "accounts at each action level" panel counts what GetAccountRisk recommends."""
    live = (types_pb2.ALERT_STATE_OPEN, types_pb2.ALERT_STATE_CONFIRMED)
    expected = {
        name.removeprefix("ACTION_").lower(): 0
        for name, number in types_pb2.Action.items()
        if number != types_pb2.ACTION_UNSPECIFIED
    }
    with grpc.insecure_channel(fed_platform.service.target) as channel:
        stub = alert_service_pb2_grpc.AlertServiceStub(channel)
        alerts = stub.ListAlerts(alert_service_pb2.ListAlertsRequest(page_size=1000)).alerts
        accounts = {a.account_id for a in alerts if a.state in live}
        for account in accounts:
            risk = stub.GetAccountRisk(alert_service_pb2.GetAccountRiskRequest(account_id=account))
            action = types_pb2.Action.Name(risk.recommended_action)
            expected[action.removeprefix("ACTION_").lower()] += 1
    exported = {
        s["metric"]["action"]: float(s["value"][1])
        for s in fed_platform.prometheus.vector(
            "sum by (action) (engagewatch_accounts_by_action)", fed_platform.at
        )
    }
    assert exported == expected
    assert sum(expected.values()) == len(accounts) > 0
