"""The demo's HTML report: per alert the series with the window shaded, evidence, group graph."""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import networkx as nx
import numpy as np
from matplotlib.figure import Figure  # the object API: no global pyplot state, no screen

from detectors.findings import METRICS, Panel
from engagewatch.v1 import alert_service_pb2, types_pb2
from server.evaluation import Evaluation

_GROUP_PATTERNS = {types_pb2.PATTERN_LOCKSTEP_GROUP, types_pb2.PATTERN_COORDINATED_SHARING}
_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px}
th{background:#f3f3f3}.alert{border-top:2px solid #999;margin-top:2em;padding-top:1em}
.sev-CRITICAL{color:#b00020;font-weight:bold}.sev-HIGH{color:#d35400}.sev-MEDIUM{color:#b7950b}
"""


def _png(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode()


def _label(enum: type, number: int, prefix: str) -> str:
    return str(enum.Name(number)).removeprefix(prefix)  # type: ignore[attr-defined]


def _series_plot(alert: alert_service_pb2.Alert, panel: Panel) -> str | None:
    rows = np.flatnonzero(panel.account_ids == alert.account_id)
    if not len(rows):
        return None
    times = panel.bucket_times.astype("datetime64[s]").astype(datetime)
    metric = METRICS[alert.metric - 1] if alert.metric else "follows"
    partners = [m for m in ("impressions", "clicks", "comments") if m != metric]
    fig = Figure(figsize=(10, 2.6))
    axis = fig.subplots()
    axis.plot(times, panel.metric(metric)[rows[0]], label=metric, color="#c0392b", lw=1.2)
    for partner in partners:
        series = panel.metric(partner)[rows[0]]
        peak = panel.metric(metric)[rows[0]].max() or 1.0
        scale = peak / (series.max() or 1.0)
        axis.plot(times, series * scale, lw=0.7, alpha=0.6, label=f"{partner} (scaled)")
    axis.axvspan(
        alert.window_start.ToDatetime(), alert.window_end.ToDatetime(), color="orange", alpha=0.25
    )
    axis.set_title(f"{alert.account_id}: {metric} per hour, alert window shaded", fontsize=10)
    axis.legend(fontsize=7, loc="upper left")
    return _png(fig)


def _group_plot(alert: alert_service_pb2.Alert) -> str | None:
    members, targets = list(alert.member_ids[:40]), list(alert.target_ids[:15])
    if not members or not targets:
        return None
    graph = nx.Graph()
    graph.add_nodes_from(members, side=0)
    graph.add_nodes_from(targets, side=1)
    # The alert keeps samples, not edges: draw the bipartite sample the group acted on.
    graph.add_edges_from((m, t) for m in members for t in targets)
    fig = Figure(figsize=(6, 4))
    axis = fig.subplots()
    layout = nx.bipartite_layout(graph, members)
    nx.draw_networkx_nodes(
        graph, layout, nodelist=members, node_size=18, node_color="#c0392b", ax=axis
    )
    nx.draw_networkx_nodes(
        graph, layout, nodelist=targets, node_size=60, node_color="#2c3e50", ax=axis
    )
    nx.draw_networkx_edges(graph, layout, width=0.2, alpha=0.3, ax=axis)
    axis.set_title(
        f"group sample: {len(members)} of {alert.member_count} actors (red) on "
        f"{len(targets)} of {alert.target_count} accounts (blue)",
        fontsize=9,
    )
    axis.axis("off")
    return _png(fig)


def _evidence_table(alert: alert_service_pb2.Alert) -> str:
    rows = []
    for item in alert.evidence:
        facts = ", ".join(f"{k}={v}" for k, v in sorted(item.values.items()))
        rows.append(f"<tr><td>{html.escape(item.kind)}</td><td>{html.escape(facts)}</td></tr>")
    return "<table><tr><th>evidence</th><th>facts</th></tr>" + "".join(rows) + "</table>"


def write_report(
    path: Path,
    alerts: Sequence[alert_service_pb2.Alert],
    panel: Panel,
    evaluation: Evaluation,
    title: str,
) -> None:
    """Writes a self-contained HTML report (plots inlined)."""
    parts = [f"<html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"]
    parts.append(f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>")
    parts.append(f"<p>{html.escape(evaluation.summary())}</p>")
    for hit in evaluation.hard_negative_hits:
        parts.append(f"<p>alert on a hard negative: {html.escape(hit)}</p>")
    parts.append("<table><tr><th>pattern</th><th>planted cases</th><th>found</th></tr>")
    for pattern, score in sorted(evaluation.per_pattern.items()):
        parts.append(f"<tr><td>{pattern}</td><td>{score.cases}</td><td>{score.found}</td></tr>")
    parts.append("</table><h2>Alerts</h2><table><tr><th>severity</th><th>score</th>")
    parts.append("<th>pattern</th><th>account</th><th>action</th><th>explanation</th></tr>")
    for alert in alerts:
        severity = _label(types_pb2.Severity, alert.severity, "SEVERITY_")
        parts.append(
            f"<tr><td class='sev-{severity}'>{severity}</td><td>{alert.score:.2f}</td>"
            f"<td>{_label(types_pb2.Pattern, alert.pattern, 'PATTERN_')}</td>"
            f"<td><a href='#{alert.alert_id}'>{html.escape(alert.account_id)}</a></td>"
            f"<td>{_label(types_pb2.Action, alert.recommended_action, 'ACTION_')}</td>"
            f"<td>{html.escape(alert.explanation)}</td></tr>"
        )
    parts.append("</table>")
    for alert in alerts:
        parts.append(f"<div class='alert' id='{alert.alert_id}'>")
        parts.append(
            f"<h3>{html.escape(alert.account_id)} — "
            f"{_label(types_pb2.Pattern, alert.pattern, 'PATTERN_')} "
            f"({alert.detector}, score {alert.score:.2f})</h3>"
        )
        parts.append(f"<p>{html.escape(alert.explanation)}</p>")
        parts.append(f"<p>observed {alert.observed:,.1f} vs expected {alert.expected:,.1f}</p>")
        plots = [_series_plot(alert, panel)]
        if alert.pattern in _GROUP_PATTERNS or alert.member_ids:
            plots.append(_group_plot(alert))
        for plot in filter(None, plots):
            parts.append(f"<img src='data:image/png;base64,{plot}'/>")
        parts.append(_evidence_table(alert))
        if alert.member_ids:
            members = json.dumps(list(alert.member_ids[:50]))
            parts.append(f"<p>members (sample): {html.escape(members)}</p>")
        parts.append("</div>")
    parts.append("</body></html>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(parts), encoding="utf-8")
