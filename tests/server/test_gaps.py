"""Gaps and short histories at the runner: missing hours and new accounts neither crash a run
nor flood it with alerts, and a real spike beside them is still found."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from server.alerts import AlertBook
from server.detection import DetectionRunner
from server.metrics import Metrics
from server.records import AlertFilter, MetricBatch
from server.store import Store, open_store
from tests.conftest import drop_database

END = datetime(2026, 11, 16, tzinfo=UTC)  # a Monday
DAYS = 14
HOURS = DAYS * 24
JUDGED = timedelta(days=1)
SPIKED = "acct_000"
FOLLOWS, CLICKS, IMPRESSIONS = 1, 3, 6

# Hours (0 = the first of the 14 days) each account has no data for at all.
_JUDGED_FROM = HOURS - 24
GAPS: dict[str, np.ndarray] = {
    "gap_history_2d": np.arange(100, 148),  # two days missing in the history
    "gap_scattered": np.array([_JUDGED_FROM + h for h in (2, 5, 9, 13, 17, 21)]),
    "gap_edge": np.arange(_JUDGED_FROM - 5, _JUDGED_FROM + 4),  # across the window's start
    "gap_judged_half": np.arange(_JUDGED_FROM, _JUDGED_FROM + 12),  # half the judged day
    "gap_every_other": np.arange(0, HOURS, 2),  # a platform sending every other hour
}
# Accounts that only started sending this many hours before the end (so 1 day and 6 hours of
# history). An account with no hour at all before the judged window is another matter: the
# seasonal baseline expects 0 for it and flags its first traffic (reported to its owner).
SHORT = {"new_2d": 48, "new_30h": 30, "new_12h": 12, "new_3h": 3}
OUTAGE = np.array([_JUDGED_FROM + 7, _JUDGED_FROM + 8])  # every account: an ingest outage


def _seasonal(rng: np.random.Generator, size: float) -> dict[int, np.ndarray]:
    hour_of_day = np.arange(HOURS) % 24
    diurnal = 1 + 0.6 * np.sin(2 * np.pi * (hour_of_day - 6) / 24)
    weekly = 1 + 0.15 * (np.arange(HOURS) // 24 % 7 >= 5)
    impressions = rng.poisson(size * 20 * diurnal * weekly).astype(float)
    return {
        IMPRESSIONS: impressions,
        FOLLOWS: rng.poisson(size * 0.2 * diurnal * weekly).astype(float),
        CLICKS: rng.binomial(impressions.astype(int), 0.05).astype(float),
    }


def traffic(seed: int = 11, ordinary: int = 30) -> list[MetricBatch]:
    rng = np.random.default_rng(seed)
    start = END - timedelta(hours=HOURS)
    seconds = np.array([int((start + timedelta(hours=h)).timestamp()) for h in range(HOURS)])
    accounts = [f"acct_{i:03d}" for i in range(ordinary)] + [*GAPS, *SHORT]
    batches = []
    for account in accounts:
        keep = np.ones(HOURS, dtype=bool)
        keep[OUTAGE] = False
        keep[GAPS.get(account, [])] = False
        if account in SHORT:
            keep[: HOURS - SHORT[account]] = False
        series = _seasonal(rng, rng.lognormal(4, 0.5))
        if account == SPIKED:
            series[FOLLOWS][-10:-7] += 40 * series[FOLLOWS].mean() + 200
        for metric, values in series.items():
            n = int(keep.sum())
            batches.append(
                MetricBatch(
                    f"{account}-{metric}",
                    np.array([account] * n, dtype=object),
                    np.full(n, metric, np.uint8),
                    seconds[keep],
                    values[keep],
                )
            )
    return batches


@pytest.fixture
def chdb_store(chdb_url: str) -> Iterator[Store]:
    store = open_store(chdb_url)
    store.migrate()
    store.write_metric_batches(traffic())
    yield store
    drop_database(store)
    store.close()


def test_gaps_and_short_histories_neither_crash_nor_flood(chdb_store: Store) -> None:
    store = chdb_store
    runner = DetectionRunner(
        store, AlertBook(store), Metrics(CollectorRegistry()), history=timedelta(days=14)
    )
    result = runner.run(END - JUDGED, END, detector_names=runner_statistical(runner))
    assert result.accounts_scored == 30 + len(GAPS) + len(SHORT)
    alerts = store.list_alerts(AlertFilter(), None, 1000)
    flagged = {a.account_id for a in alerts}
    assert SPIKED in flagged  # the run still works beside the gaps
    assert flagged == {SPIKED}, sorted((a.account_id, a.detector, a.score) for a in alerts)

    # Judging in short windows, as a schedule catching up would, is no noisier.
    for quarter in range(4):
        tick = END - JUDGED + timedelta(hours=6 * (quarter + 1))
        runner.run(tick - timedelta(hours=6), tick, detector_names=runner_statistical(runner))
    alerts = store.list_alerts(AlertFilter(), None, 1000)
    assert {a.account_id for a in alerts} == {SPIKED}, sorted(
        (a.account_id, a.detector, a.score) for a in alerts
    )


def test_a_window_with_no_data_at_all_is_judged_quietly(chdb_store: Store) -> None:
    runner = DetectionRunner(
        chdb_store, AlertBook(chdb_store), Metrics(CollectorRegistry()), history=timedelta(days=14)
    )
    # Hours after the last data: every account looks silent, which is not fraud.
    later = END + timedelta(days=2)
    result = runner.run(later - JUDGED, later)
    assert result.raised == 0
    # Before any data: nothing to score.
    early = runner.run(END - timedelta(days=40), END - timedelta(days=39))
    assert early.accounts_scored == 0 and early.raised == 0


def runner_statistical(runner: DetectionRunner) -> list[str]:
    """The panel detectors: these data carry no events for the graph detectors."""
    import detectors

    return [n for n in runner.detector_names if n in detectors.STATISTICAL_DETECTORS]
