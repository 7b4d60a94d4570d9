"""Fixtures for the statistical detector tests: seeded synthetic platforms and hard negatives."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from detectors._common import bucket_datetime
from detectors.findings import METRICS, PATTERNS, Finding, Panel
from detectors.synthetic import Synth, burst, simulate

SEED = 11
VIRAL_ACCOUNT = 123
VIRAL_START = 14 * 24 - 30  # inside the judged (last 48) hours
HOLIDAY_START = 14 * 24 - 48  # the first judged day


@pytest.fixture(scope="session")
def clean() -> Synth:
    return simulate(seed=SEED)


@pytest.fixture(scope="session", params=[(10.0, 6), (25.0, 12)], ids=["x10_6h", "x25_12h"])
def viral(request: pytest.FixtureRequest) -> Synth:
    """A celebrity share: one account's attention lifted for some judged hours, partners too."""
    factor, hours = request.param
    return simulate(seed=SEED, lift=burst(VIRAL_ACCOUNT, VIRAL_START, hours, factor))


@pytest.fixture(scope="session")
def holiday() -> Synth:
    """A platform-wide holiday: every account +60% for the first judged day."""
    return simulate(seed=SEED, lift=burst(slice(None), HOLIDAY_START, 24, 1.6))


def _check_finding(finding: Finding, panel: Panel, detector: str) -> None:
    """What every finding owes its reader, whichever detector made it."""
    judged_start = bucket_datetime(panel.bucket_times, panel.judge_from)
    assert finding.detector == detector
    assert finding.pattern in PATTERNS
    assert finding.metric is None or finding.metric in METRICS
    assert 0.0 <= finding.score <= 1.0
    assert finding.evidence and all(e.values for e in finding.evidence)
    assert finding.explanation.endswith(".") and finding.subject in finding.explanation
    assert finding.start_time >= judged_start, "only judged buckets may be flagged"
    assert finding.end_time > finding.start_time
    assert finding.key.startswith(f"{finding.subject}:")


@pytest.fixture(scope="session")
def check() -> Callable[[Finding, Panel, str], None]:
    return _check_finding
