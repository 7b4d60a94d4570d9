"""One detection run: read the window from the store, run the detectors, apply the alerts.

The schedule, RunDetection, `engagewatch detect` and the demo all go through `DetectionRunner.run`.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import detectors
import graphs
from detectors.findings import EventFrame, Finding, Panel
from engagewatch.v1 import types_pb2
from server.alerts import AlertBook, pattern_name
from server.errors import InvalidArgument
from server.metrics import Metrics

logger = logging.getLogger(__name__)

MAX_WINDOW = timedelta(days=90)


class DetectionStore(Protocol):
    """The part of the store a detection run reads."""

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


@dataclass(slots=True)
class RunResult:
    run_id: str
    accounts_scored: int
    findings: list[Finding]
    raised: int
    updated: int
    read_seconds: float
    timings: list[tuple[str, float, int]] = field(default_factory=list)  # detector, s, findings


def floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


class DetectionRunner:
    """Runs the registered detectors over a window; safe to call from several threads."""

    def __init__(
        self,
        store: DetectionStore,
        book: AlertBook,
        metrics: Metrics,
        history: timedelta,
        statistical: dict[str, Any] | None = None,
        graph: dict[str, Any] | None = None,
        on_alerts_changed: Callable[[], None] | None = None,
    ) -> None:
        self._store = store
        self._book = book
        self._metrics = metrics
        self._history = history
        self._statistical = statistical or {d.name: d for d in detectors.default_detectors()}
        self._graph = graph or {d.name: d for d in graphs.default_detectors()}
        self._on_alerts_changed = on_alerts_changed
        self._lock = threading.Lock()  # one run at a time: runs are CPU-bound on 2 cores

    @property
    def detector_names(self) -> list[str]:
        return sorted([*self._statistical, *self._graph])

    def run(
        self,
        start: datetime,
        end: datetime,
        account_ids: Sequence[str] = (),
        detector_names: Sequence[str] = (),
        trigger: str = "request",
    ) -> RunResult:
        """Judges [start, end) against the history before it; raises and updates alerts."""
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
        wanted = set(detector_names) or set(self.detector_names)
        accounts = list(account_ids) or None
        began = time.perf_counter()
        try:
            with self._lock:
                result = self._run(floor_hour(start), end, accounts, wanted)
        except Exception:
            self._metrics.detection_runs.labels(trigger, "error").inc()
            raise
        self._metrics.detection_runs.labels(trigger, "ok").inc()
        self._metrics.detection_run_seconds.labels(trigger).observe(time.perf_counter() - began)
        self._metrics.last_detection_success.set(time.time())
        return result

    def _run(
        self, start: datetime, end: datetime, accounts: list[str] | None, wanted: set[str]
    ) -> RunResult:
        run_id = uuid.uuid4().hex[:16]
        read_began = time.perf_counter()
        stat = {n: d for n, d in self._statistical.items() if n in wanted}
        graph = {n: d for n, d in self._graph.items() if n in wanted}
        panel = self._store.series(start - self._history, end, accounts, judge_from=start)
        events = self._store.events(start, end, accounts) if graph else EventFrame.empty()
        read_seconds = time.perf_counter() - read_began
        findings: list[Finding] = []
        timings: list[tuple[str, float, int]] = []
        jobs: list[tuple[str, Any, Panel | EventFrame]] = [
            *((n, d, panel) for n, d in stat.items()),
            *((n, d, events) for n, d in graph.items()),
        ]
        for name, detector, data in jobs:
            began = time.perf_counter()
            found = list(detector.detect(data)) if _has_data(data) else []
            seconds = time.perf_counter() - began
            self._metrics.detector_run_seconds.labels(name).observe(seconds)
            self._metrics.findings.labels(name).inc(len(found))
            timings.append((name, seconds, len(found)))
            findings.extend(found)
        applied = self._book.apply(findings)
        for record in applied.raised:
            self._metrics.alerts_raised.labels(
                record.detector, _pattern_label(record.pattern), severity_label(record.severity)
            ).inc()
        for record in applied.updated:
            self._metrics.alerts_updated.labels(record.detector).inc()
        self._metrics.accounts_scored.inc(panel.n_accounts)
        if self._on_alerts_changed is not None and (applied.raised or applied.updated):
            self._on_alerts_changed()
        logger.info(
            "run %s: %d accounts, %d findings, %d raised, %d updated",
            run_id,
            panel.n_accounts,
            len(findings),
            len(applied.raised),
            len(applied.updated),
        )
        return RunResult(
            run_id=run_id,
            accounts_scored=panel.n_accounts,
            findings=findings,
            raised=len(applied.raised),
            updated=len(applied.updated),
            read_seconds=read_seconds,
            timings=timings,
        )


def _has_data(data: Panel | EventFrame) -> bool:
    if isinstance(data, Panel):
        return data.n_accounts > 0 and data.judge_from < data.n_buckets
    return len(data) > 0


def _pattern_label(number: int) -> str:
    return pattern_name(number)


def severity_label(number: int) -> str:
    return str(types_pb2.Severity.Name(number)).removeprefix("SEVERITY_").lower()


class Scheduler:
    """Runs detection every `every` seconds over the last `window`, in a daemon thread."""

    def __init__(self, runner: DetectionRunner, every: float, window: timedelta) -> None:
        self._runner = runner
        self._every = every
        self._window = window
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="detection-schedule", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _loop(self) -> None:
        while not self._stop.wait(self._every):
            end = floor_hour(datetime.now(UTC))  # complete hours: a partial one looks like a drop
            try:
                self._runner.run(end - self._window, end, trigger="schedule")
            except Exception:  # the schedule must outlive a failed run (e.g. store down)
                logger.exception("scheduled detection run failed")
