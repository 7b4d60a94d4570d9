"""Shared client: many accounts run from one device or app fingerprint on the same targets.

Pattern sought: a phone farm or automation tool driving dozens to thousands of accounts from one
client_id, all following or sharing the same customers, possibly spread out in time so no
lockstep shows. A family tablet or an internet cafe also carries several accounts, but they act
on whatever each person likes: what marks a farm is that the same targets come up across its
accounts far more often than the platform's background rate of following those targets.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from scipy import stats

from detectors.findings import EventFrame, Evidence, Finding
from graphs.frames import (
    IntArray,
    StrArray,
    encode,
    example_edges,
    first_per_pair,
    iso,
    metric_of,
    ranked,
    utc,
)
from graphs.profile import group_score
from graphs.validate import require_at_least, require_share, require_types

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ClientOverlap:
    """How far a group's members act from the same client fingerprints (group evidence).

    Attributes:
        share: share of members (with any client_id) who used a client another member used.
        clients: distinct client_ids among the members.
        top_client: the client_id used by most members ("" if none).
        top_client_members: members who used it.
        background_share: the same share over every actor in the events, for comparison.
    """

    share: float
    clients: int
    top_client: str
    top_client_members: int
    background_share: float

    def evidence(self) -> Evidence:
        return Evidence(
            "shared_client",
            {
                "shared_client_share": self.share,
                "background_shared_client_share": self.background_share,
                "member_clients": float(self.clients),
                "top_client": self.top_client,
                "top_client_members": float(self.top_client_members),
            },
        )


def _shared_share(actors: IntArray, clients: IntArray) -> tuple[float, IntArray, IntArray]:
    """Share of actors on a client used by another actor; distinct (client, actor) pairs."""
    has = clients >= 0
    if not has.any():
        return 0.0, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    n_actors = int(actors.max()) + 1
    pairs = np.unique(clients[has] * n_actors + actors[has])
    cl, ac = pairs // n_actors, pairs % n_actors
    per_client = np.bincount(cl)
    on_shared = np.unique(ac[per_client[cl] >= 2])
    return len(on_shared) / len(np.unique(ac)), cl, ac


def client_overlap_codes(
    actors: IntArray,
    clients: IntArray,
    members: IntArray,
    client_names: StrArray,
    background: float,
) -> ClientOverlap:
    """`client_overlap` on integer codes (client code -1: unknown), for detectors at scale."""
    in_group = np.isin(actors, members)
    share, cl, _ = _shared_share(actors[in_group], clients[in_group])
    if len(cl) == 0:
        return ClientOverlap(0.0, 0, "", 0, background)
    per_client = np.bincount(cl)
    top = int(np.argmax(per_client))
    return ClientOverlap(
        share=share,
        clients=int(np.count_nonzero(per_client)),
        top_client=str(client_names[top]),
        top_client_members=int(per_client[top]),
        background_share=background,
    )


def background_client_share(actors: IntArray, clients: IntArray) -> float:
    """Share of all actors (with a client_id) who share a client with another actor."""
    share, _, _ = _shared_share(actors, clients)
    return share


def client_overlap(member_ids: Sequence[str], events: EventFrame) -> ClientOverlap:
    """The shared-client evidence of a group: its members' share on common fingerprints.

    Accounts that act together and also run on the same client_id are most likely one
    operator's; a group of independent people rarely shares devices beyond families.

    Args:
        member_ids: the group's actors.
        events: the events the group was found in (any types); rows without a client_id
            are ignored.
    """
    known = events.client_ids != ""
    if not known.any() or not member_ids:
        return ClientOverlap(0.0, 0, "", 0, 0.0)
    actor_names, actors = encode(events.actor_ids[known])
    client_names, clients = encode(events.client_ids[known])
    members = np.flatnonzero(np.isin(actor_names, np.asarray(list(member_ids), dtype=str)))
    background = background_client_share(actors, clients)
    return client_overlap_codes(actors, clients, members, client_names, background)


@dataclass(frozen=True, slots=True)
class SharedClientConfig:
    """Hyperparameters of the shared client detector.

    Attributes:
        event_types: actions that count.
        min_actors: a client with fewer distinct actors is never judged.
        min_ratio_to_typical: ... nor one with fewer than this times the median actors per client.
        min_target_actors, min_target_share: a target is common to the client's accounts when
            at least max(min_target_actors, share * actors) of them acted on it, ...
        alpha: ... and that count is significant against the target's platform-wide reach
            (binomial, Bonferroni over candidate client x target cells).
        min_common_targets: common targets a client needs to be reported.
        min_score: findings scored lower are dropped.
    """

    event_types: tuple[str, ...] = ("follow", "share")
    min_actors: int = 10
    min_ratio_to_typical: float = 5.0
    min_target_actors: int = 5
    min_target_share: float = 0.3
    alpha: float = 0.01
    min_common_targets: int = 3
    min_score: float = 0.05


class SharedClientDetector:
    """Finds client fingerprints driving many accounts onto the same targets."""

    name: ClassVar[str] = "shared_client"

    def __init__(self, config: SharedClientConfig | None = None) -> None:
        self.config = config or SharedClientConfig()
        c = self.config
        require_at_least(c, "min_actors", 2)
        require_at_least(c, "min_ratio_to_typical", 1.0)
        require_at_least(c, "min_target_actors", 2)
        require_at_least(c, "min_common_targets", 1)
        require_share(c, "min_target_share", "alpha")
        require_share(c, "min_score", allow_zero=True)
        require_types(c)

    def detect(self, events: EventFrame) -> list[Finding]:
        c = self.config
        if len(events) == 0:
            return []
        # Only the four columns used are copied: at 10M rows each string column is 300 MB.
        keep = np.isin(events.types, np.asarray(c.event_types)) & (events.client_ids != "")
        if not keep.any():
            return []
        times = events.times[keep]
        client_names, clients = encode(events.client_ids[keep])
        actor_names, actors = encode(events.actor_ids[keep])
        target_names, targets = encode(events.account_ids[keep])
        n_targets = len(target_names)

        cl, _, _ = first_per_pair(clients, actors, times)
        actors_per_client = np.bincount(cl, minlength=len(client_names))
        typical = float(np.median(actors_per_client))
        p99 = float(np.percentile(actors_per_client, 99))
        need = max(c.min_actors, math.ceil(c.min_ratio_to_typical * typical))
        cand = actors_per_client >= need
        if not cand.any():
            return []
        background = background_client_share(actors, clients)

        # Platform-wide reach of each target: the share of all actors who acted on it.
        t_first, _, _ = first_per_pair(targets, actors, times)
        reach = np.bincount(t_first, minlength=n_targets) / len(actor_names)

        on = cand[clients]
        cell = clients[on] * n_targets + targets[on]
        cell_first, cell_actor, cell_time = first_per_pair(cell, actors[on], times[on])
        cells, cell_n = np.unique(cell_first, return_counts=True)
        cell_client, cell_target = cells // n_targets, cells % n_targets
        n_c = actors_per_client[cell_client]
        big = cell_n >= np.maximum(c.min_target_actors, np.ceil(c.min_target_share * n_c))
        pvalue = np.ones(len(cells))
        pvalue[big] = stats.binom.sf(cell_n[big] - 1, n_c[big], reach[cell_target[big]])
        n_tests = max(int(cand.sum()) * n_targets, 1)
        common = big & (pvalue <= c.alpha / n_tests)
        n_common = np.bincount(cell_client[common], minlength=len(client_names))
        flagged = np.flatnonzero(n_common >= c.min_common_targets)
        # Entries come sorted by cell, hence by client: each client's rows are one slice.
        entry_client, entry_target = cell_first // n_targets, cell_first % n_targets

        findings: list[Finding] = []
        for client in flagged.tolist():
            sel = common & (cell_client == client)
            tg, tg_n, tg_p = cell_target[sel], cell_n[sel], pvalue[sel]
            order = np.lexsort((tg, -tg_n))
            tg, tg_n, tg_p = tg[order], tg_n[order], tg_p[order]
            n_actors = int(actors_per_client[client])
            coverage = tg_n / n_actors
            observed = float(coverage.mean())
            expected = float(reach[tg].mean())
            lift = observed / max(expected, 1e-12)
            score = group_score(n_actors, len(tg), observed, lift)
            if score < c.min_score:
                continue

            # Members: the client's actors, those hitting most common targets first.
            lo, hi = np.searchsorted(entry_client, [client, client + 1])
            e_actor, e_target, e_time = cell_actor[lo:hi], entry_target[lo:hi], cell_time[lo:hi]
            is_common_target = np.zeros(n_targets, dtype=bool)
            is_common_target[tg] = True
            hits = is_common_target[e_target]
            per_actor = np.bincount(e_actor[hits], minlength=len(actor_names))
            client_actors = np.unique(e_actor)
            members = client_actors[np.lexsort((client_actors, -per_actor[client_actors]))]
            times = e_time[hits]
            camouflage = 1.0 - float(hits.sum()) / len(hits)
            ex = np.flatnonzero(e_target == tg[0])[:3]
            subject = str(target_names[tg[0]])
            cid = str(client_names[client])
            evidence = (
                Evidence(
                    "client",
                    {
                        "client_id": cid,
                        "members": float(n_actors),
                        "targets": float(len(tg)),
                        "typical_actors_per_client": typical,
                        "p99_actors_per_client": p99,
                        "first_action": iso(times.min()),
                        "last_action": iso(times.max()),
                        "time_span_seconds": float(times.max() - times.min()),
                        "member_sample": ", ".join(actor_names[members[:5]].tolist()),
                        "target_sample": ", ".join(target_names[tg[:5]].tolist()),
                    },
                ),
                Evidence(
                    "density_vs_background",
                    {
                        "observed_density": observed,
                        "expected_density": expected,
                        "lift": lift,
                        "top_target": subject,
                        "top_target_actors": float(tg_n[0]),
                        "top_target_p_value": float(tg_p[0]),
                    },
                ),
                Evidence("camouflage", {"share_of_member_actions_elsewhere": camouflage}),
                # Every member is on this client by construction; the background says how
                # unusual sharing one is.
                ClientOverlap(1.0, 1, cid, n_actors, background).evidence(),
                Evidence(
                    "example_edges",
                    example_edges(
                        actor_names,
                        target_names,
                        e_actor[ex],
                        e_target[ex],
                        e_time[ex],
                    ),
                ),
            )
            explanation = (
                f"{n_actors} accounts acted from one client {cid} (a typical client carries "
                f"{typical:.0f}); {len(tg)} accounts were each reached by {observed:.0%} of them "
                f"on average, against {expected:.1%} of all users."
            )
            findings.append(
                Finding(
                    detector=self.name,
                    pattern="lockstep_group",
                    subject=subject,
                    # The fingerprint is the group's identity: it stays as accounts are added.
                    key=f"lockstep_group:client:{cid}",
                    start_time=utc(times.min()),
                    end_time=utc(times.max()),
                    score=score,
                    observed=observed,
                    expected=expected,
                    explanation=explanation,
                    evidence=evidence,
                    member_ids=ranked(actor_names, members),
                    metric=metric_of(c.event_types),
                    target_ids=ranked(target_names, tg),
                    member_count=len(members),
                    target_count=len(tg),
                )
            )
        findings.sort(key=lambda f: (-f.score, f.key))
        logger.info("shared_client: %d of %d candidate clients", len(findings), int(cand.sum()))
        return findings
