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
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import sparse

from detectors._common import FloatArray, day_of_week, hour_of_day, median, robust_sd
from detectors._memo import memo
from detectors.findings import Panel

logger = logging.getLogger(__name__)

_MIN_HISTORY = 24  # less than a day of history says nothing about hours of the day
_PLATFORM_SAMPLE = 20_000
_DENSE_GROUP_COUNT = 50.0  # expected events per group and hour that need no smoothing


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
    """Learn the seasonal baseline of every account from the history buckets of `x`."""
    cfg = config or BaselineConfig()
    n, t = x.shape
    # Too little history: learn from the whole panel; winsorizing keeps short anomalies out.
    hist_end = judge_from if judge_from >= _MIN_HISTORY else t
    hod = hour_of_day(bucket_times)
    # The most recent whole days of history, as (account, day, hour-slot): one vectorized
    # median per slot instead of a gather per hour. An older partial day is left out.
    days = hist_end // 24
    first = hist_end - days * 24
    hist = x[:, first:hist_end]
    by_day = hist.reshape(n, days, 24)
    slot_hour = hod[first : first + 24]
    # Medians partition a copy laid out (account, hour-slot, day), days contiguous; the
    # rest works on the history in time order, so no second transposed copy is needed.
    med = median(by_day.transpose(0, 2, 1).copy(order="C"), axis=2, overwrite=True)
    # Mean absolute deviation from the median: robust enough for a cap, and no second sort.
    dev = by_day - med[:, None, :]
    np.abs(dev, out=dev)
    mean_dev = 1.2533 * dev.mean(axis=1)
    spread = np.maximum(mean_dev, np.maximum(np.sqrt(med), 1.0))
    capped = np.minimum(by_day, (med + cfg.winsor_k * spread)[:, None, :], out=dev)
    hour_mean = np.empty((n, 24))
    hour_mean[:, slot_hour] = capped.mean(axis=1)

    level = hour_mean.mean(axis=1)
    shape = _platform_shape(hour_mean, level)
    # Empirical Bayes: an hour with few events borrows the platform's daily shape.
    counts = hour_mean * days
    weight = counts / (counts + cfg.shrink_counts)
    profile = weight * hour_mean + (1.0 - weight) * level[:, None] * shape[None, :]

    winsorized = capped.reshape(n, days * 24)
    del capped, dev
    # np.take, not profile[:, hod]: fancy indexing there returns a column-major array, which
    # makes every later pass along time (running sums, rows of one account) stride badly.
    if days >= 14:
        weekday = _weekday_factor(winsorized, bucket_times[first:hist_end], cfg)
        # Each hour of the week once, then one gather: a single pass over (n, t).
        week = (profile[:, :, None] * weekday[:, None, :]).reshape(n, 24 * 7)
        expected = np.take(week, hod * 7 + day_of_week(bucket_times), axis=1)
    else:
        expected = np.take(profile, hod, axis=1)

    platform = _platform_factor(x, expected, level)
    mu = expected
    mu *= platform[None, :]  # in place: `expected` itself is not needed past this point
    mu_hist = mu[:, first:hist_end]
    # Moment estimate on winsorized history, each bucket's term capped: robust enough, and
    # free of the sorting a median over every bucket would cost. In place, as the
    # winsorized history is not needed past this point.
    terms = winsorized
    terms -= mu_hist
    terms **= 2
    terms /= mu_hist + 0.5
    np.minimum(terms, 25.0, out=terms)
    dispersion = np.maximum(terms.mean(axis=1), 1.0)
    del terms, winsorized
    rel_sd = _daily_rel_sd(hist, mu_hist, dispersion, cfg.rel_sd_floor)
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


def _platform_factor(x: FloatArray, expected: FloatArray, level: FloatArray) -> FloatArray:
    """Per bucket, the platform's observed / expected: the median over groups of accounts.

    Accounts are pooled into groups (each mixing sizes), and for sparse metrics buckets
    into 3-hour sums, so ratios are usable; the median over groups keeps one account's
    own spike out of the platform factor, and capping each account at 10x its expectation
    keeps a giant account from dominating its group.
    """
    # Every k-th account by size: at most _PLATFORM_SAMPLE of them estimate the platform
    # as well as all would, at a fraction of the cost on very large panels.
    by_size = np.argsort(level)
    rows = by_size[:: max(1, -(-len(by_size) // _PLATFORM_SAMPLE))]
    if len(rows) < x.shape[0]:
        x, expected = x[rows], expected[rows]
        rows = np.arange(len(rows))
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
