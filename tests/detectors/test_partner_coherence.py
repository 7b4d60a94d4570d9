"""partner_coherence: metrics rising without partners rank first; bursts with partners do not."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from detectors.findings import Finding, Panel
from detectors.partner_coherence import PartnerCoherenceConfig, PartnerCoherenceDetector
from detectors.synthetic import Synth, account_near_median, burst, recut, simulate, with_added

Check = Callable[[Finding, Panel, str], None]
DETECTOR = PartnerCoherenceDetector()


@pytest.mark.parametrize(
    ("metric", "counts", "pattern", "partners"),
    [
        ("clicks", [20.0] * 6, "fake_traffic", "impressions"),  # click farm
        ("follows", [130.0, 140.0, 130.0], "fake_followers", "impressions"),
        ("shares", [15.0, 15.0, 15.0], "fake_engagement", "comments and clicks"),
        ("comments", [12.0] * 4, "fake_engagement", "impressions"),
    ],
)
def test_metric_without_partners_ranks_first(
    clean: Synth, check: Check, metric: str, counts: list[float], pattern: str, partners: str
) -> None:
    panel = clean.panel
    account = account_near_median(panel, rank=0.4)
    start = panel.judge_from + 30
    top = DETECTOR.detect(with_added(panel, metric, account, start, counts))[0]

    check(top, panel, DETECTOR.name)
    assert top.subject == str(panel.account_ids[account])
    assert (top.metric, top.pattern) == (metric, pattern)
    ratio = {e.kind: e.values for e in top.evidence}["partner_ratio"]
    assert ratio["partners"] == partners
    assert float(ratio["observed_per_100"]) > 5 * float(ratio["own_per_100"])
    assert f"per 100 {partners}" in top.explanation


def test_clean_platform_yields_nothing(clean: Synth) -> None:
    assert DETECTOR.detect(clean.panel) == []


def test_viral_burst_with_partners_is_not_fraud(viral: Synth) -> None:
    assert DETECTOR.detect(viral.panel) == []


def test_platform_wide_holiday_is_not_fraud(holiday: Synth) -> None:
    assert DETECTOR.detect(holiday.panel) == []


def test_strong_platform_wide_holiday_is_not_fraud() -> None:
    panel = simulate(seed=11, lift=burst(slice(None), 14 * 24 - 48, 24, 3.0)).panel
    assert DETECTOR.detect(panel) == []


def test_large_account_needs_a_large_effect(clean: Synth) -> None:
    # +30% clicks on a big account is statistically clear but within organic CTR drift.
    panel = clean.panel
    account = account_near_median(panel, rank=0.99)
    base = panel.metric("clicks")[account, panel.judge_from :].mean()
    lifted = with_added(panel, "clicks", account, panel.judge_from, [0.3 * base] * 48)
    assert DETECTOR.detect(lifted) == []


def test_key_is_stable_when_the_panel_starts_later(clean: Synth) -> None:
    panel = clean.panel
    account = account_near_median(panel)
    planted = with_added(panel, "clicks", account, panel.judge_from + 7, [25.0] * 5)
    first = DETECTOR.detect(planted)[0]
    again = DETECTOR.detect(recut(planted, 96))[0]
    assert (again.key, again.start_time) == (first.key, first.start_time)


def test_config_is_validated() -> None:
    with pytest.raises(ValueError):
        PartnerCoherenceDetector(PartnerCoherenceConfig(pairs=(("clicks", ("clicks",)),)))
    with pytest.raises(ValueError):
        PartnerCoherenceDetector(PartnerCoherenceConfig(pairs=(("likes", ("impressions",)),)))
