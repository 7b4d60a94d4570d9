"""Internals of graphs/dense_blocks.py that the block search relies on."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from graphs.dense_blocks import _Search, _significant_parts, _walks_at, _walks_of_three
from graphs.lockstep import LockstepDetector
from graphs.peeling import Block
from graphs.synthetic_blocks import block_core, chung_lu, inject


@pytest.mark.parametrize("shape", [(300, 40), (40, 300), (1, 1)])
def test_walks_of_three_match_the_sparse_triple_product(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(3)
    dense = (rng.random(shape) < 0.3).astype(np.float32)
    dense[0, 0] = 1.0
    sub = sp.csr_matrix(dense)
    coo = sub.tocoo()
    want = np.asarray((sub @ (sub.T @ sub)).toarray()[coo.row, coo.col], dtype=np.float64)
    got = _walks_of_three(sub, coo)
    np.testing.assert_array_equal(got, want)
    # Each edge is walked over at least by going back and forth over itself.
    assert np.all(got >= 1.0)


def test_walks_at_some_entries_match_the_walks_of_all() -> None:
    rng = np.random.default_rng(4)
    sub = sp.csr_matrix((rng.random((200, 90)) < 0.1).astype(np.float32))
    coo = sub.tocoo()
    pick = np.linspace(0, coo.nnz - 1, 25).astype(np.int64)
    want = _walks_of_three(sub, coo)[pick]
    np.testing.assert_array_equal(_walks_at(sub, coo.row[pick], coo.col[pick]), want)


def test_a_partial_farm_that_refinement_shrinks_grows_into_one_that_passes() -> None:
    inj = inject(chung_lu(1, 30_000), 2, density=0.02)
    e, p = inj.edges, LockstepDetector().block_params("topology")
    search = _Search.of(e.actors, e.targets, e.n_actors, e.n_targets, p)
    rows, cols = block_core(inj, 2)
    seed = Block(np.sort(rows[:35]), np.sort(cols[:35]))  # a peel's few nodes of the farm

    def passing(block: Block) -> list[Block]:
        return [
            f.block
            for f in _significant_parts(search.matrix, search.null, block, p, search.n_tests)
        ]

    *refined, grown = search.refinements(seed, p)
    # At 0.02 a farm account has under one follow among 35 of its customers: refinement
    # keeps those with the most and the block stays too small to pass.
    assert [passing(b) for b in refined] == [[]]
    [found] = passing(grown)
    assert len(found.rows) > 150 and len(found.cols) > 150
    assert np.isin(found.rows, inj.block_actors).all()
    assert np.isin(found.cols, inj.block_targets).all()
