"""Internals of graphs/dense_blocks.py that the block search relies on."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from graphs.dense_blocks import _walks_at, _walks_of_three


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
