"""The shared seasonal baseline: platform factor, seasonality and noise of every account."""

from __future__ import annotations

import numpy as np
import pytest

from detectors._baseline import fit_seasonal_baseline
from detectors.synthetic import Synth, burst, simulate


@pytest.mark.parametrize("lift", [1.6, 3.0])
def test_platform_factor_carries_a_holiday(clean: Synth, lift: float) -> None:
    # The judged days are a weekend, which lifts the platform too: compare with no holiday.
    start = 14 * 24 - 48
    panel = simulate(seed=11, lift=burst(slice(None), start, 24, lift)).panel
    base = fit_seasonal_baseline(panel.metric("impressions"), panel.bucket_times, start)
    usual = fit_seasonal_baseline(clean.panel.metric("impressions"), panel.bucket_times, start)
    relative = base.platform / usual.platform
    assert relative[start : start + 24] == pytest.approx(lift, rel=0.05)
    assert relative[start + 24 :] == pytest.approx(1.0, abs=0.05)
    # History holds only the platform's own rhythm, weekends included.
    assert usual.platform[:start].min() > 0.8 and usual.platform[:start].max() < 1.25


def test_expectation_follows_each_accounts_daily_cycle(clean: Synth) -> None:
    panel = clean.panel
    j = panel.judge_from
    for metric in ("impressions", "clicks"):
        base = fit_seasonal_baseline(panel.metric(metric), panel.bucket_times, j)
        observed = panel.metric(metric)[:, j:].sum(axis=1)
        expected = base.mu[:, j:].sum(axis=1)
        busy = expected > 200
        # Judged totals land within a few sds of expectation: the model is calibrated.
        z = (observed[busy] - expected[busy]) / np.sqrt(base.variance(expected[busy], busy))
        assert np.abs(np.median(z)) < 0.5 and np.percentile(np.abs(z), 99) < 4.0
        # The hour-by-hour shape matches the truth the panel was drawn from.
        truth = clean.attention[busy, j:]
        assert (
            np.median(
                [np.corrcoef(a, b)[0, 1] for a, b in zip(truth, base.mu[busy, j:], strict=True)]
            )
            > 0.9
        )
    assert base.dispersion.min() >= 1.0 and base.rel_sd.min() >= 0.1
