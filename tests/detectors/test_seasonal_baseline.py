"""seasonal_baseline: planted spikes rank first; season, holidays and viral bursts do not alert."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from detectors.findings import Finding, Panel
from detectors.seasonal_baseline import SeasonalBaselineConfig, SeasonalBaselineDetector
from detectors.synthetic import (
    Synth,
    account_near_median,
    burst,
    recut,
    simulate,
    with_added,
    with_replaced,
)

Check = Callable[[Finding, Panel, str], None]
DETECTOR = SeasonalBaselineDetector()


@pytest.mark.parametrize(
    ("metric", "counts", "pattern"),
    [
        ("follows", [1300.0, 1400.0, 1500.0], "fake_followers"),  # 4,200 in 3 hours
        ("follows", [130.0, 140.0, 130.0], "fake_followers"),
        ("clicks", [20.0] * 6, "fake_traffic"),
        ("shares", [15.0, 15.0, 15.0], "fake_engagement"),
        ("comments", [12.0] * 4, "fake_engagement"),
    ],
)
def test_planted_spike_ranks_first(
    clean: Synth, check: Check, metric: str, counts: list[float], pattern: str
) -> None:
    panel = clean.panel
    account = account_near_median(panel)
    start = panel.judge_from + 20
    findings = DETECTOR.detect(with_added(panel, metric, account, start, counts))

    top = findings[0]
    check(top, panel, DETECTOR.name)
    assert top.subject == str(panel.account_ids[account])
    assert (top.metric, top.pattern) == (metric, pattern)
    assert top.observed >= sum(counts) * 0.9 and top.expected < sum(counts) / 5
    kinds = {e.kind for e in top.evidence}
    assert {"observed_vs_expected", "partner_metrics", "peer_percentile"} <= kinds
    assert "against about" in top.explanation and "while" in top.explanation
    assert top.key.endswith(str(panel.bucket_times[start])[:13].replace(" ", "T") + ":00Z")


def test_drop_of_a_large_account(clean: Synth, check: Check) -> None:
    panel = clean.panel
    account = account_near_median(panel, rank=0.97)
    start = panel.judge_from + 6
    dropped = with_replaced(panel, "clicks", account, start, np.zeros(24))
    top = DETECTOR.detect(dropped)[0]
    check(top, panel, DETECTOR.name)
    assert top.subject == str(panel.account_ids[account]) and top.metric == "clicks"
    assert top.observed == 0.0 and top.expected > 50
    assert "fell to 0" in top.explanation


def test_clean_platform_yields_nothing(clean: Synth) -> None:
    assert DETECTOR.detect(clean.panel) == []


def test_viral_burst_with_partners_is_not_fraud(viral: Synth) -> None:
    assert DETECTOR.detect(viral.panel) == []


def test_platform_wide_holiday_is_not_fraud(holiday: Synth) -> None:
    assert DETECTOR.detect(holiday.panel) == []


def test_strong_platform_wide_holiday_is_not_fraud() -> None:
    # x3 for a day: beyond what partner metrics alone would excuse on each account.
    panel = simulate(seed=11, lift=burst(slice(None), 14 * 24 - 48, 24, 3.0)).panel
    assert DETECTOR.detect(panel) == []


def test_anomaly_in_history_is_not_flagged(clean: Synth) -> None:
    panel = clean.panel
    account = account_near_median(panel)
    planted = with_added(panel, "follows", account, panel.judge_from - 30, [500.0, 500.0])
    assert DETECTOR.detect(planted) == []


def test_key_is_stable_when_the_panel_starts_later(clean: Synth) -> None:
    panel = clean.panel
    account = account_near_median(panel)
    planted = with_added(panel, "follows", account, panel.judge_from + 10, [200.0, 250.0])
    first = DETECTOR.detect(planted)[0]
    again = DETECTOR.detect(recut(planted, 48))[0]
    assert again.key == first.key
    assert again.start_time == first.start_time


def test_min_score_filters_and_config_is_validated(clean: Synth) -> None:
    loose = SeasonalBaselineDetector(SeasonalBaselineConfig(min_score=0.05))
    assert all(0.05 <= f.score < 0.5 for f in loose.detect(clean.panel))
    with pytest.raises(ValueError):
        SeasonalBaselineDetector(SeasonalBaselineConfig(metrics=("likes",)))
    with pytest.raises(ValueError):
        SeasonalBaselineDetector(SeasonalBaselineConfig(min_score=1.5))
