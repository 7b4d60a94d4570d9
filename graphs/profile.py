"""What a candidate group did: the items it hit together, how dense, against what background.

Shared by every detector that finds groups from co-actions (lockstep follows, coordinated
shares): they differ in what an "item" is (a followed account, a shared content) and in words.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from graphs.frames import IntArray, first_per_pair


@dataclass(frozen=True, slots=True)
class Entries:
    """Distinct (actor, item) actions with their first time: the bipartite graph, as arrays."""

    actors: IntArray
    items: IntArray
    times: IntArray
    actor_degree: IntArray  # distinct items per actor
    item_degree: IntArray  # distinct actors per item

    @staticmethod
    def build(
        actors: IntArray, items: IntArray, times: IntArray, n_actors: int, n_items: int
    ) -> Entries:
        a, i, t = first_per_pair(actors, items, times)
        return Entries(
            actors=a,
            items=i,
            times=t,
            actor_degree=np.bincount(a, minlength=n_actors),
            item_degree=np.bincount(i, minlength=n_items),
        )


@dataclass(frozen=True, slots=True)
class GroupProfile:
    """The group's joint footprint; `items` are the ones it hit together, strongest first."""

    items: IntArray
    item_burst: IntArray  # most members on the item inside one 2W cell
    item_members: IntArray  # members who acted on the item at all
    item_actors: IntArray  # everyone who acted on the item in the window
    density: float  # member x group-item edges present / possible
    expected_density: float  # the same under Chung-Lu (degrees of the whole window)
    camouflage_share: float  # share of the members' actions on items outside the group's set
    start: int
    end: int
    median_spread_seconds: float  # per group item: 10th-90th percentile span of member actions
    anchor: int  # earliest strongly hit item: stable while the group grows, used for keys
    example_actors: IntArray
    example_items: IntArray
    example_times: IntArray


def profile_group(
    entries: Entries,
    members: IntArray,
    *,
    window_seconds: int,
    min_item_members: int,
    min_item_share: float,
) -> GroupProfile | None:
    """The items the group acted on together within the window, or None if too few."""
    is_member = np.zeros(len(entries.actor_degree), dtype=bool)
    is_member[members] = True
    on = is_member[entries.actors]
    ma, mi, mt = entries.actors[on], entries.items[on], entries.times[on]
    n_items = len(entries.item_degree)
    if len(ma) == 0:
        return None

    burst = np.zeros(n_items, dtype=np.int64)
    t_rel = mt - mt.min()
    for offset in (0, window_seconds):
        slot = (t_rel + offset) // (2 * window_seconds)
        n_slots = int(slot.max()) + 1
        keys, counts = np.unique(mi * n_slots + slot, return_counts=True)
        np.maximum.at(burst, keys // n_slots, counts)
    item_members = np.bincount(mi, minlength=n_items)

    # Relative to the most-hit item, not to the group size: farms often send a different
    # subset of their accounts to each customer.
    need = max(min_item_members, math.ceil(min_item_share * int(burst.max())))
    chosen = np.flatnonzero(burst >= need)
    if len(chosen) == 0:
        return None
    chosen = chosen[np.lexsort((chosen, -item_members[chosen], -burst[chosen]))]
    in_set = np.zeros(n_items, dtype=bool)
    in_set[chosen] = True
    hit = in_set[mi]

    n_entries = len(entries.actors)
    present = int(hit.sum())
    possible = len(members) * len(chosen)
    d_a = entries.actor_degree[members].astype(np.float64)
    d_i = entries.item_degree[chosen].astype(np.float64)
    expected = 0.0
    for lo in range(0, len(d_a), 1000):  # chunks keep a 5000 x 10000 outer product out of memory
        expected += float(np.minimum(1.0, np.outer(d_a[lo : lo + 1000], d_i) / n_entries).sum())

    spreads = []
    for item in chosen[:200]:
        ts = mt[mi == item]
        spreads.append(float(np.percentile(ts, 90) - np.percentile(ts, 10)))

    # The first item the group hit hard keeps its place when later runs see more members and
    # more targets; "most hit" does not, as a farm serves its customers near equally.
    first_time = np.full(n_items, np.iinfo(np.int64).max)
    np.minimum.at(first_time, mi, mt)
    strong = chosen[burst[chosen] * 2 >= burst[chosen[0]]]
    anchor = int(strong[np.lexsort((strong, first_time[strong]))][0])

    top = chosen[0]
    ex = np.flatnonzero(mi == top)
    ex = ex[np.argsort(mt[ex], kind="stable")]
    return GroupProfile(
        items=chosen,
        item_burst=burst[chosen],
        item_members=item_members[chosen],
        item_actors=entries.item_degree[chosen],
        density=present / possible,
        expected_density=expected / possible,
        camouflage_share=float(1.0 - present / len(ma)),
        start=int(mt[hit].min()),
        end=int(mt[hit].max()),
        median_spread_seconds=float(np.median(spreads)),
        anchor=anchor,
        example_actors=ma[ex],
        example_items=mi[ex],
        example_times=mt[ex],
    )


def group_score(n_members: int, n_items: int, density: float, lift: float) -> float:
    """A [0, 1] score: dense, larger than a handful, and far above the background.

    Each factor saturates, so no single large number carries a weak case alone.
    """
    size = (1.0 - math.exp(-n_members / 10.0)) * (1.0 - math.exp(-n_items / 4.0))
    beyond_chance = 1.0 - 1.0 / max(lift, 1.0)
    return float(min(1.0, max(0.0, density * size * beyond_chance)))
