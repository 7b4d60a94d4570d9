"""`engagewatch demo`: a simulated platform with known fraud, through the real gRPC API.

Starts the service on an embedded chDB store and a loopback port, streams simulated traffic,
runs detection over the last three days, prints the alerts and how they compare with the
simulator's truth, and writes an HTML report.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import textwrap
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc

from detectors.findings import EventFrame, Panel
from engagewatch.v1 import (
    alert_service_pb2,
    alert_service_pb2_grpc,
    detection_service_pb2,
    detection_service_pb2_grpc,
    types_pb2,
)
from server.app import start_service
from server.config import DetectionSettings, Settings
from server.convert import to_timestamp
from server.detection import floor_hour
from server.errors import InvalidArgument
from server.evaluation import evaluate
from server.report import RunInfo, write_report
from server.report_cases import is_group
from server.sim_client import stream_simulation
from server.simulator import SimulationConfig, simulate
from server.store import Store

logger = logging.getLogger(__name__)

JUDGED_HOURS = 72  # the simulator plants its fraud in the last three days
JUDGED_WINDOW = timedelta(hours=JUDGED_HOURS)


def list_all_alerts(channel: grpc.Channel) -> list[alert_service_pb2.Alert]:
    """Every alert, following next_page_token."""
    stub = alert_service_pb2_grpc.AlertServiceStub(channel)
    alerts: list[alert_service_pb2.Alert] = []
    token = ""
    while True:
        page = stub.ListAlerts(alert_service_pb2.ListAlertsRequest(page_size=200, page_token=token))
        alerts.extend(page.alerts)
        token = page.next_page_token
        if not token:
            return alerts


def report_data(
    store: Store, alerts: Sequence[alert_service_pb2.Alert], start: datetime, end: datetime
) -> tuple[Panel, EventFrame]:
    """The series (judged window marked) and the group events that the report draws."""
    panel = store.series(start, end, judge_from=end - JUDGED_WINDOW)
    # The group graphs draw the events the groups sent to the accounts they targeted.
    targets = sorted({t for a in alerts if is_group(a) for t in a.target_ids})
    return panel, store.events(end - JUDGED_WINDOW, end, account_ids=targets)


def _print_alerts(alerts: list[alert_service_pb2.Alert]) -> None:
    print(f"\n{'severity':<9} {'score':>5}  {'pattern':<22} {'account':<14} {'action':<16} why")
    for alert in alerts:
        why = textwrap.shorten(alert.explanation, 110)
        severity = types_pb2.Severity.Name(alert.severity).removeprefix("SEVERITY_")
        pattern = types_pb2.Pattern.Name(alert.pattern).removeprefix("PATTERN_")
        action = types_pb2.Action.Name(alert.recommended_action).removeprefix("ACTION_")
        print(
            f"{severity:<9} {alert.score:5.2f}  {pattern:<22} {alert.account_id[:14]:<14} "
            f"{action:<16} {why}"
        )


def run_demo(args: argparse.Namespace) -> int:
    if args.days < 5:
        raise InvalidArgument("--days must be at least 5: two days of history and three judged")
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="engagewatch-demo-") as scratch:
        store_url = args.store or f"chdb://{scratch}/store"
        settings = Settings(
            store_url=store_url,
            grpc_address="127.0.0.1:0",
            metrics_address="127.0.0.1:0",
            # The baseline is the simulated history before the judged window, no more:
            # hours before the platform existed would read as zeros.
            detection=DetectionSettings(history_hours=args.days * 24 - JUDGED_HOURS),
        )
        service = start_service(settings)
        try:
            end = floor_hour(datetime.now(UTC))
            config = SimulationConfig(
                seed=args.seed,
                accounts=args.accounts,
                days=args.days,
                start=end - timedelta(days=args.days),
            )
            sim = simulate(config)
            print(
                f"simulated {len(sim.account_ids)} accounts over {args.days} days: "
                f"{len(sim.points.values):,} metric points, {len(sim.events):,} events, "
                f"{sum(not c.pattern.startswith('hard_negative') for c in sim.truth)} planted "
                f"fraud cases, {sum(c.pattern.startswith('hard_negative') for c in sim.truth)} "
                "hard negatives"
            )
            streamed = stream_simulation(service.target, sim)
            facts = [
                (
                    "simulated",
                    f"{len(sim.account_ids)} accounts over {args.days} days (seed {args.seed}): "
                    f"{len(sim.points.values):,} metric points, {len(sim.events):,} events",
                ),
                (
                    "streamed through gRPC",
                    f"{streamed.points_accepted:,} points and {streamed.events_accepted:,} "
                    f"events in {streamed.seconds:.1f} s",
                ),
            ]
            print(
                f"streamed through gRPC in {streamed.seconds:.1f} s: "
                f"{streamed.points_accepted:,} points, {streamed.events_accepted:,} events"
            )
            with grpc.insecure_channel(service.target) as channel:
                detection = detection_service_pb2_grpc.DetectionServiceStub(channel)
                run = detection.RunDetection(
                    detection_service_pb2.RunDetectionRequest(
                        start=to_timestamp(end - JUDGED_WINDOW), end=to_timestamp(end)
                    ),
                    timeout=600,
                )
                timings = ", ".join(f"{t.detector} {t.seconds:.2f}s" for t in run.timings)
                facts.append(
                    (
                        f"detection run {run.run_id}",
                        f"{run.accounts_scored} accounts scored, {run.alerts_raised} alerts "
                        f"raised; read {run.read_seconds:.2f} s; {timings}",
                    )
                )
                print(
                    f"detection run {run.run_id}: {run.accounts_scored} accounts scored, "
                    f"{run.alerts_raised} alerts raised (read {run.read_seconds:.2f}s; {timings})"
                )
                alerts = sorted(list_all_alerts(channel), key=lambda a: (-a.severity, -a.score))
            _print_alerts(alerts)
            evaluation = evaluate(alerts, sim.truth)
            print("\n" + evaluation.summary())
            for pattern, score in sorted(evaluation.per_pattern.items()):
                print(f"  {pattern:<22} found {score.found}/{score.cases}")
            for hit in evaluation.hard_negative_hits:
                print(f"  alert on a hard negative: {hit}")
            judged_from = end - JUDGED_WINDOW
            panel, events = report_data(service.store, alerts, config.start, end)
            report = Path(args.report)
            stats = write_report(
                report,
                alerts,
                panel,
                evaluation,
                RunInfo("engagewatch demo", judged_from, end, tuple(facts)),
                events=events,
            )
            print(
                f"\nreport: {report.resolve()} ({stats.cases} cases, {stats.figures} figures, "
                f"{stats.seconds:.1f} s)"
            )
        finally:
            service.stop()
    print(f"demo finished in {time.perf_counter() - began:.0f} s")
    return 0
