"""Dense-block search in a bipartite actor x target graph held as edge arrays.

Two stages, both array-only (numpy / scipy.sparse), never a Python object per edge:

1. `peel`: FRAUDAR's greedy peeling of the weighted average degree f(S) / |S|, batched: each
   pass drops the weakest few percent of the live nodes (one bincount over the live edges), and
   once few nodes are left they are dropped one at a time as in the paper. The caller's edge
   weights carry the camouflage resistance (FRAUDAR's column weight 1 / log(c + deg)) and,
   for the timing path, how bursty each edge is.
2. `refine`: the peeled set is a seed; alternating over the two sides, each side is reset to
   the prefix (by observed / expected ratio) that maximizes the Poisson surprise of the block
   against the Chung-Lu background, so a block is judged by how far it beats the degrees of its
   nodes, not by raw density (a celebrity core is dense and fully explained by its degrees).

`surprise` is the statistic the significance test (graphs/significance.py) judges.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from scipy.special import gammaln

logger = logging.getLogger(__name__)

IntArray = npt.NDArray[np.int64]
LocalArray = npt.NDArray[np.int32]  # codes within a peel (fewer than 2^31 nodes)
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

_EXACT_NODES = 2_000  # below this many live nodes, peel one node at a time (dense matrix)
_BATCH_SHARE = 0.04  # share of live nodes dropped per batched pass
_BIG_EDGES = 200_000  # above this many live edges surprise peeling takes bigger steps
_MID_EDGES = 20_000  # and between the two, middling ones: most passes were spent here


@dataclass(frozen=True, slots=True)
class Block:
    """A candidate block: row and column codes (sorted) of the bipartite matrix."""

    rows: IntArray
    cols: IntArray


def fraudar_column_weights(col_degree: IntArray, c: float = 5.0) -> FloatArray:
    """FRAUDAR's 1 / log(c + deg): an edge to a popular target says little about its actor."""
    return 1.0 / np.log(c + col_degree.astype(np.float64))


def peel(
    rows: IntArray,
    cols: IntArray,
    weights: FloatArray,
    n_rows: int,
    n_cols: int,
) -> Block:
    """The node set maximizing weighted edges / nodes, by greedy peeling."""
    live_r = np.bincount(rows, minlength=n_rows) > 0
    live_c = np.bincount(cols, minlength=n_cols) > 0
    r, c, w = rows, cols, weights
    best_score = -1.0
    best: tuple[BoolArray, BoolArray] = (live_r.copy(), live_c.copy())
    while True:
        n_live = int(live_r.sum() + live_c.sum())
        if n_live <= _EXACT_NODES or len(r) == 0:
            break
        deg_r = np.bincount(r, weights=w, minlength=n_rows)
        deg_c = np.bincount(c, weights=w, minlength=n_cols)
        score = float(w.sum()) / n_live
        if score > best_score:
            best_score, best = score, (live_r.copy(), live_c.copy())
        live_deg = np.concatenate([deg_r[live_r], deg_c[live_c]])
        share = 0.25 if len(r) > _BIG_EDGES else _BATCH_SHARE
        cut = float(np.quantile(live_deg, share))
        live_r &= deg_r > cut
        live_c &= deg_c > cut
        keep = live_r[r] & live_c[c]
        r, c, w = r[keep], c[keep], w[keep]
    if len(r):
        exact_r, exact_c, score = _peel_exact(r, c, w, live_r, live_c)
        if score > best_score:
            best_score, best = score, (exact_r, exact_c)
    return Block(np.flatnonzero(best[0]), np.flatnonzero(best[1]))


def _peel_exact(
    r: IntArray, c: IntArray, w: FloatArray, live_r: BoolArray, live_c: BoolArray
) -> tuple[BoolArray, BoolArray, float]:
    """One node at a time over a dense matrix of the few live nodes (FRAUDAR proper)."""
    ur, lr = np.unique(r, return_inverse=True)
    uc, lc = np.unique(c, return_inverse=True)
    nr, nc = len(ur), len(uc)
    dense = np.zeros((nr, nc))
    np.add.at(dense, (lr, lc), w)
    deg = np.concatenate([dense.sum(axis=1), dense.sum(axis=0)])
    alive = np.ones(nr + nc, dtype=bool)
    total = float(dense.sum())
    order = np.empty(nr + nc, dtype=np.int64)
    scores = np.empty(nr + nc)
    for step in range(nr + nc):
        scores[step] = total / (nr + nc - step)
        v = int(np.argmin(np.where(alive, deg, np.inf)))
        order[step] = v
        alive[v] = False
        total -= deg[v]
        if v < nr:
            deg[nr:] -= dense[v]
        else:
            deg[:nr] -= dense[:, v - nr]
        deg[v] = np.inf
    best = int(np.argmax(scores))
    keep = np.ones(nr + nc, dtype=bool)
    keep[order[:best]] = False
    out_r = np.zeros_like(live_r)
    out_c = np.zeros_like(live_c)
    out_r[ur[keep[:nr]]] = True
    out_c[uc[keep[nr:]]] = True
    return out_r, out_c, float(scores[best])


def surprise(observed: float | FloatArray, expected: float | FloatArray) -> FloatArray:
    """Poisson log-likelihood ratio of `observed` edges where `expected` were due (0 if fewer)."""
    o = np.asarray(observed, dtype=np.float64)
    e = np.maximum(np.asarray(expected, dtype=np.float64), 1e-12)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(o > e, o * np.log(np.maximum(o, 1e-300) / e) - o + e, 0.0)
    return np.asarray(s, dtype=np.float64)


def log_choose(n: float, k: FloatArray | float) -> FloatArray:
    """log C(n, k): the price of having picked k of n nodes (the scan statistic's penalty)."""
    k_arr = np.asarray(k, dtype=np.float64)
    return np.asarray(gammaln(n + 1) - gammaln(k_arr + 1) - gammaln(n - k_arr + 1))


def _best_prefix(
    hits: FloatArray, expected: FloatArray, n_side: int, max_size: int, min_size: int
) -> tuple[IntArray, float]:
    """The prefix (by observed / expected, best first) with the most surprise beyond its price.

    The price log C(n_side, k) is what choosing k nodes could gain by chance alone: without it
    every large set looks surprising through small, accumulated deviations.
    """
    # One edge into the block is no evidence of membership: a farm account's single
    # camouflage follow of a rare target would otherwise bring that target in.
    cand = np.flatnonzero(hits >= 2)
    if len(cand) == 0:
        return cand, 0.0
    # By each node's own surprise, not its ratio: one edge to a rare node is a high ratio
    # and no evidence.
    own = surprise(hits[cand], expected[cand])
    order = cand[np.lexsort((cand, -hits[cand], -own))][:max_size]
    k_all = np.arange(1, len(order) + 1, dtype=np.float64)
    s = surprise(np.cumsum(hits[order]), np.cumsum(expected[order])) - log_choose(n_side, k_all)
    s[: max(min_size, 1) - 1] = -np.inf
    k = int(np.argmax(s)) + 1
    return np.sort(order[:k]), float(s[k - 1])


def refine(
    matrix: sp.csr_matrix,
    row_degree: FloatArray,
    col_degree: FloatArray,
    total: float,
    seed: Block,
    *,
    max_rows: int,
    max_cols: int,
    min_size: int = 2,
    rounds: int = 6,
) -> tuple[Block, float]:
    """Alternating surprise maximization from a seed block (CrossSpot-style local search).

    Args:
        matrix: rows x cols counts (the evidence the surprise is measured on).
        row_degree, col_degree, total: the degrees and edge total of the background that
            sets the Chung-Lu expectation d_r * d_c / total.
    """
    rows, cols = seed.rows, seed.cols
    csc = matrix.tocsc()
    n_rows = int(np.count_nonzero(row_degree))
    n_cols = int(np.count_nonzero(col_degree))
    # No floor at the seed: a loose seed (a PMI peel's few hundred nodes around the block)
    # scores below zero before its first round and must still be allowed to tighten.
    best = (Block(rows, cols), -np.inf)
    for _ in range(rounds):
        in_cols = np.zeros(matrix.shape[1])
        in_cols[cols] = 1.0
        hits_r = np.asarray(matrix @ in_cols).ravel()
        exp_r = row_degree * (col_degree[cols].sum() / total)
        rows, _ = _best_prefix(hits_r, exp_r, n_rows, max_rows, min_size)
        in_rows = np.zeros(matrix.shape[0])
        in_rows[rows] = 1.0
        hits_c = np.asarray(csc.T @ in_rows).ravel()
        exp_c = col_degree * (row_degree[rows].sum() / total)
        cols, score = _best_prefix(hits_c, exp_c, n_cols, max_cols, min_size)
        score -= float(log_choose(n_rows, float(len(rows))))
        if score <= best[1] + 1e-9 or len(rows) == 0:
            break
        best = (Block(rows, cols), score)
    return best


def surprise_peel(
    rows: IntArray,
    cols: IntArray,
    row_degree: FloatArray,
    col_degree: FloatArray,
    total: float,
    *,
    min_degree: int = 2,
    batch_share: float = 0.05,
    mid_batch_share: float = 0.10,
    big_batch_share: float = 0.25,
) -> Block:
    """Peel the nodes least over their Chung-Lu share, keeping the set of most net surprise.

    A node's share is its edges into the live set over d * D_other / total, what its degree
    predicts. Average-degree peeling (FRAUDAR) ends in the celebrity core whatever the weights;
    this ends in the set that beats its own degrees the most, priced by log C(n, k) per side.
    Nodes with fewer than `min_degree` live edges go first (a k-core), which also breaks the
    tie of the full graph, where every node is exactly at its share.
    """
    n_r_all = float(np.count_nonzero(row_degree))
    n_c_all = float(np.count_nonzero(col_degree))
    # Local codes, re-compacted as the graph shrinks, so a pass costs the live graph only.
    r, r_ids, rd = _compact_present(rows, row_degree)
    c, c_ids, cd = _compact_present(cols, col_degree)
    best_score = -np.inf
    best = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
    while len(r):
        hr = np.bincount(r, minlength=len(r_ids)).astype(np.float64)
        hc = np.bincount(c, minlength=len(c_ids)).astype(np.float64)
        # Nodes without live edges linger until the next compaction: they are simply out.
        on_r, on_c = hr > 0, hc > 0
        live_r, live_c = hr >= min_degree, hc >= min_degree
        if (live_r == on_r).all() and (live_c == on_c).all():
            dr, dc = float(rd[on_r].sum()), float(cd[on_c].sum())
            score = float(
                surprise(float(len(r)), dr * dc / total)
                - log_choose(n_r_all, float(on_r.sum()))
                - log_choose(n_c_all, float(on_c.sum()))
            )
            if score > best_score:
                best_score, best = score, (r_ids[on_r], c_ids[on_c])
            ratio_r = hr / np.maximum(rd * dc / total, 1e-12)
            ratio_c = hc / np.maximum(cd * dr / total, 1e-12)
            # Large graphs shed faster: the fine steps only matter near the block.
            share = (
                big_batch_share
                if len(r) > _BIG_EDGES
                else mid_batch_share
                if len(r) > _MID_EDGES
                else batch_share
            )
            live_r, live_c = _drop_lowest(ratio_r, ratio_c, hr, hc, on_r, on_c, share)
        keep = live_r[r] & live_c[c]
        r, c = r[keep], c[keep]
        r, r_ids, rd = _compact(r, r_ids, rd, live_r)
        c, c_ids, cd = _compact(c, c_ids, cd, live_c)
    return Block(best[0], best[1])


def _compact_present(
    codes: IntArray, degree: FloatArray
) -> tuple[LocalArray, IntArray, FloatArray]:
    """Local codes 0..k-1 of the codes present, in order, without a sort.

    int32: the peel's live edge arrays are its largest, and 4 bytes a code halve them.
    """
    present = np.bincount(codes, minlength=len(degree)) > 0
    ids = np.flatnonzero(present)
    new_index = (np.cumsum(present) - 1).astype(np.int32)
    return new_index[codes], ids, degree[ids]


def _drop_lowest(
    ratio_r: FloatArray,
    ratio_c: FloatArray,
    hr: FloatArray,
    hc: FloatArray,
    on_r: BoolArray,
    on_c: BoolArray,
    share: float,
) -> tuple[BoolArray, BoolArray]:
    """The live nodes minus the `share` lowest by ratio, ties going out fewest live edges first.

    A cut by value (`ratio > quantile`) fails on ties: early on most nodes still have every
    edge live and share one ratio exactly, the quantile lands on it and the whole tied set,
    the block included, is dropped in one pass (the cl200k holes at densities 0.05-0.10).
    """
    ids = np.concatenate([np.flatnonzero(on_r), len(on_r) + np.flatnonzero(on_c)])
    ratio = np.concatenate([ratio_r[on_r], ratio_c[on_c]])
    hits = np.concatenate([hr[on_r], hc[on_c]])
    n_drop = max(1, int(share * len(ids)))
    order = np.lexsort((ids, hits, ratio))[:n_drop]
    live = np.concatenate([on_r, on_c])
    live[ids[order]] = False
    return live[: len(on_r)], live[len(on_r) :]


def _compact(
    local: LocalArray, ids: IntArray, degree: FloatArray, present: BoolArray
) -> tuple[LocalArray, IntArray, FloatArray]:
    """Drop the nodes not `present` (kept nodes left without edges linger), without a sort."""
    if 2 * int(present.sum()) > len(ids):  # not worth a pass yet
        return local, ids, degree
    new_index = (np.cumsum(present) - 1).astype(np.int32)
    return new_index[local], ids[present], degree[present]
