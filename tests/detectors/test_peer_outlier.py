"""peer_outlier: an account unlike its size peers ranks first; clean platforms give nothing."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from detectors.findings import Finding, Panel
from detectors.peer_outlier import PeerOutlierConfig, PeerOutlierDetector
from detectors.synthetic import Synth, account_near_median, recut, with_added, with_replaced

Check = Callable[[Finding, Panel, str], None]
DETECTOR = PeerOutlierDetector()


def _steady_clicks(panel: Panel, account: int) -> Panel:
    """A click farm topping up 6 clicks an hour for most of the judged window."""
    return with_added(panel, "clicks", account, panel.judge_from + 2, [6.0] * 40)


def _follow_churn(panel: Panel, account: int) -> Panel:
    """Followers leaving steadily while new follows run as usual: unfollows per follow up."""
    return with_added(panel, "unfollows", account, panel.judge_from + 4, [8.0] * 30)


def _metronome(panel: Panel, account: int) -> Panel:
    """Impressions replaced by an exact hourly quota."""
    quota = float(panel.metric("impressions")[account, : panel.judge_from].mean())
    return with_replaced(panel, "impressions", account, panel.judge_from, np.full(48, round(quota)))


@pytest.mark.parametrize(
    ("plant", "feature", "rank"),
    [
        (_steady_clicks, "ratio_clicks_per_impressions", 0.6),
        (_follow_churn, "unfollow_per_follow", 0.8),
        (_metronome, "dispersion_impressions", 0.8),
    ],
)
def test_outlier_ranks_first(
    clean: Synth,
    check: Check,
    plant: Callable[[Panel, int], Panel],
    feature: str,
    rank: float,
) -> None:
    panel = clean.panel
    account = account_near_median(panel, rank=rank)
    top = DETECTOR.detect(plant(panel, account))[0]

    check(top, panel, DETECTOR.name)
    assert top.subject == str(panel.account_ids[account])
    kinds = [e.kind for e in top.evidence]
    assert kinds[0] == "peer_outlier" and f"feature:{feature}" in kinds
    assert "accounts of similar size" in top.explanation


def test_clean_platform_yields_nothing(clean: Synth) -> None:
    assert DETECTOR.detect(clean.panel) == []


def test_key_is_stable_when_the_panel_starts_later(clean: Synth) -> None:
    panel = clean.panel
    planted = _steady_clicks(panel, account_near_median(panel))
    first = DETECTOR.detect(planted)[0]
    again = DETECTOR.detect(recut(planted, 48))[0]
    assert again.key == first.key


def test_small_platforms_and_bad_configs() -> None:
    with pytest.raises(ValueError):
        PeerOutlierDetector(PeerOutlierConfig(min_band_size=5))
    with pytest.raises(ValueError):
        PeerOutlierDetector(PeerOutlierConfig(gate_z=0.0))
