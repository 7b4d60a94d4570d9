"""One seasonal baseline per metric and panel, shared by every detector, and its fast helpers."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Callable

import numpy as np
import pytest

from detectors import (
    FollowPurgeConfig,
    FollowPurgeDetector,
    SeasonalBaselineConfig,
    SeasonalBaselineDetector,
    default_detectors,
)
from detectors._baseline import BaselineConfig, fit_seasonal_baseline, panel_baseline
from detectors._common import forward_max, median, robust_sd
from detectors._memo import memo_size
from detectors.findings import METRICS, Finding, Panel
from detectors.synthetic import Synth, account_near_median, simulate, with_added


def _fresh(panel: Panel) -> Panel:
    """The same data as a new Panel object: nothing remembered for it yet."""
    return Panel(panel.account_ids, panel.bucket_times, dict(panel.values), panel.judge_from)


def _essence(findings: list[Finding]) -> list[tuple[str, str, float, float, float, str]]:
    return [(f.key, f.detector, f.score, f.observed, f.expected, f.explanation) for f in findings]


def test_baseline_is_fitted_once_per_panel_and_equals_a_fresh_fit(clean: Synth) -> None:
    panel = _fresh(clean.panel)
    first = panel_baseline(panel, "clicks")
    assert panel_baseline(panel, "clicks") is first
    assert panel_baseline(panel, "clicks", BaselineConfig()) is first  # equal configs share
    fit = fit_seasonal_baseline(panel.metric("clicks"), panel.bucket_times, panel.judge_from)
    np.testing.assert_array_equal(first.mu, fit.mu)
    np.testing.assert_array_equal(first.dispersion, fit.dispersion)
    np.testing.assert_array_equal(first.rel_sd, fit.rel_sd)
    # Shared between detectors, so no detector may write into it.
    assert not first.mu.flags.writeable
    with pytest.raises(ValueError):
        first.mu[0, 0] = 1.0


def test_each_baseline_config_gets_its_own_fit(clean: Synth) -> None:
    panel = _fresh(clean.panel)
    usual = panel_baseline(panel, "follows")
    wide = panel_baseline(panel, "follows", BaselineConfig(rel_sd_floor=0.3))
    assert wide is not usual
    assert wide.rel_sd.min() >= 0.3 > usual.rel_sd.min()
    assert memo_size(panel) == 2


def test_a_full_pass_fits_each_metric_once(clean: Synth) -> None:
    panel = _fresh(clean.panel)
    for detector in default_detectors():
        detector.detect(panel)
    # One baseline per metric, plus the shared mask of accounts old enough to judge.
    assert memo_size(panel) == len(METRICS) + 1


def test_detectors_with_different_configs_on_one_panel_match_fresh_runs(clean: Synth) -> None:
    j = clean.panel.judge_from
    a = account_near_median(clean.panel, 0.5)
    planted = with_added(clean.panel, "follows", a, j + 4, [60.0, 70.0, 65.0])
    detectors: list[Callable[[Panel], list[Finding]]] = [
        SeasonalBaselineDetector().detect,
        SeasonalBaselineDetector(
            SeasonalBaselineConfig(baseline=BaselineConfig(rel_sd_floor=0.5, winsor_k=3.0))
        ).detect,
        FollowPurgeDetector(FollowPurgeConfig(baseline=BaselineConfig(shrink_counts=5.0))).detect,
        SeasonalBaselineDetector().detect,
    ]
    shared = [_essence(detect(planted)) for detect in detectors]
    alone = [_essence(detect(_fresh(planted))) for detect in detectors]
    assert shared == alone
    assert shared[0] and shared[0] == shared[3]
    # The stricter noise floor must actually have changed what was judged.
    assert shared[1] != shared[0]


def test_remembered_fits_go_with_their_panel(clean: Synth) -> None:
    panel = _fresh(clean.panel)
    mu = weakref.ref(panel_baseline(panel, "impressions").mu)
    gc.collect()
    assert mu() is not None
    del panel
    gc.collect()
    assert mu() is None


@pytest.mark.parametrize("shape", [(40, 13), (40, 14), (3, 1), (5, 2), (30, 24, 7), (11, 6, 8)])
def test_median_equals_numpy(shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(len(shape) * 100 + shape[-1])
    # Counts with ties, plus some fractional values.
    x = rng.poisson(3.0, shape) + rng.random(shape) * (rng.random(shape) < 0.3)
    for axis in range(len(shape)):
        np.testing.assert_array_equal(median(x, axis=axis), np.median(x, axis=axis))
        copy = x.copy()
        np.testing.assert_array_equal(
            median(copy, axis=axis, overwrite=True), np.median(x, axis=axis)
        )
    expected_sd = 1.4826 * np.median(np.abs(x - np.median(x, axis=0, keepdims=True)), axis=0)
    np.testing.assert_array_equal(robust_sd(x, axis=0), expected_sd)


@pytest.mark.parametrize(("t", "lo", "hi"), [(60, 12, 30), (20, 12, 40), (15, 0, 0), (9, 3, 4)])
def test_forward_max_matches_its_definition(t: int, lo: int, hi: int) -> None:
    rng = np.random.default_rng(t + lo + hi)
    a = rng.normal(size=(4, t))
    a[:, : t // 3] = -np.inf
    expected = np.full((4, t), -np.inf)
    for g in range(t):
        window = a[:, g + lo : g + hi + 1]
        if window.shape[1]:
            expected[:, g] = window.max(axis=1)
    np.testing.assert_array_equal(forward_max(a, lo, hi), expected)


def test_production_shaped_baseline_with_weekday_factor() -> None:
    # Fifteen days bring the weekday factor into play; its fused gather must match the model.
    panel = simulate(seed=5, n_accounts=200, days=15, judge_hours=24).panel
    base = panel_baseline(panel, "impressions")
    assert base.history_end == panel.judge_from
    j = panel.judge_from
    observed = panel.metric("impressions")[:, j:].sum(axis=1)
    expected = base.mu[:, j:].sum(axis=1)
    busy = expected > 200
    z = (observed[busy] - expected[busy]) / np.sqrt(base.variance(expected[busy], busy))
    assert np.abs(np.median(z)) < 0.5
