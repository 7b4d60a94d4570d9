"""Robust trailing baselines: how far each point sits from what the points before it looked like.

Building block of the streaming scorer and of any per-account detector that judges the newest
bucket against its own history (bought followers arrive as a jump in the level or in the
bucket-to-bucket change). Every statistic at row t uses rows strictly before t, so the result is
causal and can be computed incrementally. Works on one series (shape (T,)) or on a panel with
time on the last axis (shape (accounts, T)).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

FloatArray = npt.NDArray[np.float64]

# IQR / 1.349 is the standard deviation of a normal distribution with that IQR.
_IQR_TO_SIGMA = 1.349


@dataclass(frozen=True, slots=True)
class RobustBaseline:
    """Trailing centre and spread per row (NaN while there is too little history)."""

    center: FloatArray
    spread: FloatArray


def _as_time_major(values: FloatArray) -> pd.DataFrame:
    array = np.asarray(values, dtype=np.float64)
    return pd.DataFrame(array.reshape(-1, array.shape[-1]).T)


def _from_time_major(frame: pd.DataFrame, shape: tuple[int, ...]) -> FloatArray:
    return np.asarray(frame.to_numpy(dtype=np.float64).T.reshape(shape), dtype=np.float64)


def trailing_baseline(values: FloatArray, window: int, min_periods: int) -> RobustBaseline:
    """Median and IQR-based spread of the `window` rows before each row.

    Args:
        values: one series (T,) or a panel (accounts, T); time on the last axis.
        window: trailing rows in the baseline.
        min_periods: rows needed before the baseline is defined (NaN before).
    """
    array = np.asarray(values, dtype=np.float64)
    past = _as_time_major(array).shift(1).rolling(window, min_periods=min_periods)
    center = past.median()
    spread = (past.quantile(0.75) - past.quantile(0.25)) / _IQR_TO_SIGMA
    return RobustBaseline(
        center=_from_time_major(center, array.shape),
        spread=_from_time_major(spread, array.shape),
    )


def past_range(values: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Running minimum and maximum of the rows before each row, ignoring NaN (NaN until a
    number has been seen)."""
    array = np.asarray(values, dtype=np.float64)
    low = np.fmin.accumulate(array, axis=-1)
    high = np.fmax.accumulate(array, axis=-1)
    nan = np.full((*array.shape[:-1], 1), np.nan)
    return (
        np.concatenate([nan, low[..., :-1]], axis=-1),
        np.concatenate([nan, high[..., :-1]], axis=-1),
    )


def robust_z(
    values: FloatArray,
    window: int,
    min_periods: int,
    range_floor: float = 0.01,
) -> FloatArray:
    """Signed distance of each row from its trailing median, in robust standard deviations.

    A flat or quantized history has an IQR of 0 and would make any blip infinitely unusual, so
    the spread never drops below `range_floor` times the range seen so far (causal too).
    Rows without enough history get 0.
    """
    array = np.asarray(values, dtype=np.float64)
    base = trailing_baseline(array, window, min_periods)
    low, high = past_range(array)
    floor = np.maximum(range_floor * (high - low), 1e-9 * (1.0 + np.abs(base.center)))
    spread = np.fmax(base.spread, floor)
    with np.errstate(divide="ignore", invalid="ignore"):  # NaN history -> z 0 below
        z = (array - base.center) / spread
    return np.asarray(np.nan_to_num(z, nan=0.0, posinf=0.0, neginf=0.0), dtype=np.float64)


def first_difference(values: FloatArray) -> FloatArray:
    """Change from the previous row (0 on the first row), along the last axis."""
    array = np.asarray(values, dtype=np.float64)
    return np.diff(array, axis=-1, prepend=array[..., :1])


def trailing_mean(values: FloatArray, rows: int) -> FloatArray:
    """Mean of each row and the `rows - 1` rows before it, along the last axis (NaN until
    `rows` numbers are in the window, and wherever the window holds a NaN)."""
    array = np.asarray(values, dtype=np.float64)
    means = _as_time_major(array).rolling(rows, min_periods=rows).mean()
    return _from_time_major(means, array.shape)


def seasonal_residual(values: FloatArray, period: int, cycles: int) -> FloatArray:
    """Each row minus the median of the same phase in the `cycles` periods before it.

    Removes a daily (or weekly) shape so that a value normal for 3 a.m. but not for 3 p.m.
    stands out. `period` is in rows. NaN until one full period of history exists.
    """
    array = np.asarray(values, dtype=np.float64)
    n = array.shape[-1]
    lagged = np.full((cycles, *array.shape), np.nan)
    for k in range(1, cycles + 1):
        lag = k * period
        if lag < n:
            lagged[k - 1, ..., lag:] = array[..., : n - lag]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows before one period
        expected = np.nanmedian(lagged, axis=0)
    return np.asarray(array - expected, dtype=np.float64)


def rows_per_period(timestamps: npt.NDArray[np.datetime64], seconds: float, sample: int) -> int:
    """Rows in `seconds` of wall time, from the median step of the first `sample` rows only
    (so a row's score never depends on later timestamps once scoring starts). 0 if unknown."""
    stamps = np.asarray(timestamps[: sample + 1], dtype="datetime64[ns]")
    if stamps.size < 2:
        return 0
    step = float(np.median(np.diff(stamps).astype(np.int64))) / 1e9
    return round(seconds / step) if step > 0 else 0
