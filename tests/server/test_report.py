"""The demo report over a real small run: simulator -> gRPC -> store -> detectors -> alerts."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import grpc
import pytest

from detectors.findings import EventFrame, Panel
from engagewatch.v1 import (
    alert_service_pb2,
    detection_service_pb2,
    detection_service_pb2_grpc,
    types_pb2,
)
from server.convert import to_timestamp
from server.demo import JUDGED_WINDOW, list_all_alerts, report_data
from server.evaluation import Evaluation, evaluate
from server.report import RunInfo, render_report, write_report
from server.report_cases import build_cases, is_group
from server.sim_client import stream_simulation
from server.simulator import SimulationConfig, simulate
from tests.conftest import drop_database
from tests.server.conftest import make_service

_VOID = {"meta", "img", "br", "hr", "input", "link", "col", "wbr", "source"}


@dataclass(frozen=True)
class Run:
    alerts: list[alert_service_pb2.Alert]
    panel: Panel
    events: EventFrame
    evaluation: Evaluation
    info: RunInfo


@pytest.fixture(scope="module")
def run(chdb_dir: Path) -> Iterator[Run]:
    """One small demo-like run, shared by the tests of this module."""
    service = make_service(f"chdb://{chdb_dir}?database=test_{uuid.uuid4().hex[:16]}")
    try:
        end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        start = end - timedelta(days=5)
        sim = simulate(
            SimulationConfig(
                seed=5,
                accounts=80,
                actors=3_000,
                days=5,
                start=start,
                fraud_accounts_per_pattern=1,
            )
        )
        stream_simulation(service.target, sim, batch_size=1_000)
        with grpc.insecure_channel(service.target) as channel:
            detection_service_pb2_grpc.DetectionServiceStub(channel).RunDetection(
                detection_service_pb2.RunDetectionRequest(
                    start=to_timestamp(end - JUDGED_WINDOW), end=to_timestamp(end)
                )
            )
            alerts = list_all_alerts(channel)
        panel, events = report_data(service.store, alerts, start, end)
        yield Run(
            alerts=alerts,
            panel=panel,
            events=events,
            evaluation=evaluate(alerts, sim.truth),
            info=RunInfo("report test", end - JUDGED_WINDOW, end, (("simulated", "80 accounts"),)),
        )
    finally:
        drop_database(service.store)
        service.stop(grace=0)


class _Checker(HTMLParser):
    """Balanced tags, unique ids, and every local link resolving to an id."""

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.errors: list[str] = []
        self.ids: list[str] = []
        self.links: list[str] = []
        self.images: list[dict[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if "id" in values:
            self.ids.append(values["id"])
        if tag == "a":
            self.links.append(values.get("href", ""))
        if tag == "img":
            self.images.append(values)
        if tag not in _VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.open[-1] if self.open else None}>")
            return
        self.open.pop()


def _check(text: str) -> _Checker:
    checker = _Checker()
    checker.feed(text)
    checker.close()
    assert checker.errors == []
    assert checker.open == []
    assert len(checker.ids) == len(set(checker.ids)), "duplicate ids"
    assert all(link.startswith("#") for link in checker.links), "links leave the file"
    assert {link[1:] for link in checker.links} <= set(checker.ids), "dangling anchors"
    return checker


def test_report_shows_every_alert_with_figures_group_graph_and_evidence(
    run: Run, tmp_path: Path
) -> None:
    assert any(a.pattern == types_pb2.PATTERN_LOCKSTEP_GROUP for a in run.alerts)
    # Figures for the first few cases, and at least down to the first lockstep case.
    ranked = build_cases(run.alerts, max_detailed=0)
    lockstep = next(
        i for i, c in enumerate(ranked) if c.lead.pattern == types_pb2.PATTERN_LOCKSTEP_GROUP
    )
    detailed = max(3, lockstep + 1)
    path = tmp_path / "report.html"
    stats = write_report(
        path,
        run.alerts,
        run.panel,
        run.evaluation,
        run.info,
        events=run.events,
        max_detailed=detailed,
    )
    text = path.read_text(encoding="utf-8")
    checker = _check(text)
    assert text.startswith("<!DOCTYPE html>")
    # Self-contained: every image is inline, nothing is fetched.
    assert checker.images and all(
        i["src"].startswith("data:image/png;base64,") for i in checker.images
    )
    assert "http://" not in text and "https://" not in text and "<script" not in text
    assert stats.figures == len(checker.images)

    cases = build_cases(run.alerts, max_detailed=detailed)
    assert stats.cases == len(cases) and stats.detailed_cases == min(detailed, len(cases))
    # Every alert is in exactly one case and has its own anchor.
    assert sorted(a.alert_id for c in cases for a in c.alerts) == sorted(
        a.alert_id for a in run.alerts
    )
    assert len([i for i in checker.ids if i.startswith("alert-")]) == len(run.alerts)

    series = [i for i in checker.images if i["alt"].startswith("series of")]
    groups = [i for i in checker.images if i["alt"] == "group graph"]
    assert len(series) == stats.detailed_cases  # every detailed lead has a panel row
    detailed_groups = [c for c in cases if c.detailed and is_group(c.lead)]
    assert len(groups) == len(detailed_groups) > 0

    # Each case section holds its lead's explanation, evidence facts and action.
    for case in cases:
        section = re.search(rf"<section[^>]*id='{case.anchor}'>(.*?)</section>", text, flags=re.S)
        assert section is not None
        body = section.group(1)
        assert "Recommended action" in body
        assert "<table class='evidence'>" in body
        for item in case.lead.evidence:
            assert item.kind.replace("_", " ") in body
        images = body.count("<img")
        assert images == (0 if not case.detailed else 1 + is_group(case.lead))


def test_lockstep_case_groups_its_targets_and_draws_real_edges(run: Run) -> None:
    lockstep = max(
        (a for a in run.alerts if a.pattern == types_pb2.PATTERN_LOCKSTEP_GROUP),
        key=lambda a: (a.severity, a.score),
    )
    cases = build_cases(run.alerts, max_detailed=len(run.alerts))
    case = next(c for c in cases if c.lead.alert_id == lockstep.alert_id)
    targets = set(lockstep.target_ids) | {lockstep.account_id}
    # The targets' own follow alerts sit in the group's case unless a worse group took them.
    own = [a for a in run.alerts if a.account_id in targets and not is_group(a)]
    assert own and {a.alert_id for a in case.alerts[1:]} <= {a.alert_id for a in own}
    text, _, _ = render_report(
        [lockstep], run.panel, None, run.info, events=run.events, max_detailed=1
    )
    caption = re.search(r"Sample of the group: (\d+) members, (\d+) targets, ([\d,]+) edges", text)
    assert caption is not None
    members, drawn_targets, edges = (int(g.replace(",", "")) for g in caption.groups())
    assert 0 < members <= len(lockstep.member_ids) and 0 < drawn_targets <= len(targets)
    # A lockstep group acts on most of its targets: far more edges than members alone.
    assert edges >= 2 * members


def test_report_without_events_or_truth_still_renders(run: Run) -> None:
    text, figures, cases = render_report(run.alerts, run.panel, None, run.info, max_detailed=2)
    _check(text)
    assert figures == sum(c.detailed for c in cases)  # series only: no events, no graphs
    assert "precision vs planted truth" not in text
