"""Generates engagewatch's Grafana dashboards (dashboards/grafana/*.json) as code.

Built with grafana-foundation-sdk (see dashboards/README.md for why). Edit the panels here,
run `python dashboards/generate.py`, and commit the JSON: Grafana provisions the JSON as it is
(dashboards/provisioning/). `python dashboards/generate.py --check` exits 1 when the committed
JSON differs from what this file generates; scripts/test.sh runs it.

Every query here is also run against real servers by tests/dashboards/: the PromQL through a
Prometheus scraping a fed service, the SQL against ClickHouse 18.16. The SQL therefore avoids
the plugin's `$__timeInterval` and `_ms` macros (they expand to toStartOfInterval and
DateTime64, which 18.16 lacks) and buckets with toStartOfHour between `$__fromTime` and
`$__toTime` instead.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import bargauge, stat, table, timeseries
from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import prometheus as prom
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model

from engagewatch.v1 import types_pb2

OUT_DIR = Path(__file__).resolve().parent / "grafana"

# The data sources of dashboards/provisioning/datasources/engagewatch.yaml, referenced by uid.
PROMETHEUS = model.DataSourceRef(type_val="prometheus", uid="engagewatch-prometheus")
CLICKHOUSE = model.DataSourceRef(
    type_val="grafana-clickhouse-datasource", uid="engagewatch-clickhouse"
)

TAG = "engagewatch"
# Every series of the service carries these labels; $instance is "All" (.*) by default.
SEL = 'job="engagewatch", instance=~"$instance"'


def enum_names(enum: Any, prefix: str) -> tuple[str, ...]:
    """A proto enum's names in number order (1, 2, ...), lower case, without the prefix."""
    numbered = sorted((number, name) for name, number in enum.items() if number != 0)
    return tuple(name.removeprefix(prefix).lower() for _, name in numbered)


# The store keeps enum numbers; SQL turns them back into words with these (arrays are 1-based).
PATTERNS = enum_names(types_pb2.Pattern, "PATTERN_")
METRICS = enum_names(types_pb2.Metric, "METRIC_")
SEVERITIES = enum_names(types_pb2.Severity, "SEVERITY_")
ACTIONS = enum_names(types_pb2.Action, "ACTION_")
STATES = enum_names(types_pb2.AlertState, "ALERT_STATE_")
GROUP_PATTERNS = (PATTERNS.index("lockstep_group") + 1, PATTERNS.index("forced_subscription") + 1)

# Formats of the ClickHouse plugin's queries (grafana-plugin-sdk-go sqlutil.FormatQueryOption).
CH_TIME_SERIES = 0
CH_TABLE = 1


def sql_names(names: Sequence[str]) -> str:
    """A ClickHouse array literal of words, indexed by a 1-based enum number."""
    return "[" + ", ".join(f"'{n}'" for n in names) + "]"


# ---------------------------------------------------------------- ClickHouse plugin queries


class ClickHouseQuery(cogvariants.Dataquery):
    """A raw-SQL query of Grafana's official ClickHouse plugin (grafana-clickhouse-datasource).

    The SDK has no types for this plugin, so the query is the plugin's own JSON shape.
    """

    def __init__(self, ref_id: str, sql: str, fmt: int) -> None:
        self.ref_id = ref_id
        self.sql = sql
        self.fmt = fmt

    def to_json(self) -> dict[str, object]:
        return {
            "datasource": CLICKHOUSE.to_json(),
            "editorType": "sql",
            "format": self.fmt,
            "queryType": "timeseries" if self.fmt == CH_TIME_SERIES else "table",
            "rawSql": self.sql,
            "refId": self.ref_id,
        }


class ClickHouse(cogbuilder.Builder[cogvariants.Dataquery]):
    def __init__(self, sql: str, fmt: int = CH_TABLE, ref_id: str = "A") -> None:
        self._query = ClickHouseQuery(ref_id, dedent(sql), fmt)

    def build(self) -> cogvariants.Dataquery:
        return self._query


class ClickHouseAnnotationTarget(model.AnnotationTarget):
    """An annotation query for the ClickHouse plugin: rows of time, timeEnd, text, tags."""

    def __init__(self, sql: str) -> None:
        super().__init__()
        self.query = ClickHouseQuery("Anno", dedent(sql), CH_TABLE)

    def to_json(self) -> dict[str, object]:
        return self.query.to_json()


class ClickHouseAnnotation(cogbuilder.Builder[model.AnnotationTarget]):
    def __init__(self, sql: str) -> None:
        self._target = ClickHouseAnnotationTarget(sql)

    def build(self) -> model.AnnotationTarget:
        return self._target


def dedent(sql: str) -> str:
    lines = [line.rstrip() for line in sql.strip("\n").splitlines()]
    indent = min(len(line) - len(line.lstrip()) for line in lines if line)
    return "\n".join(line[indent:] for line in lines)


# ---------------------------------------------------------------- panel helpers


class Ids:
    """Panel ids, unique within a dashboard (Grafana keys panel state and links on them)."""

    def __init__(self) -> None:
        self.n = 0

    def next(self) -> int:
        self.n += 1
        return self.n


def promql(expr: str, legend: str = "", ref_id: str = "A", instant: bool = False) -> prom.Dataquery:
    query = prom.Dataquery().expr(dedent(expr)).ref_id(ref_id).datasource(PROMETHEUS)
    if legend:
        query = query.legend_format(legend)
    return query.instant() if instant else query.range()


def queries(*exprs: tuple[str, str]) -> list[prom.Dataquery]:
    """Range queries (expr, legend) with refIds A, B, ..."""
    return [promql(e, legend, chr(ord("A") + i)) for i, (e, legend) in enumerate(exprs)]


def series_panel(
    ids: Ids,
    title: str,
    description: str,
    unit: str,
    targets: Sequence[cogbuilder.Builder[cogvariants.Dataquery]],
    *,
    width: int = 12,
    bars: bool = False,
    stacked: bool = False,
    datasource: model.DataSourceRef = PROMETHEUS,
) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .id(ids.next())
        .title(title)
        .description(description)
        .datasource(datasource)
        .unit(unit)
        .targets(list(targets))
        .span(width)
        .height(8)
        .fill_opacity(20 if bars or stacked else 10)
        .legend(
            common_builders.VizLegendOptions()
            .display_mode(common.LegendDisplayMode.TABLE)
            .placement(common.LegendPlacement.BOTTOM)
            .show_legend(True)
            .calcs(["lastNotNull", "max"])
        )
    )
    if bars:
        panel = panel.draw_style(common.GraphDrawStyle.BARS)
    if stacked:
        panel = panel.stacking(common_builders.StackingConfig().mode(common.StackingMode.NORMAL))
    return panel


def stat_panel(
    ids: Ids,
    title: str,
    description: str,
    unit: str,
    targets: Sequence[cogbuilder.Builder[cogvariants.Dataquery]],
    *,
    width: int = 6,
    red_at: float | None = None,
) -> stat.Panel:
    steps = [model.Threshold(value=None, color="green")]
    if red_at is not None:
        steps.append(model.Threshold(value=red_at, color="red"))
    return (
        stat.Panel()
        .id(ids.next())
        .title(title)
        .description(description)
        .datasource(PROMETHEUS)
        .unit(unit)
        .targets(list(targets))
        .span(width)
        .height(8)
        .thresholds(dash.ThresholdsConfig().mode(model.ThresholdsMode.ABSOLUTE).steps(steps))
    )


def bar_panel(
    ids: Ids,
    title: str,
    description: str,
    unit: str,
    targets: Sequence[cogbuilder.Builder[cogvariants.Dataquery]],
    *,
    width: int = 12,
) -> bargauge.Panel:
    return (
        bargauge.Panel()
        .id(ids.next())
        .title(title)
        .description(description)
        .datasource(PROMETHEUS)
        .unit(unit)
        .targets(list(targets))
        .span(width)
        .height(8)
        .min(0)
        .orientation(common.VizOrientation.HORIZONTAL)
        .display_mode(common.BarGaugeDisplayMode.BASIC)
    )


def instance_variable() -> dash.QueryVariable:
    return all_values_variable(
        "instance",
        "Instance",
        'label_values(up{job="engagewatch"}, instance)',
        model.VariableRefresh.ON_DASHBOARD_LOAD,
    )


def prom_label_variable(name: str, label: str, metric: str) -> dash.QueryVariable:
    return all_values_variable(
        name,
        label,
        f'label_values({metric}{{job="engagewatch"}}, {name})',
        model.VariableRefresh.ON_TIME_RANGE_CHANGED,
    )


def all_values_variable(
    name: str, label: str, query: str, refresh: model.VariableRefresh
) -> dash.QueryVariable:
    """A Prometheus label variable that defaults to All, matching any value (.*)."""
    return (
        dash.QueryVariable(name)
        .label(label)
        .datasource(PROMETHEUS)
        .query(query)
        .refresh(refresh)
        .include_all(True)
        .all_value(".*")
        .current(model.VariableOption(selected=True, text="All", value="$__all"))
        .sort(model.VariableSort.ALPHABETICAL_ASC)
    )


def base_dashboard(uid: str, title: str, description: str) -> dash.Dashboard:
    return (
        dash.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags([TAG])
        .editable()
        .timezone("utc")
        .tooltip(model.DashboardCursorSync.CROSSHAIR)
        .link(
            dash.DashboardLink("engagewatch")
            .type(model.DashboardLinkType.DASHBOARDS)
            .tags([TAG])
            .as_dropdown(True)
            .include_vars(False)
            .keep_time(True)
        )
    )


# ---------------------------------------------------------------- service health


def service_health() -> dash.Dashboard:
    ids = Ids()
    rate = "[$__rate_interval]"
    lookup_burn = 'job:engagewatch_lookup_slow:ratio_rate{w}{{job="engagewatch"}} / 0.01'
    return (
        base_dashboard(
            "engagewatch-service-health",
            "engagewatch / Service health",
            "Ingest, gRPC, store and detection health of engagewatch (Prometheus).",
        )
        .time("now-6h", "now")
        .refresh("1m")
        .with_variable(instance_variable())
        .with_row(dash.Row("Ingest"))
        .with_panel(
            series_panel(
                ids,
                "Points ingested per second, by metric",
                "Metric points written to the store (engagewatch_ingest_points_total).",
                "cps",
                queries(
                    (
                        f"sum by (metric) (rate(engagewatch_ingest_points_total{{{SEL}}}{rate}))",
                        "{{metric}}",
                    )
                ),
                stacked=True,
            )
        )
        .with_panel(
            series_panel(
                ids,
                "Events ingested per second, by type",
                "Interaction events written to the store (engagewatch_ingest_events_total).",
                "cps",
                queries(
                    (
                        f"sum by (type) (rate(engagewatch_ingest_events_total{{{SEL}}}{rate}))",
                        "{{type}}",
                    )
                ),
                stacked=True,
            )
        )
        .with_panel(
            series_panel(
                ids,
                "Rejected and duplicate rows per second",
                "Rows of batches rejected whole (INVALID_ARGUMENT), and rows of re-sent batches "
                "that were not written again.",
                "cps",
                queries(
                    (
                        "sum by (kind) "
                        f"(rate(engagewatch_ingest_rejected_rows_total{{{SEL}}}{rate}))",
                        "rejected {{kind}}",
                    ),
                    (
                        "sum by (kind) "
                        f"(rate(engagewatch_ingest_duplicate_rows_total{{{SEL}}}{rate}))",
                        "duplicate {{kind}}",
                    ),
                ),
            )
        )
        .with_panel(
            series_panel(
                ids,
                "Ingest batches per second, by outcome",
                "Batches by kind (metrics, events) and outcome (accepted, duplicate, rejected).",
                "cps",
                queries(
                    (
                        "sum by (kind, outcome) "
                        f"(rate(engagewatch_ingest_batches_total{{{SEL}}}{rate}))",
                        "{{kind}} {{outcome}}",
                    )
                ),
            )
        )
        .with_row(dash.Row("gRPC"))
        .with_panel(
            series_panel(
                ids,
                "Requests per second, by method",
                "Completed gRPC calls (engagewatch_grpc_server_handled_total).",
                "reqps",
                queries(
                    (
                        "sum by (grpc_method) "
                        f"(rate(engagewatch_grpc_server_handled_total{{{SEL}}}{rate}))",
                        "{{grpc_method}}",
                    )
                ),
                width=8,
            )
        )
        .with_panel(
            series_panel(
                ids,
                "Failed requests per second, by method and code",
                "Every non-OK status, the caller's (INVALID_ARGUMENT, NOT_FOUND) included.",
                "reqps",
                queries(
                    (
                        "sum by (grpc_method, grpc_code) "
                        "(rate(engagewatch_grpc_server_handled_total"
                        f'{{{SEL}, grpc_code!="OK"}}{rate}))',
                        "{{grpc_method}} {{grpc_code}}",
                    )
                ),
                width=8,
            )
        )
        .with_panel(
            series_panel(
                ids,
                "Server-side error ratio (5m)",
                "Share of calls failing on the server's side (recording rule "
                "job:engagewatch_grpc_server_errors:ratio_rate5m); EngageWatchErrorRate pages "
                "above 5%.",
                "percentunit",
                queries(
                    ('job:engagewatch_grpc_server_errors:ratio_rate5m{job="engagewatch"}', "errors")
                ),
                width=8,
            )
        )
        .with_panel(
            series_panel(
                ids,
                "Latency quantiles, by method",
                "p50, p90 and p99 of the time to complete a call (for streams: the whole stream).",
                "s",
                [
                    promql(
                        f"histogram_quantile({q}, sum by (grpc_method, le) "
                        f"(rate(engagewatch_grpc_server_handling_seconds_bucket{{{SEL}}}{rate})))",
                        f"p{round(q * 100)} {{{{grpc_method}}}}",
                        chr(ord("A") + i),
                    )
                    for i, q in enumerate((0.5, 0.9, 0.99))
                ],
                width=16,
            )
        )
        .with_panel(
            series_panel(
                ids,
                "Lookup latency SLO: error budget burn rate",
                "Budget burn of the SLO '99% of GetAccountRisk and ListAlerts within 250 ms' "
                "(1 = spending exactly the budget). EngageWatchLookupLatencyBudgetBurn pages at "
                "14.4x over 1h and 5m, or 6x over 6h and 30m.",
                "x",
                queries(*((lookup_burn.format(w=w), w) for w in ("5m", "1h", "6h", "3d"))),
                width=8,
            )
        )
        .with_row(dash.Row("Store and detection"))
        .with_panel(
            series_panel(
                ids,
                "Store errors per second, by operation",
                "Calls that failed because ClickHouse was unavailable "
                "(engagewatch_store_errors_total); EngageWatchStoreErrors pages on any.",
                "cps",
                queries(
                    (
                        f"sum by (operation) (rate(engagewatch_store_errors_total{{{SEL}}}{rate}))",
                        "{{operation}}",
                    )
                ),
                width=8,
            )
        )
        .with_panel(
            series_panel(
                ids,
                "Detection run time per detector (mean per run, 3h)",
                "Seconds each detector took per detection run, averaged over the runs of the "
                "last 3 hours (engagewatch_detector_run_seconds).",
                "s",
                queries(
                    (
                        "sum by (detector) "
                        f"(increase(engagewatch_detector_run_seconds_sum{{{SEL}}}[3h]))\n/\n"
                        "sum by (detector) "
                        f"(increase(engagewatch_detector_run_seconds_count{{{SEL}}}[3h]))",
                        "{{detector}}",
                    )
                ),
                width=16,
                stacked=True,
            )
        )
        .with_panel(
            stat_panel(
                ids,
                "Schedule lag: time since the last completed run",
                "Seconds since a detection run last completed (or since the service started, "
                "before its first run). EngageWatchDetectionLate fires past two schedule "
                "intervals plus 15 minutes.",
                "s",
                [
                    promql(
                        f"instance:engagewatch_detection_lag:seconds{{{SEL}}}",
                        "{{instance}}",
                        instant=True,
                    )
                ],
                width=8,
                red_at=2 * 3600 + 900,
            )
        )
        .with_panel(
            series_panel(
                ids,
                "Detection runs per hour, by trigger and outcome",
                "Runs by trigger (schedule, request, cli) and outcome (ok, error).",
                "short",
                queries(
                    (
                        "sum by (trigger, outcome) "
                        f"(increase(engagewatch_detection_runs_total{{{SEL}}}[1h]))",
                        "{{trigger}} {{outcome}}",
                    )
                ),
                width=8,
            )
        )
        .with_panel(
            series_panel(
                ids,
                "Whole detection run time, p90 over 3h",
                "p90 of the seconds a whole run took (read, detect, alerts), by trigger.",
                "s",
                queries(
                    (
                        "histogram_quantile(0.9, sum by (trigger, le) "
                        f"(increase(engagewatch_detection_run_seconds_bucket{{{SEL}}}[3h])))",
                        "{{trigger}}",
                    )
                ),
                width=8,
            )
        )
    )


# ---------------------------------------------------------------- fraud overview


def fraud_overview() -> dash.Dashboard:
    ids = Ids()
    alerts_sel = f'{SEL}, detector=~"$detector", pattern=~"$pattern"'
    return (
        base_dashboard(
            "engagewatch-fraud-overview",
            "engagewatch / Fraud overview",
            "Fraud alerts, measures and review outcomes (Prometheus).",
        )
        .time("now-7d", "now")
        .refresh("5m")
        .with_variable(instance_variable())
        .with_variable(prom_label_variable("detector", "Detector", "engagewatch_findings_total"))
        .with_variable(prom_label_variable("pattern", "Pattern", "engagewatch_alerts_raised_total"))
        .with_panel(
            stat_panel(
                ids,
                "Open alerts",
                "Alerts not yet reviewed (engagewatch_open_alerts).",
                "short",
                [
                    promql(
                        f'sum(engagewatch_open_alerts{{{SEL}, pattern=~"$pattern"}})',
                        "open",
                        instant=True,
                    )
                ],
            )
        )
        .with_panel(
            stat_panel(
                ids,
                "Critical alerts raised in the last hour",
                "EngageWatchCriticalFraudSurge opens a ticket above 20.",
                "short",
                [
                    promql(
                        'sum(job:engagewatch_alerts_raised_critical:increase1h{job="engagewatch"})',
                        "critical",
                        instant=True,
                    )
                ],
                red_at=20,
            )
        )
        .with_panel(
            bar_panel(
                ids,
                "Accounts at each action level",
                "Accounts with open or confirmed alerts, by the measure GetAccountRisk "
                "recommends for them (engagewatch_accounts_by_action).",
                "short",
                [
                    promql(
                        f"sum by (action) (engagewatch_accounts_by_action{{{SEL}}})",
                        "{{action}}",
                        instant=True,
                    )
                ],
            )
        )
        .with_panel(
            series_panel(
                ids,
                "Alerts raised per hour, by pattern and severity",
                "New alerts (a finding detected again updates its alert instead).",
                "short",
                queries(
                    (
                        "sum by (pattern, severity) "
                        f"(increase(engagewatch_alerts_raised_total{{{alerts_sel}}}[1h]))",
                        "{{pattern}} {{severity}}",
                    )
                ),
                width=24,
                bars=True,
                stacked=True,
            )
        )
        .with_panel(
            series_panel(
                ids,
                "Open alerts, by pattern and severity",
                "Unreviewed alerts over time (engagewatch_open_alerts).",
                "short",
                queries(
                    (
                        "sum by (pattern, severity) "
                        f'(engagewatch_open_alerts{{{SEL}, pattern=~"$pattern"}})',
                        "{{pattern}} {{severity}}",
                    )
                ),
                stacked=True,
            )
        )
        .with_panel(
            series_panel(
                ids,
                "Findings per hour, by detector",
                "Findings before de-duplication into alerts (engagewatch_findings_total).",
                "short",
                queries(
                    (
                        "sum by (detector) (increase(engagewatch_findings_total"
                        f'{{{SEL}, detector=~"$detector"}}[1h]))',
                        "{{detector}}",
                    )
                ),
            )
        )
        .with_panel(
            series_panel(
                ids,
                "Review outcomes per hour, by detector and verdict",
                "Reviewer verdicts (engagewatch_reviews_total).",
                "short",
                queries(
                    (
                        "sum by (detector, verdict) "
                        f"(increase(engagewatch_reviews_total{{{alerts_sel}}}[1h]))",
                        "{{detector}} {{verdict}}",
                    )
                ),
                bars=True,
                width=8,
            )
        )
        .with_panel(
            bar_panel(
                ids,
                "Reviewed alerts, by detector and verdict",
                "All reviews the store holds (engagewatch_reviewed_alerts).",
                "short",
                [
                    promql(
                        "sum by (detector, verdict) (engagewatch_reviewed_alerts"
                        f'{{{SEL}, detector=~"$detector"}})',
                        "{{detector}} {{verdict}}",
                        instant=True,
                    )
                ],
                width=8,
            )
        )
        .with_panel(
            bar_panel(
                ids,
                "Measured precision, per detector",
                "Confirmed fraud over reviewed alerts (recording rule "
                "job_detector:engagewatch_alert_precision:ratio).",
                "percentunit",
                [
                    promql(
                        "job_detector:engagewatch_alert_precision:ratio"
                        '{job="engagewatch", detector=~"$detector"}',
                        "{{detector}}",
                        instant=True,
                    )
                ],
                width=8,
            ).max(1)
        )
    )


# ---------------------------------------------------------------- account drill-down

DB = "${database}"
LIVE = f"attempt_key NOT IN (SELECT attempt_key FROM {DB}.void_attempts)"
ACCOUNT = "${account:sqlstring}"
# The latest version of each alert (highest sequence), as the store reads them.
LATEST_ALERTS = f"""
    SELECT alert_id,
           argMax(account_id, sequence) AS subject,
           argMax(detector, sequence) AS detector,
           argMax(pattern, sequence) AS pattern_number,
           argMax(severity, sequence) AS severity_number,
           argMax(score, sequence) AS score,
           argMax(window_start, sequence) AS window_start,
           argMax(window_end, sequence) AS window_end,
           argMax(observed, sequence) AS observed,
           argMax(expected, sequence) AS expected,
           argMax(explanation, sequence) AS explanation,
           argMax(recommended_action, sequence) AS action_number,
           argMax(state, sequence) AS state_number,
           argMax(member_ids, sequence) AS members,
           argMax(target_ids, sequence) AS targets,
           argMax(member_count, sequence) AS member_count,
           argMax(target_count, sequence) AS target_count
    FROM {DB}.alerts
    GROUP BY alert_id"""
ALERT_FILTERS = (
    "window_end >= $__fromTime AND window_start <= $__toTime\n"
    "  AND (${detector:sqlstring} = '__all' OR detector = ${detector:sqlstring})\n"
    "  AND (${pattern} = 0 OR pattern_number = ${pattern})"
)


def indent(text: str, spaces: int) -> str:
    pad = " " * spaces
    return "\n".join(pad + line if line else line for line in dedent(text).splitlines())


def account_series_sql() -> str:
    return f"""
        SELECT toStartOfHour(bucket) AS time,
               {sql_names(METRICS)}[metric] AS metric_name,
               greatest(sumIf(value, kind = 1), sumIf(value, kind = 2)) AS value
        FROM {DB}.account_buckets
        WHERE account_id = {ACCOUNT}
          AND bucket >= toStartOfHour($__fromTime) AND bucket <= $__toTime
          AND {LIVE}
        GROUP BY time, metric_name
        ORDER BY time, metric_name"""


def account_alerts_sql() -> str:
    return f"""
        SELECT alert_id, detector,
               {sql_names(PATTERNS)}[pattern_number] AS pattern,
               {sql_names(SEVERITIES)}[severity_number] AS severity,
               round(score, 3) AS score, window_start, window_end, observed, expected,
               {sql_names(STATES)}[state_number] AS state,
               {sql_names(ACTIONS)}[action_number] AS recommended_action,
               member_count, explanation
        FROM (
{indent(LATEST_ALERTS, 12)}
        )
        WHERE (subject = {ACCOUNT} OR has(targets, {ACCOUNT}))
          AND {ALERT_FILTERS.replace(chr(10), chr(10) + " " * 8)}
        ORDER BY window_start DESC, alert_id"""


def annotation_sql() -> str:
    return f"""
        SELECT window_start AS time, window_end AS timeEnd,
               concat({sql_names(PATTERNS)}[pattern_number], ' (',
                      {sql_names(SEVERITIES)}[severity_number], ', score ',
                      toString(round(score, 2)), '): ', explanation) AS text,
               concat(detector, ',', {sql_names(STATES)}[state_number]) AS tags
        FROM (
{indent(LATEST_ALERTS, 12)}
        )
        WHERE (subject = {ACCOUNT} OR has(targets, {ACCOUNT}))
          AND {ALERT_FILTERS.replace(chr(10), chr(10) + " " * 8)}
        ORDER BY time"""


def group_members_sql() -> str:
    return f"""
        SELECT alert_id,
               {sql_names(PATTERNS)}[pattern_number] AS pattern,
               {sql_names(STATES)}[state_number] AS state,
               member_count, target_count, member
        FROM (
{indent(LATEST_ALERTS, 12)}
        )
        ARRAY JOIN members AS member
        WHERE pattern_number IN {GROUP_PATTERNS}
          AND (subject = {ACCOUNT} OR has(targets, {ACCOUNT}))
          AND {ALERT_FILTERS.replace(chr(10), chr(10) + " " * 8)}
        ORDER BY alert_id, member
        LIMIT 5000"""


def follow_sources_sql() -> str:
    return f"""
        SELECT toStartOfHour(time) AS time,
               concat(source, if(consented = 1, ' (consented)', ' (not consented)')) AS origin,
               count() AS follows
        FROM {DB}.engagement_events
        WHERE account_id = {ACCOUNT} AND type = 1
          AND $__timeFilter(time)
          AND {LIVE}
        GROUP BY time, origin
        ORDER BY time, origin"""


ACCOUNT_VARIABLE_SQL = f"""
    SELECT account_id FROM {DB}.alerts
    GROUP BY account_id
    ORDER BY max(score) DESC, account_id
    LIMIT 1000"""
DETECTOR_VARIABLE_SQL = f"SELECT DISTINCT detector FROM {DB}.alerts ORDER BY detector"


def clickhouse_variable(name: str, label: str, sql: str) -> dash.QueryVariable:
    return (
        dash.QueryVariable(name)
        .label(label)
        .datasource(CLICKHOUSE)
        .query({"rawSql": dedent(sql), "editorType": "sql", "format": CH_TABLE, "refId": "var"})
        .refresh(model.VariableRefresh.ON_DASHBOARD_LOAD)
    )


def account_drilldown() -> dash.Dashboard:
    ids = Ids()
    pattern_values = ", ".join(["all : 0", *(f"{p} : {i}" for i, p in enumerate(PATTERNS, 1))])
    return (
        base_dashboard(
            "engagewatch-account",
            "engagewatch / Account drill-down",
            "One account's series, alerts and groups, straight from the store (ClickHouse).",
        )
        .time("now-7d", "now")
        .with_variable(
            dash.TextBoxVariable("database")
            .label("Database")
            .description("The ClickHouse database of the engagewatch store.")
            .default_value("engagewatch")
            .current(model.VariableOption(selected=True, text="engagewatch", value="engagewatch"))
        )
        .with_variable(
            clickhouse_variable("account", "Account", ACCOUNT_VARIABLE_SQL).allow_custom_value(True)
        )
        .with_variable(
            clickhouse_variable("detector", "Detector", DETECTOR_VARIABLE_SQL)
            .include_all(True)
            .all_value("__all")
            .current(model.VariableOption(selected=True, text="All", value="$__all"))
        )
        .with_variable(
            dash.CustomVariable("pattern")
            .label("Pattern")
            .values(pattern_values)
            .current(model.VariableOption(selected=True, text="all", value="0"))
        )
        .annotation(
            dash.AnnotationQuery()
            .name("Alerts of the account")
            .datasource(CLICKHOUSE)
            .enable(True)
            .icon_color("red")
            .target(ClickHouseAnnotation(annotation_sql()))
        )
        .with_panel(
            series_panel(
                ids,
                "Metric series of $account",
                "Hourly counts as detectors see them: per bucket the larger of streamed "
                "points and counted events. Alert windows are the red annotations.",
                "short",
                [ClickHouse(account_series_sql(), CH_TIME_SERIES)],
                width=24,
                datasource=CLICKHOUSE,
            )
        )
        .with_panel(
            table.Panel()
            .id(ids.next())
            .title("Alerts concerning $account")
            .description("Latest version of every alert on the account or naming it a target.")
            .datasource(CLICKHOUSE)
            .targets([ClickHouse(account_alerts_sql())])
            .span(24)
            .height(9)
        )
        .with_panel(
            table.Panel()
            .id(ids.next())
            .title("Lockstep and forced-subscription group members")
            .description(
                "Actors of the lockstep_group and forced_subscription alerts that concern the "
                "account (a bounded sample per alert; member_count says how many in all)."
            )
            .datasource(CLICKHOUSE)
            .targets([ClickHouse(group_members_sql())])
            .span(12)
            .height(10)
        )
        .with_panel(
            series_panel(
                ids,
                "New followers of $account, by source and consent",
                "Raw follow events per hour: forced subscription shows as follows from signup "
                "or third-party flows without consent.",
                "short",
                [ClickHouse(follow_sources_sql(), CH_TIME_SERIES)],
                width=12,
                bars=True,
                stacked=True,
                datasource=CLICKHOUSE,
            )
        )
    )


# ---------------------------------------------------------------- output

DASHBOARDS = {
    "service-health.json": service_health,
    "fraud-overview.json": fraud_overview,
    "account-drilldown.json": account_drilldown,
}


def render(builder: dash.Dashboard) -> str:
    document: Any = json.loads(json.dumps(builder.build(), cls=JSONEncoder))
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if the committed JSON is out of date"
    )
    args = parser.parse_args(argv)
    stale = []
    for name, make in DASHBOARDS.items():
        path = OUT_DIR / name
        text = render(make())
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            OUT_DIR.mkdir(exist_ok=True)
            path.write_text(text)
    if stale:
        sys.stderr.write(
            f"dashboards/grafana/{', '.join(stale)} out of date with dashboards/generate.py: "
            "run python dashboards/generate.py and commit the result\n"
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
