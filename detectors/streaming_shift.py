"""Sustained shifts: a rise that no single row makes extreme but that adds up over many rows.

A bought-follower campaign spread thinly over a day, or a server that runs hot for hours, moves
each bucket only a little above its usual level; the likelihood (a Gaussian on a short mean) and
the new-extreme rule both miss it. Page's CUSUM accumulates the excess of each robust z over a
drift allowance and forgets it again when the series returns to normal, so a long, modest rise
builds a large statistic. Causal: row t uses rows up to t. Works on (T,) or (accounts, T).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def cusum(z: FloatArray, drift: float, clip: float) -> tuple[FloatArray, FloatArray]:
    """Upper and lower one-sided CUSUM statistics of a robust z, along the last axis.

    upper[t] = max(0, upper[t-1] + min(z[t], clip) - drift) and the mirror image for the lower
    side, both starting at 0.

    Args:
        z: robust z per row (0 where there is no history).
        drift: the allowance per row, in robust standard deviations: rows closer to the
            baseline than this wear the statistic down.
        clip: |z| counted at most, so one huge spike (the new-extreme rule's job) cannot build
            the statistic alone.
    """
    bounded = np.clip(np.asarray(z, dtype=np.float64), -clip, clip)
    return _lindley(bounded - drift), _lindley(-bounded - drift)


def run_length(statistic: FloatArray) -> npt.NDArray[np.int64]:
    """Rows since a CUSUM statistic was last 0, along the last axis (0 on a row where it is 0;
    a statistic that has never been 0 counts from one row before the series).

    How long the rise behind the statistic has lasted: a short, tall burst and a long, modest
    rise can reach the same value, and only the second is the CUSUM's to report.
    """
    array = np.asarray(statistic, dtype=np.float64)
    rows = np.arange(array.shape[-1])
    last_zero = np.maximum.accumulate(np.where(array <= 0.0, rows, -1), axis=-1)
    return np.asarray(rows - last_zero, dtype=np.int64)


def _lindley(steps: FloatArray) -> FloatArray:
    """s[t] = max(0, s[t-1] + steps[t]) with s[-1] = 0, without a Python loop: s is the running
    sum minus its running minimum (taken with the empty sum 0)."""
    total = np.cumsum(steps, axis=-1)
    floor = np.minimum(np.minimum.accumulate(total, axis=-1), 0.0)
    return np.asarray(np.maximum(total - floor, 0.0), dtype=np.float64)
