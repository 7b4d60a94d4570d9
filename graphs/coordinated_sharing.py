"""Coordinated sharing: the same actors share the same content within seconds, again and again.

Pattern sought: a ring of accounts (bots or paid users) pushing chosen posts by sharing each one
within seconds of the others, post after post. A viral post is shared by thousands within
hours too, but by different people each time; what marks a ring is that the same pairs meet on
several posts. Counting runs on (content, time-slot) incidence products, and crowd slots of a
viral post are capped (see `max_cell_actors`) so popularity never causes a pairwise blow-up.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from detectors.findings import EventFrame, Evidence, Finding
from graphs.coaction import CoActionParams, co_acting_groups
from graphs.frames import bounded, encode, example_edges, iso, metric_of, of_types, utc
from graphs.profile import group_score
from graphs.validate import require_at_least, require_positive, require_share, require_types

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CoordinatedSharingConfig:
    """Hyperparameters of the coordinated sharing detector.

    Attributes:
        event_types: actions that count as sharing (they must carry a content_id).
        window_seconds: two shares of one content within this many seconds are "together".
        min_shared_contents: a pair must co-share at least this many distinct contents.
        episode_seconds, min_episodes: ... in at least this many distinct time slots of
            episode_seconds: one session (say, an onboarding flow) is one episode, not lockstep.
        min_members: smallest group reported.
        alpha: family-wise error rate over all candidate pairs (Bonferroni).
        max_cell_actors: a content's time slot with more sharers than this is a crowd and is
            not paired.
        min_degree_share, min_pair_density, max_members: group peeling (see graphs.groups).
        min_content_members, min_content_share: a content belongs to the group's set when at
            least max(min_content_members, share * b) members shared it in one window, b being
            the most members seen on any one content.
        min_score: findings scored lower are dropped.
    """

    event_types: tuple[str, ...] = ("share",)
    window_seconds: int = 30
    min_shared_contents: int = 3
    episode_seconds: int = 3600
    min_episodes: int = 3
    min_members: int = 4
    alpha: float = 0.01
    max_cell_actors: int = 1000
    min_degree_share: float = 0.2
    min_pair_density: float = 0.3
    max_members: int = 5000
    min_content_members: int = 3
    min_content_share: float = 0.3
    min_score: float = 0.05


class CoordinatedSharingDetector:
    """Finds groups of actors that share the same contents within seconds, repeatedly."""

    name: ClassVar[str] = "coordinated_sharing"

    def __init__(self, config: CoordinatedSharingConfig | None = None) -> None:
        self.config = config or CoordinatedSharingConfig()
        c = self.config
        require_positive(c, "window_seconds", "episode_seconds", "max_cell_actors", "max_members")
        require_at_least(c, "min_episodes", 1)
        require_at_least(c, "min_members", 2)
        require_at_least(c, "min_shared_contents", 2)
        require_at_least(c, "min_content_members", 1)
        require_share(c, "alpha", "min_degree_share", "min_pair_density", "min_content_share")
        require_share(c, "min_score", allow_zero=True)
        require_types(c)

    def detect(self, events: EventFrame) -> list[Finding]:
        c = self.config
        ev = of_types(events, c.event_types)
        ev = ev.where(ev.content_ids != "") if len(ev) else ev
        if len(ev) == 0:
            return []
        actor_names, actors = encode(ev.actor_ids)
        content_names, contents = encode(ev.content_ids)
        account_names, accounts = encode(ev.account_ids)
        # The owner of a content: the account its shares point at (first seen, if inconsistent).
        owner = np.zeros(len(content_names), dtype=np.int64)
        owner[contents[::-1]] = accounts[::-1]
        params = CoActionParams(
            window_seconds=c.window_seconds,
            min_shared=c.min_shared_contents,
            episode_seconds=c.episode_seconds,
            min_episodes=c.min_episodes,
            min_members=c.min_members,
            alpha=c.alpha,
            max_cell_actors=c.max_cell_actors,
            min_degree_share=c.min_degree_share,
            min_pair_density=c.min_pair_density,
            max_members=c.max_members,
            min_item_members=c.min_content_members,
            min_item_share=c.min_content_share,
        )
        found = co_acting_groups(
            actors, contents, ev.times, len(actor_names), len(content_names), params
        )
        findings: list[Finding] = []
        used_keys: set[str] = set()
        for cag in found:
            group, prof = cag.group, cag.profile
            lift = prof.density / max(prof.expected_density, 1e-12)
            score = group_score(len(group.members), len(prof.items), prof.density, lift)
            if score < c.min_score:
                continue
            # Accounts whose content the group pushed, by how many member shares they got.
            item_owner = owner[prof.items]
            per_owner = np.bincount(item_owner, weights=prof.item_members)
            owners = np.flatnonzero(per_owner)
            owners = owners[np.lexsort((owners, -per_owner[owners]))]
            subject = str(account_names[owners[0]])
            # Keyed by the owner of the group's first strongly pushed post (stable as it grows).
            key = f"coordinated_sharing:{account_names[owner[prof.anchor]]}"
            if key in used_keys:
                key = f"{key}:{actor_names[group.members[0]]}"
            used_keys.add(key)
            members_n = len(group.members) + group.trimmed
            top_sharers, top_from_group = int(prof.item_actors[0]), int(prof.item_members[0])
            labels = np.char.add(
                np.char.add(content_names[prof.example_items], " of "),
                account_names[owner[prof.example_items]],
            )
            evidence = (
                Evidence(
                    "group",
                    {
                        "members": float(members_n),
                        "contents": float(len(prof.items)),
                        "targets": float(len(owners)),
                        "members_trimmed": float(group.trimmed),
                        "member_pair_density": group.pair_density,
                        "window_seconds": float(c.window_seconds),
                        "first_action": iso(prof.start),
                        "last_action": iso(prof.end),
                        "time_span_seconds": float(prof.end - prof.start),
                        "median_content_spread_seconds": prof.median_spread_seconds,
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
                    {"share_of_member_shares_elsewhere": prof.camouflage_share},
                ),
                Evidence(
                    "top_content",
                    {
                        "content_id": str(content_names[prof.items[0]]),
                        "owner": str(account_names[owner[prof.items[0]]]),
                        "sharers": float(top_sharers),
                        "from_group": float(top_from_group),
                        "share_from_group": top_from_group / max(top_sharers, 1),
                    },
                ),
                Evidence(
                    "example_edges",
                    example_edges(
                        actor_names,
                        labels,
                        prof.example_actors,
                        np.arange(len(labels)),
                        prof.example_times,
                    ),
                ),
            )
            explanation = (
                f"{members_n} accounts shared the same {len(prof.items)} posts of "
                f"{len(owners)} accounts within {c.window_seconds} seconds of each other "
                f"({prof.density:.0%} of possible shares, {lift:.0f}x the background), "
                f"most of them posts of {subject}."
            )
            findings.append(
                Finding(
                    detector=self.name,
                    pattern="coordinated_sharing",
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
                    target_ids=bounded(account_names, owners),
                )
            )
        logger.info("coordinated_sharing: %d findings from %d groups", len(findings), len(found))
        return findings
