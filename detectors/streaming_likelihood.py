"""Anomaly likelihood: how unusual a series' recent surprise is compared with its own past surprise.

A raw surprise (e.g. a robust z) is not comparable across series: a noisy metric is surprised
all the time. Following Numenta's anomaly likelihood, the short-run mean of the surprise is judged
against a Gaussian fitted to its own long-run history, which turns it into a tail probability that
one threshold can serve across metrics and accounts (and that a false-discovery-rate procedure can
take as a p-value). Causal: row t uses rows up to t. Works on (T,) or (accounts, T).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.special import log_ndtr

FloatArray = npt.NDArray[np.float64]

# log(tail) / log(1e-10): a tail of 1e-10 or less is certainty (score 1).
_LOG_TAIL_FLOOR = float(np.log(1e-10))


def surprise(z: FloatArray, cap: float) -> FloatArray:
    """Raw surprise in [0, 1] from a robust z: |z| / cap, saturating at cap."""
    return np.asarray(np.clip(np.abs(z) / cap, 0.0, 1.0), dtype=np.float64)


def log_tail(
    raw: FloatArray,
    short: int,
    long: int,
    min_periods: int,
    min_std: float,
    two_sided: bool = False,
) -> FloatArray:
    """Natural log of the Gaussian upper-tail probability of the recent mean surprise.

    Args:
        raw: surprise per row in [0, 1]; time on the last axis.
        short: rows averaged into the recent surprise (smooths single-row noise).
        long: rows of past recent-surprise values the Gaussian is fitted to.
        min_periods: past rows needed before a tail is given (0 = log(1) before).
        min_std: smallest standard deviation of the fit, so a series that was never surprised
            is not certain about its first small surprise.
        two_sided: judge a recent mean far below its past as unusual too (for a
            signed input, e.g. a drop in engagement).
    """
    array = np.asarray(raw, dtype=np.float64)
    frame = pd.DataFrame(array.reshape(-1, array.shape[-1]).T)
    recent = frame.rolling(short, min_periods=1).mean()
    past = recent.shift(1).rolling(long, min_periods=min_periods)
    mean = past.mean().to_numpy()
    std = np.fmax(past.std().to_numpy(), min_std)
    z = (recent.to_numpy() - mean) / std
    if two_sided:
        z = np.abs(z)
    logs = log_ndtr(-np.nan_to_num(z, nan=-np.inf))
    return np.asarray(logs.T.reshape(array.shape), dtype=np.float64)


def likelihood_score(logs: FloatArray) -> FloatArray:
    """Map a log tail probability to [0, 1]: 0.5 at 1e-5, 1 at 1e-10 or rarer."""
    return np.asarray(np.clip(logs / _LOG_TAIL_FLOOR, 0.0, 1.0), dtype=np.float64)
