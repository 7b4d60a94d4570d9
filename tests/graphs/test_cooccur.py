"""The co-action counting core against brute force, and the group peeling on known graphs."""

from __future__ import annotations

import itertools

import numpy as np

from graphs.cooccur import PairTable, co_action_pairs
from graphs.frames import first_per_pair
from graphs.groups import pair_groups

ONE_EPISODE = {"episode_seconds": 3600, "min_episodes": 1}


def test_pair_counts_bracketed_by_brute_force() -> None:
    rng = np.random.default_rng(5)
    n, window = 2_000, 60
    actors = rng.integers(0, 40, n)
    items = rng.integers(0, 25, n)
    times = rng.integers(0, 4 * 3600, n)
    table = co_action_pairs(
        actors,
        items,
        times,
        window_seconds=window,
        min_shared=1,
        max_cell_actors=10_000,
        alpha=1.0,
        **ONE_EPISODE,
    )
    got = {(int(a), int(b)): int(s) for a, b, s in zip(table.a, table.b, table.shared, strict=True)}

    a, i, t = first_per_pair(actors, items, times)
    first = {(int(x), int(y)): int(z) for x, y, z in zip(a, i, t, strict=True)}
    by_actor: dict[int, dict[int, int]] = {}
    for (x, y), z in first.items():
        by_actor.setdefault(x, {})[y] = z
    checked = 0
    for p, q in itertools.combinations(sorted(by_actor), 2):
        common = by_actor[p].keys() & by_actor[q].keys()
        gaps = [abs(by_actor[p][k] - by_actor[q][k]) for k in common]
        surely = sum(g < window for g in gaps)  # always in a shared cell
        maybe = sum(g < 2 * window for g in gaps)  # can share a cell
        count = got.get((p, q), 0)
        assert surely <= count <= maybe, (p, q)
        checked += surely > 0
    assert checked > 100

    # A crowd cap only ever removes co-actions; it never turns the union formula negative.
    capped = co_action_pairs(
        actors,
        items,
        times,
        window_seconds=window,
        min_shared=1,
        max_cell_actors=3,
        alpha=1.0,
        **ONE_EPISODE,
    )
    assert len(capped.a) < len(table.a)
    for p, q, n_shared in zip(capped.a, capped.b, capped.shared, strict=True):
        assert 1 <= n_shared <= got[(int(p), int(q))]


def test_crowd_cells_are_skipped() -> None:
    actors = np.arange(50, dtype=np.int64).repeat(3)
    items = np.tile(np.array([0, 1, 2], dtype=np.int64), 50)
    times = np.tile(np.array([0, 1000, 2000], dtype=np.int64), 50) + np.arange(150) % 7
    table = co_action_pairs(
        actors,
        items,
        times,
        window_seconds=30,
        min_shared=2,
        max_cell_actors=10,
        alpha=0.01,
        **ONE_EPISODE,
    )
    assert len(table.a) == 0 and table.skipped_cells > 0
    roomy = co_action_pairs(
        actors,
        items,
        times,
        window_seconds=30,
        min_shared=2,
        max_cell_actors=100,
        alpha=0.01,
        **ONE_EPISODE,
    )
    assert len(roomy.a) == 50 * 49 // 2 and bool(roomy.shared.min() == 3)


def _table(edges: list[tuple[int, int]]) -> PairTable:
    a = np.array([min(e) for e in edges], dtype=np.int64)
    b = np.array([max(e) for e in edges], dtype=np.int64)
    shared = np.full(len(edges), 5, dtype=np.int64)
    f = np.zeros(len(edges))
    return PairTable(a, b, shared, shared, f + 1e-3, f, np.ones(len(edges), bool), 100, 0)


def test_bridged_cliques_come_out_as_two_groups() -> None:
    left = list(itertools.combinations(range(10), 2))
    right = list(itertools.combinations(range(20, 32), 2))
    groups = pair_groups(
        _table([*left, *right, (9, 20)]),
        min_members=5,
        min_degree_share=0.2,
        min_pair_density=0.6,
        max_members=1000,
    )
    assert sorted(sorted(g.members.tolist()) for g in groups) == [
        list(range(10)),
        list(range(20, 32)),
    ]


def test_chained_strays_are_peeled_and_size_capped() -> None:
    clique = list(itertools.combinations(range(30), 2))
    strays = [(0, 100), (100, 101), (101, 102)]  # a chance chain hanging off one member
    (group,) = pair_groups(
        _table(clique + strays),
        min_members=5,
        min_degree_share=0.2,
        min_pair_density=0.3,
        max_members=20,
    )
    assert set(group.members.tolist()) < set(range(30))
    assert len(group.members) == 20 and group.trimmed == 10
    assert group.members[0] == 0  # equal strength after peeling: ties go to the lowest code


def test_one_session_is_one_episode() -> None:
    # Two actors follow the same 5 accounts: once in one session, once spread over 5 hours.
    items = np.arange(5, dtype=np.int64)
    session = np.array([100, 102, 104, 106, 108], dtype=np.int64)
    spread = session + np.arange(5) * 3 * 3600
    for times, episodes in ((session, 1), (spread, 5)):
        table = co_action_pairs(
            np.repeat(np.array([0, 1], dtype=np.int64), 5),
            np.tile(items, 2),
            np.tile(times, 2),
            window_seconds=60,
            min_shared=5,
            episode_seconds=3600,
            min_episodes=1,
            max_cell_actors=100,
            alpha=1.0,
        )
        assert table.shared.tolist() == [5] and table.episodes.tolist() == [episodes]
