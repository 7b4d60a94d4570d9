"""follow_purge: a gain undone days later ranks first; gains that stay are left alone."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from detectors.findings import Finding, Panel
from detectors.follow_purge import FollowPurgeConfig, FollowPurgeDetector
from detectors.synthetic import (
    Synth,
    account_near_median,
    burst,
    recut,
    simulate,
    with_added,
)

Check = Callable[[Finding, Panel, str], None]
DETECTOR = FollowPurgeDetector()
GAIN = [100.0, 120.0, 90.0, 40.0]  # 350 bought followers over 4 hours


def _gain_and_purge(panel: Panel, account: int, gain_at: int, purge_at: int, share: float) -> Panel:
    gained = with_added(panel, "follows", account, gain_at, GAIN)
    removed = sum(GAIN) * share
    return with_added(gained, "unfollows", account, purge_at, [removed / 5] * 5)


@pytest.mark.parametrize(
    ("gain_offset", "purge_offset", "share"),
    [
        (-90, 12, 0.7),  # bought in history, purged in the judged window
        (-150, 30, 0.5),
        (2, 30, 0.9),  # bought and purged inside the judged window
    ],
)
def test_gain_then_purge_ranks_first(
    clean: Synth, check: Check, gain_offset: int, purge_offset: int, share: float
) -> None:
    panel = clean.panel
    account = account_near_median(panel)
    gain_at = panel.judge_from + gain_offset
    planted = _gain_and_purge(panel, account, gain_at, panel.judge_from + purge_offset, share)
    top = DETECTOR.detect(planted)[0]

    check(top, panel, DETECTOR.name)
    assert top.subject == str(panel.account_ids[account])
    assert (top.pattern, top.metric) == ("fake_followers", "unfollows")
    facts = {e.kind: e.values for e in top.evidence}["gain_then_purge"]
    assert facts["gained"] == pytest.approx(sum(GAIN), rel=0.1)
    assert facts["share"] == pytest.approx(share, abs=0.15)
    assert facts["lag_hours"] == purge_offset - gain_offset
    assert str(panel.bucket_times[gain_at])[:13].replace(" ", "T") in top.key


def test_clean_platform_yields_nothing(clean: Synth) -> None:
    assert DETECTOR.detect(clean.panel) == []


def test_organic_burst_keeps_its_followers() -> None:
    # A viral day in history lifts follows and, proportionally, the same day's unfollows.
    panel = simulate(seed=11, lift=burst(77, 14 * 24 - 100, 12, 20.0)).panel
    assert DETECTOR.detect(panel) == []


def test_viral_burst_in_the_judged_window_is_not_a_purge(viral: Synth) -> None:
    assert DETECTOR.detect(viral.panel) == []


@pytest.mark.parametrize("seed", [22, 27])
def test_burst_split_between_gain_and_purge_windows_is_not_a_purge(seed: int) -> None:
    # A 15x burst whose first hours fall in a gain window and the rest, with their
    # proportional unfollows, in a later window: the unfollows ride along with follows.
    panel = simulate(seed=seed, lift=burst(7, 14 * 24 - 36, 8, 15.0)).panel
    assert DETECTOR.detect(panel) == []


def test_unfollow_wave_without_gain_is_not_a_purge(clean: Synth) -> None:
    panel = clean.panel
    account = account_near_median(panel)
    waved = with_added(panel, "unfollows", account, panel.judge_from + 5, [60.0] * 4)
    assert DETECTOR.detect(waved) == []


def test_purge_before_the_judged_window_is_not_flagged(clean: Synth) -> None:
    panel = clean.panel
    account = account_near_median(panel)
    planted = _gain_and_purge(
        panel, account, panel.judge_from - 120, panel.judge_from - 60, share=0.8
    )
    assert DETECTOR.detect(planted) == []


def test_key_is_stable_when_the_panel_starts_later(clean: Synth) -> None:
    panel = clean.panel
    account = account_near_median(panel)
    planted = _gain_and_purge(
        panel, account, panel.judge_from - 90, panel.judge_from + 12, share=0.7
    )
    first = DETECTOR.detect(planted)[0]
    again = DETECTOR.detect(recut(planted, 72))[0]
    assert again.key == first.key


def test_config_is_validated() -> None:
    with pytest.raises(ValueError):
        FollowPurgeDetector(FollowPurgeConfig(gain_window_hours=24, min_lag_hours=6))
    with pytest.raises(ValueError):
        FollowPurgeDetector(FollowPurgeConfig(min_share=0.0))
