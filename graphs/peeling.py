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

import itertools
import logging
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from scipy.special import gammaln, xlogy

logger = logging.getLogger(__name__)

IntArray = npt.NDArray[np.int64]
LocalArray = npt.NDArray[np.int32]  # codes within a peel (fewer than 2^31 nodes)
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

_EXACT_NODES = 2_000  # below this many live nodes, peel one node at a time (dense matrix)
_BATCH_SHARE = 0.04  # share of live nodes dropped per batched pass
_BIG_EDGES = 200_000  # above this many live edges surprise peeling takes bigger steps
_MID_EDGES = 20_000  # and between the two, middling ones: most passes were spent here
_GATHER_CHUNK = 1 << 22  # edges read at once when taking nodes out (bounds the temporaries)
_MAX_FIXED_POINT_ROUNDS = 20  # of a side's choice in refinement (each drops a node or more)


@dataclass(frozen=True, slots=True)
class Block:
    """A candidate block: row and column codes (sorted) of the bipartite matrix."""

    rows: IntArray
    cols: IntArray


@dataclass(frozen=True, slots=True)
class BiAdjacency:
    """A 0/1 bipartite matrix held both ways: each row's columns and each column's rows.

    Distinct entries, int32 codes. Peeling and refinement read only the edges of the nodes
    they touch, so a k-core's long tail of one-node passes, or a refinement round around a
    block, costs those few edges, not a pass over the graph.
    """

    row_ptr: IntArray
    row_cols: LocalArray
    col_ptr: IntArray
    col_rows: LocalArray

    @classmethod
    def from_csr(cls, matrix: sp.csr_matrix) -> BiAdjacency:
        """From a canonical CSR (sorted indices, no duplicates): its transpose is built once."""
        csc = matrix.tocsc()
        return cls(
            matrix.indptr.astype(np.int64),
            matrix.indices.astype(np.int32, copy=False),
            csc.indptr.astype(np.int64),
            csc.indices.astype(np.int32, copy=False),
        )

    @property
    def n_rows(self) -> int:
        return len(self.row_ptr) - 1

    @property
    def n_cols(self) -> int:
        return len(self.col_ptr) - 1

    @property
    def nnz(self) -> int:
        return len(self.row_cols)

    def cols_of(self, rows: IntArray) -> LocalArray:
        """The columns of every edge of these rows (with repeats)."""
        return _gather(self.row_ptr, self.row_cols, rows)

    def rows_of(self, cols: IntArray) -> LocalArray:
        """The rows of every edge of these columns (with repeats)."""
        return _gather(self.col_ptr, self.col_rows, cols)


def _gather(ptr: IntArray, idx: LocalArray, nodes: IntArray) -> LocalArray:
    starts = ptr[nodes]
    lens = ptr[nodes + 1] - starts
    n = int(lens.sum())
    if n <= _GATHER_CHUNK:
        return _gather_run(idx, starts, lens)
    # In pieces of about _GATHER_CHUNK entries: the positions take 16 bytes an entry.
    cuts = np.searchsorted(np.cumsum(lens), np.arange(_GATHER_CHUNK, n, _GATHER_CHUNK))
    bounds = [0, *np.unique(cuts).tolist(), len(nodes)]
    pairs = itertools.pairwise(bounds)
    return np.concatenate([_gather_run(idx, starts[a:b], lens[a:b]) for a, b in pairs if b > a])


def _gather_run(idx: LocalArray, starts: IntArray, lens: IntArray) -> LocalArray:
    """idx[starts[i]:starts[i] + lens[i]] for every i, concatenated."""
    ends = np.cumsum(lens)
    n = int(ends[-1]) if len(ends) else 0
    if n == 0:
        return idx[:0]
    # Each entry's position: its node's start plus its rank among the node's entries.
    pos = np.repeat(starts - (ends - lens), lens)
    pos += np.arange(n)
    out: LocalArray = idx[pos]
    return out


class LiveGraph:
    """The live nodes of a BiAdjacency and their degrees in the live graph, as nodes go out.

    An edge is live while both its ends are. Degrees are counted once; a removal then reads
    the removed nodes' edges only, so taking every node out one batch at a time reads each
    edge at most twice.
    """

    def __init__(
        self, adjacency: BiAdjacency, live_r: BoolArray, live_c: BoolArray, *, recount: bool = True
    ) -> None:
        self.adjacency = adjacency
        self.live_r = live_r
        self.live_c = live_c
        self.deg_r: LocalArray = np.zeros(0, dtype=np.int32)
        self.deg_c: LocalArray = np.zeros(0, dtype=np.int32)
        self.edges = 0
        if recount:
            self._recount()

    @classmethod
    def whole(cls, adjacency: BiAdjacency) -> LiveGraph:
        return cls(
            adjacency,
            np.ones(adjacency.n_rows, dtype=bool),
            np.ones(adjacency.n_cols, dtype=bool),
        )

    def copy(self) -> LiveGraph:
        out = LiveGraph(self.adjacency, self.live_r.copy(), self.live_c.copy(), recount=False)
        out.deg_r, out.deg_c, out.edges = self.deg_r.copy(), self.deg_c.copy(), self.edges
        return out

    def _recount(self) -> None:
        a = self.adjacency
        self.deg_r = _segment_counts(a.row_ptr, self.live_c[a.row_cols])
        self.deg_r[~self.live_r] = 0
        self.deg_c = _segment_counts(a.col_ptr, self.live_r[a.col_rows])
        self.deg_c[~self.live_c] = 0
        self.edges = int(self.deg_r.sum())

    def remove(self, rows: IntArray, cols: IntArray) -> tuple[IntArray, IntArray]:
        """Take out these live nodes (distinct); returns the live nodes whose degree fell."""
        a = self.adjacency
        self.live_r[rows] = False
        nb_c = a.cols_of(rows)
        nb_c = nb_c[self.live_c[nb_c]]  # the removed rows' live edges
        lost = len(nb_c)
        self.live_c[cols] = False
        nb_c = nb_c[self.live_c[nb_c]]
        nb_r = a.rows_of(cols)
        nb_r = nb_r[self.live_r[nb_r]]  # edges to removed rows are counted above
        self.edges -= lost + len(nb_r)
        self.deg_r[rows] = 0
        self.deg_c[cols] = 0
        return _decrement(self.deg_r, nb_r), _decrement(self.deg_c, nb_c)

    def prune(
        self, min_degree: int, rows: IntArray | None = None, cols: IntArray | None = None
    ) -> None:
        """Take out live nodes of fewer than `min_degree` live edges until none is left (the
        k-core), looking at `rows` and `cols` first (every live node if None): only a node
        whose degree fell can have fallen under."""
        if rows is None or cols is None:
            rows, cols = np.flatnonzero(self.live_r), np.flatnonzero(self.live_c)
        while True:
            out_r = rows[self.deg_r[rows] < min_degree]
            out_c = cols[self.deg_c[cols] < min_degree]
            if len(out_r) == 0 and len(out_c) == 0:
                return
            rows, cols = self.remove(out_r, out_c)


def _segment_counts(ptr: IntArray, flags: BoolArray) -> LocalArray:
    """The number of set flags in each segment ptr[i]:ptr[i + 1]."""
    # int32 running sums (4 bytes an edge, not 8) while they fit.
    wide = len(flags) >= 2**31
    csum: npt.NDArray[np.signedinteger] = np.zeros(
        len(flags) + 1, dtype=np.int64 if wide else np.int32
    )
    np.cumsum(flags, out=csum[1:])
    return (csum[ptr[1:]] - csum[ptr[:-1]]).astype(np.int32)


def _decrement(degree: LocalArray, nodes: LocalArray) -> IntArray:
    """degree[v] -= 1 for each occurrence of v in nodes; returns the distinct nodes."""
    if len(nodes) * 8 > len(degree):
        counts = np.bincount(nodes, minlength=len(degree))
        degree -= counts
        return np.flatnonzero(counts)
    u, counts = np.unique(nodes, return_counts=True)
    degree[u] -= counts
    return u.astype(np.int64)


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


def stub_surprise(
    observed: float | FloatArray,
    side_degree: float | FloatArray,
    other_degree: float | FloatArray,
    total: float,
) -> FloatArray:
    """-log of a bound on P(X >= observed) when the block's edges can only use its stubs.

    Under the null that fixes every node's degree (the configuration model, of which the
    Chung-Lu mean side_degree * other_degree / total is the first moment), a block's rows
    have side_degree edge ends and its columns other_degree, and X counts the row ends
    matched to column ends. Two bounds hold there, and the tighter one is kept:
    - the factorial moment: P(X >= x) <= E[C(X, x)] = (D_r)_x (D_c)_x / (x! (m)_x);
    - Chernoff for a sum of negatively associated indicators (each row end matched into the
      columns or not, and each column end likewise): a binomial tail, with the mean of
      `surprise`, so never weaker than the Poisson one.
    The Poisson tail lets a column of three edges hold any number of block edges; a burst
    column of the timing view holds only block edges (216 of its 252 ends on the cl30k
    block at density 0.01), where the bound is 195 nats tighter than the Poisson one.
    """
    x = np.asarray(observed, dtype=np.float64)
    a = np.asarray(side_degree, dtype=np.float64)
    b = np.asarray(other_degree, dtype=np.float64)
    x = np.minimum(x, np.minimum(a, b))  # cannot exceed either side's ends
    mu = a * b / total
    moment = (
        gammaln(a + 1)
        - gammaln(a - x + 1)
        + gammaln(b + 1)
        - gammaln(b - x + 1)
        - gammaln(x + 1)
        - gammaln(total + 1)
        + gammaln(total - x + 1)
    )
    best = np.maximum(
        -moment, np.maximum(_binomial_tail(x, a, b / total), _binomial_tail(x, b, a / total))
    )
    return np.asarray(np.where(x > mu, best, 0.0), dtype=np.float64)


def block_surprise(
    observed: float, row_degree_sum: float, col_degree_sum: float, total: float, stub: bool
) -> float:
    """A block's surprise under the Chung-Lu null: the Poisson tail at its mean, or with
    `stub` the tail with every degree fixed (`stub_surprise`)."""
    if stub:
        return float(stub_surprise(observed, row_degree_sum, col_degree_sum, total))
    return float(surprise(observed, row_degree_sum * col_degree_sum / total))


def _binomial_tail(x: FloatArray, n: FloatArray, p: FloatArray) -> FloatArray:
    """n KL(x / n || p): the Chernoff exponent of Binomial(n, p) reaching x (x above n p)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.clip(x / np.maximum(n, 1e-300), 0.0, 1.0)
        pp = np.clip(p, 1e-300, 1.0 - 1e-12)
        kl = xlogy(q, q / pp) + xlogy(1.0 - q, (1.0 - q) / (1.0 - pp))
    return np.asarray(np.where(n > 0, n * kl, 0.0), dtype=np.float64)


def log_choose(n: float, k: FloatArray | float) -> FloatArray:
    """log C(n, k): the price of having picked k of n nodes (the scan statistic's penalty)."""
    k_arr = np.asarray(k, dtype=np.float64)
    return np.asarray(gammaln(n + 1) - gammaln(k_arr + 1) - gammaln(n - k_arr + 1))


def search_space(
    row_degree: FloatArray, col_degree: FloatArray, min_degree: int = 2
) -> tuple[int, int]:
    """Rows and columns of at least `min_degree` edges: the nodes a block search picks from.

    A reported block's nodes have two edges or more inside it (graphs/dense_blocks.py), so a
    node of degree one could never be picked and adds nothing to the union bound.
    """
    return (
        int(np.count_nonzero(row_degree >= min_degree)),
        int(np.count_nonzero(col_degree >= min_degree)),
    )


def _best_prefix(
    hits: FloatArray,
    expected: FloatArray,
    n_side: int,
    max_size: int,
    min_size: int,
    one_rate: bool = False,
    stub: tuple[float, float] | None = None,
) -> tuple[IntArray, float]:
    """The prefix (by own surprise, best first) with the most surprise beyond its price; if
    `one_rate`, of the nodes whose hits the block's own rate explains better than the
    background does.

    The price log C(n_side, k) is what choosing k nodes could gain by chance alone: without it
    every large set looks surprising through small, accumulated deviations.

    The block's surprise is one Poisson term over all its cells, so it takes any node whose
    hits beat their expectation by about the block's lift, however few they are. A farm's
    accounts follow each customer at the farm's rate, whatever the customer's degree: a
    target with 2 follows in all, both camouflage from a 200-account farm at density 0.10,
    has the block's lift (2 against 0.15) but a tenth of its rate (20 hits per customer).
    Priced over the nodes of degree two or more, 270 such targets paid their way into the
    block on heavy100k (200 x 470, F 1.00 -> 0.75). So a node must also be likelier with the
    block's excess rate than without it: Poisson(e + x) against Poisson(e), x the mean
    excess hits of the chosen nodes, h log(1 + x / e) > x. Dropping the nodes that fail
    raises x, so the choice is repeated to a fixed point. On a sparse farm x is small and
    the rule lets in any node of two hits or more; on a dense one it asks for about
    x / log(x / e), still well below the x a member has.

    The rule assumes one farm, at one rate. A seed of the dense search can hold several
    farms at different rates (the timing view's second block at 10M follows held four), and
    judged by their mean it dropped the 300 x 200 farm at 0.05: two more rounds, 42 s
    instead of 30. So only the sparse search (`refine(one_rate=True)`) asks for it.

    stub: (the other side's summed degree, the edge total) to score prefixes by
    `stub_surprise` instead of the Poisson tail.
    """
    # One edge into the block is no evidence of membership: a farm account's single
    # camouflage follow of a rare target would otherwise bring that target in.
    cand = np.flatnonzero(hits >= 2)
    for _ in range(_MAX_FIXED_POINT_ROUNDS if one_rate else 1):
        if len(cand) == 0:
            return cand, 0.0
        chosen, score = _prefix(hits, expected, cand, n_side, max_size, min_size, stub)
        if not one_rate:
            break
        excess = float(hits[chosen].sum() - expected[chosen].sum()) / len(chosen)
        if excess <= 0:
            break
        e = np.maximum(expected[cand], 1e-12)
        likelier = hits[cand] * np.log1p(excess / e) > excess
        if likelier.all():
            break
        cand = cand[likelier]
    return chosen, score


def _prefix(
    hits: FloatArray,
    expected: FloatArray,
    cand: IntArray,
    n_side: int,
    max_size: int,
    min_size: int,
    stub: tuple[float, float] | None = None,
) -> tuple[IntArray, float]:
    """The best-scoring prefix of `cand` ranked by own surprise (see `_best_prefix`)."""
    # By each node's own surprise, not its ratio: one edge to a rare node is a high ratio
    # and no evidence.
    own = surprise(hits[cand], expected[cand])
    order = cand[np.lexsort((cand, -hits[cand], -own))][:max_size]
    k_all = np.arange(1, len(order) + 1, dtype=np.float64)
    cum_hits, cum_expected = np.cumsum(hits[order]), np.cumsum(expected[order])
    # Per prefix, as `block_surprise` per block, but from summed expectations (arrays).
    if stub is None:
        s = surprise(cum_hits, cum_expected)
    else:
        other, total = stub
        # expected = degree * other / total, so the prefix's summed degree is recovered.
        s = stub_surprise(cum_hits, cum_expected * total / max(other, 1e-12), other, total)
    s = s - log_choose(n_side, k_all)
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
    adjacency: BiAdjacency | None = None,
    space: tuple[int, int] | None = None,
    one_rate: bool = False,
    stub: bool = False,
) -> tuple[Block, float]:
    """Alternating surprise maximization from a seed block (CrossSpot-style local search).

    Args:
        matrix: rows x cols counts (the evidence the surprise is measured on).
        row_degree, col_degree, total: the degrees and edge total of the background that
            sets the Chung-Lu expectation d_r * d_c / total.
        adjacency: the same matrix as a BiAdjacency if it is 0/1: a round then reads the
            block's edges only, not the whole matrix (and no transpose is built).
        space: (rows, cols) the search picks from, as the significance test prices it
            (`search_space`); every node of nonzero degree if None.
        one_rate: a node joins only if the block's excess rate explains its hits better than
            the background (`_best_prefix`): for seeds that hold one farm.
        stub: score blocks by `stub_surprise` (degrees fixed) instead of the Poisson tail.
    """
    rows, cols = seed.rows, seed.cols
    csc = matrix.tocsc() if adjacency is None else None
    n_rows, n_cols = space if space is not None else search_space(row_degree, col_degree, 1)
    # No floor at the seed: a loose seed (a PMI peel's few hundred nodes around the block)
    # scores below zero before its first round and must still be allowed to tighten.
    best = (Block(rows, cols), -np.inf)
    for _ in range(rounds):
        hits_r = _hits(matrix, adjacency, cols, rows_side=True)
        d_cols = float(col_degree[cols].sum())
        exp_r = row_degree * (d_cols / total)
        stub_r = (d_cols, total) if stub else None
        rows, _ = _best_prefix(hits_r, exp_r, n_rows, max_rows, min_size, one_rate, stub_r)
        hits_c = _hits(csc, adjacency, rows, rows_side=False)
        d_rows = float(row_degree[rows].sum())
        exp_c = col_degree * (d_rows / total)
        stub_c = (d_rows, total) if stub else None
        cols, score = _best_prefix(hits_c, exp_c, n_cols, max_cols, min_size, one_rate, stub_c)
        score -= float(log_choose(n_rows, float(len(rows))))
        if score <= best[1] + 1e-9 or len(rows) == 0:
            break
        best = (Block(rows, cols), score)
    return best


def farm_members(
    adjacency: BiAdjacency,
    row_degree: FloatArray,
    col_degree: FloatArray,
    total: float,
    block: Block,
    *,
    space: tuple[int, int],
    max_rows: int,
    max_cols: int,
) -> Block:
    """The nodes a farm at this block's rate explains better than the rest of the graph does.

    Refinement chooses nodes by the test's measure: a Chung-Lu expectation from the full
    degrees, d * D(other side) / total. Once a block has passed the test, that overstates what
    a node outside the farm would show: most of a customer's degree is the farm's own follows,
    and a non-member does not make those. Camouflage makes it worse, since it doubles a farm
    account's degree. A farm account with 2 customers among 4 follows (cl30k, random
    camouflage, 0.03) was expected 0.16 hits into the block and was left out, as were 22
    others: 175 x 179 of a 2-core of 198 x 198, F 0.94 against a ceiling of 0.99.

    Here a node is tested against the rest of the graph: its hits into the other side come at
    e = d * (edges of the other side not from this block) / (edges not on this side of the
    block) if it is not a member, and at e + x if it is, x the members' mean excess
    (`_best_prefix`'s one-rate rule). It joins when that likelihood ratio pays for its
    prior, log((N - k) / k) for k block nodes of a search space of N on its side (the price
    log C(N, k) charges per node). The same rule drops targets that took two or three of the
    farm's camouflage follows (heavy100k, random, 0.05: 82 of them) in a block the test
    passed: two hits where the rest of the graph gives 0.035, at a farm rate of 7 to 10 hits
    per customer (the mean excess, before and after they go), do not pay it.
    Sides in turn, to a fixed point; the block is kept where the rule would leave too little.
    """
    rows, cols = block.rows, block.cols
    n_rows, n_cols = space
    for _ in range(_MAX_FIXED_POINT_ROUNDS):
        hits_r = _hits(None, adjacency, cols, rows_side=True)
        new_rows = _members_of_side(
            hits_r, row_degree, rows, float(col_degree[cols].sum()), total, n_rows, max_rows
        )
        if len(new_rows) < 2:
            return block
        hits_c = _hits(None, adjacency, new_rows, rows_side=False)
        new_cols = _members_of_side(
            hits_c, col_degree, cols, float(row_degree[new_rows].sum()), total, n_cols, max_cols
        )
        if len(new_cols) < 2:
            return block
        same = np.array_equal(new_rows, rows) and np.array_equal(new_cols, cols)
        rows, cols = new_rows, new_cols
        if same:
            break
    return Block(rows, cols)


def _members_of_side(
    hits: FloatArray,
    degree: FloatArray,
    chosen: IntArray,
    other_degree: float,
    total: float,
    n_side: int,
    max_size: int,
) -> IntArray:
    """One side's choice of `farm_members`, given the other side (whose degrees sum to
    `other_degree`) and this side's current `chosen` nodes."""
    inside = float(hits[chosen].sum())  # the block's own edges
    outside_rate = max(other_degree - inside, 0.0) / max(total - float(degree[chosen].sum()), 1.0)
    e = np.maximum(degree * outside_rate, 1e-12)
    excess = (inside - float(e[chosen].sum())) / len(chosen)
    k = len(chosen)
    if excess <= 0 or k >= n_side:
        return chosen
    llr = hits * np.log1p(excess / e) - excess
    # As refinement, a single edge into the block is no evidence of membership.
    cand = np.flatnonzero((hits >= 2) & (llr > math.log((n_side - k) / k)))
    return np.sort(cand[np.argsort(-llr[cand], kind="stable")[:max_size]])


def _hits(
    matrix: sp.csr_matrix | sp.csc_matrix | None,
    adjacency: BiAdjacency | None,
    nodes: IntArray,
    *,
    rows_side: bool,
) -> FloatArray:
    """Each row's edges into the columns `nodes` (rows_side), or each column's into the rows."""
    if adjacency is not None:
        if rows_side:
            return np.bincount(adjacency.rows_of(nodes), minlength=adjacency.n_rows).astype(
                np.float64
            )
        return np.bincount(adjacency.cols_of(nodes), minlength=adjacency.n_cols).astype(np.float64)
    assert matrix is not None
    if rows_side:
        pick = np.zeros(matrix.shape[1])
        pick[nodes] = 1.0
        return np.asarray(matrix @ pick).ravel()
    pick = np.zeros(matrix.shape[0])
    pick[nodes] = 1.0
    return np.asarray(matrix.T @ pick).ravel()


def surprise_peel(
    adjacency: BiAdjacency,
    row_degree: FloatArray,
    col_degree: FloatArray,
    total: float,
    *,
    start: LiveGraph | None = None,
    min_degree: int = 2,
    space: tuple[int, int] | None = None,
    max_rows: int | None = None,
    max_cols: int | None = None,
    batch_share: float = 0.05,
    mid_batch_share: float = 0.10,
    big_batch_share: float = 0.25,
    stub: bool = False,
) -> list[Block]:
    """Peel the nodes least over their Chung-Lu share, keeping the set of most net surprise.

    A node's share is its edges into the live set over d * D_other / total, what its degree
    predicts. Average-degree peeling (FRAUDAR) ends in the celebrity core whatever the weights;
    this ends in the set that beats its own degrees the most, priced by log C(n, k) per side.
    Nodes with fewer than `min_degree` live edges go first (a k-core), which also breaks the
    tie of the full graph, where every node is exactly at its share.

    start: the live graph to peel (left as it is); the whole adjacency if None.
    space: (rows, cols) the search picks from, which sets the price log C(n, k) per side;
        the nodes of at least `min_degree` edges if None, as the significance test prices a
        block (a price over every node with an edge made a sparse farm look a net loss
        that the test would have passed: 1603 against 1823 nats on cl30k at density 0.02).
    max_rows, max_cols: if given, the best set within these caps is returned too (second)
        where it differs from the best. Priced over that space, a 2-core costs little more
        than nothing and beats its degrees as a whole (its nodes are chosen by their edges
        among themselves), so the peel kept the whole core of heavy100k (15276 x 4262) and
        refinement could not tighten it to the farm. The best set alone is still a seed: at
        10M follows one past the caps held several farms and refinement found each in turn,
        where the best within the caps had lost one (1000 x 100).
    stub: score sets by `stub_surprise` (degrees fixed) instead of the Poisson tail.

    Returns the best set, then the best within the caps if different (possibly empty).
    """
    if min_degree < 1:
        raise ValueError(f"min_degree must be at least 1, got {min_degree}")
    n_r, n_c = space if space is not None else search_space(row_degree, col_degree, min_degree)
    n_r_all, n_c_all = float(n_r), float(n_c)
    g = start.copy() if start is not None else LiveGraph.whole(adjacency)
    g.prune(min_degree)
    # Live node lists, filtered as they shrink, so a pass costs the live nodes only.
    rows = np.flatnonzero(g.live_r)
    cols = np.flatnonzero(g.live_c)
    best_score = capped_score = -np.inf
    best = capped = (rows[:0], cols[:0])
    cap_r = len(rows) if max_rows is None else max_rows
    cap_c = len(cols) if max_cols is None else max_cols
    while g.edges:
        rows = rows[g.live_r[rows]]
        cols = cols[g.live_c[cols]]
        rd, cd = row_degree[rows], col_degree[cols]
        dr, dc = float(rd.sum()), float(cd.sum())
        score = float(
            block_surprise(float(g.edges), dr, dc, total, stub)
            - log_choose(n_r_all, float(len(rows)))
            - log_choose(n_c_all, float(len(cols)))
        )
        if score > best_score:
            best_score, best = score, (rows.copy(), cols.copy())
        fits = len(rows) <= cap_r and len(cols) <= cap_c
        if fits and score > capped_score:
            capped_score, capped = score, (rows.copy(), cols.copy())
        hr = g.deg_r[rows].astype(np.float64)
        hc = g.deg_c[cols].astype(np.float64)
        ratio_r = hr / np.maximum(rd * dc / total, 1e-12)
        ratio_c = hc / np.maximum(cd * dr / total, 1e-12)
        # Large graphs shed faster: the fine steps only matter near the block.
        share = (
            big_batch_share
            if g.edges > _BIG_EDGES
            else mid_batch_share
            if g.edges > _MID_EDGES
            else batch_share
        )
        n_live = len(rows) + len(cols)
        drop = _lowest(
            np.concatenate([ratio_r, ratio_c]),
            np.concatenate([hr, hc]),
            max(1, int(share * n_live)),
        )
        is_row = drop < len(rows)
        fell_r, fell_c = g.remove(rows[drop[is_row]], cols[drop[~is_row] - len(rows)])
        g.prune(min_degree, fell_r, fell_c)
    out = [Block(best[0], best[1])]
    if capped_score < best_score:
        out.append(Block(capped[0], capped[1]))
    return out


def _lowest(ratio: FloatArray, hits: FloatArray, n_drop: int) -> IntArray:
    """Positions of the `n_drop` lowest by ratio, ties going out fewest live edges first, then
    by position (rows before columns, each by code).

    A cut by value (`ratio > quantile`) fails on ties: early on most nodes still have every
    edge live and share one ratio exactly, the quantile lands on it and the whole tied set,
    the block included, is dropped in one pass (the cl200k holes at densities 0.05-0.10).
    A partition finds the cut, and only the ratio it lands on is sorted (a full lexsort of
    every live node was a tenth of the 10M-edge run).
    """
    if n_drop >= len(ratio):
        return np.arange(len(ratio))
    cut = np.partition(ratio, n_drop - 1)[n_drop - 1]
    below = np.flatnonzero(ratio < cut)
    tied = np.flatnonzero(ratio == cut)
    tied = tied[np.lexsort((tied, hits[tied]))[: n_drop - len(below)]]
    return np.concatenate([below, tied])
