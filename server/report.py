"""The demo's HTML report: a summary, the cases worst first with figures, and every alert indexed.

One self-contained file (figures are PNG data URIs, no scripts, no fetches) that an analyst
can forward: the run and its quality figures on top, then each case with the series against
its expected band, the group graph where there is a group, the evidence table, the
explanation and the recommended action; every alert is reachable by account and by pattern.
Figures are drawn for the first `max_detailed` cases only, which bounds the time it takes.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import TypeAlias

from detectors.findings import EventFrame, Panel
from engagewatch.v1 import alert_service_pb2
from server.evaluation import Evaluation
from server.report_cases import Case, build_cases, is_group, rank_key
from server.report_figures import Expectations, group_figure, series_figure
from server.report_html import (
    ACTION_TEXT,
    ALERT_ROW_HEAD,
    SEVERITIES,
    STYLE,
    account_anchor,
    action_name,
    alert_row,
    evidence_table,
    metric_name,
    number,
    pattern_anchor,
    pattern_badge,
    pattern_name,
    severity_badge,
    severity_name,
    utc,
    window,
)

logger = logging.getLogger(__name__)

Alert: TypeAlias = alert_service_pb2.Alert

DEFAULT_MAX_DETAILED = 20
_MEMBERS_LISTED = 30


@dataclass(frozen=True, slots=True)
class RunInfo:
    """What the report says about the run that raised the alerts."""

    title: str
    window_start: datetime  # the judged window
    window_end: datetime
    facts: tuple[tuple[str, str], ...] = ()  # (label, text) lines, e.g. ingest and timings


@dataclass(frozen=True, slots=True)
class ReportStats:
    alerts: int
    cases: int
    detailed_cases: int
    figures: int
    seconds: float


def write_report(
    path: Path,
    alerts: Sequence[Alert],
    panel: Panel,
    evaluation: Evaluation | None,
    run: RunInfo,
    events: EventFrame | None = None,
    max_detailed: int = DEFAULT_MAX_DETAILED,
) -> ReportStats:
    """Writes the report to `path`.

    Args:
        panel: the series the alerts were raised on; its `judge_from` marks the judged window.
        evaluation: quality against a known truth (the simulator's), if there is one.
        events: raw events of the group alerts' targets, for the group graphs.
        max_detailed: how many cases get figures.
    """
    began = time.perf_counter()
    text, figures, cases = render_report(alerts, panel, evaluation, run, events, max_detailed)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    stats = ReportStats(
        alerts=len(alerts),
        cases=len(cases),
        detailed_cases=sum(c.detailed for c in cases),
        figures=figures,
        seconds=time.perf_counter() - began,
    )
    logger.info("report written: %d figures in %.1f s", stats.figures, stats.seconds)
    return stats


def render_report(
    alerts: Sequence[Alert],
    panel: Panel,
    evaluation: Evaluation | None,
    run: RunInfo,
    events: EventFrame | None = None,
    max_detailed: int = DEFAULT_MAX_DETAILED,
) -> tuple[str, int, list[Case]]:
    """The report's HTML, how many figures it holds, and its cases."""
    cases = build_cases(alerts, max_detailed)
    case_of = {a.alert_id: c for c in cases for a in c.alerts}
    fits = Expectations(panel)
    body: list[str] = [_header(alerts, panel, evaluation, run, cases)]
    body.append(_index(alerts, case_of))
    drawn = min(max_detailed, len(cases))
    which = (
        "Every case has figures."
        if drawn == len(cases)
        else f"The first {drawn} have figures; the rest show their evidence and action."
    )
    body.append(
        f"<h2 id='cases'>Cases, worst first</h2><p class='small'>{len(cases)} cases: a group "
        f"alert with the alerts on the accounts it targeted, or one account's alerts. {which}"
        "</p>"
    )
    figures = 0
    for number_, case in enumerate(cases, start=1):
        html, drawn = _case(number_, case, panel, fits, events)
        body.append(html)
        figures += drawn
    page = (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width'><title>{escape(run.title)}</title>"
        f"<style>{STYLE}</style></head><body><main>{''.join(body)}</main></body></html>"
    )
    return page, figures, cases


def _header(
    alerts: Sequence[Alert],
    panel: Panel,
    evaluation: Evaluation | None,
    run: RunInfo,
    cases: list[Case],
) -> str:
    hours = (run.window_end - run.window_start).total_seconds() / 3600
    parts = [
        f"<h1>{escape(run.title)}</h1><p class='sub'>Judged window {utc(run.window_start)} &ndash; "
        f"{utc(run.window_end)} UTC ({hours:.0f} h) · {panel.n_accounts:,} accounts · report "
        f"generated {utc(datetime.now(UTC))} UTC</p>",
        "<nav class='toc'><a href='#summary'>Summary</a><a href='#index'>Alerts by account "
        "and pattern</a><a href='#cases'>Cases</a></nav>",
    ]
    flagged = len({a.account_id for a in alerts})
    severe = sum(a.severity >= SEVERITIES[1] for a in alerts)
    cards = [
        (f"{len(alerts)}", "alerts"),
        (f"{flagged} / {panel.n_accounts:,}", "accounts flagged"),
        (f"{severe}", "critical or high"),
        (f"{len(cases)}", "cases"),
    ]
    if evaluation is not None:
        cards += [
            (f"{evaluation.precision:.2f}", "precision vs planted truth"),
            (f"{evaluation.recall:.2f}", "recall of planted cases"),
            (f"{evaluation.hard_negative_alerts}", "alerts on hard negatives"),
        ]
    parts.append("<h2 id='summary'>Summary</h2><div class='cards'>")
    parts += [f"<div class='card'><b>{v}</b><span>{escape(k)}</span></div>" for v, k in cards]
    parts.append("</div><div class='cols'>")
    parts.append(_pattern_severity_table(alerts))
    if evaluation is not None:
        parts.append(_quality_table(evaluation))
    parts.append(_action_table(alerts))
    parts.append("</div>")
    if run.facts:
        parts.append("<h3 style='margin-top:18px'>The run</h3><table>")
        parts += [f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in run.facts]
        parts.append("</table>")
    return "".join(parts)


def _pattern_severity_table(alerts: Sequence[Alert]) -> str:
    counts = Counter((a.pattern, a.severity) for a in alerts)
    patterns = sorted({a.pattern for a in alerts})
    head = "".join(f"<th>{severity_name(_probe(s))}</th>" for s in SEVERITIES)
    rows = [f"<table><tr><th>pattern</th>{head}<th>total</th></tr>"]
    for pattern in patterns:
        cells = "".join(f"<td class='n'>{counts[(pattern, s)] or ''}</td>" for s in SEVERITIES)
        total = sum(counts[(pattern, s)] for s in SEVERITIES)
        rows.append(
            f"<tr><td><a href='#{pattern_anchor(pattern)}'>{pattern_name(pattern)}</a></td>"
            f"{cells}<td class='n'><b>{total}</b></td></tr>"
        )
    totals = "".join(
        f"<td class='n'><b>{sum(a.severity == s for a in alerts)}</b></td>" for s in SEVERITIES
    )
    rows.append(f"<tr><th>all</th>{totals}<td class='n'><b>{len(alerts)}</b></td></tr></table>")
    return "".join(rows)


def _probe(severity: int) -> Alert:
    return Alert(severity=severity)


def _quality_table(evaluation: Evaluation) -> str:
    rows = ["<table><tr><th>planted pattern</th><th>cases</th><th>found</th><th>recall</th></tr>"]
    for pattern, score in sorted(evaluation.per_pattern.items()):
        rows.append(
            f"<tr><td>{escape(pattern)}</td><td class='n'>{score.cases}</td>"
            f"<td class='n'>{score.found}</td><td class='n'>{score.recall:.2f}</td></tr>"
        )
    rows.append(
        f"<tr><td colspan='4' class='small'>{escape(evaluation.summary())}</td></tr></table>"
    )
    for hit in evaluation.hard_negative_hits:
        rows.append(f"<p class='small'>alert on a hard negative: {escape(hit)}</p>")
    return "<div>" + "".join(rows) + "</div>"


def _action_table(alerts: Sequence[Alert]) -> str:
    counts = Counter(a.recommended_action for a in alerts)
    rows = ["<table><tr><th>recommended action</th><th>alerts</th></tr>"]
    for action in sorted(counts, reverse=True):
        rows.append(f"<tr><td>{action_name(action)}</td><td class='n'>{counts[action]}</td></tr>")
    return "".join(rows) + "</table>"


def _alert_anchor(alert: Alert) -> str:
    return "alert-" + "".join(c if c.isalnum() or c in "-_" else "_" for c in alert.alert_id)


def _index(alerts: Sequence[Alert], case_of: dict[str, Case]) -> str:
    """Alerts per account (one row each) and per pattern (one <details> each)."""
    by_account: dict[str, list[Alert]] = {}
    for alert in sorted(alerts, key=rank_key):
        by_account.setdefault(alert.account_id, []).append(alert)
    parts = [
        "<h2 id='index'>Alerts by account and pattern</h2>",
        f"<details class='index'><summary>By account ({len(by_account)} accounts, worst "
        "first; each pattern links to its alert)</summary><table><tr><th>account</th>"
        "<th>worst</th><th>alerts</th><th>patterns</th><th>detectors</th><th>strongest action</th>"
        "<th>case</th></tr>",
    ]
    for account, own in by_account.items():
        per_pattern: dict[int, list[Alert]] = {}
        for alert in own:
            per_pattern.setdefault(alert.pattern, []).append(alert)
        links = "".join(
            f"<a href='#{_alert_anchor(same[0])}'>{pattern_badge(pattern)}</a>"
            + (f"<span class='small'>&times;{len(same)}</span> " if len(same) > 1 else " ")
            for pattern, same in per_pattern.items()
        )
        detectors = ", ".join(sorted({a.detector for a in own}))
        cases = sorted({case_of[a.alert_id].anchor for a in own}, key=lambda s: int(s[5:]))
        case_links = " ".join(f"<a href='#{c}'>#{c[5:]}</a>" for c in cases)
        action = max(a.recommended_action for a in own)
        parts.append(
            f"<tr id='{account_anchor(account)}'><td>{escape(account)}</td>"
            f"<td>{severity_badge(own[0])}</td><td class='n'>{len(own)}</td><td>{links}</td>"
            f"<td class='small'>{escape(detectors)}</td><td>{action_name(action)}</td>"
            f"<td>{case_links}</td></tr>"
        )
    parts.append("</table></details>")
    by_pattern: dict[int, list[Alert]] = {}
    for alert in sorted(alerts, key=rank_key):
        by_pattern.setdefault(alert.pattern, []).append(alert)
    for pattern in sorted(by_pattern):
        own = by_pattern[pattern]
        severities = Counter(severity_name(a) for a in own)
        spread = ", ".join(f"{severities[n]} {n.lower()}" for n in _severity_names(severities))
        parts.append(
            f"<details class='pattern' id='{pattern_anchor(pattern)}'><summary>"
            f"{pattern_badge(pattern)} {len(own)} alerts ({spread})</summary><table>"
            f"{ALERT_ROW_HEAD}"
        )
        parts += [alert_row(a, _alert_anchor(a), case_of[a.alert_id].anchor) for a in own]
        parts.append("</table></details>")
    return "".join(parts)


def _severity_names(counts: Counter[str]) -> list[str]:
    order = [severity_name(_probe(s)) for s in SEVERITIES]
    return [n for n in order if counts[n]]


def _case(
    number_: int, case: Case, panel: Panel, fits: Expectations, events: EventFrame | None
) -> tuple[str, int]:
    lead = case.lead
    title = (
        f"#{number_} · {escape(lead.account_id)} · {pattern_name(lead.pattern)} "
        f"{severity_badge(lead)} score {lead.score:.2f}"
    )
    parts = [
        f"<section class='case {severity_name(lead)}' id='{case.anchor}'>",
        f"<h3 id='{_alert_anchor(lead)}'>{title}</h3>",
        f"<p class='why'>{escape(lead.explanation)}</p>",
        _facts(lead, case),
    ]
    action = (
        f"<div class='action'>Recommended action: <b>{action_name(lead.recommended_action)}"
        f"</b> — {escape(ACTION_TEXT.get(lead.recommended_action, 'none'))}</div>"
    )
    series, group = _figures(lead, panel, fits, events) if case.detailed else (None, None)
    sample = _group_sample(lead) if is_group(lead) else ""
    side = f"<div class='side'>{action}{evidence_table(lead)}{sample}</div>"
    figures = "".join(f for f in (series, group) if f is not None)
    if figures:
        figures = f"<div class='figcol'>{figures}</div>"
    parts.append(f"<div class='row'>{figures}{side}</div>")
    drawn = (series is not None) + (group is not None)
    rest = case.alerts[1:]
    if rest:
        accounts = len({a.account_id for a in rest})
        parts.append(
            f"<details><summary>{len(rest)} more alert{'s' if len(rest) > 1 else ''} in this "
            f"case, on {accounts} account{'s' if accounts > 1 else ''}</summary>"
        )
        parts += [_other_alert(a) for a in rest]
        parts.append("</details>")
    parts.append("</section>")
    return "".join(parts), drawn


def _facts(alert: Alert, case: Case) -> str:
    facts = [
        ("detector", escape(alert.detector)),
        ("window (UTC)", window(alert)),
        ("metric", metric_name(alert)),
        ("observed", number(alert.observed)),
        ("expected", number(alert.expected)),
    ]
    if is_group(alert):
        members = alert.member_count or len(alert.member_ids)
        targets = alert.target_count or len(alert.target_ids)
        facts.append(("group", f"{members} members → {targets} accounts"))
    if len(case.accounts) > 1:
        facts.append(("accounts in case", str(len(case.accounts))))
    facts.append(("alert id", f"<code>{escape(alert.alert_id)}</code>"))
    return (
        "<div class='facts'>" + "".join(f"<span><b>{k}</b> {v}</span>" for k, v in facts) + "</div>"
    )


def _figures(
    alert: Alert, panel: Panel, fits: Expectations, events: EventFrame | None
) -> tuple[str | None, str | None]:
    """The series figure and, for a group, the group graph, as <figure> elements."""
    series = group = None
    uri = series_figure(alert, panel, fits)
    if uri is not None:
        series = (
            f"<figure><img alt='series of {escape(alert.account_id)}' src='{uri}' "
            "width='653'><figcaption>Top: observed against the detectors' seasonal baseline "
            "(band ±2 sd of its noise model). Bottom: the metric and its partner metrics as "
            "observed ÷ expected over 6 hours; organic bursts lift the partners too."
            "</figcaption></figure>"
        )
    if is_group(alert) and events is not None:
        drawn = group_figure(alert, events)
        if drawn is not None:
            uri, sample = drawn
            group = (
                f"<figure><img alt='group graph' src='{uri}' width='461'><figcaption>"
                f"Sample of the group: {sample.members_drawn} members, "
                f"{sample.targets_drawn} targets, {sample.edges_drawn:,} edges from "
                f"{sample.events_drawn:,} events in the alert window; edge width by count."
                "</figcaption></figure>"
            )
    return series, group


def _group_sample(alert: Alert) -> str:
    """The group's sampled ids as text, for search and for the platform's own tools."""
    members = alert.member_count or len(alert.member_ids)
    targets = alert.target_count or len(alert.target_ids)
    shown = list(alert.member_ids[:_MEMBERS_LISTED])
    more = " …" if members > len(shown) else ""
    return (
        f"<div class='small members'><p><b>Members</b> ({len(shown)} of {members}): "
        f"{escape(', '.join(shown))}{more}</p><p><b>Target accounts</b> "
        f"({len(alert.target_ids)} of {targets}): {escape(', '.join(alert.target_ids))}</p>"
        "</div>"
    )


def _other_alert(alert: Alert) -> str:
    return (
        f"<details id='{_alert_anchor(alert)}'><summary>{severity_badge(alert)} "
        f"{pattern_badge(alert.pattern)} {escape(alert.account_id)} · "
        f"{escape(alert.detector)} · {metric_name(alert)} · {window(alert)} · score "
        f"{alert.score:.2f} · {action_name(alert.recommended_action)}</summary>"
        f"<p>{escape(alert.explanation)}</p>{evidence_table(alert)}</details>"
    )
