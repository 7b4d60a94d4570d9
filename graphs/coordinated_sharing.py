"""Coordinated sharing: the same actors share the same content within seconds, again and again.

Pattern sought: a ring of accounts (bots or paid users) pushing chosen posts by sharing each one
within seconds of the others, post after post. A viral post is shared by thousands within
hours too, but by different people each time; what marks a ring is that the same pairs meet on
several posts.

Counting runs on (content, time-slot) incidence products (graphs.cooccur), whose cost is the
sum over slots of sharers². A viral post's busiest minute holds thousands of sharers, so crowds
are thinned first by coordinated sampling: in a slot with s > max_cell_actors sharers, an
actor is kept when its name's stable hash falls below max_cell_actors / s. The same actors
survive in every crowd (and in every run), so pairs among them are still counted wherever they
meet, and the cost per slot is bounded by about max_cell_actors². A ring whose own posts are
crowds loses its high-hash members from the pair graph; they are recruited back afterwards
from the full data: anyone who shared enough of the group's posts inside the group's bursts.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from detectors.findings import EventFrame, Evidence, Finding
from graphs.cooccur import PairTable, co_action_pairs
from graphs.frames import (
    IntArray,
    StrArray,
    encode,
    example_edges,
    first_per_pair,
    iso,
    metric_of,
    ranked,
    stable_unit,
    utc,
)
from graphs.groups import pair_groups
from graphs.profile import Entries, GroupProfile, group_score, profile_group
from graphs.shared_client import background_client_share, client_overlap_codes
from graphs.validate import require_at_least, require_positive, require_share, require_types

logger = logging.getLogger(__name__)

N_TOP_PAIRS = 3  # strongest member pairs quoted in evidence


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
        max_cell_actors: a content's time slot with more sharers than this is a crowd: its
            sharers are thinned to about this many by coordinated sampling (module docstring).
            At 60, 10M shares take ~50 CPU s against ~74 at 150, with the same rings found;
            a larger ring is paired through its sampled members and recruited back whole.
        min_degree_share, min_pair_density, max_members: group peeling (see graphs.groups).
        min_content_members, min_content_share: a content belongs to the group's set when at
            least max(min_content_members, share * b) members shared it in one window, b being
            the most members seen on any one content.
        recruit_share: an actor outside the pair graph joins a group when it shared, inside
            the group's bursts, at least max(min_shared_contents, share * m) of the group's
            contents, m being the median count of the members.
        min_score: findings scored lower are dropped.
    """

    event_types: tuple[str, ...] = ("share",)
    window_seconds: int = 30
    min_shared_contents: int = 3
    episode_seconds: int = 3600
    min_episodes: int = 3
    min_members: int = 4
    alpha: float = 0.01
    max_cell_actors: int = 60
    min_degree_share: float = 0.2
    min_pair_density: float = 0.3
    max_members: int = 5000
    min_content_members: int = 3
    min_content_share: float = 0.3
    recruit_share: float = 0.5
    min_score: float = 0.05


@dataclass(frozen=True, slots=True)
class _Data:
    """The run's shares as codes, each (actor, content) once with its first time."""

    actor_names: StrArray
    content_names: StrArray
    account_names: StrArray
    owner: IntArray  # per content: the account whose content it is
    entries: Entries
    actor_rows: IntArray  # per original share row: actor code (for the client evidence)
    client_rows: IntArray  # ... and client code, -1 when unknown
    client_names: StrArray


class CoordinatedSharingDetector:
    """Finds groups of actors that share the same contents within seconds, repeatedly."""

    name: ClassVar[str] = "coordinated_sharing"

    def __init__(self, config: CoordinatedSharingConfig | None = None) -> None:
        self.config = config or CoordinatedSharingConfig()
        c = self.config
        require_positive(c, "window_seconds", "episode_seconds", "max_members")
        require_at_least(c, "max_cell_actors", 2)
        require_at_least(c, "min_episodes", 1)
        require_at_least(c, "min_members", 2)
        require_at_least(c, "min_shared_contents", 2)
        require_at_least(c, "min_content_members", 1)
        require_share(
            c, "alpha", "min_degree_share", "min_pair_density", "min_content_share", "recruit_share"
        )
        require_share(c, "min_score", allow_zero=True)
        require_types(c)

    def detect(self, events: EventFrame) -> list[Finding]:
        c = self.config
        data = self._data(events)
        if data is None:
            return []
        e = data.entries
        kept, in_crowds = self._thin(e, data.actor_names)
        pairs = co_action_pairs(
            e.actors[kept],
            e.items[kept],
            e.times[kept],
            window_seconds=c.window_seconds,
            min_shared=c.min_shared_contents,
            episode_seconds=c.episode_seconds,
            min_episodes=c.min_episodes,
            # Thinned slots hold about max_cell_actors; the slack absorbs sampling noise.
            max_cell_actors=2 * c.max_cell_actors,
            alpha=c.alpha,
        )
        groups = pair_groups(
            pairs,
            min_members=c.min_members,
            min_degree_share=c.min_degree_share,
            min_pair_density=c.min_pair_density,
            max_members=c.max_members,
        )
        if not groups:
            return []
        by_item = np.argsort(e.items, kind="stable")
        item_bounds = np.searchsorted(e.items[by_item], np.arange(len(e.item_degree) + 1))
        background = background_client_share(data.actor_rows, data.client_rows)

        findings: list[Finding] = []
        used_keys: set[str] = set()
        for group in groups:
            prof = self._profile(e, group.members)
            if prof is None:
                continue
            recruits = self._recruits(e, by_item, item_bounds, group.members, prof)
            members = np.concatenate([group.members, recruits])
            if len(recruits):
                prof = self._profile(e, members) or prof
            finding = self._finding(
                data, pairs, group.pair_density, group.trimmed, members, len(recruits), prof
            )
            finding = self._with_overlap(finding, data, members, background)
            if finding.score < c.min_score:
                continue
            if finding.key in used_keys:
                finding = replace(finding, key=f"{finding.key}:{data.actor_names[members[0]]}")
            used_keys.add(finding.key)
            findings.append(finding)
        logger.info(
            "coordinated_sharing: %d findings from %d groups (%d shares in crowds thinned)",
            len(findings),
            len(groups),
            in_crowds,
        )
        return findings

    def _data(self, events: EventFrame) -> _Data | None:
        c = self.config
        if len(events) == 0:
            return None
        # Only the columns used are copied: at 10M rows each string column is 300 MB.
        keep = np.isin(events.types, np.asarray(c.event_types)) & (events.content_ids != "")
        if not keep.any():
            return None
        whole = bool(keep.all())

        def col(values: StrArray) -> StrArray:
            return values if whole else values[keep]

        times = events.times if whole else events.times[keep]
        actor_names, actors = encode(col(events.actor_ids))
        content_names, contents = encode(col(events.content_ids))
        # The owner of a content: the account its first share points at. Only those rows are
        # encoded: there are far fewer contents than shares.
        first_row = np.zeros(len(content_names), dtype=np.int64)
        first_row[contents[::-1]] = np.arange(len(contents) - 1, -1, -1)
        accounts_of = events.account_ids if whole else events.account_ids[keep]
        account_names, owner = encode(accounts_of[first_row])
        client_names, clients = encode(col(events.client_ids))
        if len(client_names) and client_names[0] == "":
            # "" sorts first: shift so that unknown clients are -1.
            client_names, clients = client_names[1:], clients - 1
        a, i, t = first_per_pair(actors, contents, times)
        entries = Entries(
            actors=a,
            items=i,
            times=t,
            actor_degree=np.bincount(a, minlength=len(actor_names)),
            item_degree=np.bincount(i, minlength=len(content_names)),
        )
        return _Data(
            actor_names, content_names, account_names, owner, entries, actors, clients, client_names
        )

    def _thin(self, e: Entries, actor_names: StrArray) -> tuple[npt.NDArray[np.bool_], int]:
        """Coordinated sampling of crowd slots; returns the entries kept and entries in crowds."""
        cap = self.config.max_cell_actors
        width = 2 * self.config.window_seconds
        t = e.times - e.times.min()
        crowd = np.zeros(len(t), dtype=np.int64)
        # The two 2W grids of the pair counting: an entry's crowd is its larger slot.
        for offset in (0, width // 2):
            slot = (t + offset) // width
            size = _group_sizes(e.items * (int(slot.max()) + 1) + slot)
            np.maximum(crowd, size, out=crowd)
        in_crowds = int(np.count_nonzero(crowd > cap))
        if in_crowds == 0:
            return np.ones(len(t), dtype=bool), 0
        unit = stable_unit(actor_names)
        keep = unit[e.actors] * crowd < cap
        return keep, in_crowds

    def _profile(self, e: Entries, members: IntArray) -> GroupProfile | None:
        c = self.config
        return profile_group(
            e,
            members,
            window_seconds=c.window_seconds,
            min_item_members=c.min_content_members,
            min_item_share=c.min_content_share,
        )

    def _recruits(
        self,
        e: Entries,
        by_item: IntArray,
        item_bounds: IntArray,
        members: IntArray,
        prof: GroupProfile,
    ) -> IntArray:
        """Actors outside the group who shared enough of its contents inside its bursts."""
        c = self.config
        w = c.window_seconds
        is_member = np.zeros(len(e.actor_degree), dtype=bool)
        is_member[members] = True
        hits = np.zeros(len(e.actor_degree), dtype=np.int64)
        member_hits = np.zeros(len(e.actor_degree), dtype=np.int64)
        for item in prof.items.tolist():
            rows = by_item[item_bounds[item] : item_bounds[item + 1]]
            who, when = e.actors[rows], e.times[rows]
            mine = is_member[who]
            if not mine.any():
                continue
            # The burst: where the bulk of the members shared (robust to a late member).
            lo, hi = np.percentile(when[mine], [10, 90])
            inside = (when >= lo - w) & (when <= hi + w)
            np.add.at(hits, who[inside & ~mine], 1)
            np.add.at(member_hits, who[mine], 1)
        need = max(
            c.min_shared_contents,
            math.ceil(c.recruit_share * float(np.median(member_hits[members]))),
        )
        found = np.flatnonzero(hits >= need)
        return found[np.lexsort((found, -hits[found]))]

    def _finding(
        self,
        data: _Data,
        pairs: PairTable,
        pair_density: float,
        trimmed: int,
        members: IntArray,
        n_recruited: int,
        prof: GroupProfile,
    ) -> Finding:
        c = self.config
        names, accounts, owner = data.actor_names, data.account_names, data.owner
        lift = prof.density / max(prof.expected_density, 1e-12)
        score = group_score(len(members), len(prof.items), prof.density, lift)
        # Accounts whose content the group pushed, by how many member shares they got.
        per_owner = np.bincount(owner[prof.items], weights=prof.item_members)
        owners = np.flatnonzero(per_owner)
        owners = owners[np.lexsort((owners, -per_owner[owners]))]
        subject = str(accounts[owners[0]])
        members_n = len(members) + trimmed
        top_sharers, top_from_group = int(prof.item_actors[0]), int(prof.item_members[0])
        labels = np.char.add(
            np.char.add(data.content_names[prof.example_items], " of "),
            accounts[owner[prof.example_items]],
        )
        evidence = (
            Evidence(
                "group",
                {
                    "members": float(members_n),
                    "contents": float(len(prof.items)),
                    "targets": float(len(owners)),
                    "members_trimmed": float(trimmed),
                    "members_recruited": float(n_recruited),
                    "member_pair_density": pair_density,
                    "window_seconds": float(c.window_seconds),
                    "first_action": iso(prof.start),
                    "last_action": iso(prof.end),
                    "time_span_seconds": float(prof.end - prof.start),
                    "median_content_spread_seconds": prof.median_spread_seconds,
                    "member_sample": ", ".join(names[members[:5]].tolist()),
                    "target_sample": ", ".join(accounts[owners[:5]].tolist()),
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
            Evidence("camouflage", {"share_of_member_shares_elsewhere": prof.camouflage_share}),
            Evidence(
                "top_content",
                {
                    "content_id": str(data.content_names[prof.items[0]]),
                    "owner": str(accounts[owner[prof.items[0]]]),
                    "sharers": float(top_sharers),
                    "from_group": float(top_from_group),
                    "share_from_group": top_from_group / max(top_sharers, 1),
                },
            ),
            Evidence("top_pairs", _top_pairs(pairs, members, names, c.window_seconds)),
            Evidence(
                "example_edges",
                example_edges(
                    names, labels, prof.example_actors, np.arange(len(labels)), prof.example_times
                ),
            ),
        )
        explanation = (
            f"{members_n} accounts shared the same {len(prof.items)} posts of "
            f"{len(owners)} accounts within {c.window_seconds} seconds of each other "
            f"({prof.density:.0%} of possible shares, {lift:.0f}x the background), "
            f"most of them posts of {subject}."
        )
        return Finding(
            detector=self.name,
            pattern="coordinated_sharing",
            subject=subject,
            # Keyed by the owner of the group's first strongly pushed post (stable as it grows).
            key=f"coordinated_sharing:{accounts[owner[prof.anchor]]}",
            start_time=utc(prof.start),
            end_time=utc(prof.end),
            score=score,
            observed=prof.density,
            expected=prof.expected_density,
            explanation=explanation,
            evidence=evidence,
            member_ids=ranked(names, members),
            metric=metric_of(c.event_types),
            target_ids=ranked(accounts, owners),
            member_count=members_n,
            target_count=len(owners),
        )

    @staticmethod
    def _with_overlap(
        finding: Finding, data: _Data, members: IntArray, background: float
    ) -> Finding:
        overlap = client_overlap_codes(
            data.actor_rows, data.client_rows, members, data.client_names, background
        )
        return replace(finding, evidence=(*finding.evidence, overlap.evidence()))


def _group_sizes(keys: IntArray) -> IntArray:
    """Per row, how many rows share its key (an unstable sort: order within a key is moot)."""
    order = np.argsort(keys)
    sorted_keys = keys[order]
    starts = np.flatnonzero(np.concatenate([[True], sorted_keys[1:] != sorted_keys[:-1]]))
    counts = np.diff(np.append(starts, len(keys)))
    sizes = np.empty(len(keys), dtype=np.int64)
    sizes[order] = np.repeat(counts, counts)
    return sizes


def _top_pairs(pairs: PairTable, members: IntArray, names: StrArray, window: int) -> dict[str, str]:
    """The strongest member pairs: how many posts each shared within the window, vs chance."""
    inside = pairs.significant & np.isin(pairs.a, members) & np.isin(pairs.b, members)
    idx = np.flatnonzero(inside)
    idx = idx[np.lexsort((idx, -pairs.shared[idx]))][:N_TOP_PAIRS]
    return {
        f"pair_{k + 1}": (
            f"{names[pairs.a[j]]} & {names[pairs.b[j]]}: {int(pairs.shared[j])} posts within "
            f"{window} s in {int(pairs.episodes[j])} episodes (expected {pairs.expected[j]:.2g})"
        )
        for k, j in enumerate(idx.tolist())
    }
