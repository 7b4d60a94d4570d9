"""Review verdicts move a detector's operating point, and the next run alerts accordingly.

All through the real gRPC API on a real store: alerts are raised by RunDetection, reviewed by
ReviewAlert; the point is read back from /metrics and from a restarted service.
"""

from __future__ import annotations

import logging
import urllib.request
from datetime import UTC, datetime, timedelta

import grpc
import numpy as np
import numpy.typing as npt
import pytest

from detectors import SeasonalBaselineDetector
from engagewatch.v1 import (
    alert_service_pb2,
    alert_service_pb2_grpc,
    detection_service_pb2,
    detection_service_pb2_grpc,
    ingest_service_pb2,
    ingest_service_pb2_grpc,
    types_pb2,
)
from server.alerts import alert_id_for
from server.app import Service
from server.config import FeedbackSettings
from server.convert import to_timestamp
from server.feedback import reporting_floor
from tests.conftest import drop_database
from tests.server.conftest import make_service, seasonal_traffic

END = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
DAYS = 14
DETECTOR = "seasonal_baseline"
PATTERN = "fake_followers"
FLOOR = reporting_floor(SeasonalBaselineDetector())  # the score it starts reporting at
CEILING = 0.95
STEP = 0.1  # coarse: the detector scores even the smallest spike here above 0.85
# Follows added for 3 hours of the last day on acct_000.. : from barely detectable to blatant,
# so the detector reports a range of scores, some just above its floor.
LIFTS = (10, 15, 20, 25, 30, 35, 40, 50, 70, 100, 200, 500)
# Blatant spikes the day before, on acct_020..: the alerts reviewers will call false positives.
EARLIER = (300, 350, 400, 450, 500, 550, 600, 700)
LAST_DAY = (END - timedelta(days=1), END)
DAY_BEFORE = (END - timedelta(days=2), END - timedelta(days=1))
POINT = "engagewatch_operating_point"


def graded_traffic(
    accounts: int = 40, seed: int = 5, lifts: tuple[int, ...] = LIFTS
) -> list[ingest_service_pb2.WriteMetricsRequest]:
    def graded(i: int, size: float, follows: npt.NDArray[np.float64]) -> None:
        if i < len(lifts):
            follows[-10:-7] += lifts[i]
        if lifts and 20 <= i < 20 + len(EARLIER):
            follows[-34:-31] += EARLIER[i - 20]

    return seasonal_traffic(END, DAYS, accounts, seed, 0.3, "graded", graded)


def run(channel: grpc.Channel, window: tuple[datetime, datetime]) -> int:
    request = detection_service_pb2.RunDetectionRequest(
        start=to_timestamp(window[0]), end=to_timestamp(window[1]), detectors=[DETECTOR]
    )
    stub = detection_service_pb2_grpc.DetectionServiceStub(channel)
    return int(stub.RunDetection(request).alerts_raised)


def alerts(channel: grpc.Channel, pattern: int = 0) -> dict[str, alert_service_pb2.Alert]:
    stub = alert_service_pb2_grpc.AlertServiceStub(channel)
    request = alert_service_pb2.ListAlertsRequest(
        detector=DETECTOR, pattern=pattern, page_size=1000
    )
    return {a.alert_id: a for a in stub.ListAlerts(request).alerts}


def review(channel: grpc.Channel, alert_id: str, verdict: int) -> None:
    alert_service_pb2_grpc.AlertServiceStub(channel).ReviewAlert(
        alert_service_pb2.ReviewAlertRequest(alert_id=alert_id, verdict=verdict, reviewer="qa")
    )


def point_gauge(service: Service) -> float | None:
    return service.metrics.registry.get_sample_value(
        POINT, {"detector": DETECTOR, "pattern": PATTERN}
    )


def scraped_point(service: Service) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{service.metrics_port}/metrics") as response:
        text = response.read().decode()
    wanted = f'{POINT}{{detector="{DETECTOR}",pattern="{PATTERN}"}}'
    return next(line.split()[-1] for line in text.splitlines() if line.startswith(wanted))


def started(url: str) -> Service:
    return make_service(url, feedback=FeedbackSettings(step=STEP, ceiling=CEILING))


def test_false_positives_raise_the_point_and_confirmations_lower_it_to_the_floor(
    chdb_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    service = started(chdb_url)
    followers = types_pb2.PATTERN_FAKE_FOLLOWERS
    try:
        with grpc.insecure_channel(service.target) as channel:
            ingest_service_pb2_grpc.IngestServiceStub(channel).WriteMetrics(iter(graded_traffic()))
            # What the detector reports on the last day, written nowhere: the oracle for later.
            reported = service.runner.judge(*LAST_DAY, detector_names=[DETECTOR]).findings
            scores = {
                alert_id_for(f.detector, f.key): f.score for f in reported if f.pattern == PATTERN
            }
            others = {alert_id_for(f.detector, f.key) for f in reported if f.pattern != PATTERN}
            # The fewest false positives that lift the point past some, not all, of those scores.
            steps, point = next(
                (n, round(FLOOR + n * STEP, 6))
                for n in range(1, int((CEILING - FLOOR) / STEP) + 1)
                if min(scores.values()) < FLOOR + n * STEP <= max(scores.values())
            )
            marginal = {a for a, v in scores.items() if v < point}
            assert point_gauge(service) is None  # nothing moved yet

            assert run(channel, DAY_BEFORE) >= steps
            reviewed = sorted(alerts(channel, followers))[:steps]
            with caplog.at_level(logging.INFO, logger="server.feedback"):
                for alert_id in reviewed:
                    review(channel, alert_id, types_pb2.VERDICT_FALSE_POSITIVE)
                review(channel, reviewed[0], types_pb2.VERDICT_FALSE_POSITIVE)  # said again
            moves = [r.getMessage() for r in caplog.records if "->" in r.getMessage()]
            assert len(moves) == steps, moves  # one line a move; the repeated verdict: none
            first_move = f"{DETECTOR}/{PATTERN} {FLOOR:.4g} -> {FLOOR + STEP:.4g} after"
            assert moves[0].startswith(f"operating point {first_move}")
            assert "false_positive" in moves[0] and float(moves[-1].split()[5]) == point
            assert point_gauge(service) == pytest.approx(point)
            assert float(scraped_point(service)) == pytest.approx(point)
    finally:
        service.stop(grace=0)

    # The point is in the store: a restarted service shows it and applies it.
    service = started(chdb_url)
    try:
        assert point_gauge(service) == pytest.approx(point)
        with grpc.insecure_channel(service.target) as channel:
            before = set(alerts(channel))
            raised = run(channel, LAST_DAY)
            now = set(alerts(channel))
            expected_new = ({a for a, v in scores.items() if v >= point} | others) - before
            assert now - before == expected_new and raised == len(expected_new)
            assert not marginal & now  # below the new point: no alert
            below = service.metrics.registry.get_sample_value(
                "engagewatch_findings_below_operating_point_total",
                {"detector": DETECTOR, "pattern": PATTERN},
            )
            assert below == sum(1 for f in reported if f.pattern == PATTERN and f.score < point)

            # Confirmed fraud lowers the point a step at a time, never below the floor.
            unreviewed = sorted(set(alerts(channel, followers)) - set(reviewed))
            assert len(unreviewed) >= steps + 1
            for alert_id in unreviewed[: steps + 1]:
                review(channel, alert_id, types_pb2.VERDICT_CONFIRMED_FRAUD)
            assert point_gauge(service) == pytest.approx(FLOOR)
            # A false positive found to be fraud after all: a step down, but at the floor: stays.
            review(channel, reviewed[0], types_pb2.VERDICT_CONFIRMED_FRAUD)
            assert point_gauge(service) == pytest.approx(FLOOR)
            trail = service.store.operating_point_changes(DETECTOR, followers)
            ups = [round(FLOOR + n * STEP, 6) for n in range(1, steps + 1)]
            assert [c.new_value for c in trail] == [*ups, *reversed([FLOOR, *ups[:-1]])]
            assert [c.verdict for c in trail] == [types_pb2.VERDICT_FALSE_POSITIVE] * steps + [
                types_pb2.VERDICT_CONFIRMED_FRAUD
            ] * steps

            # Back at the floor, the marginal findings alert after all.
            run(channel, LAST_DAY)
            assert marginal <= set(alerts(channel))
    finally:
        drop_database(service.store)
        service.stop(grace=0)


def test_the_point_never_passes_the_ceiling(chdb_url: str) -> None:
    service = make_service(chdb_url, feedback=FeedbackSettings(step=0.2, ceiling=0.8))
    try:
        with grpc.insecure_channel(service.target) as channel:
            ingest_service_pb2_grpc.IngestServiceStub(channel).WriteMetrics(iter(graded_traffic()))
            run(channel, DAY_BEFORE)
            found = sorted(alerts(channel, types_pb2.PATTERN_FAKE_FOLLOWERS))
            climb = int(np.ceil((0.8 - FLOOR) / 0.2 - 1e-9))  # verdicts to reach the ceiling
            assert len(found) > climb
            for alert_id in found[: climb + 1]:  # one more than needed
                review(channel, alert_id, types_pb2.VERDICT_FALSE_POSITIVE)
        assert point_gauge(service) == pytest.approx(0.8)
        trail = [round(c.new_value, 6) for c in service.store.operating_point_changes(DETECTOR, 1)]
        assert trail == [round(min(FLOOR + 0.2 * n, 0.8), 6) for n in range(1, climb + 1)]
    finally:
        drop_database(service.store)
        service.stop(grace=0)
