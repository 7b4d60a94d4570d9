"""The committed dashboards are Grafana dashboard JSON that the provisioning files load as is."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from tests.dashboards.panels import (
    CLICKHOUSE_TYPE,
    PROMETHEUS_TYPE,
    PROVISIONING_DIR,
    all_panels,
    dashboards,
    panel_queries,
    substitute_variables,
    variable_queries,
)

DASHBOARDS = dashboards()


def provisioned_datasources() -> dict[str, str]:
    """uid -> type of the provisioned data sources."""
    found: dict[str, str] = {}
    for path in (PROVISIONING_DIR / "datasources").glob("*.yaml"):
        document = yaml.safe_load(path.read_text())
        assert document["apiVersion"] == 1
        for source in document["datasources"]:
            found[source["uid"]] = source["type"]
    return found


def datasource_refs(node: Any) -> list[dict[str, Any]]:
    """Every {"type", "uid"} datasource reference anywhere in a dashboard."""
    refs: list[dict[str, Any]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "datasource" and isinstance(value, dict):
                refs.append(value)
            else:
                refs.extend(datasource_refs(value))
    elif isinstance(node, list):
        for item in node:
            refs.extend(datasource_refs(item))
    return refs


def test_three_dashboards_with_stable_unique_uids() -> None:
    assert sorted(DASHBOARDS) == [
        "account-drilldown.json",
        "fraud-overview.json",
        "service-health.json",
    ]
    uids = [d["uid"] for d in DASHBOARDS.values()]
    assert len(set(uids)) == 3
    for uid in uids:
        assert re.fullmatch(r"[a-z0-9-]{1,40}", uid), uid


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_dashboard_is_provisionable_grafana_json(name: str) -> None:
    dash = DASHBOARDS[name]
    assert dash["schemaVersion"] >= 36  # Grafana 9.1+; the SDK writes its current one (41)
    assert dash["title"].startswith("engagewatch / ")
    assert "id" not in dash or dash["id"] is None  # provisioning assigns database ids
    panels = all_panels(dash)
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)) and all(isinstance(i, int) and i > 0 for i in ids)
    for panel in panels:
        assert panel["title"] and panel["type"] in {"timeseries", "stat", "bargauge", "table"}
        assert {"h", "w", "x", "y"} <= set(panel["gridPos"])
        assert panel["targets"], panel["title"]
        assert len({t["refId"] for t in panel["targets"]}) == len(panel["targets"])


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_every_datasource_reference_is_provisioned(name: str) -> None:
    provisioned = provisioned_datasources()
    assert provisioned == {
        "engagewatch-prometheus": PROMETHEUS_TYPE,
        "engagewatch-clickhouse": CLICKHOUSE_TYPE,
    }
    refs = datasource_refs(DASHBOARDS[name])
    assert refs
    for ref in refs:
        assert ref.get("uid") in provisioned, ref
        assert ref.get("type") == provisioned[ref["uid"]], ref


def test_dashboard_provider_loads_the_generated_folder() -> None:
    (path,) = (PROVISIONING_DIR / "dashboards").glob("*.yaml")
    (provider,) = yaml.safe_load(path.read_text())["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "${ENGAGEWATCH_DASHBOARDS_DIR}"


@pytest.mark.parametrize("query", [*panel_queries(), *variable_queries()], ids=lambda q: q.id)
def test_queries_use_only_defined_variables(query: Any) -> None:
    defined = {v["name"]: "x" for v in DASHBOARDS[query.dashboard]["templating"]["list"]}
    substitute_variables(query.text, defined)  # raises on an undefined variable


@pytest.mark.parametrize(
    "query",
    [q for q in [*panel_queries(), *variable_queries()] if q.datasource_type == CLICKHOUSE_TYPE],
    ids=lambda q: q.id,
)
def test_clickhouse_sql_avoids_what_clickhouse_18_16_lacks(query: Any) -> None:
    # $__timeInterval expands to toStartOfInterval; the _ms macros to DateTime64.
    for banned in ("$__timeInterval", "_ms", "toStartOfInterval", "DateTime64", "$__interval"):
        assert banned not in query.text, f"{query.id} uses {banned}"
