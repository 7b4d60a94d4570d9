"""One alert per incident: a second opinion on the same metric anomaly becomes evidence.

The streaming detector (the NAB-scored model) and the metric detectors judging the same
account often see the same incident. Two alerts for one incident double the reviewing and
split the verdicts, so a streaming finding that overlaps another detector's finding on the
same account, metric and pattern is folded into that finding as `corroborated_by` evidence.
A streaming finding that no other detector made stays an alert of its own.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Sequence

from detectors.findings import Evidence, Finding

SECOND_OPINIONS = ("streaming",)


def fold_second_opinions(
    findings: Sequence[Finding], second: Sequence[str] = SECOND_OPINIONS
) -> list[Finding]:
    """The findings, with each second-opinion finding folded into an overlapping first one.

    Overlap: same subject, metric and pattern, and time spans that intersect. A first finding
    may collect several second opinions; each second opinion goes into every first finding it
    overlaps, so no finding loses the corroboration it earned.
    """
    firsts: dict[tuple[str, str | None, str], list[int]] = defaultdict(list)
    for i, f in enumerate(findings):
        if f.detector not in second and f.metric is not None:
            firsts[(f.subject, f.metric, f.pattern)].append(i)
    extra: dict[int, list[Evidence]] = defaultdict(list)
    kept: list[Finding] = []
    for f in findings:
        if f.detector not in second or f.metric is None:
            continue
        hosts = [
            i
            for i in firsts.get((f.subject, f.metric, f.pattern), [])
            if findings[i].start_time < f.end_time and f.start_time < findings[i].end_time
        ]
        if not hosts:
            kept.append(f)
            continue
        for i in hosts:
            extra[i].append(_as_evidence(f))
    out = [
        dataclasses.replace(f, evidence=f.evidence + tuple(extra[i])) if i in extra else f
        for i, f in enumerate(findings)
        if f.detector not in second or f.metric is None
    ]
    return out + kept


def _as_evidence(f: Finding) -> Evidence:
    return Evidence(
        "corroborated_by",
        {
            "detector": f.detector,
            "score": f.score,
            "observed": f.observed,
            "expected": f.expected,
            "from": f.start_time.isoformat(),
            "to": f.end_time.isoformat(),
            "explanation": f.explanation,
        },
    )
