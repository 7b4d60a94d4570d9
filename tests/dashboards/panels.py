"""Reads the committed Grafana dashboards and the queries in them, as Grafana would send them.

Queries come out of the JSON files in dashboards/grafana/ (what Grafana provisions), never out
of the generator, so a hand edit of the JSON is tested too.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DASHBOARD_DIR = REPO / "dashboards" / "grafana"
PROVISIONING_DIR = REPO / "dashboards" / "provisioning"
RULES_FILE = REPO / "dashboards" / "prometheus" / "engagewatch.rules.yml"

PROMETHEUS_TYPE = "prometheus"
CLICKHOUSE_TYPE = "grafana-clickhouse-datasource"

# What Grafana puts in for $__rate_interval: max(4 x scrape interval, $__interval + scrape
# interval). The provisioned data source declares a 15 s scrape interval, so for dashboard
# ranges up to a few hours it is 60 s.
RATE_INTERVAL = "1m"


@dataclass(frozen=True)
class Query:
    """One query of one panel (or annotation, or template variable)."""

    dashboard: str  # file name
    where: str  # panel title / refId, "annotation: name" or "variable: name"
    datasource_type: str
    text: str  # PromQL expr or ClickHouse rawSql, with Grafana's variables in it

    @property
    def id(self) -> str:
        return f"{self.dashboard.removesuffix('.json')}: {self.where}"


def dashboards() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text()) for p in sorted(DASHBOARD_DIR.glob("*.json"))}


def all_panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, those inside collapsed rows included; rows themselves excluded."""
    found: list[dict[str, Any]] = []
    for panel in dashboard.get("panels", []):
        if panel.get("type") == "row":
            found.extend(panel.get("panels", []))
        else:
            found.append(panel)
    return found


def _query_text(target: dict[str, Any], datasource_type: str) -> str:
    key = "expr" if datasource_type == PROMETHEUS_TYPE else "rawSql"
    text = target.get(key)
    if not isinstance(text, str) or not text.strip():
        raise AssertionError(f"target {target.get('refId')} has no {key}")
    return text


def panel_queries() -> list[Query]:
    """Every target of every panel and every annotation query, in file order."""
    out: list[Query] = []
    for name, dash in dashboards().items():
        for panel in all_panels(dash):
            for target in panel.get("targets", []):
                ds = target.get("datasource") or panel["datasource"]
                out.append(
                    Query(
                        name,
                        f"{panel['title']} / {target['refId']}",
                        ds["type"],
                        _query_text(target, ds["type"]),
                    )
                )
        for annotation in dash.get("annotations", {}).get("list", []):
            if annotation.get("builtIn"):
                continue
            ds = annotation["datasource"]
            out.append(
                Query(
                    name,
                    f"annotation: {annotation['name']}",
                    ds["type"],
                    _query_text(annotation["target"], ds["type"]),
                )
            )
    return out


def variable_queries() -> list[Query]:
    """The queries of the dashboards' query variables."""
    out: list[Query] = []
    for name, dash in dashboards().items():
        for var in dash.get("templating", {}).get("list", []):
            if var.get("type") != "query":
                continue
            ds = var["datasource"]
            query = var["query"]
            text = query if isinstance(query, str) else query.get("rawSql") or query.get("query")
            out.append(Query(name, f"variable: {var['name']}", ds["type"], text))
    return out


# ---------------------------------------------------------------- Grafana's substitutions


def sqlstring(value: str) -> str:
    """Grafana's ${var:sqlstring} format: single-quoted, quotes doubled."""
    return "'" + value.replace("'", "''") + "'"


def substitute_variables(text: str, values: dict[str, str]) -> str:
    """Replace $var, ${var} and ${var:sqlstring} the way Grafana's template service does.

    Raises:
        AssertionError: the text uses a variable that `values` does not define (the dashboard
            would send it unreplaced), or a format this helper does not know.
    """

    def replace(match: re.Match[str]) -> str:
        name = match.group("braced") or match.group("plain")
        fmt = match.group("format")
        if name.startswith("__"):
            return match.group(0)  # Grafana's global variables and macros: handled elsewhere
        if name not in values:
            raise AssertionError(f"query uses undefined variable ${name}: {text}")
        if fmt is None or fmt == "raw":
            return values[name]
        if fmt == "sqlstring":
            return sqlstring(values[name])
        raise AssertionError(f"unknown variable format {fmt!r} in {text}")

    pattern = r"\$\{(?P<braced>\w+)(?::(?P<format>\w+))?\}|\$(?P<plain>\w+)"
    return re.sub(pattern, replace, text)


def promql_as_sent(expr: str, values: dict[str, str]) -> str:
    """A panel's PromQL with its variables substituted, as Grafana sends it to Prometheus."""
    expr = substitute_variables(expr, values)
    expr = expr.replace("$__rate_interval", RATE_INTERVAL)
    leftover = re.findall(r"\$\w+", expr)
    if leftover:
        raise AssertionError(f"unsubstituted Grafana variables {leftover} in {expr}")
    return expr


def clickhouse_sql_as_sent(sql: str, values: dict[str, str], start: datetime, end: datetime) -> str:
    """A panel's SQL as the grafana-clickhouse-datasource plugin sends it.

    Variables are Grafana's (frontend) substitution; the macros are the plugin's backend
    expansions (pkg/macros/macros.go): $__fromTime -> toDateTime(<unix seconds>),
    $__timeFilter(col) -> col >= toDateTime(a) AND col <= toDateTime(b), and so on.
    """
    sql = substitute_variables(sql, values)
    a, b = int(start.timestamp()), int(end.timestamp())
    sql = re.sub(
        r"\$__timeFilter\(\s*([\w.]+)\s*\)",
        lambda m: f"{m.group(1)} >= toDateTime({a}) AND {m.group(1)} <= toDateTime({b})",
        sql,
    )
    sql = sql.replace("$__fromTime", f"toDateTime({a})").replace("$__toTime", f"toDateTime({b})")
    leftover = re.findall(r"\$\w+", sql)
    if leftover:
        raise AssertionError(f"unexpanded macros or variables {leftover} in {sql}")
    return sql
