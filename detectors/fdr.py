"""Calibrated p-values of counts and false discovery control across accounts.

Why not a z-score threshold: with 100k accounts judged every hour, a per-series 3-sigma
rule raises hundreds of alerts on clean traffic, and the normal tail is badly wrong for
small counts (13 follows where 2.4 were expected is "10 sigma" to a z-score and a 1-in-10^4
event to the count distribution). Here a window's p-value comes from a negative binomial
with the baseline's mean and variance, the best of an account's windows is corrected for
how many windows were searched, and Benjamini-Hochberg decides across every account and
metric of one detector run which findings are discoveries at the configured rate.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special, stats

from detectors._common import FloatArray

_LN10 = math.log(10.0)


def count_neglog10_p(
    observed: FloatArray, expected: FloatArray, variance: FloatArray, upper: bool = True
) -> FloatArray:
    """-log10 P(X >= observed) (`upper`) or P(X <= observed) for a count X with that mean
    and variance: negative binomial when over-dispersed, Poisson otherwise.

    Observed counts are rounded (pooled partner sums may be fractional).
    """
    mean = np.maximum(np.asarray(expected, dtype=np.float64), 1e-9)
    var = np.maximum(np.asarray(variance, dtype=np.float64), mean * (1.0 + 1e-9))
    k = np.rint(np.asarray(observed, dtype=np.float64))
    size = mean * mean / (var - mean)  # NB "n": var = mean + mean^2 / size
    prob = mean / var
    if upper:
        # P(X >= k) = 1 - P(X <= k - 1) = I_{1-p}(k, n) for k >= 1 (regularised beta).
        logp = np.where(
            k >= 1,
            np.log(np.maximum(special.betainc(np.maximum(k, 1.0), size, 1.0 - prob), 1e-300)),
            0.0,
        )
        # Far in the tail betainc underflows: fall back to the log-space survival function.
        tiny = logp <= math.log(1e-290)
        if tiny.any():
            kt, mt, st = k[tiny], mean[tiny], size[tiny]
            with np.errstate(divide="ignore", invalid="ignore"):
                deep = np.where(
                    st > 1e6,
                    stats.poisson.logsf(kt - 1.0, mt),
                    stats.nbinom.logsf(kt - 1.0, st, prob[tiny]),
                )
            # Beyond even that: the Chernoff bound of a Poisson count at that dispersion,
            # a finite rank for windows too extreme to tell apart otherwise.
            disp = var[tiny] / mt
            chernoff = -(special.xlogy(kt, kt / mt) - kt + mt) / disp
            logp[tiny] = np.where(np.isfinite(deep), deep, chernoff)
    else:
        logp = np.where(k >= 0, stats.nbinom.logcdf(np.maximum(k, 0.0), size, prob), -np.inf)
    return np.asarray(np.maximum(-logp / _LN10, 0.0), dtype=np.float64)


def searched_windows(judged: int, widths: list[int], directions: int = 2) -> int:
    """How many roughly independent windows a screen of these widths searched."""
    return directions * sum(-(-judged // w) for w in widths)


def corrected(neglog10_p: FloatArray, tests: int) -> FloatArray:
    """-log10 of the Bonferroni-corrected p-value of the best of `tests` windows."""
    return np.asarray(
        np.maximum(np.asarray(neglog10_p, dtype=np.float64) - math.log10(max(tests, 1)), 0.0),
        dtype=np.float64,
    )


def bh_discoveries(neglog10_p: FloatArray, family: int, alpha: float) -> np.ndarray:
    """Which of these p-values Benjamini-Hochberg calls discoveries at false discovery rate
    `alpha`, in a family of `family` tests (the rest, not listed, have p = 1).

    Only candidates are passed in, so the untested members of the family are added as
    p = 1: they can only raise the bar, never lower it.
    """
    q = np.asarray(neglog10_p, dtype=np.float64)
    if q.size == 0:
        return np.zeros(0, dtype=bool)
    family = max(family, q.size)
    p = np.power(10.0, -np.minimum(q, 300.0))
    padded = np.ones(family)
    padded[: q.size] = p
    adjusted = stats.false_discovery_control(padded, method="bh")[: q.size]
    return np.asarray(adjusted <= alpha, dtype=bool)


def bh_adjusted(neglog10_p: FloatArray, family: int) -> FloatArray:
    """BH-adjusted p-values (q-values) of these candidates in a family of `family` tests."""
    q = np.asarray(neglog10_p, dtype=np.float64)
    if q.size == 0:
        return np.zeros(0)
    family = max(family, q.size)
    padded = np.ones(family)
    padded[: q.size] = np.power(10.0, -np.minimum(q, 300.0))
    return np.asarray(stats.false_discovery_control(padded, method="bh")[: q.size])
