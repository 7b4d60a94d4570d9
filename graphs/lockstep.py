"""Lockstep groups: actors that follow (or engage) the same set of accounts within minutes.

Pattern sought: bought followers delivered by a farm, where the same few dozen to thousands of
accounts follow each customer within minutes of each other, customer after customer, and mix in
organic-looking follows of popular accounts as camouflage. Organic followers of one celebrity
coincide on one target only; a farm coincides on many, which is what is counted here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import ClassVar

from detectors.findings import EventFrame, Evidence, Finding
from graphs.coaction import CoActionParams, co_acting_groups
from graphs.frames import bounded, encode, example_edges, iso, metric_of, of_types, utc
from graphs.profile import group_score
from graphs.validate import require_at_least, require_positive, require_share, require_types

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LockstepConfig:
    """Hyperparameters of the lockstep detector.

    Attributes:
        event_types: actions that count as acting on a target.
        window_seconds: two actions within this many seconds are "together".
        min_shared_targets: a pair must coincide on at least this many distinct targets.
        episode_seconds, min_episodes: ... in at least this many distinct time slots of
            episode_seconds: one session (say, an onboarding flow) is one episode, not lockstep.
        min_members: smallest group reported.
        alpha: family-wise error rate over all candidate pairs (Bonferroni).
        max_cell_actors: crowds larger than this in one target's time cell are not paired.
        min_degree_share: a member is paired with at least this share of the group.
        min_pair_density: sparser groups are split into communities.
        max_members: size cap of one group.
        min_target_members, min_target_share: a target belongs to the group's set when at least
            max(min_target_members, share * b) members hit it within one window, b being the
            most members seen on any one target.
        min_score: findings scored lower are dropped.
    """

    event_types: tuple[str, ...] = ("follow",)
    window_seconds: int = 300
    min_shared_targets: int = 5
    episode_seconds: int = 3600
    min_episodes: int = 3
    min_members: int = 5
    alpha: float = 0.01
    max_cell_actors: int = 2000
    min_degree_share: float = 0.2
    min_pair_density: float = 0.3
    max_members: int = 5000
    min_target_members: int = 3
    min_target_share: float = 0.3
    min_score: float = 0.05


class LockstepDetector:
    """Finds groups of actors that act on many of the same targets within minutes."""

    name: ClassVar[str] = "lockstep"

    def __init__(self, config: LockstepConfig | None = None) -> None:
        self.config = config or LockstepConfig()
        c = self.config
        require_positive(c, "window_seconds", "episode_seconds", "max_cell_actors", "max_members")
        require_at_least(c, "min_episodes", 1)
        require_at_least(c, "min_members", 2)
        require_at_least(c, "min_shared_targets", 2)
        require_at_least(c, "min_target_members", 1)
        require_share(c, "alpha", "min_degree_share", "min_pair_density", "min_target_share")
        require_share(c, "min_score", allow_zero=True)
        require_types(c)

    def detect(self, events: EventFrame) -> list[Finding]:
        c = self.config
        ev = of_types(events, c.event_types)
        if len(ev) == 0:
            return []
        actor_names, actors = encode(ev.actor_ids)
        target_names, targets = encode(ev.account_ids)
        params = CoActionParams(
            window_seconds=c.window_seconds,
            min_shared=c.min_shared_targets,
            episode_seconds=c.episode_seconds,
            min_episodes=c.min_episodes,
            min_members=c.min_members,
            alpha=c.alpha,
            max_cell_actors=c.max_cell_actors,
            min_degree_share=c.min_degree_share,
            min_pair_density=c.min_pair_density,
            max_members=c.max_members,
            min_item_members=c.min_target_members,
            min_item_share=c.min_target_share,
        )
        found = co_acting_groups(
            actors, targets, ev.times, len(actor_names), len(target_names), params
        )
        findings: list[Finding] = []
        used_keys: set[str] = set()
        for cag in found:
            group, prof = cag.group, cag.profile
            lift = prof.density / max(prof.expected_density, 1e-12)
            score = group_score(len(group.members), len(prof.items), prof.density, lift)
            if score < c.min_score:
                continue
            subject = str(target_names[prof.items[0]])
            # Keyed by the group's first strongly hit target, which stays as the group grows;
            # a second group on it in one run is told apart by its most central member.
            key = f"lockstep_group:{target_names[prof.anchor]}"
            if key in used_keys:
                key = f"{key}:{actor_names[group.members[0]]}"
            used_keys.add(key)
            new_followers = int(prof.item_actors[0])
            from_group = int(prof.item_members[0])
            members_n = len(group.members) + group.trimmed
            evidence = (
                Evidence(
                    "group",
                    {
                        "members": float(members_n),
                        "targets": float(len(prof.items)),
                        "members_trimmed": float(group.trimmed),
                        "member_pair_density": group.pair_density,
                        "window_seconds": float(c.window_seconds),
                        "first_action": iso(prof.start),
                        "last_action": iso(prof.end),
                        "time_span_seconds": float(prof.end - prof.start),
                        "median_target_spread_seconds": prof.median_spread_seconds,
                    },
                ),
                Evidence(
                    "density_vs_background",
                    {
                        "observed_density": prof.density,
                        "expected_density": prof.expected_density,
                        "lift": lift,
                    },
                ),
                Evidence(
                    "camouflage",
                    {"share_of_member_actions_elsewhere": prof.camouflage_share},
                ),
                Evidence(
                    "fake_followers",
                    {
                        "target": subject,
                        "new_followers": float(new_followers),
                        "from_group": float(from_group),
                        "share_from_group": from_group / max(new_followers, 1),
                    },
                ),
                Evidence(
                    "example_edges",
                    example_edges(
                        actor_names,
                        target_names,
                        prof.example_actors,
                        prof.example_items,
                        prof.example_times,
                    ),
                ),
            )
            explanation = (
                f"{members_n} accounts acted on the same {len(prof.items)} accounts within "
                f"{c.window_seconds // 60 or 1} minutes of each other ({prof.density:.0%} of "
                f"possible edges, {lift:.0f}x the background); {from_group} of the "
                f"{new_followers} new followers of {subject} came from this group."
            )
            findings.append(
                Finding(
                    detector=self.name,
                    pattern="lockstep_group",
                    subject=subject,
                    key=key,
                    start_time=utc(prof.start),
                    end_time=utc(prof.end),
                    score=score,
                    observed=prof.density,
                    expected=prof.expected_density,
                    explanation=explanation,
                    evidence=evidence,
                    member_ids=bounded(actor_names, group.members),
                    metric=metric_of(c.event_types),
                    target_ids=bounded(target_names, prof.items),
                )
            )
        logger.info("lockstep: %d findings from %d candidate groups", len(findings), len(found))
        return findings
