"""Partner metrics: the metrics that organically move together with a metric.

A real burst of attention lifts its partners too (a viral post brings impressions, then
clicks, comments and follows); bought engagement inflates one metric and leaves its
partners flat. `seasonal_baseline` uses this to discount bursts its partners explain, and
`partner_coherence` tests it directly.
"""

from __future__ import annotations

import numpy as np

from detectors._common import FloatArray
from detectors.findings import Panel

# metric -> the metrics that should rise with it when its rise is organic.
PARTNERS: dict[str, tuple[str, ...]] = {
    "follows": ("impressions",),
    "unfollows": ("follows",),
    "clicks": ("impressions",),
    "impressions": ("clicks", "comments", "shares"),
    "shares": ("comments", "clicks"),
    "comments": ("impressions", "shares"),
}

_FLAT_LOW = 0.8
_FLAT_HIGH = 1.25


def partners_present(panel: Panel, metric: str) -> tuple[str, ...]:
    """The partners of `metric` the panel actually carries data for."""
    return tuple(p for p in PARTNERS.get(metric, ()) if p in panel.values and _any(panel.values[p]))


def _any(x: FloatArray) -> bool:
    """np.any(x), stopping at the first block of rows with a nonzero value.

    np.any reads the whole array however early a nonzero value sits; a metric with data
    almost always shows it in its first rows.
    """
    step = max(1, (1 << 16) // max(1, x.shape[1]))  # rows of about 512 KB
    return any(bool(np.any(x[a : a + step])) for a in range(0, x.shape[0], step))


def partner_lift(observed: FloatArray, expected: FloatArray) -> FloatArray:
    """How many times its normal level a partner ran at (smoothed point estimate)."""
    return np.asarray((observed + 1.0) / (expected + 1.0), dtype=np.float64)


def partner_lift_bounds(
    observed: FloatArray, expected: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Generous (upper, lower) bounds of a partner's lift, about two Poisson sds wide.

    A partner with a handful of events cannot show that it stayed flat, so the bounds
    give the benefit of the doubt: a spike is explained if the partner may have risen as
    much, a drop if it may have fallen as much.
    """
    root = np.sqrt(observed)
    base = expected + 1.0
    upper = (observed + 2.0 * root + 2.0) / base
    lower = np.maximum(observed - 2.0 * root, 0.0)
    lower += 1.0
    lower /= base
    return np.asarray(upper, dtype=np.float64), np.asarray(lower, dtype=np.float64)


def partner_lift_upper(observed: FloatArray, expected: FloatArray) -> FloatArray:
    """The upper bound of `partner_lift_bounds` alone."""
    return np.asarray(
        (observed + 2.0 * np.sqrt(observed) + 2.0) / (expected + 1.0), dtype=np.float64
    )


def proportional_lift(observed: FloatArray, implied: FloatArray) -> FloatArray:
    """The largest lift of a metric its pooled partners are consistent with, else 1.

    `observed` is the partners' pooled count in a window and `implied` what the metric's own
    expectation there converts to at the account's usual partner rates. Judged against the
    metric's expectation rather than each partner's, sparse partners need no smoothing that
    caps their lift: a few comments at night, where well under one was due, can vouch for a
    hundredfold night-time burst. The bound is the largest organic mean `observed` is not two
    Poisson sds below, and it is granted only when the partners rose beyond doubt themselves,
    so flat partners never vouch for a burst however sparse they are.
    """
    root = np.sqrt(implied)
    rose = observed > implied + 2.0 * root + 2.0
    bound = (1.0 + np.sqrt(1.0 + observed)) ** 2
    lift = np.divide(bound, implied, out=np.ones_like(bound), where=rose & (implied > 0.0))
    return np.asarray(np.maximum(lift, 1.0), dtype=np.float64)


def explained_expectation(expected: FloatArray, lift: FloatArray, slack: float) -> FloatArray:
    """The expectation of a metric once partners that rose are allowed to carry it along.

    `slack` > 1 tolerates a metric rising somewhat faster than its partners (conversion
    varies with content); without partner lift the expectation stays the baseline.
    """
    return np.asarray(expected * (1.0 + np.maximum(lift - 1.0, 0.0) * slack), dtype=np.float64)


def describe_partners(lifts: dict[str, float]) -> str:
    """A clause on what the partners did, e.g. 'while impressions stayed flat'."""
    if not lifts:
        return "with no partner metric to compare"
    flat = [p for p, v in lifts.items() if _FLAT_LOW < v < _FLAT_HIGH]
    rose = [f"{p} rose {v:.1f}x" for p, v in lifts.items() if v >= _FLAT_HIGH]
    fell = [f"{p} fell to {v:.1f}x" for p, v in lifts.items() if v <= _FLAT_LOW]
    parts: list[str] = []
    if flat:
        parts.append(f"{' and '.join(flat)} stayed flat")
    parts.extend(rose)
    parts.extend(fell)
    return "while " + ", ".join(parts)


def partner_evidence(lifts: dict[str, float]) -> dict[str, float | str]:
    """Evidence values: each partner's lift, and which moved and which stayed flat.

    A reviewer reads "moved: impressions (x9.8), clicks (x10.2)" as an organic surge and
    "flat: impressions, clicks" beside a follows spike as bought follows.
    """
    if not lifts:
        return {"partners": "none"}
    out: dict[str, float | str] = {f"{p}_lift": v for p, v in lifts.items()}
    # The same bands as describe_partners, so evidence and explanation agree.
    flat = [p for p, v in lifts.items() if _FLAT_LOW < v < _FLAT_HIGH]
    moved = [p for p in lifts if p not in flat]
    out["moved"] = ", ".join(f"{p} (x{lifts[p]:.2f})" for p in moved) or "none"
    out["flat"] = ", ".join(f"{p} (x{lifts[p]:.2f})" for p in flat) or "none"
    return out
