"""Small helpers shared by the statistical detectors: time, windows, scores and wording."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt
from scipy import ndimage, special

from detectors.findings import BUCKET_SECONDS, Evidence, Finding, Panel

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

_LN10 = math.log(10.0)

# Which fraud a metric's anomaly points to when the metric itself is the one inflated.
METRIC_PATTERNS: dict[str, str] = {
    "follows": "fake_followers",
    "unfollows": "fake_followers",
    "clicks": "fake_traffic",
    "impressions": "fake_traffic",
    "shares": "fake_engagement",
    "comments": "fake_engagement",
}


def pattern_for(metric: str) -> str:
    """The fraud pattern an anomaly in `metric` suggests."""
    return METRIC_PATTERNS[metric]


def bucket_datetime(bucket_times: npt.NDArray[np.datetime64], index: int) -> datetime:
    """The start of bucket `index` as a timezone-aware UTC datetime."""
    seconds = int(bucket_times[index].astype("datetime64[s]").astype(np.int64))
    return datetime.fromtimestamp(seconds, tz=UTC)


def bucket_end(bucket_times: npt.NDArray[np.datetime64], index: int) -> datetime:
    """The end (exclusive) of bucket `index`."""
    seconds = int(bucket_times[index].astype("datetime64[s]").astype(np.int64)) + BUCKET_SECONDS
    return datetime.fromtimestamp(seconds, tz=UTC)


def bucket_iso(bucket_times: npt.NDArray[np.datetime64], index: int) -> str:
    """ISO text of a bucket start, the time part of finding keys."""
    return bucket_datetime(bucket_times, index).strftime("%Y-%m-%dT%H:%MZ")


def hour_of_day(bucket_times: npt.NDArray[np.datetime64]) -> IntArray:
    hours = bucket_times.astype("datetime64[h]").astype(np.int64)
    return np.asarray(hours % 24, dtype=np.int64)


def day_of_week(bucket_times: npt.NDArray[np.datetime64]) -> IntArray:
    """Monday = 0; the epoch (1970-01-01) was a Thursday."""
    days = bucket_times.astype("datetime64[D]").astype(np.int64)
    return np.asarray((days + 3) % 7, dtype=np.int64)


def prefix_sums(x: FloatArray) -> FloatArray:
    """(n, t+1) running sums along time, so any window sum is one subtraction."""
    out = np.zeros((x.shape[0], x.shape[1] + 1))
    np.cumsum(x, axis=1, out=out[:, 1:])
    return out


def window_sums(cs: FloatArray, width: int, first: int) -> FloatArray:
    """Sums over `width`-bucket windows starting at `first`, `first + 1`, ... as far as fits."""
    last = cs.shape[1] - 1 - width  # last start whose window fits
    return cs[:, first + width : last + width + 1] - cs[:, first : last + 1]


def window_widths(judged: int, widths: tuple[int, ...]) -> list[int]:
    """The configured widths that fit in the judged span, plus the whole span itself."""
    return sorted({w for w in widths if w <= judged} | {judged})


def normal_neglog10_sf(z: FloatArray) -> FloatArray:
    """-log10 of the one-sided normal tail beyond z, accurate far into the tail."""
    return np.asarray(-special.log_ndtr(-z) / _LN10, dtype=np.float64)


def significance_score(neglog10_p: FloatArray | float, half: float) -> FloatArray:
    """Maps -log10(p) to [0, 1): `half` maps to 0.5; tiny p-values saturate towards 1."""
    # Infinite significance (a p-value that underflowed) is simply full significance.
    q = np.clip(np.nan_to_num(np.asarray(neglog10_p, dtype=np.float64), posinf=1e6), 0.0, 1e6)
    return np.asarray(q * q / (q * q + half * half), dtype=np.float64)


def lift_weight(lift: FloatArray | float, full: float) -> FloatArray:
    """How large an effect is: 0 at no change, 1 from a `full`-fold change on."""
    lifted = np.maximum(np.asarray(lift, dtype=np.float64), 1.0)
    return np.asarray(np.clip(np.log(lifted) / math.log(full), 0.0, 1.0), dtype=np.float64)


def median(x: FloatArray, axis: int = -1, overwrite: bool = False) -> FloatArray:
    """np.median of NaN-free data, several times faster on many short lanes.

    np.median partitions around the middle and, for floats, also around the last element
    to look for NaN; that extra pivot costs most of its time. Counts never hold NaN, so one
    pivot suffices: for an even length the lower middle is the largest value below it.
    The two middle values are averaged as np.median does, so the result is identical.
    `overwrite` lets it reorder `x` in place instead of partitioning a copy.
    """
    size = x.shape[axis]
    if size == 0:
        return np.asarray(np.median(x, axis=axis), dtype=np.float64)
    half = size // 2
    if overwrite:
        x.partition(half, axis=axis)
        part = x
    else:
        part = np.partition(x, half, axis=axis)
    upper = np.take(part, half, axis=axis)
    if size % 2:
        return np.asarray(upper, dtype=np.float64)
    below = [slice(None)] * x.ndim
    below[axis] = slice(0, half)
    lower = part[tuple(below)].max(axis=axis)
    return np.asarray((lower + upper) / 2.0, dtype=np.float64)


def robust_sd(x: FloatArray, axis: int = 1) -> FloatArray:
    """Scaled median absolute deviation: the standard deviation, ignoring outliers."""
    med = np.expand_dims(median(x, axis=axis), axis)
    return np.asarray(1.4826 * median(np.abs(x - med), axis=axis), dtype=np.float64)


def fmt_count(value: float) -> str:
    """Counts as people write them: 4,210; 12; 0.4."""
    if abs(value) >= 100 or float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:,.1f}"


def fmt_hours(hours: int) -> str:
    return "1 hour" if hours == 1 else f"{hours} hours"


def metric_label(metric: str) -> str:
    return metric.capitalize()


def forward_max(a: FloatArray, lo: int, hi: int) -> FloatArray:
    """out[:, g] = max(a[:, g + lo : g + hi + 1]), -inf where that range is empty.

    A van Herk running max, linear in the array size whatever the range length. The
    filter's origin puts each window at its start, so no padded copy is needed.
    """
    n, t = a.shape
    size = hi - lo + 1
    out = np.full((n, t), -np.inf)
    if lo < t:
        ndimage.maximum_filter1d(
            a[:, lo:],
            size,
            axis=1,
            output=out[:, : t - lo],
            mode="constant",
            cval=-np.inf,
            origin=-(size // 2),
        )
    return out


def anomalous_span(z: FloatArray, start: int, stop: int, edge: float) -> tuple[int, int, int]:
    """First and last anomalous bucket of the window, and where the run began.

    The onset may lie before the judged window (a shift that began in history): it names
    the anomaly, so a later overlapping run finds the same key.
    """
    hot = np.flatnonzero(z[start:stop] >= edge)
    if hot.size == 0:
        return start, stop - 1, start
    first = start + int(hot[0])
    last = start + int(hot[-1])
    onset = first
    while onset > 0 and z[onset - 1] >= edge:
        onset -= 1
    return first, last, onset


def anomalous_run(z: FloatArray, peak: int, edge: float) -> tuple[int, int]:
    """The contiguous run of buckets with z >= edge around `peak` (just `peak` if it is cold)."""
    onset = peak
    while onset > 0 and z[onset - 1] >= edge:
        onset -= 1
    end = peak
    while end + 1 < len(z) and z[end + 1] >= edge:
        end += 1
    return onset, end


def metric_finding(
    detector: str,
    panel: Panel,
    account: str,
    metric: str,
    *,
    onset: int,
    first: int,
    last: int,
    score: float,
    observed: float,
    expected: float,
    explanation: str,
    evidence: Sequence[Evidence],
    pattern: str | None = None,
    key_metric: str | None = None,
    key_by_day: bool = False,
) -> Finding:
    """A finding on one account's metric over buckets first..last (inclusive).

    The key, the alert's identity across runs, is account, metric and the onset bucket
    (`key_by_day`: its day, for detectors whose onset hour moves with the baseline).
    """
    onset_text = bucket_iso(panel.bucket_times, onset)
    return Finding(
        detector=detector,
        pattern=pattern or pattern_for(metric),
        subject=account,
        key=f"{account}:{key_metric or metric}:{onset_text[:10] if key_by_day else onset_text}",
        start_time=bucket_datetime(panel.bucket_times, first),
        end_time=bucket_end(panel.bucket_times, last),
        score=float(np.clip(score, 0.0, 1.0)),
        observed=observed,
        expected=round(expected, 2),
        explanation=explanation,
        evidence=tuple(evidence),
        metric=metric,
    )
