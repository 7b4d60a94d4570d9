"""Grow a significant group to the farm's weaker members: burst joiners and closure nodes.

Pattern sought: the part of a farm the block search leaves out. The search keeps a node only
if it has two edges or more inside the block and pays a price per node, so at low density it
returns the farm's dense middle (at density 0.01 about half of it); the rest is recognisable
one node at a time once the group is known:
- burst joiners: an account whose follow of a group target came within d seconds of a
  member's follow of it. A background follow of a target with k member follows lands that
  close with probability at most k * 2d / span, so one follow is enough when d is minutes.
- burst targets: a target outside the group where a member's follow has other follows
  close by in time (the j-th nearest within d_j seconds, j = 1..3, against a Poisson
  count of the target's other follows spread over the span).
- coincident targets: a target outside the group where r of the members' own follows
  (r = 2..4) fall within a short span, against the Poisson count of member follows its
  degree explains (two member follows a minute apart on a target of a few followers).
- closure: a node outside the group with more edges into it than degrees explain
  (Poisson tail, Bonferroni over the nodes of that side), for a target also counted in its
  busiest window.
Burst rules are taken by Benjamini-Hochberg at `fdr` (the expected share of background
nodes among those added), one test per node, and each round tests again every node outside
the block; count rules add at most `max_false` background nodes per group in expectation.
Only groups that already passed the block test are extended, so nothing here can raise a
group on a clean graph. Cost: a few passes over the edges per group and round.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.stats import chi2, poisson

logger = logging.getLogger(__name__)

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class ExtendParams:
    window: int  # seconds: the longest burst looked for (a farm's delivery to one target)
    max_false: float = 0.1  # background nodes a count rule may add per group, in expectation
    fdr: float = 0.05  # share of background nodes among those a burst rule adds, in expectation
    rounds: int = 10  # members and targets in turn, to a fixed point: new targets bring new bursts


class GroupExtender:
    """Extends groups of one follow graph (distinct edges); degrees are computed once."""

    def __init__(
        self,
        actors: IntArray,
        targets: IntArray,
        times: IntArray,
        n_actors: int,
        n_targets: int,
        params: ExtendParams,
    ) -> None:
        self.actors, self.targets, self.times = actors, targets, times
        self.n_actors, self.n_targets = n_actors, n_targets
        self.p = params
        self.actor_degree = np.bincount(actors, minlength=n_actors).astype(np.float64)
        self.target_degree = np.bincount(targets, minlength=n_targets).astype(np.float64)
        self.total = float(len(actors))
        self.span = float(times.max() - times.min() + 1) if len(times) else 1.0
        self.n_live_actors = int(np.count_nonzero(self.actor_degree))
        self.n_live_targets = int(np.count_nonzero(self.target_degree))

    def extend(self, members: IntArray, group_targets: IntArray) -> tuple[IntArray, IntArray]:
        """The group plus its burst joiners and closure nodes (sorted codes).

        Each round tests every node outside the block again, those added in earlier rounds
        included, so each burst rule makes one Benjamini-Hochberg choice over the grown
        group: tested apart, a later round would hold only the few nodes the earlier rounds
        left, and its bar would be close to Bonferroni's.
        """
        m0, t0 = np.unique(members), np.unique(group_targets)
        m, t = m0, t0
        for _ in range(self.p.rounds):
            before = (len(m), len(t))
            m = np.union1d(m, self._burst_joiners(m, t, m0))
            m = np.union1d(m, self._closure_members(m, t))
            t = np.union1d(t, self._closure_targets(m, t0))
            if (len(m), len(t)) == before:
                break
        logger.debug(
            "group %dx%d extended to %dx%d", len(members), len(group_targets), len(m), len(t)
        )
        return m, t

    def _rows_into(self, group_targets: IntArray) -> IntArray:
        in_t = np.zeros(self.n_targets, dtype=bool)
        in_t[group_targets] = True
        return np.flatnonzero(in_t[self.targets])

    def _burst_joiners(
        self, members: IntArray, group_targets: IntArray, block: IntArray
    ) -> IntArray:
        """Actors whose follow of a group target came close in time to a member's follow of it.

        A background follow of t lands within d seconds of one of t's k member follows with
        probability at most k * 2d / span: that is each candidate follow's p-value. An actor's
        follows are of different targets, so their times are independent under the background
        and Fisher's method pools them (an actor in two or three deliveries, each an hour
        wide, is as clear as one caught within a minute). The candidates, every actor outside
        the block, are taken by Benjamini-Hochberg at `fdr`; one already a member is measured
        against the other members.
        """
        rows = self._rows_into(group_targets)
        in_m = np.zeros(self.n_actors, dtype=bool)
        in_m[members] = True
        in_block = np.zeros(self.n_actors, dtype=bool)
        in_block[block] = True
        own = rows[in_m[self.actors[rows]]]
        others = rows[~in_block[self.actors[rows]]]
        if len(own) == 0 or len(others) == 0:
            return np.zeros(0, dtype=np.int64)
        joined = in_m[self.actors[others]]
        k = np.bincount(self.targets[own], minlength=self.n_targets)[self.targets[others]]
        k -= joined
        gaps = _nearest_gaps(
            self.targets[own], self.times[own], self.targets[others], self.times[others], 2
        )
        # A member's own follow is among the references, at distance 0: skip it.
        gap = np.where(joined, gaps[:, 1], gaps[:, 0])
        p_value = np.ones(len(others))
        near = k > 0
        p_value[near] = np.minimum(k[near] * (2.0 * gap[near] + 1.0) / self.span, 1.0)
        return _discoveries(self.actors[others], p_value, self.p.fdr, independent=True)

    def _closure_members(self, members: IntArray, group_targets: IntArray) -> IntArray:
        """Actors with more follows of the group's targets than their degree explains."""
        rows = self._rows_into(group_targets)
        in_m = np.zeros(self.n_actors, dtype=bool)
        in_m[members] = True
        rows = rows[~in_m[self.actors[rows]]]
        hits = np.bincount(self.actors[rows], minlength=self.n_actors)
        cand = np.flatnonzero(hits >= 2)
        if len(cand) == 0:
            return cand
        mu = self.actor_degree[cand] * self.target_degree[group_targets].sum() / self.total
        tail = np.asarray(poisson.sf(hits[cand] - 1, mu), dtype=np.float64)
        out: IntArray = cand[tail * self.n_live_actors <= self.p.max_false]
        return out

    def _closure_targets(self, members: IntArray, block: IntArray) -> IntArray:
        """Targets followed by more members (overall, or in one window) than degrees explain.

        Every target outside the block is tested, those already added included (see `extend`).
        """
        in_m = np.zeros(self.n_actors, dtype=bool)
        in_m[members] = True
        in_t = np.zeros(self.n_targets, dtype=bool)
        in_t[block] = True
        rows = np.flatnonzero(in_m[self.actors])
        rows = rows[~in_t[self.targets[rows]]]
        if len(rows) == 0:
            return np.zeros(0, dtype=np.int64)
        tg, busiest, _, _ = _busiest_windows(self.targets[rows], self.times[rows], self.p.window)
        hits = np.bincount(self.targets[rows], minlength=self.n_targets)[tg]
        keep = hits >= 2
        counted = np.zeros(0, dtype=np.int64)
        if keep.any():
            tg2, busiest, hits = tg[keep], busiest[keep], hits[keep]
            mu = self.target_degree[tg2] * self.actor_degree[members].sum() / self.total
            overall = poisson.sf(hits - 1, mu)
            # A scan over windows: about span / window places for the busiest one (each
            # window of length w lies inside one of that many windows of length 2w).
            n_windows = max(self.span / self.p.window, 1.0)
            share = min(2.0 * self.p.window / self.span, 1.0)
            in_window = n_windows * poisson.sf(busiest - 1, mu * share)
            tail = 2.0 * np.minimum(overall, in_window)  # two statistics: pay for both
            counted = tg2[tail * self.n_live_targets <= self.p.max_false]
        bursts = np.union1d(self._burst_targets(rows), self._coincident_targets(rows, members))
        return np.union1d(counted, bursts)

    def _burst_targets(self, member_rows: IntArray) -> IntArray:
        """Targets where a member's follow sits in a burst of other follows of that target.

        For a member's follow of t, the j-th nearest other follow of t (j = 1..3) is d_j
        seconds away; t's other follows fall that close by chance about as often as a
        Poisson count of mean (deg(t) - 1) * 2 d_j / span reaches j. The best j is paid for
        three times over, and the follows are taken by Benjamini-Hochberg at `fdr`.
        """
        tg, tm = self.targets[member_rows], self.times[member_rows]
        rows = self._rows_into(np.unique(tg))
        gaps = _nearest_gaps(self.targets[rows], self.times[rows], tg, tm, 4)[:, 1:]
        seen = np.isfinite(gaps)
        rate = (self.target_degree[tg] - 1.0)[:, None] * (2.0 * np.where(seen, gaps, 0.0) + 1.0)
        rate /= self.span
        j = np.arange(1, gaps.shape[1] + 1, dtype=np.float64)
        # No j-th other follow at all: nothing seen, no evidence.
        tail = np.where(seen, poisson.sf(j - 1.0, rate), 1.0)
        p_value = np.minimum(3.0 * tail.min(axis=1), 1.0)
        # A target's member follows share their neighbours (two follows of a pair each see
        # the other), so their p-values are not independent: Bonferroni within the target.
        return _discoveries(tg, p_value, self.p.fdr, independent=False)

    def _coincident_targets(self, member_rows: IntArray, members: IntArray) -> IntArray:
        """Targets where r of the members' follows (r = 2..4) fall within a short span.

        Under the Chung-Lu background the members' follows of t are a Poisson count of mean
        mu = deg(t) * (sum of member degrees) / edges, at uniform times over the span S, so
        the expected number of r of them within g seconds of each other is at most
        mu^r / (r - 1)! * (g / S)^(r - 1): a p-value for the tightest span g of each r. A fixed
        window the length of the longest burst would dilute a delivery of minutes into hours,
        and the nearest-follow test of `_burst_targets` counts every follower of t as company,
        so two member follows a minute apart on a target of a few followers pass neither. The
        best r is paid for three times over; untested targets count as tests (p-value 1), so
        Benjamini-Hochberg runs over every live target.
        """
        order = np.lexsort((self.times[member_rows], self.targets[member_rows]))
        tg, tm = self.targets[member_rows][order], self.times[member_rows][order]
        mu = self.target_degree * (self.actor_degree[members].sum() / self.total)
        best = np.ones(self.n_targets)
        for r in range(2, 5):
            if len(tg) < r:
                break
            same = tg[r - 1 :] == tg[: len(tg) - r + 1]
            t, g = tg[r - 1 :][same], (tm[r - 1 :] - tm[: len(tm) - r + 1])[same] + 1.0
            bound = mu[t] ** r / math.factorial(r - 1) * (g / self.span) ** (r - 1)
            np.minimum.at(best, t, 3.0 * bound)
        cand = np.flatnonzero(best < 1.0)
        take = _benjamini_hochberg(best[cand], self.p.fdr, self.n_live_targets)
        out: IntArray = cand[take]
        return out


def _nearest_gaps(
    ref_targets: IntArray, ref_times: IntArray, targets: IntArray, times: IntArray, n: int
) -> FloatArray:
    """Per query follow, the seconds to the n nearest reference follows of the same target.

    Sorted ascending; inf where the target has fewer reference follows. A query that is
    itself among the references finds itself at distance 0 first.
    """
    t0 = int(min(ref_times.min(), times.min()))
    stride = int(max(ref_times.max(), times.max())) - t0 + 1
    ref_key = np.sort(ref_targets * stride + (ref_times - t0))
    key = targets * stride + (times - t0)
    pos = np.searchsorted(ref_key, key)
    near = np.full((len(key), 2 * n), np.inf)
    for k in range(n):
        for col, idx in ((2 * k, pos - 1 - k), (2 * k + 1, pos + k)):
            ok = (idx >= 0) & (idx < len(ref_key))
            cand = np.where(ok, ref_key[np.clip(idx, 0, len(ref_key) - 1)], 0)
            same = ok & (cand // stride == targets)
            near[same, col] = np.abs(cand[same] - key[same]).astype(np.float64)
    near.sort(axis=1)
    return near[:, :n]


def _discoveries(
    units: IntArray, p_value: FloatArray, fdr: float, *, independent: bool
) -> IntArray:
    """The units (actors or targets) Benjamini-Hochberg takes at `fdr`, one test per unit.

    A unit's follows make one p-value: Fisher's method if they are independent under the
    background, else the best one times their number (Bonferroni). Tested follow by follow, a
    burst target's several member follows would each count as a discovery and lower the bar
    for every other unit (cl100k, hijacked, 0.02: 105 follow discoveries from about 45
    targets let 8 background targets in among 47).
    """
    if len(units) == 0:
        return np.zeros(0, dtype=np.int64)
    codes, inverse, count = np.unique(units, return_inverse=True, return_counts=True)
    if independent:
        log_p = np.log(np.maximum(p_value, np.finfo(np.float64).tiny))
        stat = np.bincount(inverse, weights=-2.0 * log_p, minlength=len(codes))
        unit_p = np.asarray(chi2.sf(stat, 2 * count), dtype=np.float64)
    else:
        best = np.ones(len(codes))
        np.minimum.at(best, inverse, p_value)
        unit_p = np.minimum(best * count, 1.0)
    out: IntArray = codes[_benjamini_hochberg(unit_p, fdr)]
    return out


def _benjamini_hochberg(
    p_value: FloatArray, fdr: float, n_tests: int | None = None
) -> npt.NDArray[np.bool_]:
    """Which tests Benjamini-Hochberg rejects at false discovery rate `fdr`.

    `n_tests` counts tests left out with p-value 1 (they raise the bar, never pass).
    """
    m = len(p_value) if n_tests is None else max(n_tests, len(p_value))
    order = np.argsort(p_value, kind="stable")
    passed = np.flatnonzero(p_value[order] <= fdr * np.arange(1, len(p_value) + 1) / m)
    out = np.zeros(len(p_value), dtype=bool)
    if len(passed):
        out[order[: passed[-1] + 1]] = True
    return out


def _busiest_windows(
    targets: IntArray, times: IntArray, window: int
) -> tuple[IntArray, IntArray, IntArray, IntArray]:
    """Per target, the most follows within `window` seconds: (target, count, first, last time)."""
    if len(targets) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty, empty
    order = np.lexsort((times, targets))
    tg, tm = targets[order], times[order] - times.min()
    # One sorted key per follow, targets far enough apart that no window spans two of them.
    stride = int(tm.max()) + window + 1
    key = tg * stride + tm
    end = np.searchsorted(key, key + window, side="right")
    count = end - np.arange(len(key))
    group = np.cumsum(np.r_[True, tg[1:] != tg[:-1]]) - 1
    # Per target, the earliest follow whose window holds the most.
    by_count = np.lexsort((np.arange(len(key)), -count, group))
    first = by_count[np.r_[True, group[by_count][1:] != group[by_count][:-1]]]
    lo = tm[first] + times.min()
    hi = tm[end[first] - 1] + times.min()
    return tg[first], count[first], lo.astype(np.int64), hi.astype(np.int64)
