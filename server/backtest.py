"""Replays the schedule over a past window with today's configuration, writing nothing.

Each tick t of the replay judges [t - window, t) exactly as the live schedule would
(`DetectionRunner.judge`, the same function the live run uses before it writes), with the
current operating points. A finding alerts at the first tick where it clears its operating
point, as the alert book would raise it then; later ticks only re-detect it. Alerts a
reviewer dismissed stay dismissed, as in the live book, and are reported as such.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from detectors.findings import Finding
from engagewatch.v1 import types_pb2
from server.alerts import alert_id_for
from server.detection import DetectionRunner, floor_hour
from server.errors import InvalidArgument
from server.records import AlertRecord

MAX_TICKS = 24 * 90  # a quarter of hourly ticks: more is a mistake in --start/--end


class AlertLookup(Protocol):
    def get_alerts(self, alert_ids: Sequence[str]) -> dict[str, AlertRecord]: ...


@dataclass(frozen=True, slots=True)
class WouldAlert:
    """One alert the replay would have raised."""

    tick: datetime  # the schedule run that would have raised it
    alert_id: str
    detector: str
    pattern: str
    account_id: str
    score: float
    operating_point: float
    window_start: datetime
    window_end: datetime
    explanation: str
    in_store: str  # the live alert's state: "none" (never raised), "open", "confirmed", "dismissed"


@dataclass(slots=True)
class Tick:
    """What one replayed schedule run saw."""

    end: datetime  # the run judged [end - window, end)
    accounts_scored: int
    findings: int
    below_point: int
    raised: list[WouldAlert]
    seconds: float


@dataclass(slots=True)
class BacktestReport:
    start: datetime
    end: datetime
    step: timedelta
    window: timedelta
    detectors: list[str]
    operating_points: dict[tuple[str, str], float]  # as applied, for pairs that reported
    ticks: list[Tick] = field(default_factory=list)

    @property
    def alerts(self) -> list[WouldAlert]:
        return [a for t in self.ticks for a in t.raised]

    @property
    def would_alert(self) -> list[WouldAlert]:
        """Alerts the live book would raise or keep: all but those a reviewer dismissed."""
        return [a for a in self.alerts if a.in_store != "dismissed"]


_STATE_NAMES = {
    types_pb2.ALERT_STATE_OPEN: "open",
    types_pb2.ALERT_STATE_CONFIRMED: "confirmed",
    types_pb2.ALERT_STATE_DISMISSED: "dismissed",
}


def tick_times(start: datetime, end: datetime, step: timedelta) -> list[datetime]:
    """The schedule's run times in (start, end], on whole hours, `step` apart."""
    if step < timedelta(hours=1) or step % timedelta(hours=1):
        raise InvalidArgument("step must be whole hours", [("step_hours", "a whole number >= 1")])
    first, last = floor_hour(start) + step, floor_hour(end)
    if last < first:
        raise InvalidArgument(
            "the window holds no schedule tick", [("end", "at least one step after start")]
        )
    count = (last - first) // step + 1
    if count > MAX_TICKS:
        raise InvalidArgument(
            f"{count} ticks; at most {MAX_TICKS}", [("step_hours", "larger, or a shorter window")]
        )
    return [first + i * step for i in range(count)]


def backtest(
    runner: DetectionRunner,
    alerts: AlertLookup,
    start: datetime,
    end: datetime,
    *,
    step: timedelta = timedelta(hours=1),
    window: timedelta = timedelta(hours=24),
    detector_names: Sequence[str] = (),
    account_ids: Sequence[str] = (),
) -> BacktestReport:
    """Replays the schedule's runs in (start, end] and reports what each would have raised."""
    ticks = tick_times(start, end, step)
    report = BacktestReport(
        start=start,
        end=end,
        step=step,
        window=window,
        detectors=sorted(detector_names) or runner.detector_names,
        operating_points={},
    )
    seen: set[str] = set()
    pairs: set[tuple[str, str]] = set()  # (detector, pattern) that reported: their points matter
    # The schedule's memory of groups, replayed from the first tick: the live one holds today's.
    states: dict[str, Any] = {}
    for tick in ticks:
        began = time.perf_counter()
        judged = runner.judge(tick - window, tick, account_ids, detector_names, states)
        states.update(judged.group_states)
        pairs.update((f.detector, f.pattern) for f in judged.findings)
        report.operating_points = {k: v for k, v in judged.points.items() if k in pairs}
        fresh: dict[str, Finding] = {}
        for finding in judged.alerting:
            alert_id = alert_id_for(finding.detector, finding.key)
            if alert_id not in seen and (
                alert_id not in fresh or finding.score > fresh[alert_id].score
            ):
                fresh[alert_id] = finding
        live = alerts.get_alerts(list(fresh))
        raised = [
            WouldAlert(
                tick=tick,
                alert_id=alert_id,
                detector=f.detector,
                pattern=f.pattern,
                account_id=f.subject,
                score=f.score,
                operating_point=judged.points.get((f.detector, f.pattern), 0.0),
                window_start=f.start_time,
                window_end=f.end_time,
                explanation=f.explanation,
                in_store=_STATE_NAMES.get(live[alert_id].state, "open")
                if alert_id in live
                else "none",
            )
            for alert_id, f in sorted(fresh.items(), key=lambda kv: -kv[1].score)
        ]
        seen.update(fresh)
        report.ticks.append(
            Tick(
                end=tick,
                accounts_scored=judged.accounts_scored,
                findings=len(judged.findings),
                below_point=len(judged.below_point),
                raised=raised,
                seconds=time.perf_counter() - began,
            )
        )
    return report


def format_table(report: BacktestReport) -> str:
    """The report as a table a person reads: one line per tick, then the alerts."""
    lines = [
        f"backtest {report.start.isoformat()} .. {report.end.isoformat()}, "
        f"step {_hours(report.step)} h, window {_hours(report.window)} h, "
        f"{len(report.ticks)} ticks",
        "",
        f"{'tick (UTC)':<17} {'accounts':>8} {'findings':>8} {'below pt':>8} {'alerts':>6} "
        f"{'seconds':>8}",
    ]
    for t in report.ticks:
        lines.append(
            f"{t.end:%Y-%m-%d %H:%M} {t.accounts_scored:>8} {t.findings:>8} {t.below_point:>8} "
            f"{len(t.raised):>6} {t.seconds:>8.1f}"
        )
    alerts = report.alerts
    lines += ["", f"{len(report.would_alert)} alerts would be raised or kept ({len(alerts)} found)"]
    if alerts:
        lines.append(
            f"{'tick (UTC)':<17} {'score':>5} {'point':>5} {'detector':<20} {'pattern':<20} "
            f"{'account':<16} {'live':<9}"
        )
        for a in alerts:
            lines.append(
                f"{a.tick:%Y-%m-%d %H:%M} {a.score:>5.2f} {a.operating_point:>5.2f} "
                f"{a.detector:<20} {a.pattern:<20} {a.account_id:<16} {a.in_store:<9}"
            )
    if report.operating_points:
        lines += ["", "operating points (detector/pattern: lowest score that alerts):"]
        lines += [f"  {d}/{p}: {v:.3f}" for (d, p), v in sorted(report.operating_points.items())]
    return "\n".join(lines)


def to_json(report: BacktestReport) -> dict[str, Any]:
    """The report as a JSON-ready dict (times in ISO 8601)."""

    def alert(a: WouldAlert) -> dict[str, Any]:
        out = asdict(a)
        for k in ("tick", "window_start", "window_end"):
            out[k] = out[k].isoformat()
        return out

    return {
        "start": report.start.isoformat(),
        "end": report.end.isoformat(),
        "step_hours": _hours(report.step),
        "window_hours": _hours(report.window),
        "detectors": report.detectors,
        "operating_points": [
            {"detector": d, "pattern": p, "value": v}
            for (d, p), v in sorted(report.operating_points.items())
        ],
        "ticks": [
            {
                "end": t.end.isoformat(),
                "accounts_scored": t.accounts_scored,
                "findings": t.findings,
                "below_point": t.below_point,
                "alerts": [alert(a) for a in t.raised],
                "seconds": round(t.seconds, 3),
            }
            for t in report.ticks
        ],
        "would_alert": len(report.would_alert),
    }


def _hours(span: timedelta) -> int:
    return int(span.total_seconds() // 3600)
