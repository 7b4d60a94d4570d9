"""seasonal_baseline: an off-peak burst is judged by whether its partners rose in proportion.

A celebrity share brings tens of times an account's usual attention at once, whatever its hour
of day, so at night the burst is a hundredfold of the seasonal expectation while the sparse
partners (clicks, comments, shares) show only a few extra events each. Those few events, drawn
from the realised impressions, must explain the burst; the same impressions added with the
partners left flat must not be explained.
"""

from __future__ import annotations

import numpy as np

from detectors.findings import Panel
from detectors.seasonal_baseline import SeasonalBaselineDetector
from detectors.synthetic import FloatArray, Synth, account_near_median, simulate, with_added

SEED = 5
JUDGE_HOURS = 48
DETECTOR = SeasonalBaselineDetector()


def _quietest_judged_hour(synth: Synth, account: int) -> int:
    attention = synth.attention[account]
    first = len(attention) - JUDGE_HOURS
    # Leave room for the decay inside the judged span.
    return first + int(np.argmin(attention[first : len(attention) - 6]))


def _celebrity(size: float) -> FloatArray:
    """Extra attention: 30x the account's mean hour at once, decaying over about 3 hours."""
    return 30.0 * size * np.exp(-np.arange(6) / 3.0)


def _off_peak_burst() -> tuple[Synth, int, int, FloatArray]:
    clean = simulate(seed=SEED, judge_hours=JUDGE_HOURS)
    account = account_near_median(clean.panel, 0.7)
    start = _quietest_judged_hour(clean, account)
    extra = _celebrity(float(clean.attention[account].mean()))

    def lift(attention: FloatArray) -> FloatArray:
        out = attention.copy()
        out[account, start : start + len(extra)] += extra
        return out

    return simulate(seed=SEED, judge_hours=JUDGE_HOURS, lift=lift), account, start, extra


def _flagged(panel: Panel, account: int, metric: str) -> bool:
    subject = str(panel.account_ids[account])
    return any(f.subject == subject and f.metric == metric for f in DETECTOR.detect(panel))


def test_off_peak_burst_with_partners_in_proportion_is_explained() -> None:
    burst, account, start, _ = _off_peak_burst()
    impressions = burst.panel.metric("impressions")[account, start : start + 6]
    assert impressions.sum() > 10 * burst.attention[account].mean()  # the burst is there
    assert not _flagged(burst.panel, account, "impressions")


def test_off_peak_burst_with_flat_partners_is_flagged() -> None:
    _, account, start, extra = _off_peak_burst()
    clean = simulate(seed=SEED, judge_hours=JUDGE_HOURS)
    # The same impressions, bought: partners keep their clean counts.
    fake = with_added(clean.panel, "impressions", account, start, list(np.round(extra)))
    assert _flagged(fake, account, "impressions")
