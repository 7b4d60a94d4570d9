"""Calibrated count p-values and Benjamini-Hochberg across accounts (detectors/fdr.py)."""

from __future__ import annotations

import numpy as np
from scipy import stats

from detectors.fdr import (
    bh_adjusted,
    bh_discoveries,
    corrected,
    count_neglog10_p,
    searched_windows,
)


def test_count_p_values_are_calibrated_on_negative_binomial_counts() -> None:
    # Under the null the p-value of a count is (discretely) uniform: P(p <= a) <= a.
    rng = np.random.default_rng(3)
    mean, var = 2.5, 4.0
    size, prob = mean * mean / (var - mean), mean / var
    x = rng.negative_binomial(size, prob, 200_000).astype(np.float64)
    p = 10.0 ** -count_neglog10_p(x, np.full(x.size, mean), np.full(x.size, var))
    for a in (0.2, 0.05, 0.01, 0.001):
        assert np.mean(p <= a) <= a * 1.1
        assert np.mean(p <= a) >= a * 0.3  # not uselessly conservative either
    lower = 10.0 ** -count_neglog10_p(x, np.full(x.size, mean), np.full(x.size, var), upper=False)
    assert np.mean(lower <= 0.05) <= 0.055


def test_count_tail_is_far_heavier_than_the_normal_one_at_small_counts() -> None:
    # 13 events where 2.4 were expected: "7 sigma" to a z-score, about 1e-5 to the counts.
    q = count_neglog10_p(np.array([13.0]), np.array([2.4]), np.array([2.4 * 1.2]))[0]
    z = (13.0 - 2.4) / np.sqrt(2.4 * 1.2)
    assert 3.0 < q < -stats.norm.logsf(z) / np.log(10.0) - 3.0


def test_poisson_when_not_over_dispersed_and_deep_tails_stay_finite() -> None:
    q = count_neglog10_p(np.array([5.0, 5000.0]), np.array([1.0, 10.0]), np.array([1.0, 10.0]))
    assert abs(10.0 ** -q[0] - stats.poisson.sf(4, 1.0)) < 1e-6
    assert np.isfinite(q[1]) and q[1] > 300


def test_windows_searched_and_bonferroni_correction() -> None:
    assert searched_windows(72, [1, 3, 6, 24, 72]) == 2 * (72 + 24 + 12 + 3 + 1)
    assert corrected(np.array([5.0, 1.0]), 100).tolist() == [3.0, 0.0]


def test_bh_controls_discoveries_on_a_large_null_family() -> None:
    rng = np.random.default_rng(4)
    family = 100_000
    null = -np.log10(rng.uniform(size=family))
    # Only the candidates are passed; the rest of the family is implicitly p = 1.
    top = np.sort(null)[-500:]
    assert bh_discoveries(top, family, 0.01).sum() <= 1
    planted = np.concatenate([top, np.full(20, 12.0)])
    found = bh_discoveries(planted, family + 20, 0.01)
    assert found[-20:].all() and found[:-20].sum() <= 1
    q = bh_adjusted(planted, family + 20)
    assert (q[-20:] <= 0.01).all() and (q >= 10.0**-planted - 1e-15).all()
    assert bh_discoveries(np.zeros(0), 10, 0.01).size == 0
