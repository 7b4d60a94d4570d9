"""From significant actor pairs to candidate groups: components, then peeling inside each one.

Components and k-cores are computed on edge arrays (scipy), so a farm of thousands of accounts,
whose pair graph has millions of edges, never becomes Python objects. networkx is built only to
split a sparse component into communities, and only when that component is small enough for
its ~485 bytes per edge.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import networkx as nx
import numpy as np
import scipy.sparse as sp
from scipy.sparse import csgraph

from graphs.cooccur import PairTable
from graphs.frames import IntArray

logger = logging.getLogger(__name__)

# Largest component (in pair edges) handed to networkx for community splitting (~50 MB).
_NX_MAX_EDGES = 100_000


@dataclass(frozen=True, slots=True)
class Group:
    """Actors (global codes) that act together, most central first."""

    members: IntArray
    strength: IntArray  # weighted degree inside the group (items shared with other members)
    pair_density: float  # share of member pairs that are significant pairs
    trimmed: int  # members dropped by the size cap


@dataclass(frozen=True, slots=True)
class _Edges:
    a: IntArray  # global actor codes
    b: IntArray
    w: IntArray

    def restrict(self, keep: IntArray) -> _Edges:
        """The edges with both ends in `keep` (sorted codes)."""
        on = np.isin(self.a, keep) & np.isin(self.b, keep)
        return _Edges(self.a[on], self.b[on], self.w[on])


def pair_groups(
    pairs: PairTable,
    *,
    min_members: int,
    min_degree_share: float,
    min_pair_density: float,
    max_members: int,
    seed: int = 0,
) -> list[Group]:
    """Dense groups of the significant-pair graph, largest first.

    Args:
        min_members: smaller groups are not reported.
        min_degree_share: a member must be paired with at least this share of the others
            (k-core with k = share * (n - 1)); it sheds actors chained in by one chance pair.
        min_pair_density: a group sparser than this is split into communities (Louvain),
            so two groups joined by a bridge come out as two.
        max_members: size cap; the weakest members beyond it are dropped (and counted).
    """
    sig = pairs.significant
    edges = _Edges(pairs.a[sig], pairs.b[sig], pairs.shared[sig])
    groups: list[Group] = []
    for comp in _components(edges, min_members):
        k = max(1, math.ceil(min_degree_share * (len(comp) - 1)))
        core = _k_core(edges.restrict(comp), k)
        for part in _components(core, min_members):
            sub = core.restrict(part)
            if _density(sub, len(part)) >= min_pair_density:
                groups.append(_as_group(sub, part, max_members))
            elif len(sub.a) <= _NX_MAX_EDGES:
                groups.extend(_split(sub, min_members, min_pair_density, max_members, seed))
            else:
                logger.info("sparse component of %d actors too large to split", len(part))
    groups.sort(key=lambda grp: (-len(grp.members), int(grp.members[0])))
    return groups


def _components(edges: _Edges, min_members: int) -> list[IntArray]:
    """Node sets (sorted global codes) of the connected components with enough nodes."""
    if len(edges.a) == 0:
        return []
    nodes, local = np.unique(np.concatenate([edges.a, edges.b]), return_inverse=True)
    n = len(nodes)
    la, lb = local[: len(edges.a)], local[len(edges.a) :]
    adj = sp.coo_matrix((np.ones(len(la)), (la, lb)), shape=(n, n))
    n_comp, label = csgraph.connected_components(adj, directed=False)
    sizes = np.bincount(label, minlength=n_comp)
    order = np.argsort(label, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    return [nodes[order[bounds[c] : bounds[c + 1]]] for c in np.flatnonzero(sizes >= min_members)]


def _k_core(edges: _Edges, k: int) -> _Edges:
    """Repeatedly drop nodes with fewer than k neighbours (array peeling)."""
    a, b, w = edges.a, edges.b, edges.w
    while len(a):
        nodes, local = np.unique(np.concatenate([a, b]), return_inverse=True)
        degree = np.bincount(local, minlength=len(nodes))
        weak = degree < k
        if not weak.any():
            break
        keep = ~(weak[local[: len(a)]] | weak[local[len(a) :]])
        a, b, w = a[keep], b[keep], w[keep]
    return _Edges(a, b, w)


def _density(edges: _Edges, n: int) -> float:
    return 2.0 * len(edges.a) / (n * (n - 1)) if n > 1 else 0.0


def _split(
    edges: _Edges, min_members: int, min_density: float, max_members: int, seed: int
) -> list[Group]:
    """A sparse component is usually several groups joined by bridges: split it (Louvain)."""
    g = nx.Graph()
    g.add_weighted_edges_from(
        zip(edges.a.tolist(), edges.b.tolist(), edges.w.tolist(), strict=True)
    )
    out: list[Group] = []
    for community in nx.community.louvain_communities(g, weight="weight", seed=seed):
        members = np.array(sorted(community), dtype=np.int64)
        sub = edges.restrict(members)
        if len(members) >= min_members and _density(sub, len(members)) >= min_density:
            out.append(_as_group(sub, members, max_members))
    return out


def _as_group(edges: _Edges, members: IntArray, max_members: int) -> Group:
    idx_a = np.searchsorted(members, edges.a)
    idx_b = np.searchsorted(members, edges.b)
    n = len(members)
    strength = np.bincount(idx_a, weights=edges.w, minlength=n) + np.bincount(
        idx_b, weights=edges.w, minlength=n
    )
    strength_i = strength.astype(np.int64)
    # Strongest first; ties by code so the order (and the key built from it) is reproducible.
    order = np.lexsort((members, -strength_i))
    trimmed = max(0, n - max_members)
    if trimmed:
        logger.info("group of %d actors trimmed to %d", n, max_members)
    return Group(
        members=members[order][:max_members],
        strength=strength_i[order][:max_members],
        pair_density=_density(edges, n),
        trimmed=trimmed,
    )
