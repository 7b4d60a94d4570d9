"""gRPC fixtures: a real service on a loopback port over a real store, and channels to it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import grpc
import numpy as np
import numpy.typing as npt
import pytest
from prometheus_client import CollectorRegistry

from detectors.findings import Evidence, Finding
from engagewatch.v1 import ingest_service_pb2, types_pb2
from server.app import Service, start_service
from server.config import Settings
from tests.conftest import drop_database

MAX_BATCH_ROWS = 1000


# Adds bought follows in place: (account index, its size, its hourly follows).
FollowLift = Callable[[int, float, npt.NDArray[np.float64]], None]


def seasonal_traffic(
    end: datetime,
    days: int,
    accounts: int,
    seed: int,
    size_sigma: float,
    batch_prefix: str,
    lift: FollowLift,
) -> list[ingest_service_pb2.WriteMetricsRequest]:
    """Hourly Poisson impressions, follows and clicks with a daily cycle, up to `end`; one
    columnar request per account and metric. `lift` plants the fraud in the follows."""
    rng = np.random.default_rng(seed)
    hours = days * 24
    start = end - timedelta(hours=hours)
    hour_of_day = (np.arange(hours) + start.hour) % 24
    diurnal = 1 + 0.6 * np.sin(2 * np.pi * (hour_of_day - 6) / 24)
    size = rng.lognormal(4, size_sigma, accounts)
    seconds = [int((start + timedelta(hours=h)).timestamp()) for h in range(hours)]
    requests = []
    for i in range(accounts):
        impressions = rng.poisson(size[i] * 20 * diurnal)
        follows = rng.poisson(size[i] * 0.2 * diurnal).astype(float)
        clicks = rng.binomial(impressions, 0.05)
        lift(i, float(size[i]), follows)
        for metric, values in (
            (types_pb2.METRIC_IMPRESSIONS, impressions),
            (types_pb2.METRIC_FOLLOWS, follows),
            (types_pb2.METRIC_CLICKS, clicks),
        ):
            request = ingest_service_pb2.WriteMetricsRequest(
                batch_id=f"{batch_prefix}-{i}-{metric}"
            )
            request.columns.account_ids.extend([f"acct_{i:03d}"] * hours)
            request.columns.metrics.extend([metric] * hours)
            request.columns.unix_seconds.extend(seconds)
            request.columns.values.extend(values.astype(float).tolist())
            requests.append(request)
    return requests


def make_service(store_url: str, **overrides: object) -> Service:
    settings = Settings(
        store_url=store_url,
        grpc_address="127.0.0.1:0",
        metrics_address="127.0.0.1:0",
        max_batch_rows=MAX_BATCH_ROWS,
        **overrides,  # type: ignore[arg-type]
    )
    return start_service(settings, registry=CollectorRegistry())


@pytest.fixture
def service(chdb_url: str) -> Iterator[Service]:
    """The service on a fresh embedded (chDB) database."""
    running = make_service(chdb_url)
    yield running
    drop_database(running.store)
    running.stop(grace=0)


@pytest.fixture
def channel(service: Service) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(service.target) as opened:
        grpc.channel_ready_future(opened).result(timeout=10)
        yield opened


def finding(
    account: str = "acct_1",
    *,
    key: str | None = None,
    score: float = 0.9,
    pattern: str = "fake_followers",
    detector: str = "seasonal_baseline",
    metric: str | None = "follows",
    members: tuple[str, ...] = (),
    targets: tuple[str, ...] = (),
    observed: float = 500.0,
    expected: float = 20.0,
    hours_ago: int = 5,
) -> Finding:
    """A finding as a detector would report it, for alert-API tests."""
    start = datetime(2026, 11, 1, tzinfo=UTC) + timedelta(hours=100 - hours_ago)
    return Finding(
        detector=detector,
        pattern=pattern,
        subject=account,
        key=key or f"{account}:{pattern}",
        start_time=start,
        end_time=start + timedelta(hours=3),
        score=score,
        observed=observed,
        expected=expected,
        explanation=f"{account} gained {observed:.0f} followers against {expected:.0f} expected.",
        evidence=(Evidence("observed_vs_expected", {"observed": observed, "expected": expected}),),
        metric=metric,
        member_ids=members,
        target_ids=targets,
    )


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)
