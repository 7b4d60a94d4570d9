"""Causal anomaly scores for one series, for `engagewatch score-csv`, NAB and the service.

The score of row t uses rows 0..t only, so the scorer can run online. One model serves both
uses: `causal_scores` scores one series (score-csv, `bench/nab.py`), and `causal_parts` scores
a (series, T) matrix row by row with the same code and says which part fired, which is what
the service's `streaming` detector (`detectors/streaming_detector.py`) runs on each account's
hourly metrics with this module's default config, the config NAB is scored with. The other
per-account detectors do not use these blocks: they share the seasonal baseline in
`detectors/_baseline.py`, which the `streaming` detector also uses to judge the scorer's alerts
across accounts (platform factor, partners, false discovery rate). The scorer chains:

1. views (`channels`): the value, its change from the previous row and, with timestamps, its
   residual from the same time of day on earlier days (`streaming_baseline`);
2. `streaming_baseline.robust_z`: each view against a robust trailing baseline (median, IQR) of
   the rows before it;
3. `streaming_likelihood`: each view's recent mean surprise against its own history -> a tail
   probability, mapped to [0, 1] (0.5 at 1e-5, 1 at 1e-10); the most unusual view speaks;
4. `streaming_alerts.new_extreme`: a value (or seasonal residual) beyond the range seen so far
   scores `extreme_score`; so does the mean of the last `slow_rows` seasonal residuals beyond
   the range of its own past (a slow, sustained departure from the daily shape that no single
   row makes extreme);
5. `streaming_shift.cusum`: the upper CUSUM of the value's robust z scores `extreme_score` when
   it sets a record beyond the range of its own past after rising for `cusum_min_rows` rows
   or more (a modest rise that lasts many rows, not a spike);
6. `streaming_alerts.quiet_period`: one alert per incident, then the series stays quiet (for
   `quiet_seconds` and at least `quiet_min_rows` rows), unless the value leaves the range seen
   so far by more than `break_margin` of that range (a far larger, new incident);
7. `streaming_tier`: a second tier just below the alert level, with its own quiet period: a
   new extreme of the value's residual from the same time of the week, on series whose weekly
   residual is tighter than their daily one (a holiday on a weekly-shaped series). It never
   reaches the alert level, so the service does not page on it; every other row below the
   alert level is scaled to rank under it.

The first `min_history` rows (or a week of wall time, if shorter) are a learning period scored 0.
Each part can be switched off in the config, which is how the NAB ablation measures what it earns.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from detectors.streaming_alerts import new_extreme, quiet_period
from detectors.streaming_baseline import (
    first_difference,
    robust_z,
    rows_per_period,
    seasonal_residual,
    trailing_mean,
)
from detectors.streaming_likelihood import likelihood_score, log_tail, surprise
from detectors.streaming_shift import cusum, run_length
from detectors.streaming_tier import tier_alerts, tighter_spread

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class StreamingConfig:
    """Hyperparameters of `causal_scores`; lengths are rows, `quiet_seconds` is wall time."""

    baseline_window: int = 2000  # trailing rows in the robust baseline
    min_history: int = 300  # learning period: rows before any score above 0
    learning_seconds: float | None = 7 * 86400.0  # with timestamps, learn at most a week
    range_floor: float = 0.01  # spread never below this share of the range seen so far
    surprise_cap: float = 16.0  # robust |z| at which the raw surprise saturates
    use_difference: bool = True  # also judge the change from the previous row
    use_seasonal: bool = True  # also judge the value against the same time of day before
    season_seconds: tuple[float, ...] = (86400.0,)  # one channel per period (needs timestamps)
    season_cycles: int = 3  # past periods whose median is the seasonal expectation
    use_likelihood: bool = True  # off: the raw surprise is the score
    likelihood_short: int = 45  # rows averaged into the recent surprise
    likelihood_long: int = 2000  # rows of history the surprise distribution is fitted to
    likelihood_min_std: float = 0.02  # floor of that distribution's standard deviation
    use_new_extreme: bool = True
    extreme_margin: float = 0.025  # share of the range seen so far a new extreme must clear
    extreme_score: float = 1.0
    extreme_views: tuple[str, ...] = ("value", "seasonal")  # views the rule watches
    slow_rows: int = 12  # rows averaged into the slow seasonal view (below 2: off)
    slow_margin: float = 0.10  # share of its own range seen so far the slow view must clear
    use_cusum: bool = True  # a record of the value's upper CUSUM is an alert
    cusum_drift: float = 1.0  # robust sd per row a rise must exceed to build the statistic
    cusum_clip: float = 5.0  # robust |z| counted at most per row
    cusum_margin: float = 0.10  # share of its own range seen so far a CUSUM record must clear
    cusum_threshold: float = 5.0  # and the statistic must exceed this (Page's h)
    # and the rise must have lasted this many rows: with |z| counted up to 5, two spike rows
    # alone exceed h, and a spike is the new-extreme rule's to report.
    cusum_min_rows: int = 5
    use_quiet_period: bool = True
    alert_level: float = 0.5  # score at which a row counts as an alert for the quiet period
    quiet_seconds: float = 12 * 3600.0  # with timestamps
    quiet_rows: int = 144  # without timestamps
    # ... and never fewer rows than this: the likelihood remembers an incident for
    # `likelihood_short` rows whatever the clock, so on an hourly series 12 h of quiet let one
    # incident alert again a day later (72 rows: 6 h of 5-minute rows, 3 days of hourly ones).
    quiet_min_rows: int = 72
    # A value beyond the range seen so far by more than this share of it alerts even inside a
    # quiet period: a long quiet period must not hide a far larger, new incident (inf: never).
    break_margin: float = 1.0
    use_weekly_tier: bool = True  # second tier below the alert level (needs timestamps)
    tier_seconds: float = 7 * 86400.0  # the tier's seasonal period
    tier_score: float = 0.49  # score of a second-tier alert: below alert_level, never a page
    tier_spread_ratio: float = 0.8  # tier only where that residual's spread < this x daily's

    def __post_init__(self) -> None:
        if self.baseline_window < 3 or self.min_history < 3 or self.likelihood_short < 1:
            raise ValueError("baseline_window and min_history must be >= 3, likelihood_short >= 1")
        if self.likelihood_long < 3 or self.surprise_cap <= 0 or self.likelihood_min_std <= 0:
            raise ValueError("likelihood_long >= 3, surprise_cap and likelihood_min_std > 0")
        if not 0.0 < self.alert_level <= 1.0 or not 0.0 < self.extreme_score <= 1.0:
            raise ValueError("alert_level and extreme_score must be in (0, 1]")
        if any(s <= 0 for s in self.season_seconds) or self.season_cycles < 1:
            raise ValueError("season_seconds must be > 0 and season_cycles >= 1")
        if self.learning_seconds is not None and self.learning_seconds <= 0:
            raise ValueError("learning_seconds must be > 0 (or None)")
        quiet = (self.quiet_seconds, self.quiet_rows, self.quiet_min_rows, self.break_margin)
        if min(*quiet, self.extreme_margin) < 0:
            raise ValueError("quiet period, break and extreme margins must be >= 0")
        if self.slow_rows < 0 or self.slow_margin < 0:
            raise ValueError("slow_rows and slow_margin must be >= 0")
        if min(self.cusum_drift, self.cusum_margin, self.cusum_threshold, self.cusum_min_rows) < 0:
            raise ValueError("cusum drift, margin, threshold and min rows must be >= 0")
        if self.cusum_clip <= 0:
            raise ValueError("cusum_clip must be > 0")
        if not 0.0 < self.tier_score < self.alert_level:
            raise ValueError("tier_score must be in (0, alert_level)")
        if self.tier_seconds <= 0 or self.tier_spread_ratio <= 0:
            raise ValueError("tier_seconds and tier_spread_ratio must be > 0")


def channels(
    values: FloatArray,
    config: StreamingConfig,
    timestamps: npt.NDArray[np.datetime64] | None = None,
) -> dict[str, FloatArray]:
    """The views of a series each rule judges: the value, its change from the previous row,
    and its residual from the same phase of earlier periods (needs timestamps)."""
    out = {"value": values}
    if config.use_difference:
        out["change"] = first_difference(values)
    if config.use_seasonal and timestamps is not None:
        for seconds in config.season_seconds:
            period = rows_per_period(timestamps, seconds, config.min_history)
            # Kept even while shorter than one period (all NaN), so that a prefix of a series
            # is scored exactly like the start of the whole series.
            if period > 0:
                out[f"seasonal_{seconds:g}s"] = seasonal_residual(
                    values, period, config.season_cycles
                )
    return out


def slow_views(views: dict[str, FloatArray], config: StreamingConfig) -> dict[str, FloatArray]:
    """Trailing means of the last `slow_rows` rows of each seasonal view (NaN until that many
    rows exist). Averaging removes row-to-row noise, so a level shift or drift of a few noise
    widths, lasting hours, leaves the range of the averaged residual although no single row
    leaves the range of the raw one."""
    if config.slow_rows < 2:
        return {}
    return {
        f"slow_{name}": trailing_mean(view, config.slow_rows)
        for name, view in views.items()
        if name.startswith("seasonal")
    }


def view_z(views: dict[str, FloatArray], config: StreamingConfig) -> dict[str, FloatArray]:
    """Each view's robust z against its trailing baseline (the rows before it)."""
    min_periods = min(config.min_history, config.baseline_window)
    return {
        name: robust_z(view, config.baseline_window, min_periods, config.range_floor)
        for name, view in views.items()
    }


def likelihood_scores(
    views: dict[str, FloatArray],
    config: StreamingConfig,
    zs: dict[str, FloatArray] | None = None,
) -> FloatArray:
    """Likelihood score per row: each view's robust z -> surprise -> tail probability against
    that view's own history; the most unusual view speaks. `zs` (from `view_z`) saves
    recomputing the baselines when the caller has them."""
    zs = view_z(views, config) if zs is None else zs
    tails = [
        log_tail(
            surprise(z, config.surprise_cap),
            config.likelihood_short,
            config.likelihood_long,
            config.min_history,
            config.likelihood_min_std,
        )
        for z in zs.values()
    ]
    return likelihood_score(np.min(tails, axis=0))


def shift_alerts(value_z: FloatArray, config: StreamingConfig) -> npt.NDArray[np.bool_]:
    """Rows where the upper CUSUM of the value's robust z exceeds `cusum_threshold` and sets a
    record beyond `cusum_margin` of its own range so far: a rise above the baseline that has
    lasted long enough to add up to more than any rise before it. Only rises: falls (a quiet
    night, a metric that stopped spiking) cost more false alerts than they found on NAB."""
    return _shift_parts(value_z, config)[0]


@dataclass(frozen=True, slots=True)
class StreamingParts:
    """What each part of the scorer said about every row of every series, (series, T) each.

    `score` is `causal_scores` row by row; the rest say which part put a row there, so a
    detector built on the scorer can tell a reviewer why it alerted.
    """

    score: FloatArray  # final score in [0, 1], after the quiet periods
    likelihood: FloatArray  # the likelihood part (the raw surprise if it is off)
    extreme: npt.NDArray[np.bool_]  # the value or its seasonal residual set a new extreme
    slow: npt.NDArray[np.bool_]  # the slow seasonal view set a new extreme
    shift: npt.NDArray[np.bool_]  # the upper CUSUM set a record (a sustained rise)
    upper_cusum: FloatArray  # the CUSUM statistic itself (0 where no rise is building)
    tier: npt.NDArray[np.bool_]  # second-tier alerts (score tier_score, below the alert level)
    min_history: int  # rows of the learning period (scored 0)


def causal_scores(
    values: FloatArray,
    config: StreamingConfig = StreamingConfig(),
    timestamps: npt.NDArray[np.datetime64] | None = None,
) -> FloatArray:
    """Anomaly score in [0, 1] per value of one series; row t depends on rows 0..t only.

    Args:
        values: the series, oldest first.
        config: hyperparameters.
        timestamps: optional, same length: enables the seasonal view and measures the quiet
            period in wall time.
    """
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError("causal_scores takes one series (a 1-D array)")
    if timestamps is not None and np.shape(timestamps) != array.shape:
        raise ValueError("timestamps must have one entry per value")
    if array.size == 0:
        return np.zeros(0)
    return np.asarray(causal_parts(array[None, :], config, timestamps).score[0], dtype=np.float64)


def causal_parts(
    values: FloatArray,
    config: StreamingConfig = StreamingConfig(),
    timestamps: npt.NDArray[np.datetime64] | None = None,
) -> StreamingParts:
    """`causal_scores` of every row of a (series, T) matrix at once, with its parts.

    Every block works along the last axis and treats rows independently, so row i of the
    result is exactly `causal_scores(values[i], config, timestamps)`: `causal_scores` is
    this function on a one-row matrix. Only the quiet period walks rows in Python, and only
    the rows that alert at all.

    Args:
        values: (series, T), oldest first; the series share `timestamps`.
        config: hyperparameters.
        timestamps: optional, (T,).
    """
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError("causal_parts takes a (series, T) matrix")
    if timestamps is not None and np.shape(timestamps) != array.shape[-1:]:
        raise ValueError("timestamps must have one entry per column")
    config = _with_learning_period(config, timestamps)
    views = channels(array, config, timestamps)
    zs = view_z(views, config)
    if config.use_likelihood:
        scores = likelihood_scores(views, config, zs)
    else:
        scores = np.max([surprise(z, config.surprise_cap) for z in zs.values()], axis=0)
    scores[..., : config.min_history] = 0.0
    likelihood = scores.copy()
    extreme = np.zeros(array.shape, dtype=np.bool_)
    slow = np.zeros(array.shape, dtype=np.bool_)
    if config.use_new_extreme:
        for name, view in views.items():
            if name.split("_")[0] in config.extreme_views:
                extreme |= new_extreme(view, config.extreme_margin, config.min_history)
        for slow_view in slow_views(views, config).values():
            slow |= new_extreme(slow_view, config.slow_margin, config.min_history)
        # max(s, e) applied once per view equals applying it once for the union of views.
        scores = np.where(extreme | slow, np.maximum(scores, config.extreme_score), scores)
    shifted = np.zeros(array.shape, dtype=np.bool_)
    upper = np.zeros(array.shape)
    if config.use_cusum:
        shifted, upper = _shift_parts(zs["value"], config)
        scores = np.where(shifted, np.maximum(scores, config.extreme_score), scores)
    clock, quiet = _clock(array.shape[-1], timestamps, config)
    if config.use_quiet_period:
        breaks = (
            new_extreme(array, config.break_margin, config.min_history)
            if np.isfinite(config.break_margin)
            else np.zeros(array.shape, dtype=np.bool_)
        )
        for row in np.flatnonzero((scores >= config.alert_level).any(axis=-1)).tolist():
            scores[row] = quiet_period(
                scores[row], clock, config.alert_level, quiet, config.quiet_min_rows, breaks[row]
            )
    tier = np.zeros(array.shape, dtype=np.bool_)
    if config.use_weekly_tier:
        tier = _tier(array, views, scores >= config.alert_level, config, timestamps)
        for row in np.flatnonzero(tier.any(axis=-1)).tolist():
            tier[row] = tier_alerts(tier[row], scores[row] >= config.alert_level, clock, quiet)
        # Rows below the alert level are scaled under the tier (order kept), so a threshold
        # at tier_score takes the second-tier alerts and nothing else from below the level.
        below = scores < config.alert_level
        scores[below] *= config.tier_score / config.alert_level
        scores[tier] = config.tier_score
    return StreamingParts(
        score=np.asarray(np.clip(scores, 0.0, 1.0), dtype=np.float64),
        likelihood=likelihood,
        extreme=extreme,
        slow=slow,
        shift=shifted,
        upper_cusum=upper,
        tier=tier,
        min_history=config.min_history,
    )


def _tier(
    values: FloatArray,
    views: dict[str, FloatArray],
    top_alerts: npt.NDArray[np.bool_],
    config: StreamingConfig,
    timestamps: npt.NDArray[np.datetime64] | None,
) -> npt.NDArray[np.bool_]:
    """Second-tier candidates (before their quiet period): the residual from the same phase
    of earlier `tier_seconds` periods sets a new extreme, where that residual has been tighter
    than the daily one (the first seasonal view), i.e. the series has a shape of that period."""
    daily = [view for name, view in views.items() if name.startswith("seasonal")]
    period = (
        0
        if timestamps is None
        else rows_per_period(timestamps, config.tier_seconds, config.min_history)
    )
    if not daily or period <= 0:
        return np.zeros(values.shape, dtype=np.bool_)
    residual = seasonal_residual(values, period, config.season_cycles)
    candidates = new_extreme(residual, config.extreme_margin, config.min_history) & ~top_alerts
    # The spreads (rolling quantiles) are the costly part: only series with a candidate.
    rows = np.flatnonzero(candidates.any(axis=-1))
    if rows.size:
        window = config.baseline_window
        history = min(config.min_history, window)
        candidates[rows] &= tighter_spread(
            residual[rows], daily[0][rows], config.tier_spread_ratio, window, history
        )
    return candidates


def _shift_parts(
    value_z: FloatArray, config: StreamingConfig
) -> tuple[npt.NDArray[np.bool_], FloatArray]:
    """`shift_alerts` and the upper CUSUM statistic they come from."""
    upper, _ = cusum(value_z, config.cusum_drift, config.cusum_clip)
    record = new_extreme(upper, config.cusum_margin, config.min_history)
    # Without the threshold, the small early excursions of pure noise set records too (they
    # nearly doubled the alerts on clean simulated traffic).
    record &= upper > config.cusum_threshold
    record &= run_length(upper) >= config.cusum_min_rows
    return np.asarray(record, dtype=np.bool_), upper


def _clock(
    n: int, timestamps: npt.NDArray[np.datetime64] | None, config: StreamingConfig
) -> tuple[FloatArray, float]:
    """Monotone clock for the quiet period: seconds when timestamps are given, else rows."""
    if timestamps is None:
        return np.arange(n, dtype=np.float64), float(config.quiet_rows)
    stamps = np.asarray(timestamps, dtype="datetime64[ns]")
    seconds = (stamps - stamps[0]).astype(np.int64) / 1e9
    # A clock that steps backwards (it happens in real logs) must not reopen a quiet period.
    return np.maximum.accumulate(seconds), config.quiet_seconds


# Rows whose timestamps set the step of a series; at least this many rows are always learned,
# so no score depends on a later timestamp.
_STEP_SAMPLE = 20


def _with_learning_period(
    config: StreamingConfig, timestamps: npt.NDArray[np.datetime64] | None
) -> StreamingConfig:
    """The config with `min_history` shortened to `learning_seconds` of wall time, if less."""
    if config.learning_seconds is None or timestamps is None:
        return config
    rows = rows_per_period(timestamps, config.learning_seconds, _STEP_SAMPLE)
    if rows <= 0:
        return config
    learning = max(min(config.min_history, rows), _STEP_SAMPLE + 1)
    return dataclasses.replace(config, min_history=learning)
