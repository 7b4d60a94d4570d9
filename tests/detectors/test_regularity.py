"""regularity: scripted, too-even or cycle-less traffic ranks first; people's traffic does not."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from detectors.findings import Finding, Panel
from detectors.regularity import RegularityConfig, RegularityDetector
from detectors.synthetic import Synth, account_near_median, recut, with_replaced

Check = Callable[[Finding, Panel, str], None]
DETECTOR = RegularityDetector()
RNG_SEED = 5


def _fixed_rate(hours: int, low: int, high: int) -> np.ndarray:
    """A script emitting between low and high events every hour: far below Poisson spread."""
    return np.random.default_rng(RNG_SEED).integers(low, high + 1, hours).astype(np.float64)


def _constant_rate(hours: int, rate: float) -> np.ndarray:
    """A bot firing at random at a constant rate: Poisson spread but no daily cycle."""
    return np.random.default_rng(RNG_SEED).poisson(rate, hours).astype(np.float64)


@pytest.mark.parametrize(
    ("metric", "series", "pattern", "evidence_key"),
    [
        ("clicks", _fixed_rate(60, 29, 31), "fake_traffic", "index_of_dispersion"),
        ("follows", _constant_rate(48, 8.0), "fake_followers", "cycle_share_left"),
        ("shares", _fixed_rate(48, 5, 6), "fake_engagement", "index_of_dispersion"),
    ],
)
def test_regular_traffic_ranks_first(
    clean: Synth,
    check: Check,
    metric: str,
    series: np.ndarray,
    pattern: str,
    evidence_key: str,
) -> None:
    panel = clean.panel
    account = account_near_median(panel)
    start = panel.n_buckets - len(series)
    top = DETECTOR.detect(with_replaced(panel, metric, account, start, series))[0]

    check(top, panel, DETECTOR.name)
    assert top.subject == str(panel.account_ids[account])
    assert (top.metric, top.pattern) == (metric, pattern)
    facts = {k: v for e in top.evidence for k, v in e.values.items()}
    if evidence_key == "index_of_dispersion":
        assert float(facts[evidence_key]) < 0.3
    else:
        assert float(facts[evidence_key]) < 0.3
    assert float(facts["usual_amplitude"]) > 0.2


def test_clean_platform_yields_nothing(clean: Synth) -> None:
    assert DETECTOR.detect(clean.panel) == []


def test_hard_negatives_yield_nothing(viral: Synth, holiday: Synth) -> None:
    assert DETECTOR.detect(viral.panel) == []
    assert DETECTOR.detect(holiday.panel) == []


def test_key_is_stable_when_the_panel_starts_later(clean: Synth) -> None:
    panel = clean.panel
    account = account_near_median(panel)
    planted = with_replaced(panel, "clicks", account, panel.n_buckets - 70, _fixed_rate(70, 29, 31))
    first = DETECTOR.detect(planted)[0]
    again = DETECTOR.detect(recut(planted, 48))[0]
    assert again.key == first.key


def test_too_short_a_judged_window_says_nothing(clean: Synth) -> None:
    panel = clean.panel
    short = Panel(panel.account_ids, panel.bucket_times, panel.values, panel.n_buckets - 12)
    assert DETECTOR.detect(short) == []
    with pytest.raises(ValueError):
        RegularityDetector(RegularityConfig(dispersion_full=1.5))
