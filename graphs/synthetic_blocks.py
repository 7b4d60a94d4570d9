"""Seeded bipartite follow graphs with an injected fraud block: the FRAUDAR / HoloScope protocol.

Backgrounds are Chung-Lu graphs (edge (a, t) with probability ~ w_a * w_t / W) over 20k actors
and 20k targets, or a heavy-headed variant whose steepest degrees form a natural celebrity core
(the case that fools average-degree peeling). The block is `block_actors` x `block_targets`
with each edge present with probability `density`, plus camouflage, optional lockstep timing
(each target's fraud follows fall in one window of 1 min to 6 h) and a burst-then-drop variant
in which 30-70% of the fraud follows are undone within days. Everything is seeded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from detectors.findings import EventFrame

T0 = 1_704_067_200  # 2024-01-01T00:00:00Z
DAY = 86_400
SPAN = 28 * DAY  # background follows spread over four weeks
CAMOUFLAGES = ("none", "random", "biased", "hijacked")
TIMINGS = ("none", "window", "burst_drop")

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Edges:
    """A follow graph as integer codes; actors and targets are separate code spaces."""

    actors: IntArray
    targets: IntArray
    times: IntArray
    n_actors: int
    n_targets: int
    unfollow_rows: IntArray  # rows of the edges later undone
    unfollow_times: IntArray


@dataclass(frozen=True, slots=True)
class Injected:
    edges: Edges
    true_actors: set[str]  # actors with at least one block edge
    true_targets: set[str]  # targets with at least one block edge
    block_actors: IntArray  # the block's own edges (actor and target codes), as injected
    block_targets: IntArray


def _weights(rng: np.random.Generator, n: int, exponent: float) -> npt.NDArray[np.float64]:
    """Power-law expected degrees (Pareto tail with the given exponent), in random order."""
    w: npt.NDArray[np.float64] = (1.0 - rng.random(n)) ** (-1.0 / (exponent - 1.0))
    return np.asarray(w / w.sum(), dtype=np.float64)


def chung_lu(
    seed: int,
    n_edges: int,
    *,
    n_actors: int = 20_000,
    n_targets: int = 20_000,
    heavy: bool = False,
) -> Edges:
    """A Chung-Lu bipartite background with follows spread over four weeks.

    heavy=True draws target weights from a steeper tail (exponent 1.8 instead of 2.5) and
    adds a core: the 30 most popular targets are followed by the 300 most active actors at
    their Chung-Lu rate, which saturates near 1, so the core is dense but explained by degrees.
    """
    rng = np.random.default_rng(seed)
    wa = _weights(rng, n_actors, 2.2 if heavy else 2.5)
    wt = _weights(rng, n_targets, 1.8 if heavy else 2.5)
    # Oversample, then drop repeats, so close to n_edges distinct pairs remain.
    key = np.zeros(0, dtype=np.int64)
    draw = int(n_edges * 1.15) + 1000
    while len(key) < n_edges:
        a = rng.choice(n_actors, size=draw, p=wa)
        t = rng.choice(n_targets, size=draw, p=wt)
        key = np.unique(np.concatenate([key, a.astype(np.int64) * n_targets + t]))
    key = rng.permutation(key)[:n_edges]
    a, t = key // n_targets, key % n_targets
    times = T0 + rng.integers(0, SPAN, len(a))
    empty = np.zeros(0, dtype=np.int64)
    return Edges(a, t, times, n_actors, n_targets, empty, empty)


def inject(
    bg: Edges,
    seed: int,
    *,
    density: float,
    camouflage: str = "none",
    timing: str = "none",
    block_actors: int = 200,
    block_targets: int = 200,
) -> Injected:
    """The background plus one fraud block (new actors, or hijacked existing ones)."""
    if camouflage not in CAMOUFLAGES or timing not in TIMINGS:
        raise ValueError(f"unknown camouflage {camouflage!r} or timing {timing!r}")
    rng = np.random.default_rng(seed)
    n_actors = bg.n_actors
    if camouflage == "hijacked":
        active = np.unique(bg.actors)
        fraud = rng.choice(active, size=block_actors, replace=False)
    else:
        fraud = np.arange(n_actors, n_actors + block_actors)
        n_actors += block_actors
    customers = rng.choice(bg.n_targets, size=block_targets, replace=False)
    hit = rng.random((block_actors, block_targets)) < density
    ia, it = np.nonzero(hit)
    fa, ft = fraud[ia], customers[it]
    if timing == "none":
        f_time = T0 + rng.integers(0, SPAN, len(fa))
    else:
        centre = T0 + rng.integers(DAY, SPAN - DAY, block_targets)
        width = np.exp(rng.uniform(np.log(60), np.log(6 * 3600), block_targets))
        f_time = (centre[it] + (rng.random(len(fa)) - 0.5) * width[it]).astype(np.int64)
    # Keep block edges the background already had once (a repeat follow adds nothing).
    bg_key = bg.actors * bg.n_targets + bg.targets
    new = ~np.isin(fa * bg.n_targets + ft, bg_key)
    fa, ft, f_time = fa[new], ft[new], f_time[new]

    cam_a = np.zeros(0, dtype=np.int64)
    cam_t = np.zeros(0, dtype=np.int64)
    if camouflage in ("random", "biased"):
        # As many camouflage follows per actor as block follows (FRAUDAR's setting).
        per = np.bincount(np.searchsorted(np.sort(fraud), fa), minlength=block_actors)
        cam_a = np.repeat(np.sort(fraud), per)
        if camouflage == "random":
            cam_t = rng.integers(0, bg.n_targets, len(cam_a))
        else:
            deg = np.bincount(bg.targets, minlength=bg.n_targets).astype(np.float64) + 1.0
            cam_t = rng.choice(bg.n_targets, size=len(cam_a), p=deg / deg.sum())
    cam_time = T0 + rng.integers(0, SPAN, len(cam_a))

    actors = np.concatenate([bg.actors, fa, cam_a])
    targets = np.concatenate([bg.targets, ft, cam_t])
    times = np.concatenate([bg.times, f_time, cam_time])
    un_rows = np.zeros(0, dtype=np.int64)
    un_times = np.zeros(0, dtype=np.int64)
    if timing == "burst_drop":
        share = rng.uniform(0.3, 0.7)
        drop = np.flatnonzero(rng.random(len(fa)) < share)
        un_rows = len(bg.actors) + drop
        un_times = f_time[drop] + rng.integers(3600, 5 * DAY, len(drop))
    edges = Edges(actors, targets, times, n_actors, bg.n_targets, un_rows, un_times)
    return Injected(
        edges,
        {actor_name(a) for a in np.unique(fa)},
        {target_name(t) for t in np.unique(ft)},
        fa,
        ft,
    )


def identifiable(inj: Injected, *, timing: bool) -> tuple[set[str], set[str]]:
    """The block nodes a detector could tell from the background: the F ceiling's numerator.

    Topology: the 2-core of the block's own edges (nodes with two block edges or more, to a
    fixed point). A node with a single block edge looks like any background node of that
    degree; so does a node whose block edges all lead to such nodes (nothing else in the
    block vouches for them).
    Timing grows the core, to a fixed point, by what a burst gives away: every actor with a
    block follow of a kept target (that follow sits in the target's delivery burst, a
    window of at most 6 h against a background spread over four weeks), and every target
    with two block follows or more, one of them from a kept actor (the kept actor's follow
    has company in time). Not a target reached by one block actor only: its one follow's
    time is independent of every other block follow.
    The ceiling is the F of a detector that reports exactly these nodes (precision 1); it
    ignores whether the block as a whole can be told from noise (at density 0.005 it cannot).
    """
    actors, targets = block_core(inj, 2)
    if timing:
        ba, bt = inj.block_actors, inj.block_targets
        codes, per_target = np.unique(bt, return_counts=True)
        crowded = codes[per_target >= 2]
        while True:
            grown_a = np.union1d(actors, ba[np.isin(bt, targets)])
            from_kept = bt[np.isin(ba, grown_a) & np.isin(bt, crowded)]
            grown_t = np.union1d(targets, from_kept)
            if len(grown_a) == len(actors) and len(grown_t) == len(targets):
                break
            actors, targets = grown_a, grown_t
    return {actor_name(x) for x in actors}, {target_name(x) for x in targets}


def block_core(inj: Injected, k: int) -> tuple[IntArray, IntArray]:
    """The actors and targets (codes) of the k-core of the block's own edges: nodes with k
    block edges or more among the kept ones, to a fixed point."""
    a, t = inj.block_actors, inj.block_targets
    while len(a):
        _, ia, ca = np.unique(a, return_inverse=True, return_counts=True)
        _, it, ct = np.unique(t, return_inverse=True, return_counts=True)
        keep = (ca[ia] >= k) & (ct[it] >= k)
        if keep.all():
            break
        a, t = a[keep], t[keep]
    return np.unique(a), np.unique(t)


def actor_name(code: int | np.integer) -> str:
    return f"u{int(code)}"


def target_name(code: int | np.integer) -> str:
    return f"acct{int(code)}"


def to_event_frame(edges: Edges) -> EventFrame:
    """Follows (and unfollows) as the EventFrame the service hands to graph detectors."""
    a = np.concatenate([edges.actors, edges.actors[edges.unfollow_rows]])
    t = np.concatenate([edges.targets, edges.targets[edges.unfollow_rows]])
    times = np.concatenate([edges.times, edges.unfollow_times]).astype(np.int64)
    n_follow = len(edges.actors)
    types = np.full(len(a), "follow", dtype="<U8")
    types[n_follow:] = "unfollow"
    order = np.argsort(times, kind="stable")
    n = len(a)
    return EventFrame(
        actor_ids=np.char.add("u", a.astype(str))[order],
        account_ids=np.char.add("acct", t.astype(str))[order],
        types=types[order],
        times=times[order],
        content_ids=np.full(n, "", dtype="<U1"),
        sources=np.full(n, "profile", dtype="<U7"),
        consented=np.ones(n, dtype=bool),
        client_ids=np.full(n, "", dtype="<U1"),
    )


def f1_nodes(
    found_actors: set[str], found_targets: set[str], true_actors: set[str], true_targets: set[str]
) -> float:
    """F1 over actors and targets together (the FRAUDAR protocol's measure)."""
    found = {("a", x) for x in found_actors} | {("t", x) for x in found_targets}
    truth = {("a", x) for x in true_actors} | {("t", x) for x in true_targets}
    tp = len(found & truth)
    if tp == 0:
        return 0.0
    precision, recall = tp / len(found), tp / len(truth)
    return 2 * precision * recall / (precision + recall)
