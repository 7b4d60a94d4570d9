"""Seasonal robust baseline of every account at once: what each bucket should have held.

Shared by the detectors that judge a metric against its own history. The model is
multiplicative: an account's hour-of-day profile (robust, shrunk towards the platform's
profile for small accounts), times a day-of-week factor when two weeks of history allow
one, times a platform-wide factor per bucket so that a holiday lift on every account is
expected rather than anomalous.

Detectors ask for it through `panel_baseline`, which fits each metric once per panel and
config and shares the fit with every detector judging that panel (see `_memo`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import sparse

from detectors._common import FloatArray, day_of_week, hour_of_day, median, robust_sd
from detectors._memo import memo
from detectors.cohort import cohort_noise, size_cohorts
from detectors.findings import Panel

logger = logging.getLogger(__name__)

_MIN_HISTORY = 24  # less than a day of history says nothing about hours of the day
_PLATFORM_SAMPLE = 20_000
_DENSE_GROUP_COUNT = 50.0  # expected events per group and hour that need no smoothing
_BLOCK_ROWS = 256  # accounts per block: a block's history and temporaries fit in cache
# Expected events in a silent stretch beyond which the silence means "not there yet":
# P(0 events) = exp(-7) < 0.001.
_SILENCE_EVENTS = 7.0


@dataclass(frozen=True, slots=True)
class SeasonalBaseline:
    """Expected counts of one metric and the noise around them.

    `mu` is what a normal account shows in a bucket: the account's own seasonal
    expectation times `platform`, the platform-wide factor per bucket. It is stored, not
    derived on each use, because one fit is shared by several detectors (see
    `panel_baseline`) and every one of them needs it. A window's variance is
    `sum(mu) * dispersion + (rel_sd * sum(mu))**2 + 1`: Poisson noise inflated by the
    account's own extra-Poisson scatter, plus day-to-day swings in level that do not
    average out over long windows. The arrays are read-only, since detectors share them.
    """

    mu: FloatArray  # (n, t)
    platform: FloatArray  # (t,)
    dispersion: FloatArray  # (n,) variance / mean of hourly counts, >= 1
    rel_sd: FloatArray  # (n,) relative sd of daily totals beyond Poisson noise
    history_end: int  # buckets [history_start, history_end) formed the baseline
    history_start: int = 0

    def variance(self, mu_sum: FloatArray, rows: npt.NDArray[np.intp] | slice) -> FloatArray:
        """Variance of window sums whose expectation is `mu_sum`, for accounts `rows`."""
        disp = self.dispersion[rows]
        rel = self.rel_sd[rows]
        if mu_sum.ndim == 2:
            disp = disp[:, None]
            rel = rel[:, None]
        # mu_sum * disp + (rel * mu_sum) ** 2 + 1, in place: called on every window.
        out = np.multiply(rel, mu_sum, dtype=np.float64)
        np.square(out, out=out)
        out += mu_sum * disp
        out += 1.0
        return out

    def count_variance(self, mu_sum: FloatArray, rows: npt.NDArray[np.intp] | slice) -> FloatArray:
        """The same variance without the +1 that keeps z-scores of quiet hours calm.

        For calibrated count tails (detectors.fdr): at a mean of 0.6 that +1 would triple
        the variance and make 11 events in an hour look ordinary.
        """
        return self.variance(mu_sum, rows) - 1.0

    def row_z(self, x_row: FloatArray, i: int) -> FloatArray:
        """Per-bucket standardized excess of account `i` alone."""
        mu = self.mu[i]
        var = mu * self.dispersion[i] + (self.rel_sd[i] * mu) ** 2 + 1.0
        return np.asarray((x_row - mu) / np.sqrt(var), dtype=np.float64)

    def mu_row(self, i: int) -> FloatArray:
        return np.asarray(self.mu[i], dtype=np.float64)

    def bucket_z(self, x: FloatArray) -> FloatArray:
        """Per-bucket standardized excess of every account (positive = above normal)."""
        mu = self.mu
        return np.asarray((x - mu) / np.sqrt(self.variance(mu, slice(None))), dtype=np.float64)


@dataclass(frozen=True, slots=True)
class BaselineConfig:
    """How the seasonal baseline is learnt."""

    shrink_counts: float = 30.0  # pseudo-count pulling a sparse hour towards the platform shape
    winsor_k: float = 5.0  # history values above median + k * spread are capped
    rel_sd_floor: float = 0.1  # organic day-to-day level swings are never assumed smaller


def fit_seasonal_baseline(
    x: FloatArray,
    bucket_times: npt.NDArray[np.datetime64],
    judge_from: int,
    config: BaselineConfig | None = None,
) -> SeasonalBaseline:
    """Learn the seasonal baseline of every account from the history buckets of `x`.

    Everything but the platform's hour shape and its per-bucket factor is per account, so
    the fit walks the panel in blocks of `_BLOCK_ROWS` accounts whose temporaries stay in
    cache: each pass reads the panel once instead of once per full-size temporary. Every
    value is computed by the same operations as a whole-panel fit, so results are identical.
    """
    cfg = config or BaselineConfig()
    n, t = x.shape
    # Too little history: learn from the whole panel; winsorizing keeps short anomalies out.
    hist_end = judge_from if judge_from >= _MIN_HISTORY else t
    hod = hour_of_day(bucket_times)
    # The most recent whole days of history, as (account, day, hour-slot): one vectorized
    # median per slot instead of a gather per hour. An older partial day is left out.
    days = hist_end // 24
    first = hist_end - days * 24
    slot_hour = hod[first : first + 24]
    weekly = days >= 14
    hist_times = bucket_times[first:hist_end]

    # Pass 1: the robust hour-of-day means, the winsorizing caps and the weekday factors.
    cap = np.empty((n, 24))  # by hour-slot; the history is re-capped from it in pass 2
    hour_mean = np.empty((n, 24))
    weekday = np.ones((n, 7))
    daily = np.empty((n, days))  # history totals per day, while each block is in cache
    for a, b in _blocks(n):
        by_day = x[a:b, first:hist_end].reshape(b - a, days, 24)
        by_day.sum(axis=2, out=daily[a:b])
        capped = _cap_block(by_day, cap[a:b], cfg.winsor_k)
        hour_mean[a:b, slot_hour] = capped.mean(axis=1)
        if weekly:
            weekday[a:b] = _weekday_factor(capped.reshape(b - a, days * 24), hist_times, cfg)

    # Accounts that only began during the history (or whose data began late): their level
    # is what they showed since, not diluted by the days before they existed.
    new_rows, active_days = _late_starters(daily)
    for i, active in zip(new_rows.tolist(), active_days.tolist(), strict=True):
        recent = x[i, hist_end - active * 24 : hist_end].reshape(active, 24)
        hour_mean[i, slot_hour] = recent.mean(axis=0)
        weekday[i] = 1.0
    level = hour_mean.mean(axis=1)
    shape = _platform_shape(hour_mean, level)
    # Empirical Bayes: an hour with few events borrows the platform's daily shape.
    observed_days = np.full(n, float(days))
    observed_days[new_rows] = active_days
    counts = hour_mean * observed_days[:, None]
    weight = counts / (counts + cfg.shrink_counts)
    profile = weight * hour_mean + (1.0 - weight) * level[:, None] * shape[None, :]
    del hour_mean, counts, weight
    # Each hour of the week once, then one gather per row: a single pass over (n, t).
    slots = hod * 7 + day_of_week(bucket_times) if weekly else hod

    def expected(rows: npt.NDArray[np.intp] | slice, out: FloatArray | None = None) -> FloatArray:
        # np.take, not table[:, slots]: fancy indexing there returns a column-major array,
        # which makes every later pass along time stride badly. Slots are always in range:
        # mode="clip" lets np.take write straight into `out` instead of through a buffer.
        if weekly:
            table = (profile[rows, :, None] * weekday[rows, None, :]).reshape(-1, 24 * 7)
        else:
            table = profile[rows]
        return np.asarray(np.take(table, slots, axis=1, out=out, mode="clip"), dtype=np.float64)

    platform = _platform_factor(x, expected, level)

    # Pass 2: the expectation times the platform factor, and the noise around it.
    mu = np.empty((n, t))
    dispersion = np.empty(n)
    rel_sd = np.empty(n)
    for a, b in _blocks(n):
        mu_b = expected(slice(a, b), out=mu[a:b])
        mu_b *= platform[None, :]
        hist = x[a:b, first:hist_end]
        mu_hist = mu_b[:, first:hist_end]
        # Moment estimate on winsorized history, each bucket's term capped: robust enough,
        # and free of the sorting a median over every bucket would cost.
        terms = np.minimum(hist.reshape(b - a, days, 24), cap[a:b, None, :])
        terms = terms.reshape(b - a, days * 24)
        terms -= mu_hist
        terms **= 2
        terms /= mu_hist + 0.5
        np.minimum(terms, 25.0, out=terms)
        dispersion[a:b] = np.maximum(terms.mean(axis=1), 1.0)
        rel_sd[a:b] = _daily_rel_sd(hist, mu_hist, dispersion[a:b], cfg.rel_sd_floor)
    if new_rows.size:
        # Their own scatter is unknown (a day or two, against silent days before): they
        # take the noise of settled accounts of the same size.
        short = np.zeros(n, dtype=bool)
        short[new_rows] = True
        cohorts = size_cohorts(level)
        dispersion = cohort_noise(dispersion, cohorts, short)
        rel_sd = cohort_noise(rel_sd, cohorts, short)
    for array in (mu, platform, dispersion, rel_sd):
        array.flags.writeable = False  # shared by every detector judging the panel
    return SeasonalBaseline(
        mu=mu,
        platform=platform,
        dispersion=dispersion,
        rel_sd=rel_sd,
        history_end=hist_end,
        history_start=first,
    )


def _late_starters(daily: FloatArray) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.int64]]:
    """Accounts silent at the start of the history for longer than their later rate allows
    (fewer than one in a thousand would go that long without an event), and how many whole
    days they have been active. `daily` holds each account's history totals per day."""
    days = daily.shape[1]
    if days < 2:
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.int64)
    seen = daily > 0
    d0 = np.argmax(seen, axis=1)
    active = days - d0
    rate = daily.sum(axis=1) / np.maximum(active, 1)  # per active day
    late = seen.any(axis=1) & (d0 >= 1) & (rate * d0 > _SILENCE_EVENTS)
    rows = np.flatnonzero(late)
    return rows, np.asarray(active[rows], dtype=np.int64)


def _blocks(n: int) -> list[tuple[int, int]]:
    """[start, stop) row ranges of at most `_BLOCK_ROWS` accounts covering `n`."""
    return [(a, min(a + _BLOCK_ROWS, n)) for a in range(0, n, _BLOCK_ROWS)]


def _cap_block(by_day: FloatArray, cap: FloatArray, winsor_k: float) -> FloatArray:
    """The (rows, day, hour-slot) history capped at median + k * spread per hour-slot.

    Writes each row's cap per hour-slot into `cap`; returns a new array.
    """
    # Medians partition a copy laid out (account, hour-slot, day), days contiguous; the
    # rest works on the history in time order, so no second transposed copy is needed.
    med = median(by_day.transpose(0, 2, 1).copy(order="C"), axis=2, overwrite=True)
    # Mean absolute deviation from the median: robust enough for a cap, and no second sort.
    dev = by_day - med[:, None, :]
    np.abs(dev, out=dev)
    mean_dev = 1.2533 * dev.mean(axis=1)
    spread = np.maximum(mean_dev, np.maximum(np.sqrt(med), 1.0))
    cap[...] = med + winsor_k * spread
    return np.minimum(by_day, cap[:, None, :], out=dev)


def panel_baseline(
    panel: Panel, metric: str, config: BaselineConfig | None = None
) -> SeasonalBaseline:
    """The seasonal baseline of `metric` on `panel`, fitted once per panel and config.

    Every detector that judges a metric against its own history asks for it here, so a
    detection pass fits each metric once instead of once per detector (see `_memo`).
    """
    cfg = config or BaselineConfig()
    return memo(
        panel,
        ("seasonal_baseline", metric, cfg),
        lambda: fit_seasonal_baseline(
            panel.metric(metric), panel.bucket_times, panel.judge_from, cfg
        ),
    )


def with_history(panel: Panel, min_hours: int = _MIN_HISTORY) -> npt.NDArray[np.bool_]:
    """Accounts active (any metric) at least `min_hours` before the judged window.

    An account first seen inside the window, or just before it, has no level of its own to
    judge against: its first traffic is not a spike. Cohort and group detectors judge it.
    """

    def compute() -> npt.NDArray[np.bool_]:
        cutoff = max(panel.judge_from - min_hours, 0)
        seen = np.zeros(panel.n_accounts, dtype=bool)
        for metric in panel.values:
            seen |= panel.metric(metric)[:, :cutoff].any(axis=1)
        return seen if panel.judge_from >= min_hours else np.ones(panel.n_accounts, dtype=bool)

    return memo(panel, ("with_history", min_hours), compute)


def _platform_shape(hour_mean: FloatArray, level: FloatArray) -> FloatArray:
    """The platform's hour-of-day profile, mean 1, as the median account sees it."""
    active = level >= 1.0
    if active.sum() >= 20:
        shape = median(hour_mean[active] / level[active, None], axis=0)
    else:
        shape = hour_mean.sum(axis=0) / max(float(level.sum()), 1e-9)
    mean = float(shape.mean())
    return np.asarray(shape / mean if mean > 0 else np.ones(24), dtype=np.float64)


def _weekday_factor(
    winsorized: FloatArray, history_times: npt.NDArray[np.datetime64], cfg: BaselineConfig
) -> FloatArray:
    """(n, 7) day-of-week multiplier per account, shrunk towards 1 for small accounts."""
    hist_dow = day_of_week(history_times)
    overall = winsorized.sum(axis=1) / (winsorized.shape[1] / 24.0)
    factor = np.ones((winsorized.shape[0], 7))
    for d in range(7):
        cols = hist_dow == d
        total = winsorized[:, cols].sum(axis=1)
        daily = total / (cols.sum() / 24.0)
        raw = np.divide(daily, overall, out=np.ones_like(daily), where=overall > 0)
        weight = total / (total + cfg.shrink_counts)
        factor[:, d] = weight * raw + (1.0 - weight)
    return factor


def _platform_factor(
    x: FloatArray,
    expected_of: Callable[[npt.NDArray[np.intp] | slice], FloatArray],
    level: FloatArray,
) -> FloatArray:
    """Per bucket, the platform's observed / expected: the median over groups of accounts.

    Accounts are pooled into groups (each mixing sizes), and for sparse metrics buckets
    into 3-hour sums, so ratios are usable; the median over groups keeps one account's
    own spike out of the platform factor, and capping each account at 10x its expectation
    keeps a giant account from dominating its group. `expected_of(rows)` is the seasonal
    expectation of those accounts.
    """
    # Every k-th account by size: at most _PLATFORM_SAMPLE of them estimate the platform
    # as well as all would, at a fraction of the cost on very large panels.
    by_size = np.argsort(level)
    rows = by_size[:: max(1, -(-len(by_size) // _PLATFORM_SAMPLE))]
    # The expectation only of the rows sampled: on large panels a small share of them.
    if len(rows) < x.shape[0]:
        x, expected = x[rows], expected_of(rows)
        rows = np.arange(len(rows))
    else:
        expected = expected_of(slice(None))
    n = len(rows)
    groups = int(np.clip(n // 20, 1, 64))
    # Consecutive accounts by size go to different groups, so every group mixes sizes.
    membership = sparse.csr_array(
        (np.ones(n), (np.arange(n) % groups, rows)), shape=(groups, x.shape[0])
    )
    capped = expected * 10.0
    capped += 10.0
    obs = np.asarray(membership @ np.minimum(x, capped, out=capped))
    del capped
    exp = np.asarray(membership @ expected)
    # Sparse metrics need three-hour sums to give usable ratios; dense ones keep hourly
    # resolution so the edges of a holiday are not smeared into the hours around it.
    if float(np.median(exp)) < _DENSE_GROUP_COUNT:
        obs[:, 1:-1] = obs[:, :-2] + obs[:, 1:-1] + obs[:, 2:]
        exp[:, 1:-1] = exp[:, :-2] + exp[:, 1:-1] + exp[:, 2:]
    ratio = (obs + 1.0) / (exp + 1.0)
    return median(ratio, axis=0)


def _daily_rel_sd(
    hist: FloatArray, mu_hist: FloatArray, dispersion: FloatArray, floor: float
) -> FloatArray:
    """Relative sd of daily totals beyond what hourly noise explains."""
    days = hist.shape[1] // 24
    if days < 3:
        return np.full(hist.shape[0], floor)
    span = days * 24
    obs = hist[:, -span:].reshape(hist.shape[0], days, 24).sum(axis=2)
    exp = mu_hist[:, -span:].reshape(hist.shape[0], days, 24).sum(axis=2)
    mean_exp = np.maximum(exp.mean(axis=1), 1e-9)
    excess_var = robust_sd(obs - exp) ** 2 - mean_exp * dispersion
    rel = np.sqrt(np.maximum(excess_var, 0.0)) / mean_exp
    return np.asarray(np.clip(rel, floor, 1.0), dtype=np.float64)
