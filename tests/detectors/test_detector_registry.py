"""The statistical registry: every detector, on one platform with several kinds of fraud."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypedDict

import numpy as np
import pytest

from detectors import STATISTICAL_DETECTORS, default_detectors
from detectors._common import bucket_datetime, bucket_iso
from detectors.findings import Detector, Finding, Panel
from detectors.synthetic import (
    Synth,
    account_near_median,
    burst,
    simulate,
    with_added,
    with_replaced,
)

SEED = 11

Check = Callable[[Finding, Panel, str], None]


def _fraud_everywhere(panel: Panel) -> tuple[Panel, dict[str, set[str]]]:
    """Plants for every detector, one straddling the start of the judged window."""
    j = panel.judge_from
    ids = [str(a) for a in panel.account_ids]
    a, b, c, d = (account_near_median(panel, r) for r in (0.3, 0.5, 0.7, 0.9))
    planted = with_added(panel, "follows", a, j - 2, [300.0] * 5)  # straddles judge_from
    planted = with_added(planted, "clicks", b, j + 10, [25.0] * 6)
    planted = with_added(planted, "follows", c, j - 100, [120.0, 120.0, 110.0])
    planted = with_added(planted, "unfollows", c, j + 18, [50.0] * 5)
    quota = np.random.default_rng(1).integers(40, 43, panel.n_buckets - j).astype(np.float64)
    planted = with_replaced(planted, "clicks", d, j, quota)
    expected = {
        "seasonal_baseline": {ids[a], ids[b]},
        "partner_coherence": {ids[a], ids[b]},
        "follow_purge": {ids[c]},
        "regularity": {ids[d]},
        "peer_outlier": {ids[b]},
        "streaming": {ids[a], ids[b]},
    }
    return planted, expected


def test_registry_names_and_protocol() -> None:
    built = default_detectors()
    assert [d.name for d in built] == list(STATISTICAL_DETECTORS)
    assert all(type(d) is STATISTICAL_DETECTORS[d.name] for d in built)
    as_protocol: list[Detector[Panel]] = list(built)
    assert len(as_protocol) == 6


def test_clean_platform_yields_nothing_from_any_detector(clean: Synth) -> None:
    for detector in default_detectors():
        assert detector.detect(clean.panel) == [], detector.name


def test_every_detector_finds_its_fraud_in_judged_buckets_only(clean: Synth, check: Check) -> None:
    planted, expected = _fraud_everywhere(clean.panel)
    for detector in default_detectors():
        findings = detector.detect(planted)
        for finding in findings:
            check(finding, planted, detector.name)
        assert expected[detector.name] <= {f.subject for f in findings}, detector.name
        keys = [f.key for f in findings]
        assert len(keys) == len(set(keys)), f"{detector.name} repeats a key"
        scores = [f.score for f in findings]
        assert scores == sorted(scores, reverse=True)


# The shape of a scheduled run: two weeks of history (weekday factors in play), 24 judged
# hours, and a small account's viral night whose partners are only a handful of events.
class _Shape(TypedDict):
    days: int
    judge_hours: int


PRODUCTION_SHAPE: _Shape = {"days": 15, "judge_hours": 24}


@pytest.mark.parametrize("seed", [40, 43])
def test_production_shaped_viral_night_yields_nothing(seed: int) -> None:
    t = 15 * 24
    panel = simulate(seed=seed, lift=burst(9, t - 20, 8, 12.0), **PRODUCTION_SHAPE).panel
    for detector in default_detectors():
        assert detector.detect(panel) == [], detector.name


def test_production_shaped_fraud_is_found(check: Check) -> None:
    planted, expected = _fraud_everywhere(simulate(seed=SEED, **PRODUCTION_SHAPE).panel)
    for detector in default_detectors():
        findings = detector.detect(planted)
        for finding in findings:
            check(finding, planted, detector.name)
        assert expected[detector.name] <= {f.subject for f in findings}, detector.name


def test_anomaly_straddling_the_judged_start(clean: Synth) -> None:
    # Flagged from the first judged bucket on, but named by where it began in history, so
    # the run that judged those earlier buckets gave it the same key.
    planted, _ = _fraud_everywhere(clean.panel)
    j = planted.judge_from
    account = str(planted.account_ids[account_near_median(planted, 0.3)])
    found = [
        f
        for f in STATISTICAL_DETECTORS["seasonal_baseline"]().detect(planted)
        if f.subject == account
    ]
    assert len(found) == 1
    assert found[0].start_time == bucket_datetime(planted.bucket_times, j)
    assert found[0].key == f"{account}:follows:{bucket_iso(planted.bucket_times, j - 2)}"
