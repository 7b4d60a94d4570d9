"""Windowed co-action counting: which actor pairs act on the same items within seconds or minutes.

Counting is sparse matrix algebra over an (actor x item-time-cell) incidence: A·Aᵀ gives, per
actor pair, the number of cells they share. One grid of cells would lose pairs that straddle a
cell boundary, so two grids of width 2W offset by W are used: two actions within W of each other
always share a cell of at least one of them. Counting each item once needs the union, and the
cells common to both grids are exactly a grid of width W, so

    distinct items shared = C(2W, 0) + C(2W, W) - C(W, 0)

once every actor keeps only its first action per item. The expected count of a pair under the
background is the Chung-Lu value d_a·d_b·Σ_c s_c² / m² per grid (d = distinct items of an actor,
s_c = actors in cell c, m = actor-item entries), and a Poisson tail with a Bonferroni bound over
all candidate pairs says which pairs are too aligned to be chance.

Acting together once is not lockstep: two users in the same onboarding session follow the same
suggested accounts within seconds. So a pair must also meet in several distinct episodes
(coarse time slots, e.g. hours), counted from the cells they share.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from scipy import stats

from graphs.frames import IntArray, first_per_pair

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]

# Rough budget of pair products per block of rows: at 1M events peak memory stays near 150 MB
# (8M doubled it for no gain in speed).
_BLOCK_WORK = 2_000_000
_PAIR_CHUNK = 200_000  # candidate pairs whose shared cells are materialized at once


@dataclass(frozen=True, slots=True)
class PairTable:
    """Actor pairs (a < b, global actor codes) sharing at least `min_shared` items in time."""

    a: IntArray
    b: IntArray
    shared: IntArray  # distinct items both acted on within the window
    episodes: IntArray  # distinct episode slots in which the pair met
    expected: FloatArray  # the same under the Chung-Lu background
    pvalue: FloatArray  # Poisson tail P(X >= shared)
    significant: npt.NDArray[np.bool_]  # pvalue below the Bonferroni bound
    n_candidates: int  # actors active on enough items to be paired at all
    skipped_cells: int  # crowd cells over the cap, not paired (organic crowds, see config)

    @staticmethod
    def empty(n_candidates: int = 0, skipped_cells: int = 0) -> PairTable:
        i = np.zeros(0, dtype=np.int64)
        f = np.zeros(0, dtype=np.float64)
        return PairTable(i, i, i, i, f, f, np.zeros(0, dtype=bool), n_candidates, skipped_cells)


@dataclass(frozen=True, slots=True)
class _Grid:
    width: int
    offset: int
    sign: int


def _cells(items: IntArray, times: IntArray, grid: _Grid) -> tuple[IntArray, IntArray]:
    """Cell code of each entry, and the middle time of each cell."""
    slots = (times + grid.offset) // grid.width
    n_slots = int(slots.max()) + 1
    keys, cell = np.unique(items * n_slots + slots, return_inverse=True)
    middle = (keys % n_slots) * grid.width - grid.offset + grid.width // 2
    return np.asarray(cell, dtype=np.int64), middle


def co_action_pairs(
    actors: IntArray,
    items: IntArray,
    times: IntArray,
    *,
    window_seconds: int,
    min_shared: int,
    episode_seconds: int,
    min_episodes: int,
    max_cell_actors: int,
    alpha: float,
) -> PairTable:
    """Count, for every pair of actors, the distinct items both acted on within `window_seconds`.

    Args:
        actors, items, times: one row per action (codes from `frames.encode`, Unix seconds).
        window_seconds: W; actions within W always count, within 2W may count.
        min_shared: pairs sharing fewer items are dropped before any test.
        episode_seconds, min_episodes: ... and so are pairs that met in fewer distinct slots of
            episode_seconds (one session, however many items, is one episode). Rounded to a
            multiple of 2W.
        max_cell_actors: cells holding more actors are crowds (a viral post, a celebrity's
            minute) and are not paired: they cost s² pairs and say nothing about any one pair.
        alpha: family-wise error rate of the pair tests.
    """
    a, i, t = first_per_pair(actors, items, times)
    m = len(a)
    if m == 0:
        return PairTable.empty()
    t = t - t.min()
    degree = np.bincount(a)
    grids = (
        _Grid(2 * window_seconds, 0, 1),
        _Grid(2 * window_seconds, window_seconds, 1),
        _Grid(window_seconds, 0, -1),
    )
    cells_and_middles = [_cells(i, t, g) for g in grids]
    cells = [c for c, _ in cells_and_middles]

    # Background rate per pair: Chung-Lu over all actors, including the ones paired below.
    per_pair_rate = 0.0
    for g, cell in zip(grids, cells, strict=True):
        sizes = np.bincount(cell).astype(np.float64)
        per_pair_rate += g.sign * float((sizes**2).sum()) / float(m) ** 2

    # An actor with fewer than min_shared items can never reach min_shared shared items.
    cand_actors = np.flatnonzero(degree >= min_shared)
    n_cand = len(cand_actors)
    if n_cand < 2:
        return PairTable.empty()
    keep = degree[a] >= min_shared
    local = np.searchsorted(cand_actors, a[keep])

    skipped = 0
    mats: list[sp.csr_matrix] = []
    under_cap = np.ones(int(keep.sum()), dtype=bool)
    for k, cell in enumerate(cells):
        total = np.bincount(cell)
        c = cell[keep]
        cand_size = np.bincount(c, minlength=len(total))
        if k < 2:
            under_cap &= total[c] <= max_cell_actors
            skipped += int(np.count_nonzero((total > max_cell_actors) & (cand_size >= 2)))
        # A W cell lies inside one 2W cell of each grid; it may only count where both of
        # those did, or the union formula would subtract what was never added.
        usable = (cand_size[c] >= 2) & (total[c] <= max_cell_actors if k < 2 else under_cap)
        rows, cols = local[usable], c[usable]
        mats.append(
            sp.csr_matrix(
                (np.ones(len(rows), dtype=np.int32), (rows, cols)), shape=(n_cand, len(total))
            )
        )
    if skipped:
        logger.info("co-action: %d crowd cells over %d actors not paired", skipped, max_cell_actors)

    ra, rb, rs = _union_upper_counts(mats[0], mats[1], min_shared)
    if len(ra) == 0:
        return PairTable.empty(n_cand, skipped)
    # Episodes are whole multiples of 2W, and cells are placed by their middle: then the two
    # cells of one meeting (one per 2W grid) always fall into the same episode.
    episode = max(1, round(episode_seconds / (2 * window_seconds))) * 2 * window_seconds
    n_episodes = max(int(mid.max()) for _, mid in cells_and_middles[:2]) // episode + 1
    episode_of = [
        sp.csr_matrix(
            (np.ones(len(mid)), (np.arange(len(mid)), mid // episode)),
            shape=(len(mid), n_episodes),
        )
        for _, mid in cells_and_middles[:2]
    ]
    both, episodes = _shared_detail(mats, episode_of, ra, rb)
    shared = rs - both
    ok = (shared >= min_shared) & (episodes >= min_episodes)
    ga, gb, shared, episodes = cand_actors[ra[ok]], cand_actors[rb[ok]], shared[ok], episodes[ok]
    expected = degree[ga].astype(np.float64) * degree[gb] * max(per_pair_rate, 0.0)
    expected = np.maximum(expected, 1e-12)
    pvalue = stats.poisson.sf(shared - 1, expected)
    n_tests = max(n_cand * (n_cand - 1) / 2, 1.0)
    significant = pvalue <= alpha / n_tests
    logger.debug(
        "co-action: %d candidates, %d pairs >= %d shared, %d significant",
        n_cand,
        len(ga),
        min_shared,
        int(significant.sum()),
    )
    return PairTable(ga, gb, shared, episodes, expected, pvalue, significant, n_cand, skipped)


def _shared_detail(
    mats: list[sp.csr_matrix], episode_of: list[sp.csr_matrix], ra: IntArray, rb: IntArray
) -> tuple[IntArray, IntArray]:
    """Per candidate pair: cells shared in the W grid, and distinct episodes met in.

    Works on chunks of pairs, so only a bounded number of shared-cell rows exist at once.
    """
    both = np.zeros(len(ra), dtype=np.int64)
    episodes = np.zeros(len(ra), dtype=np.int64)
    for lo in range(0, len(ra), _PAIR_CHUNK):
        a, b = ra[lo : lo + _PAIR_CHUNK], rb[lo : lo + _PAIR_CHUNK]
        both[lo : lo + len(a)] = np.asarray(mats[2][a].multiply(mats[2][b]).sum(axis=1)).ravel()
        g0, g1 = mats[0], mats[1]
        met = sp.csr_matrix(
            (g0[a].multiply(g0[b])) @ episode_of[0] + (g1[a].multiply(g1[b])) @ episode_of[1]
        )
        met.eliminate_zeros()
        episodes[lo : lo + len(a)] = np.diff(met.indptr)
    return both, episodes


def _union_upper_counts(
    g0: sp.csr_matrix, g1: sp.csr_matrix, min_shared: int
) -> tuple[IntArray, IntArray, IntArray]:
    """Pairs (a < b) with C0 + C1 >= min_shared, computed in row blocks to bound memory.

    C0 + C1 bounds the union from above, so nothing that could pass is dropped here.
    """
    n = g0.shape[0]
    col_sizes = [np.diff(g.tocsc().indptr) for g in (g0, g1)]
    # Work of row r ~ sum of the sizes of its cells: the number of partners it can meet.
    work = np.zeros(n, dtype=np.float64)
    for g, sizes in zip((g0, g1), col_sizes, strict=True):
        row_of_entry = np.repeat(np.arange(n), np.diff(g.indptr))
        work += np.bincount(row_of_entry, weights=sizes[g.indices], minlength=n)
    block_id = (np.cumsum(work) // _BLOCK_WORK).astype(np.int64)
    starts = np.flatnonzero(np.diff(block_id)) + 1
    bounds = [0, *starts.tolist(), n]

    t0, t1 = g0.T.tocsr(), g1.T.tocsr()
    out_a: list[IntArray] = []
    out_b: list[IntArray] = []
    out_s: list[IntArray] = []
    for lo, hi in itertools.pairwise(bounds):
        # Columns from lo on only: the upper triangle, each pair once.
        block = (g0[lo:hi] @ t0[:, lo:]) + (g1[lo:hi] @ t1[:, lo:])
        coo = block.tocoo()
        rows = coo.row.astype(np.int64) + lo
        cols = coo.col.astype(np.int64) + lo
        vals = coo.data.astype(np.int64)
        sel = (cols > rows) & (vals >= min_shared)
        out_a.append(rows[sel])
        out_b.append(cols[sel])
        out_s.append(vals[sel])
    return np.concatenate(out_a), np.concatenate(out_b), np.concatenate(out_s)
