"""Actor mix: an account's engagement coming from several actors on one device fingerprint.

Pattern sought: bought follows, clicks, shares or comments too few to move the account's
counts (a few percent of its normal volume), delivered by a seller's bots. Bots are cheap,
devices are not: a farm runs many actors from each of a few client fingerprints, and those
actors all act on the customer. Organic engagement comes from people who pick accounts
independently of who else uses their device, so even a shared family tablet or an internet
cafe rarely puts several of its actors on the same account within a window.

The test, per client fingerprint c used by at least `min_client_actors` actors and per
account a: how many of c's actors acted on a, against what independent choice predicts,
sum over c's actors of 1 - (1 - share_a)^k_i, where share_a is a's share of the window's
events of that kind and k_i the actor's own number of such events (heavy users reach more
accounts). The count is judged as Poisson with that mean (a Poisson-binomial's tail is no
heavier), the account's best client is corrected for the number of clients tested, and
Benjamini-Hochberg decides across every account and pattern of the run.

A household all fond of one account passes that test (taste is shared, not independent), so
a client's actors are judged on an account only if they are devoted to it: most of their
window's events, of any kind, went there. Known limits: a farm spreading each customer's
actions over devices with fewer than `min_actors_on_account` bots each, or spending more than
a fifth of its actions on camouflage, escapes this detector.

Why not the counts alone: 5% extra volume cannot stand out among thousands of accounts after
false-discovery control (the panel detectors see it as noise). Why not fresh actors alone:
a viral post and a consented onboarding flow both bring many new actors, each on their own
device.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar

import numpy as np
import numpy.typing as npt
from scipy import special

from detectors._common import FloatArray, IntArray, significance_score
from detectors.fdr import bh_adjusted, bh_discoveries, count_neglog10_p
from detectors.findings import EventFrame, Evidence, Finding

logger = logging.getLogger(__name__)

# The event types each volumetric pattern is made of.
PATTERN_TYPES: dict[str, tuple[str, ...]] = {
    "fake_followers": ("follow",),
    "fake_traffic": ("click",),
    "fake_engagement": ("share", "comment"),
}


@dataclass(frozen=True, slots=True)
class ActorMixConfig:
    """Hyperparameters of the actor mix detector.

    Attributes:
        min_client_actors: a client fingerprint with fewer distinct actors (of the pattern's
            event types) is never tested: one or two people per device say nothing.
        min_actors_on_account: fewer of a client's actors on one account never alert (a
            couple following the same creator is not a farm).
        alpha: false discovery rate across accounts and patterns of one run.
        min_neglog10_p: a floor on the corrected -log10 p-value, whatever BH allows, so a
            run with few candidates cannot alert on weak evidence.
        min_focus: a client's actors on an account are judged only if at least this share
            of their events in the window (any type, any account) went to that account.
    """

    min_client_actors: int = 3
    min_actors_on_account: int = 3
    alpha: float = 0.01
    min_neglog10_p: float = 4.0
    min_focus: float = 0.8

    def __post_init__(self) -> None:
        if self.min_client_actors < 2:
            raise ValueError("min_client_actors must be >= 2")
        if self.min_actors_on_account < 2:
            raise ValueError("min_actors_on_account must be >= 2")
        if not 0.0 < self.alpha < 1.0:
            raise ValueError("alpha must be in (0, 1)")
        if not 0.0 <= self.min_focus <= 1.0:
            raise ValueError("min_focus must be in [0, 1]")
        if self.min_neglog10_p < 0.0:
            raise ValueError("min_neglog10_p must be >= 0")


@dataclass(frozen=True, slots=True)
class _Candidate:
    pattern: str
    account: str
    client: str  # the most significant flagged client
    key_client: str  # the first flagged client by name: stable as its counts grow
    actors: int  # the client's distinct actors on the account
    expected_actors: float
    client_actors: int  # the client's distinct actors overall
    focus: float  # share of those actors' window events that went to the account
    events: int  # the account's events from every flagged client
    account_events: int  # the account's events of the pattern's types
    clients: int  # flagged clients on the account
    neglog10_p: float  # of the account's flagged clients together, corrected for those tested
    first: int
    last: int


def _encode(values: npt.NDArray[np.str_]) -> tuple[npt.NDArray[np.str_], IntArray]:
    names, codes = np.unique(values, return_inverse=True)
    return names, codes.astype(np.int64)


@dataclass(frozen=True, slots=True)
class _Coded:
    """The window's events with accounts, actors and clients as integer codes."""

    account_names: npt.NDArray[np.str_]
    client_names: npt.NDArray[np.str_]
    acc: IntArray
    actor: IntArray
    cl: IntArray
    times: IntArray
    types: npt.NDArray[np.str_]
    known_client: npt.NDArray[np.bool_]
    actor_events: IntArray  # per actor: events of every type on every account
    actor_account: IntArray  # sorted actor * n_accounts + account keys ...
    actor_account_events: IntArray  # ... and their events of every type

    @staticmethod
    def of(events: EventFrame) -> _Coded:
        account_names, acc = _encode(events.account_ids)
        _, actor = _encode(events.actor_ids)
        client_names, cl = _encode(events.client_ids)
        keys, counts = np.unique(actor * len(account_names) + acc, return_counts=True)
        return _Coded(
            account_names=account_names,
            client_names=client_names,
            acc=acc,
            actor=actor,
            cl=cl,
            times=events.times,
            types=events.types,
            known_client=events.client_ids != "",
            actor_events=np.bincount(actor),
            actor_account=keys,
            actor_account_events=counts,
        )

    def focus(self, actors: IntArray, account: int) -> float:
        """Share of these actors' events (any type, any account) that went to `account`."""
        keys = actors * len(self.account_names) + account
        at = np.minimum(np.searchsorted(self.actor_account, keys), len(self.actor_account) - 1)
        on = np.where(self.actor_account[at] == keys, self.actor_account_events[at], 0)
        return float(on.sum() / max(int(self.actor_events[actors].sum()), 1))


def _pattern_candidates(
    pattern: str, coded: _Coded, config: ActorMixConfig
) -> tuple[list[_Candidate], int]:
    """Candidates of one pattern, and how many accounts were tested (the BH family share)."""
    mask = np.isin(coded.types, PATTERN_TYPES[pattern]) & coded.known_client
    if not mask.any():
        return [], 0
    acc, actor, cl, times = coded.acc[mask], coded.actor[mask], coded.cl[mask], coded.times[mask]
    n_acc, n_cl = len(coded.account_names), len(coded.client_names)
    n_actor = len(coded.actor_events)

    account_events = np.bincount(acc, minlength=n_acc)
    share = account_events / float(len(acc))
    per_actor = np.bincount(actor, minlength=n_actor).astype(np.float64)

    # Distinct (client, actor): who is on which fingerprint.
    ca = np.unique(cl * n_actor + actor)
    ca_client, ca_actor = ca // n_actor, ca % n_actor
    client_actors = np.bincount(ca_client, minlength=n_cl)
    eligible = client_actors >= config.min_client_actors
    tested_clients = int(eligible.sum())
    tested_accounts = int(np.count_nonzero(account_events))
    if not tested_clients:
        return [], tested_accounts

    # Distinct (client, account, actor) among eligible clients: actors per (client, account).
    on = eligible[cl]
    cac = np.unique((cl[on] * n_acc + acc[on]) * n_actor + actor[on])
    pair = cac // n_actor
    pairs, first_row, actors_on = np.unique(pair, return_index=True, return_counts=True)
    keep = actors_on >= config.min_actors_on_account
    pairs, first_row, actors_on = pairs[keep], first_row[keep], actors_on[keep]
    p_client, p_acc = pairs // n_acc, pairs % n_acc
    # A farm's actors live for their customer; a household's members, however fond of one
    # account, act on many others too.
    focus = np.array(
        [
            coded.focus(cac[f : f + k] % n_actor, int(a))
            for f, k, a in zip(first_row.tolist(), actors_on.tolist(), p_acc.tolist(), strict=True)
        ]
    )
    devoted = focus >= config.min_focus
    pairs, actors_on, p_client, p_acc, focus = (
        pairs[devoted],
        actors_on[devoted],
        p_client[devoted],
        p_acc[devoted],
        focus[devoted],
    )
    if not len(pairs):
        return [], tested_accounts

    # Expected actors on the account under independent choice, summed over the client's
    # actors: (pair, actor-of-client) rows, each pair expanded over its client's actors.
    order = np.argsort(ca_client, kind="stable")
    by_client_actor = ca_actor[order]
    starts = np.searchsorted(ca_client[order], np.arange(n_cl))
    sizes = client_actors[p_client]
    row_pair = np.repeat(np.arange(len(pairs)), sizes)
    offsets = np.arange(len(row_pair)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    row_actor = by_client_actor[starts[p_client][row_pair] + offsets]
    reach = -np.expm1(per_actor[row_actor] * np.log1p(-np.minimum(share[p_acc][row_pair], 0.999)))
    expected = np.bincount(row_pair, weights=reach, minlength=len(pairs)).astype(np.float64)
    observed = actors_on.astype(np.float64)
    raw = count_neglog10_p(observed, expected, expected)

    out: list[_Candidate] = []
    for a in np.unique(p_acc).tolist():
        rows = np.flatnonzero(p_acc == a)
        best = rows[int(np.argmax(raw[rows]))]
        combined = _combined_neglog10_p(raw[rows], tested_clients)
        ev = (acc == a) & np.isin(cl, p_client[rows])
        out.append(
            _Candidate(
                pattern=pattern,
                account=str(coded.account_names[a]),
                client=str(coded.client_names[p_client[best]]),
                key_client=str(coded.client_names[p_client[rows].min()]),
                actors=int(actors_on[best]),
                expected_actors=float(expected[best]),
                client_actors=int(client_actors[p_client[best]]),
                focus=float(focus[best]),
                events=int(ev.sum()),
                account_events=int(account_events[a]),
                clients=len(rows),
                neglog10_p=combined,
                first=int(times[ev].min()),
                last=int(times[ev].max()),
            )
        )
    return out, tested_accounts


def _combined_neglog10_p(neglog10_p: FloatArray, tested: int) -> float:
    """-log10 of a bound on the p-value that j of the `tested` clients do this well by chance.

    A farm spreads its bots over a few devices, each weak alone. For the best j clients,
    P <= C(tested, j) * product of their p-values (a union bound over which j it could have
    been, valid whatever the dependence); the best j is paid for by the j's tried.
    """
    top = np.sort(np.asarray(neglog10_p, dtype=np.float64))[::-1]
    j = np.arange(1, len(top) + 1)
    log_choose = (
        special.gammaln(tested + 1) - special.gammaln(j + 1) - special.gammaln(tested - j + 1)
    ) / math.log(10.0)
    bound = np.cumsum(top) - log_choose
    return float(max(bound.max() - math.log10(len(top)), 0.0))


def _utc(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


class ActorMixDetector:
    """Finds accounts whose engagement comes from several actors sharing a client fingerprint.

    Takes the judged window's events (like the graph detectors); `detect` raises nothing on
    an empty frame and returns no findings.
    """

    name: ClassVar[str] = "actor_mix"

    def __init__(self, config: ActorMixConfig | None = None) -> None:
        self.config = config or ActorMixConfig()

    def detect(self, events: EventFrame) -> Sequence[Finding]:
        if not len(events):
            return []
        coded = _Coded.of(events)
        candidates: list[_Candidate] = []
        family = 0
        for pattern in PATTERN_TYPES:
            found, tested = _pattern_candidates(pattern, coded, self.config)
            candidates.extend(found)
            family += tested
        if not candidates:
            return []
        q = np.array([c.neglog10_p for c in candidates])
        discovered = bh_discoveries(q, family, self.config.alpha)
        adjusted = bh_adjusted(q, family)
        findings = [
            self._finding(c, float(qv))
            for c, hit, qv in zip(candidates, discovered, adjusted, strict=True)
            if hit and c.neglog10_p >= self.config.min_neglog10_p
        ]
        logger.debug("actor_mix: %d candidates, %d findings", len(candidates), len(findings))
        return findings

    def _finding(self, c: _Candidate, q_value: float) -> Finding:
        kinds = " and ".join(f"{t}s" for t in PATTERN_TYPES[c.pattern])
        score = float(significance_score(np.array(c.neglog10_p), 6.0))
        return Finding(
            detector=self.name,
            pattern=c.pattern,
            subject=c.account,
            # The farm's fingerprint survives a later, overlapping run; the first by name, as
            # which device is the most significant can change as the episode goes on.
            key=f"{c.account}:{c.pattern}:{c.key_client}",
            start_time=_utc(c.first),
            end_time=_utc(c.last + 1),
            score=min(max(score, 0.0), 1.0),
            observed=float(c.actors),
            expected=c.expected_actors,
            explanation=(
                f"{c.actors} of the {c.client_actors} actors on client {c.client} sent "
                f"{kinds} to {c.account} where {c.expected_actors:.2g} were expected from "
                f"independent choice; {c.clients} such client(s) gave {c.events} of the "
                f"account's {c.account_events} {kinds} in the window."
            ),
            evidence=(
                Evidence(
                    "shared_client_actors",
                    {
                        "client_id": c.client,
                        "actors_on_account": float(c.actors),
                        "expected_actors": c.expected_actors,
                        "client_actors": float(c.client_actors),
                        "actor_focus": c.focus,
                        "neglog10_p_corrected": c.neglog10_p,
                        "q_value": q_value,
                    },
                ),
                Evidence(
                    "share_of_account_events",
                    {
                        "events_from_flagged_clients": float(c.events),
                        "account_events": float(c.account_events),
                        "flagged_clients": float(c.clients),
                    },
                ),
            ),
        )
