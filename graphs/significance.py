"""Is a dense block more than the background's degrees explain? A scan-statistic test.

Under the Chung-Lu background, the edges inside a block of rows R and columns C are close to
Poisson with mean mu = D(R) * D(C) / m (D: summed degrees, m: all edges); a caps-free mean
over-states the hubs' cells, which only makes the test stricter on a celebrity core. The block
was chosen by a search, though, so its Poisson tail alone would flag noise: a search over
blocks of |R| x |C| nodes can find, by chance, a surprise of up to about
log C(N_R, |R|) + log C(N_C, |C|) (a union bound over every block of that size). A block is
significant when its surprise beats that price plus log(n_tests / alpha).

With `stub`, the surprise is the tail with every node's degree fixed (peeling.stub_surprise):
the same null, without the Poisson tail's licence for a column of three edges to hold more
than three block edges (the timing view's burst columns hold little but the farm's).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from graphs.peeling import Block, FloatArray, block_surprise, log_choose


@dataclass(frozen=True, slots=True)
class BlockStats:
    """A block against its Chung-Lu expectation."""

    observed: float  # edges inside the block
    expected: float  # D(R) * D(C) / m
    surprise: float  # Poisson log-likelihood ratio of observed against expected
    price: float  # log C(N_R, |R|) + log C(N_C, |C|): what a scan gains by chance alone
    n_rows: int
    n_cols: int

    @property
    def density(self) -> float:
        return self.observed / max(self.n_rows * self.n_cols, 1)

    @property
    def expected_density(self) -> float:
        return self.expected / max(self.n_rows * self.n_cols, 1)

    @property
    def margin(self) -> float:
        """Surprise left after paying the price of the search (nats)."""
        return self.surprise - self.price


def search_price(
    row_degree: FloatArray, col_degree: FloatArray, n_block_rows: int, n_block_cols: int
) -> float:
    """log C(N_rows, |R|) + log C(N_cols, |C|): the union bound over every block of that size.

    A tighter count (connected blocks only, ~(e * branching)^k) let chains of organic
    follows through on clean backgrounds, so the plain union bound stays.
    """
    n_rows = float(np.count_nonzero(row_degree))
    n_cols = float(np.count_nonzero(col_degree))
    return float(log_choose(n_rows, n_block_rows) + log_choose(n_cols, n_block_cols))


def block_stats(
    matrix: sp.csr_matrix,
    row_degree: FloatArray,
    col_degree: FloatArray,
    total: float,
    block: Block,
    search_space: tuple[int, int] | None = None,
    stub: bool = False,
) -> BlockStats:
    """Observed and expected edges of `block` in `matrix`, and the search price.

    search_space: (rows, cols) the search could have picked from, if fewer than every node
        of nonzero degree. The search only reports blocks whose nodes have two edges or more
        inside the block, so only nodes of degree two or more could be picked.
    stub: the surprise is `stub_surprise` (every node's degree fixed, so a block's edges
        can only use its nodes' edge ends) instead of the Poisson tail: valid under the same
        degree-conditioned null, and tighter where the block holds most of its nodes' edges.
    """
    observed = float(matrix[block.rows][:, block.cols].sum())
    d_rows, d_cols = float(row_degree[block.rows].sum()), float(col_degree[block.cols].sum())
    expected = d_rows * d_cols / total
    tail = block_surprise(observed, d_rows, d_cols, total, stub)
    if search_space is None:
        price = search_price(row_degree, col_degree, len(block.rows), len(block.cols))
    else:
        price = float(
            log_choose(float(search_space[0]), float(len(block.rows)))
            + log_choose(float(search_space[1]), float(len(block.cols)))
        )
    return BlockStats(
        observed,
        expected,
        float(tail),
        price,
        len(block.rows),
        len(block.cols),
    )


def is_significant(stats: BlockStats, *, alpha: float, n_tests: int) -> bool:
    """Surprise beyond the search price by at least log(n_tests / alpha)."""
    return stats.margin >= math.log(max(n_tests, 1) / alpha)
