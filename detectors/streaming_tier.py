"""A second alert tier, below the alert level: findings worth a look, never worth a page.

Some departures are real but rarer than the false alarms a page-level rule would add to find
them: a holiday on a series with a strong weekly shape looks ordinary for the time of day and
is only unusual for the day of the week. Such rows score just below the alert level, so a
caller that acts only at the alert level (the service) never sees them, while a caller that
pays little for a false positive against a missed incident (NAB's low-FN profile) can lower
its threshold to take them. The tier keeps its own quiet period; it neither starts nor breaks
the top tier's. Causal: row t uses rows up to t. One series, (T,), except `tighter_spread`.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from detectors.streaming_baseline import trailing_baseline

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def tighter_spread(
    view: FloatArray, reference: FloatArray, ratio: float, window: int, min_periods: int
) -> BoolArray:
    """True where the trailing robust spread of `view` is below `ratio` times that of
    `reference` (the rows before each row): the view explains the series better, so its
    extremes mean more. False while either spread is undefined. (T,) or (accounts, T)."""
    mine = trailing_baseline(view, window, min_periods).spread
    theirs = trailing_baseline(reference, window, min_periods).spread
    with np.errstate(invalid="ignore"):
        return np.asarray(mine < ratio * theirs, dtype=np.bool_)


def tier_alerts(
    candidates: BoolArray, top_alerts: BoolArray, clock: FloatArray, quiet: float
) -> BoolArray:
    """Candidates kept as second-tier alerts: not a top alert, not inside the quiet period
    after a top alert (that incident is already reported), and not within `quiet` after the
    previous second-tier alert. Second-tier alerts do not silence the top tier. One series."""
    keep = np.zeros(candidates.shape, dtype=np.bool_)
    tops = clock[np.flatnonzero(top_alerts)]
    last: float | None = None
    for row in np.flatnonzero(candidates & ~top_alerts).tolist():
        now = float(clock[row])
        before = np.searchsorted(tops, now, side="right") - 1
        if before >= 0 and now - float(tops[before]) < quiet:
            continue
        if last is not None and now - last < quiet:
            continue
        keep[row] = True
        last = now
    return keep
