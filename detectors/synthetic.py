"""Seeded synthetic platforms for tests and benchmarks: realistic rhythm, known plants.

Accounts have log-normal sizes, a diurnal cycle with their own phase, a weekend effect, day
to day swings and extra-Poisson noise; every metric is Poisson around one latent attention
level per account and hour, so partners move together as they do organically. Fraud and
hard negatives (viral bursts, holidays) are planted on top with the helpers below.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from detectors.findings import METRICS, Panel

FloatArray = npt.NDArray[np.float64]

START = np.datetime64("2024-03-04T00:00:00", "s")  # a Monday
# Mean count per hour for one unit of latent attention (impressions are the unit).
_RATES = {
    "impressions": 1.0,
    "clicks": 0.03,
    "follows": 0.004,
    "unfollows": 0.0012,
    "comments": 0.005,
    "shares": 0.0025,
}


@dataclass(frozen=True)
class Synth:
    """A generated panel and the latent attention it was drawn from."""

    panel: Panel
    attention: FloatArray  # (n, t) expected impressions per hour


def simulate(
    n_accounts: int = 500,
    days: int = 14,
    judge_hours: int = 48,
    seed: int = 0,
    lift: Callable[[FloatArray], FloatArray] | None = None,
) -> Synth:
    """A clean platform; `lift` may rescale the latent attention (viral bursts, holidays)."""
    rng = np.random.default_rng(seed)
    t = days * 24
    times = START + np.arange(t).astype("timedelta64[h]")
    hours = np.arange(t) % 24
    weekday = (np.arange(t) // 24) % 7
    weekend = weekday >= 5

    size = np.exp(rng.normal(np.log(40.0), 1.0, n_accounts))
    phase = rng.normal(0.0, 1.5, n_accounts)
    diurnal = 1.0 + 0.7 * np.cos(2 * np.pi * (hours[None, :] - 20.0 - phase[:, None]) / 24.0)
    tilt = np.exp(rng.normal(0.0, 0.1, n_accounts))
    weekly = np.where(weekend[None, :], 1.1 * tilt[:, None], 1.0)
    day_noise = np.repeat(np.exp(rng.normal(0.0, 0.1, (n_accounts, days))), 24, axis=1)
    hour_noise = np.exp(rng.normal(0.0, 0.05, (n_accounts, t)))
    attention = size[:, None] * diurnal * weekly * day_noise * hour_noise
    if lift is not None:
        attention = lift(attention)

    values: dict[str, FloatArray] = {}
    for metric in METRICS:
        rate = _RATES[metric] * np.exp(rng.normal(0.0, 0.35, n_accounts))
        if metric == "impressions":
            rate = np.ones(n_accounts)
        jitter = np.exp(rng.normal(0.0, 0.05, (n_accounts, t)))
        values[metric] = rng.poisson(attention * rate[:, None] * jitter).astype(np.float64)

    ids = np.array([f"acct_{i}" for i in range(n_accounts)])
    panel = Panel(account_ids=ids, bucket_times=times, values=values, judge_from=t - judge_hours)
    return Synth(panel=panel, attention=attention)


def with_added(panel: Panel, metric: str, account: int, start: int, counts: list[float]) -> Panel:
    """A copy of `panel` with `counts` extra events of `metric` from bucket `start` on."""
    values = {m: v.copy() for m, v in panel.values.items()}
    values[metric][account, start : start + len(counts)] += np.asarray(counts)
    return Panel(panel.account_ids, panel.bucket_times, values, panel.judge_from)


def with_replaced(panel: Panel, metric: str, account: int, start: int, series: FloatArray) -> Panel:
    """A copy of `panel` whose `metric` for `account` is `series` from bucket `start` on."""
    values = {m: v.copy() for m, v in panel.values.items()}
    values[metric][account, start : start + len(series)] = series
    return Panel(panel.account_ids, panel.bucket_times, values, panel.judge_from)


def recut(panel: Panel, drop: int) -> Panel:
    """The same data seen by a run whose panel starts `drop` buckets later."""
    return Panel(
        panel.account_ids,
        panel.bucket_times[drop:],
        {m: v[:, drop:] for m, v in panel.values.items()},
        panel.judge_from - drop,
    )


def account_near_median(panel: Panel, rank: float = 0.6) -> int:
    """An account at the given size quantile, so plants are neither tiny nor huge."""
    volume = panel.metric("impressions").sum(axis=1)
    order = np.argsort(volume)
    return int(order[int(rank * (len(order) - 1))])


def burst(
    accounts: slice | int, start: int, hours: int, factor: float
) -> Callable[[FloatArray], FloatArray]:
    """A lift of the latent attention: a viral burst (one account) or a holiday (all)."""

    def lift(attention: FloatArray) -> FloatArray:
        out = attention.copy()
        out[accounts, start : start + hours] *= factor
        return out

    return lift
