"""HTML pieces of the demo report: labels, badges, the evidence table, one alert's row.

Plain HTML and CSS only: the report is a file someone forwards, opened with no network and
no scripts, so navigation is anchors and <details> elements.
"""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from typing import TypeAlias

from engagewatch.v1 import alert_service_pb2, types_pb2

Alert: TypeAlias = alert_service_pb2.Alert

SEVERITIES = (
    types_pb2.SEVERITY_CRITICAL,
    types_pb2.SEVERITY_HIGH,
    types_pb2.SEVERITY_MEDIUM,
    types_pb2.SEVERITY_LOW,
)
ACTION_TEXT = {
    types_pb2.ACTION_WARN: "Warn the account holder.",
    types_pb2.ACTION_LIMIT_FEATURES: "Limit some of the account's functions.",
    types_pb2.ACTION_SUSPEND_UPDATES: "Suspend the account's updates.",
    types_pb2.ACTION_STOP_ADS: "Stop ads on the account.",
    types_pb2.ACTION_CLOSE_ACCOUNT: "Close the account.",
    types_pb2.ACTION_BLACKLIST: "Blacklist the account holder.",
}

STYLE = """
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1f2933;
 background:#f5f6f8}
main{max-width:1360px;margin:0 auto;padding:24px 28px 60px}
h1{font-size:24px;margin:0 0 2px}h2{font-size:18px;margin:34px 0 10px;border-bottom:2px solid
 #d9dde3;padding-bottom:4px}h3{font-size:15px;margin:0 0 6px}
.sub{color:#52606d;margin:0 0 16px}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:12px 0}
.card{background:#fff;border:1px solid #d9dde3;border-radius:6px;padding:8px 14px;min-width:130px}
.card b{display:block;font-size:22px}.card span{color:#52606d;font-size:12px}
.cols{display:flex;flex-wrap:wrap;gap:24px;align-items:flex-start}
table{border-collapse:collapse;font-size:12.5px;background:#fff}
td,th{border:1px solid #d9dde3;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#eef0f3;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}
.sev{display:inline-block;border-radius:3px;padding:0 5px;font-size:11px;font-weight:700;
 color:#fff}
.sev-CRITICAL{background:#a61b29}.sev-HIGH{background:#d9480f}.sev-MEDIUM{background:#e0a100}
.sev-LOW{background:#7b8794}
.pat{display:inline-block;border:1px solid #9aa5b1;border-radius:3px;padding:0 4px;
 font-size:11px;margin:0 2px 2px 0;background:#fff;white-space:nowrap}
.case{background:#fff;border:1px solid #d9dde3;border-radius:6px;padding:14px 16px;margin:16px 0}
.case.CRITICAL{border-left:6px solid #a61b29}.case.HIGH{border-left:6px solid #d9480f}
.case.MEDIUM{border-left:6px solid #e0a100}.case.LOW{border-left:6px solid #7b8794}
.why{font-size:14.5px;margin:6px 0 10px}
.row{display:flex;flex-wrap:wrap;gap:16px;margin:8px 0;align-items:flex-start}
.row figure{margin:0}.row img{display:block;border:1px solid #e4e7eb}
.side{flex:1 1 330px;min-width:0}.side p{margin:0 0 8px;overflow-wrap:anywhere}
.members{margin-top:8px}.figcol{display:flex;flex-direction:column;gap:10px}
table.evidence{width:100%}table.evidence th:first-child{width:110px}
.kv{display:inline-block;margin:0 12px 1px 0}.kv i{font-style:normal;color:#616e7c}
figcaption{font-size:11.5px;color:#52606d;max-width:700px}
.facts{display:flex;flex-wrap:wrap;gap:6px 18px;font-size:12.5px;margin:6px 0 10px;color:#323f4b}
.facts b{color:#1f2933}
.action{background:#fff4e6;border:1px solid #f0c08a;border-radius:4px;padding:6px 10px;
 margin:0 0 10px;display:inline-block}
details{margin:6px 0}summary{cursor:pointer;font-weight:600}
details.pattern>summary,details.index>summary{font-size:14px;padding:4px 0}
details table{margin:6px 0 10px}
.case details details{margin-left:14px}.case details p{margin:4px 0 6px}
.small{font-size:12px;color:#52606d}
a{color:#0b5cad;text-decoration:none}a:hover{text-decoration:underline}
nav.toc a{margin-right:14px}
tr:target,section:target{outline:3px solid #f0c08a}
"""


def label(enum: object, number: int, prefix: str) -> str:
    name: str = enum.Name(number)  # type: ignore[attr-defined]
    return name.removeprefix(prefix)


def severity_name(alert: Alert) -> str:
    return label(types_pb2.Severity, alert.severity, "SEVERITY_")


def pattern_name(number: int) -> str:
    return label(types_pb2.Pattern, number, "PATTERN_")


def action_name(number: int) -> str:
    return label(types_pb2.Action, number, "ACTION_")


def metric_name(alert: Alert) -> str:
    return label(types_pb2.Metric, alert.metric, "METRIC_").lower() if alert.metric else "-"


def severity_badge(alert: Alert) -> str:
    name = severity_name(alert)
    return f"<span class='sev sev-{name}'>{name}</span>"


def pattern_badge(number: int) -> str:
    return f"<span class='pat'>{pattern_name(number)}</span>"


def pattern_anchor(number: int) -> str:
    return "pattern-" + pattern_name(number).lower()


def account_anchor(account_id: str) -> str:
    return "account-" + "".join(c if c.isalnum() or c in "-_" else "_" for c in account_id)


def utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def window(alert: Alert) -> str:
    start = alert.window_start.ToDatetime(tzinfo=UTC)
    end = alert.window_end.ToDatetime(tzinfo=UTC)
    if start.date() == end.date():
        return f"{utc(start)}&ndash;{end:%H:%M}"
    return f"{utc(start)} &ndash; {utc(end)}"


def number(value: float) -> str:
    """Counts as counts, shares and rates with three significant digits."""
    if value == 0 or abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:,.1f}"
    return f"{value:.3g}"


def evidence_table(alert: Alert) -> str:
    """Every evidence item as one row: its kind, then its facts as key-value pairs."""
    rows = []
    for item in alert.evidence:
        facts = "".join(
            f"<span class='kv'><i>{escape(key.replace('_', ' '))}</i> {escape(value)}</span>"
            for key, value in sorted(item.values.items())
        )
        rows.append(f"<tr><th>{escape(item.kind.replace('_', ' '))}</th><td>{facts}</td></tr>")
    return (
        "<table class='evidence'><tr><th>evidence</th><th>key facts</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def alert_row(alert: Alert, link: str, case: str) -> str:
    """One table row: the account cell links to the alert, the last cell to its case."""
    return (
        f"<tr><td>{severity_badge(alert)}</td><td class='n'>{alert.score:.2f}</td>"
        f"<td><a href='#{escape(link)}'>{escape(alert.account_id)}</a></td>"
        f"<td>{escape(alert.detector)}</td><td>{metric_name(alert)}</td>"
        f"<td>{window(alert)}</td><td>{action_name(alert.recommended_action)}</td>"
        f"<td><a href='#{escape(case)}'>#{escape(case.removeprefix('case-'))}</a></td></tr>"
    )


ALERT_ROW_HEAD = (
    "<tr><th>severity</th><th>score</th><th>account</th><th>detector</th><th>metric</th>"
    "<th>window (UTC)</th><th>action</th><th>case</th></tr>"
)
