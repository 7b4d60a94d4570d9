"""gRPC fixtures: a real service on a loopback port over a real store, and channels to it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from prometheus_client import CollectorRegistry

from detectors.findings import Evidence, Finding
from server.app import Service, start_service
from server.config import Settings
from tests.conftest import drop_database

MAX_BATCH_ROWS = 1000


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
