"""The pipeline shared by co-action group detectors: pairs -> groups -> what each group did.

Lockstep follows and coordinated shares differ only in what an item is (an account, a post)
and how a window is sized, so both call this and only word their findings differently.
"""

from __future__ import annotations

from dataclasses import dataclass

from graphs.cooccur import co_action_pairs
from graphs.frames import IntArray
from graphs.groups import Group, pair_groups
from graphs.profile import Entries, GroupProfile, profile_group


@dataclass(frozen=True, slots=True)
class CoActionParams:
    """Knobs of the pipeline; the detectors' configs map onto these (see their docstrings)."""

    window_seconds: int
    min_shared: int
    episode_seconds: int
    min_episodes: int
    min_members: int
    alpha: float
    max_cell_actors: int
    min_degree_share: float
    min_pair_density: float
    max_members: int
    min_item_members: int
    min_item_share: float


@dataclass(frozen=True, slots=True)
class CoActingGroup:
    group: Group
    profile: GroupProfile


def co_acting_groups(
    actors: IntArray,
    items: IntArray,
    times: IntArray,
    n_actors: int,
    n_items: int,
    p: CoActionParams,
) -> list[CoActingGroup]:
    """Groups of actors that repeatedly act on the same items within the window."""
    pairs = co_action_pairs(
        actors,
        items,
        times,
        window_seconds=p.window_seconds,
        min_shared=p.min_shared,
        episode_seconds=p.episode_seconds,
        min_episodes=p.min_episodes,
        max_cell_actors=p.max_cell_actors,
        alpha=p.alpha,
    )
    groups = pair_groups(
        pairs,
        min_members=p.min_members,
        min_degree_share=p.min_degree_share,
        min_pair_density=p.min_pair_density,
        max_members=p.max_members,
    )
    if not groups:
        return []
    entries = Entries.build(actors, items, times, n_actors, n_items)
    out: list[CoActingGroup] = []
    for group in groups:
        prof = profile_group(
            entries,
            group.members,
            window_seconds=p.window_seconds,
            min_item_members=p.min_item_members,
            min_item_share=p.min_item_share,
        )
        if prof is not None:
            out.append(CoActingGroup(group, prof))
    return out
