"""One detection run: read the window from the store, run the detectors, apply the alerts.

The schedule, RunDetection, `engagewatch detect` and the demo all go through `DetectionRunner.run`;
`engagewatch backtest` goes through `DetectionRunner.judge`, the same path minus the writes.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import detectors
import graphs
from detectors.corroborate import fold_second_opinions
from detectors.findings import EventFrame, Finding, Panel
from engagewatch.v1 import types_pb2
from server.alerts import AlertBook, pattern_name
from server.config import FeedbackSettings
from server.errors import InvalidArgument
from server.feedback import OperatingPoints, OperatingPointStore, reporting_floor
from server.metrics import Metrics

logger = logging.getLogger(__name__)

MAX_WINDOW = timedelta(days=90)
BUCKET = timedelta(hours=1)


class DetectionStore(OperatingPointStore, Protocol):
    """The part of the store a detection run and the schedule read."""

    def series(
        self,
        start: datetime,
        end: datetime,
        account_ids: Sequence[str] | None = None,
        judge_from: datetime | None = None,
    ) -> Panel: ...

    def events(
        self,
        start: datetime,
        end: datetime,
        account_ids: Sequence[str] | None = None,
        types: Sequence[str] | None = None,
    ) -> EventFrame: ...

    def arrivals(
        self, since: datetime, start: datetime, end: datetime
    ) -> list[tuple[datetime, int]]: ...
    def read_mark(self, name: str) -> datetime | None: ...
    def write_mark(self, name: str, mark: datetime) -> None: ...


@dataclass(slots=True)
class Judgement:
    """What one window yields before anything is written: shared by live runs and backtests."""

    start: datetime
    end: datetime
    accounts_scored: int
    findings: list[Finding]  # everything the detectors reported
    alerting: list[Finding]  # at or above the operating point of their (detector, pattern)
    below_point: list[Finding]  # reported, but below the point: no alert
    points: dict[tuple[str, str], float]  # the operating points applied
    read_seconds: float
    timings: list[tuple[str, float, int]] = field(default_factory=list)  # detector, s, findings
    # What incremental detectors remember after this window; a live run keeps it for the next
    # run, a backtest for its next tick.
    group_states: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class RunResult:
    run_id: str
    accounts_scored: int
    findings: list[Finding]
    raised: int
    updated: int
    read_seconds: float
    timings: list[tuple[str, float, int]] = field(default_factory=list)  # detector, s, findings
    below_point: int = 0  # findings under their operating point, not alerted


def floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


class DetectionRunner:
    """Runs the registered detectors over a window; safe to call from several threads.

    `judge` goes from a window to the alerts it warrants; `run` (the schedule, RunDetection,
    `engagewatch detect`) then writes and publishes them, a backtest only reports them.
    """

    def __init__(
        self,
        store: DetectionStore,
        book: AlertBook,
        metrics: Metrics,
        history: timedelta,
        statistical: dict[str, Any] | None = None,
        graph: dict[str, Any] | None = None,
        on_alerts_changed: Callable[[], None] | None = None,
        feedback: FeedbackSettings | None = None,
    ) -> None:
        self._store = store
        self._book = book
        self._metrics = metrics
        self._history = history
        self._statistical = statistical or {d.name: d for d in detectors.default_detectors()}
        # Everything judged on the window's raw events: the graph detectors and actor_mix.
        self._graph = graph or {
            d.name: d for d in [*graphs.default_detectors(), *detectors.default_event_detectors()]
        }
        self._on_alerts_changed = on_alerts_changed
        # Groups seen by incremental detectors (lockstep) in earlier live runs: a group that
        # grows keeps its key, and so its alert, though this window holds only its new part.
        self._group_states: dict[str, Any] = {}
        self._lock = threading.Lock()  # one run at a time: runs are CPU-bound on 2 cores
        floors = {
            name: reporting_floor(d) for name, d in {**self._statistical, **self._graph}.items()
        }
        self.operating_points = OperatingPoints(
            store, metrics, feedback or FeedbackSettings(), floors
        )
        self.operating_points.load()

    @property
    def store(self) -> DetectionStore:
        return self._store

    @property
    def metrics(self) -> Metrics:
        return self._metrics

    @property
    def detector_names(self) -> list[str]:
        return sorted([*self._statistical, *self._graph])

    def judge(
        self,
        start: datetime,
        end: datetime,
        account_ids: Sequence[str] = (),
        detector_names: Sequence[str] = (),
        group_states: Mapping[str, Any] | None = None,
    ) -> Judgement:
        """Judges [start, end) against the history before it; writes nothing.

        group_states: what incremental detectors remember of earlier windows; by default the
            live runs' memory. A backtest passes its own, carried from tick to tick, so a group
            found again keeps its key there as it does in the live schedule.
        """
        wanted = self._check(start, end, detector_names)
        with self._lock:
            states = self._group_states if group_states is None else group_states
            return self._judge(floor_hour(start), end, list(account_ids) or None, wanted, states)

    def run(
        self,
        start: datetime,
        end: datetime,
        account_ids: Sequence[str] = (),
        detector_names: Sequence[str] = (),
        trigger: str = "request",
    ) -> RunResult:
        """Judges [start, end) against the history before it; raises and updates alerts."""
        wanted = self._check(start, end, detector_names)
        accounts = list(account_ids) or None
        began = time.perf_counter()
        try:
            with self._lock:
                judgement = self._judge(
                    floor_hour(start), end, accounts, wanted, self._group_states
                )
                result = self._apply(judgement)
        except Exception:
            self._metrics.detection_runs.labels(trigger, "error").inc()
            raise
        self._metrics.detection_runs.labels(trigger, "ok").inc()
        self._metrics.detection_run_seconds.labels(trigger).observe(time.perf_counter() - began)
        self._metrics.last_detection_success.set(time.time())
        return result

    def _check(self, start: datetime, end: datetime, detector_names: Sequence[str]) -> set[str]:
        if end <= start:
            raise InvalidArgument("end must be after start", [("end", "must be after start")])
        if end - start > MAX_WINDOW:
            raise InvalidArgument(
                "window too long", [("end", f"at most {MAX_WINDOW.days} days after start")]
            )
        unknown = sorted(set(detector_names) - set(self.detector_names))
        if unknown:
            raise InvalidArgument(
                f"unknown detectors {unknown}; known: {self.detector_names}",
                [("detectors", f"unknown detector {name!r}") for name in unknown],
            )
        return set(detector_names) or set(self.detector_names)

    def _judge(
        self,
        start: datetime,
        end: datetime,
        accounts: list[str] | None,
        wanted: set[str],
        states: Mapping[str, Any],
    ) -> Judgement:
        read_began = time.perf_counter()
        stat = {n: d for n, d in self._statistical.items() if n in wanted}
        graph = {n: d for n, d in self._graph.items() if n in wanted}
        panel = self._store.series(start - self._history, end, accounts, judge_from=start)
        events = self._store.events(start, end, accounts) if graph else EventFrame.empty()
        points = self.operating_points.current()
        read_seconds = time.perf_counter() - read_began
        findings: list[Finding] = []
        timings: list[tuple[str, float, int]] = []
        group_states: dict[str, Any] = {}
        jobs: list[tuple[str, Any, Panel | EventFrame]] = [
            *((n, d, panel) for n, d in stat.items()),
            *((n, d, events) for n, d in graph.items()),
        ]
        for name, detector, data in jobs:
            began = time.perf_counter()
            if not _has_data(data):
                found = []
            elif isinstance(data, EventFrame) and hasattr(detector, "detect_window"):
                state = states.get(name) or detector.initial_state()
                detected, group_states[name] = detector.detect_window(data, state)
                found = list(detected)
            else:
                found = list(detector.detect(data))
            seconds = time.perf_counter() - began
            self._metrics.detector_run_seconds.labels(name).observe(seconds)
            self._metrics.findings.labels(name).inc(len(found))
            timings.append((name, seconds, len(found)))
            findings.extend(found)
        # One alert per incident: the streaming model's view of an anomaly another detector
        # already reports is evidence on that alert, not an alert of its own.
        findings = fold_second_opinions(findings)
        alerting, below = self.operating_points.split(findings, points)
        return Judgement(
            start=start,
            end=end,
            accounts_scored=panel.n_accounts,
            findings=findings,
            alerting=alerting,
            below_point=below,
            points=points,
            read_seconds=read_seconds,
            timings=timings,
            group_states=group_states,
        )

    def _apply(self, judgement: Judgement) -> RunResult:
        """The live half of a run: write the alerts, count them, wake the watchers."""
        run_id = uuid.uuid4().hex[:16]
        applied = self._book.apply(judgement.alerting)
        self._group_states.update(judgement.group_states)
        for record in applied.raised:
            self._metrics.alerts_raised.labels(
                record.detector, _pattern_label(record.pattern), severity_label(record.severity)
            ).inc()
        for record in applied.updated:
            self._metrics.alerts_updated.labels(record.detector).inc()
        for finding in judgement.below_point:
            self._metrics.findings_below_operating_point.labels(
                finding.detector, finding.pattern
            ).inc()
        self._metrics.accounts_scored.inc(judgement.accounts_scored)
        if self._on_alerts_changed is not None and (applied.raised or applied.updated):
            self._on_alerts_changed()
        logger.info(
            "run %s: %d accounts, %d findings (%d below their operating point), "
            "%d raised, %d updated",
            run_id,
            judgement.accounts_scored,
            len(judgement.findings),
            len(judgement.below_point),
            len(applied.raised),
            len(applied.updated),
        )
        return RunResult(
            run_id=run_id,
            accounts_scored=judgement.accounts_scored,
            findings=judgement.findings,
            raised=len(applied.raised),
            updated=len(applied.updated),
            read_seconds=judgement.read_seconds,
            timings=judgement.timings,
            below_point=len(judgement.below_point),
        )


def _has_data(data: Panel | EventFrame) -> bool:
    if isinstance(data, Panel):
        return data.n_accounts > 0 and data.judge_from < data.n_buckets
    return len(data) > 0


def _pattern_label(number: int) -> str:
    return pattern_name(number)


def severity_label(number: int) -> str:
    return str(types_pb2.Severity.Name(number)).removeprefix("SEVERITY_").lower()


SCHEDULE_MARK = "schedule_arrivals"  # arrivals at or after this were not yet seen by the schedule
# A write is stamped before it becomes visible: arrivals this far before the mark are read
# again, and those already judged (remembered in memory) are skipped.
ARRIVAL_SLACK = timedelta(seconds=60)


def late_spans(hours: Sequence[datetime], join_gap: timedelta) -> list[tuple[datetime, datetime]]:
    """Hours grouped into [start, end) spans; spans at most `join_gap` apart become one run.

    One run over a longer span costs less than many runs (each reads the whole history), and
    re-judging an hour already judged only re-detects the same, stable alerts.
    """
    spans: list[tuple[datetime, datetime]] = []
    for hour in sorted(hours):
        if spans and hour - spans[-1][1] <= join_gap:
            spans[-1] = (spans[-1][0], max(spans[-1][1], hour + BUCKET))
        else:
            spans.append((hour, hour + BUCKET))
    return spans


class Scheduler:
    """Runs detection every `every` seconds in a daemon thread.

    Each tick judges the last `window` up to the last complete hour, then every older hour
    (up to `late_lookback` back) that received data since the previous tick: data that
    arrives late is judged when it arrives, not lost. The arrival watermark lives in the
    store, so a restarted service picks up where it stopped.
    """

    def __init__(
        self,
        runner: DetectionRunner,
        every: float,
        window: timedelta,
        late_lookback: timedelta = timedelta(days=7),
    ) -> None:
        self._runner = runner
        self._every = every
        self._window = window
        # At least the window (older hours are the late ones), at most what one run may judge.
        self._late_lookback = min(max(late_lookback, window), MAX_WINDOW)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="detection-schedule", daemon=True)
        self._judged_arrivals: set[tuple[datetime, int]] = set()  # within the slack only

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def tick(self, now: datetime | None = None) -> list[RunResult]:
        """One scheduled pass: the window, then late hours; the watermark moves only on success."""
        began = now or datetime.now(UTC)
        end = floor_hour(began)  # complete hours: a partial one looks like a drop
        window_start = end - self._window
        # The window first: its run is what the schedule's run metrics (and alerts on them) track.
        results = [self._runner.run(window_start, end, trigger="schedule")]
        store = self._runner.store
        mark = store.read_mark(SCHEDULE_MARK)
        seen_at = datetime.now(UTC)
        if mark is None:
            # The first tick on a store: what is already there is history (a backfill), not late
            # data; judging all of it would hold the runner for a week's worth of hours.
            store.write_mark(SCHEDULE_MARK, seen_at)
            return results
        since = mark - ARRIVAL_SLACK
        arrivals = [
            a
            for a in store.arrivals(since, end - self._late_lookback, window_start)
            if a not in self._judged_arrivals
        ]
        late = sorted({hour for hour, _ in arrivals})
        for span_start, span_end in late_spans(late, self._window):
            hours = sum(span_start <= h < span_end for h in late)
            logger.info(
                "judging %d late hours in %s .. %s",
                hours,
                span_start.isoformat(),
                span_end.isoformat(),
            )
            results.append(self._runner.run(span_start, span_end, trigger="late_data"))
            self._runner.metrics.late_hours_judged.inc(hours)
        store.write_mark(SCHEDULE_MARK, seen_at)
        oldest = int((seen_at - ARRIVAL_SLACK).timestamp() * 1000)
        self._judged_arrivals = {a for a in self._judged_arrivals | set(arrivals) if a[1] >= oldest}
        return results

    def _loop(self) -> None:
        while not self._stop.wait(self._every):
            try:
                self.tick()
            except Exception:  # the schedule must outlive a failed run (e.g. store down)
                logger.exception("scheduled detection run failed")
