"""Peer cohorts: accounts of similar size, for "how unusual among similar accounts".

An account with 20 impressions an hour and one with 20,000 do not move alike: a 3x hour is
ordinary for the first and extraordinary for the second. Cohorts are bands of accounts by
their usual hourly level of a metric (quantiles of the history mean, at least
`MIN_COHORT` accounts each); a finding reports its account's percentile within its band,
and accounts with too little history take their band's noise (see `cohort_noise`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from detectors._common import FloatArray, median
from detectors._memo import memo
from detectors.findings import Panel

MIN_COHORT = 50
MAX_COHORTS = 10


@dataclass(frozen=True, slots=True)
class Cohorts:
    """Band of every account (0 = smallest accounts) and the bands' edges in level."""

    band: npt.NDArray[np.int64]  # (n,)
    edges: FloatArray  # (bands - 1,) upper level of each band but the last
    level: FloatArray  # (n,) mean hourly count in the history

    @property
    def count(self) -> int:
        return len(self.edges) + 1

    def members(self, i: int) -> npt.NDArray[np.intp]:
        return np.flatnonzero(self.band == self.band[i])

    def label(self, i: int) -> str:
        """Readable band of account i, e.g. "3/10 (1.2-4.5 per hour)"."""
        b = int(self.band[i])
        lo = 0.0 if b == 0 else float(self.edges[b - 1])
        hi = float(self.edges[b]) if b < len(self.edges) else float(self.level.max())
        return f"{b + 1}/{self.count} ({lo:.3g}-{hi:.3g} per hour)"


def size_cohorts(level: FloatArray) -> Cohorts:
    """Quantile bands of `level` with at least MIN_COHORT accounts each."""
    n = len(level)
    bands = int(np.clip(n // MIN_COHORT, 1, MAX_COHORTS))
    if bands == 1:
        return Cohorts(np.zeros(n, dtype=np.int64), np.zeros(0), level)
    edges = np.quantile(level, np.arange(1, bands) / bands)
    edges = np.unique(edges)
    band = np.searchsorted(edges, level, side="left").astype(np.int64)
    return Cohorts(band, edges, level)


def panel_cohorts(panel: Panel, metric: str) -> Cohorts:
    """Size cohorts of `metric` on this panel's history, computed once per panel."""

    def compute() -> Cohorts:
        j = panel.judge_from if panel.judge_from > 0 else panel.n_buckets
        level = np.asarray(panel.metric(metric)[:, :j].mean(axis=1), dtype=np.float64)
        return size_cohorts(level)

    return memo(panel, ("cohorts", metric), compute)


def cohort_percentile(values: FloatArray, cohorts: Cohorts, i: int, higher: bool = True) -> float:
    """Percent of account i's cohort whose `values` are below (`higher`) or above its own."""
    peers = values[cohorts.members(i)]
    own = values[i]
    share = np.mean(peers < own) if higher else np.mean(peers > own)
    return round(100.0 * float(share), 2)


def cohort_noise(noise: FloatArray, cohorts: Cohorts, short: npt.NDArray[np.bool_]) -> FloatArray:
    """`noise` (per account) with accounts flagged `short` given their cohort's median.

    An account with a day or two of history has no usable estimate of its own scatter; its
    peers of the same size do.
    """
    out = np.array(noise, dtype=np.float64)
    if not short.any():
        return out
    for b in range(cohorts.count):
        rows = cohorts.band == b
        settled = rows & ~short
        if settled.any():
            out[rows & short] = np.maximum(out[rows & short], median(out[settled]))
    return out


def window_percentile(
    panel: Panel, metric: str, mu: FloatArray, i: int, start: int, stop: int, higher: bool = True
) -> dict[str, float | str]:
    """Evidence values: how account i's observed / expected of `metric` over buckets
    [start, stop) ranks among its size cohort over the same buckets.

    `mu` is the (n, t) expectation the ratio is taken against (a seasonal baseline's).
    """
    cohorts = panel_cohorts(panel, metric)
    members = cohorts.members(i)
    obs = panel.metric(metric)[members, start:stop].sum(axis=1)
    exp = mu[members, start:stop].sum(axis=1)
    ratio = (obs + 1.0) / (exp + 1.0)
    own = ratio[int(np.searchsorted(members, i))]
    share = np.mean(ratio < own) if higher else np.mean(ratio > own)
    return {
        "percentile": round(100.0 * float(share), 2),
        "cohort": f"{metric} {cohorts.label(i)}",
        "cohort_accounts": float(len(members)),
    }
