"""Turning per-row anomaly scores into alerts a person can act on.

Two rules every top streaming detector applies in some form:

* new extreme: a value beyond everything seen so far (by a margin of the range seen so far) is
  anomalous whatever the fitted model says; a bought-follower jump usually is one;
* quiet period: a run of anomalous rows is one incident, so after an alert the same series stays
  quiet for a while instead of paging once per bucket.

Both are causal: row t uses rows up to t.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from detectors.streaming_baseline import past_range

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def new_extreme(values: FloatArray, margin: float, min_history: int) -> BoolArray:
    """True where a value exceeds the running max (or undercuts the running min) of the rows
    before it by more than `margin` times their range; never before `min_history` numbers
    (NaN rows do not count) have been seen.

    Time on the last axis; works on (T,) or (accounts, T).
    """
    array = np.asarray(values, dtype=np.float64)
    low, high = past_range(array)
    slack = margin * (high - low)
    with np.errstate(invalid="ignore"):
        beyond = (array > high + slack) | (array < low - slack)
    seen = np.cumsum(~np.isnan(array), axis=-1)
    beyond &= seen > min_history
    return np.asarray(beyond, dtype=np.bool_)


def quiet_period(
    scores: FloatArray,
    clock: FloatArray,
    alert_level: float,
    quiet: float,
    min_rows: int = 0,
    breaks: BoolArray | None = None,
) -> FloatArray:
    """Scores with every row in the quiet period after an alert set to 0.

    A row alerts when its score is >= `alert_level` and it is not within `quiet` (in `clock`
    units: seconds of a timestamp, or row numbers) nor within `min_rows` rows after the previous
    alert, unless `breaks` is set on that row (an event so much larger than anything before
    that it is a new incident). One series, (T,). Only rows at or above the level are
    visited, so this costs O(alerts), not O(rows), in Python.
    """
    out = np.array(scores, dtype=np.float64, copy=True)
    candidates = np.flatnonzero(out >= alert_level)
    if candidates.size == 0:
        return out
    last: float | None = None
    last_row = 0
    for row in candidates.tolist():
        now = float(clock[row])
        forced = breaks is not None and bool(breaks[row])
        if last is not None and not forced and (now - last < quiet or row - last_row < min_rows):
            out[row] = 0.0
        else:
            last, last_row = now, row
    # Rows below the alert level inside a quiet period are zeroed too, so no threshold below
    # the level turns the rest of the incident back into alerts. Each row belongs to the
    # latest alert at or before it (by position, so a repeated timestamp never lets an alert
    # reach back to an earlier row).
    alerts = np.flatnonzero(out >= alert_level)
    if alerts.size:
        rows = np.arange(out.shape[-1])
        owner = np.searchsorted(alerts, rows, side="right") - 1
        inside = owner >= 0
        start = alerts[owner[inside]]
        inside[inside] = (clock[inside] < clock[start] + quiet) | (rows[inside] < start + min_rows)
        inside[alerts] = False
        out[inside] = 0.0
    return out
