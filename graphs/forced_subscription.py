"""Forced subscription: follows the users never chose.

Pattern sought: an app, partner site or signup flow that adds follows of an account on the
user's behalf: the follow arrives bundled within seconds with a follow the user did choose (the
same pair again and again across many users), without the user's explicit confirmation, often
from signup_flow / third_party sources, and is often undone within hours once noticed. Each
follow gets the signals as booleans; it looks forced when unconsented and bundled, from a risky
source or quickly undone (when the platform reports no consent at all: quickly undone and
bundled or from a risky source). Per receiving account the share of forced-looking follows is
tested against the platform's share (binomial, Bonferroni over accounts). A consented
onboarding flow (confirmed, kept) is bundled and comes from signup_flow too, but is not forced.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import numpy.typing as npt
from scipy import stats

from detectors.findings import EventFrame, Evidence, Finding
from graphs.frames import IntArray, bounded, encode, example_edges, iso, of_types, ranked, utc
from graphs.shared_client import background_client_share, client_overlap_codes
from graphs.validate import require_at_least, require_positive, require_share

logger = logging.getLogger(__name__)

BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class ForcedSubscriptionConfig:
    """Hyperparameters of the forced subscription detector.

    Attributes:
        bundle_seconds: follows of different accounts by one actor this close are a bundle.
        min_fixed_share: a bundled account is part of a fixed bundle when, on average over its
            partners, at least this share of the partner's bundling users got it too. A flow
            where users choose among suggestions spreads them over the suggestions (each
            chosen by a fraction); a flow that adds the account to everyone does not.
        max_bundle_size: most follows looked at in one bundle (pairs up to this offset).
        min_bundle_actors: an account pair counts as bundled when this many distinct actors
            made it; a single user quickly following two accounts is not a bundle.
        risky_sources: sources where a follow may be added without the user choosing it.
        undo_seconds: an unfollow this soon after the follow means the follow was unwanted.
        min_follows: accounts with fewer follows in the window are not judged.
        min_forced, min_forced_share, min_lift: floors on the count, share and share over the
            platform share of forced-looking follows, beside the significance test.
        alpha: family-wise error rate over the judged accounts (Bonferroni).
        baseline_floor: lowest platform share used, so a spotless platform doesn't make one
            stray follow significant.
        max_partners: bundled partner accounts listed per finding.
        min_score: findings scored lower are dropped.
    """

    bundle_seconds: int = 5
    min_fixed_share: float = 0.8
    max_bundle_size: int = 8
    min_bundle_actors: int = 5
    risky_sources: tuple[str, ...] = ("signup_flow", "third_party")
    undo_seconds: int = 6 * 3600
    min_follows: int = 30
    min_forced: int = 20
    min_forced_share: float = 0.2
    min_lift: float = 3.0
    alpha: float = 0.01
    baseline_floor: float = 1e-3
    max_partners: int = 50
    min_score: float = 0.05


@dataclass(frozen=True, slots=True)
class _Signals:
    bundled: BoolArray
    fixed: BoolArray  # bundled, and the account is in a fixed bundle (see min_fixed_share)
    fixed_share: npt.NDArray[np.float64]  # per account
    risky: BoolArray
    undone: BoolArray
    unconsented: BoolArray
    forced: BoolArray
    consent_reported: bool
    pair_lo: IntArray  # repeated bundled pairs (account codes, lo < hi) ...
    pair_hi: IntArray
    pair_actors: IntArray  # ... and how many distinct actors made each


@dataclass(frozen=True, slots=True)
class _Tally:
    """Everything a finding needs, computed once per run for all accounts."""

    ev: EventFrame
    actors: IntArray
    accounts: IntArray
    actor_names: npt.NDArray[np.str_]
    account_names: npt.NDArray[np.str_]
    sig: _Signals
    follows: IntArray  # per account
    forced: IntArray
    counts: dict[str, IntArray]  # per signal, per account
    platform: dict[str, float]  # per signal, platform share of follows
    p0: float  # expected forced share under the platform baseline
    clients: IntArray  # per event: client code, -1 when unknown
    client_names: npt.NDArray[np.str_]
    client_background: float  # platform share of actors on a client shared with another


class ForcedSubscriptionDetector:
    """Finds accounts receiving follows their followers did not choose."""

    name: ClassVar[str] = "forced_subscription"

    def __init__(self, config: ForcedSubscriptionConfig | None = None) -> None:
        self.config = config or ForcedSubscriptionConfig()
        c = self.config
        require_positive(c, "bundle_seconds", "undo_seconds", "max_partners")
        require_at_least(c, "max_bundle_size", 2)
        require_at_least(c, "min_bundle_actors", 2)
        require_at_least(c, "min_follows", 1)
        require_at_least(c, "min_forced", 1)
        require_at_least(c, "min_lift", 1.0)
        require_share(c, "min_forced_share", "alpha", "baseline_floor", "min_fixed_share")
        require_share(c, "min_score", allow_zero=True)

    def detect(self, events: EventFrame) -> list[Finding]:
        c = self.config
        ev = of_types(events, ("follow", "unfollow"))
        if len(ev) == 0:
            return []
        actor_names, actors = encode(ev.actor_ids)
        account_names, accounts = encode(ev.account_ids)
        is_follow = ev.types == "follow"
        if not is_follow.any():
            return []
        sig = self._signals(ev, actors, accounts, is_follow, len(account_names))

        n_acc = len(account_names)

        def per_account(mask: BoolArray) -> IntArray:
            return np.bincount(accounts[mask & is_follow], minlength=n_acc)

        follows = per_account(is_follow)
        forced = per_account(sig.forced)
        platform = {
            name: float(per_account(m).sum()) / float(follows.sum())
            for name, m in (
                ("forced", sig.forced),
                ("bundled", sig.bundled),
                ("fixed_bundle", sig.fixed),
                ("unconsented", sig.unconsented),
                ("risky_source", sig.risky),
                ("undone", sig.undone),
            )
        }
        p0 = max(platform["forced"], c.baseline_floor)
        judged = follows >= c.min_follows
        n_judged = max(int(judged.sum()), 1)
        share = forced / np.maximum(follows, 1)
        cand = np.flatnonzero(
            judged
            & (forced >= c.min_forced)
            & (share >= c.min_forced_share)
            & (share >= c.min_lift * p0)
        )
        if len(cand) == 0:
            return []
        pvalue = stats.binom.sf(forced[cand] - 1, follows[cand], p0)
        cand, pvalue = cand[pvalue <= c.alpha / n_judged], pvalue[pvalue <= c.alpha / n_judged]
        counts = {
            "bundled": per_account(sig.bundled),
            "fixed_bundle": per_account(sig.fixed),
            "unconsented": per_account(sig.unconsented),
            "risky_source": per_account(sig.risky),
            "undone": per_account(sig.undone),
        }
        client_names, clients = encode(ev.client_ids)
        if len(client_names) and client_names[0] == "":
            client_names, clients = client_names[1:], clients - 1  # unknown -> -1
        tally = _Tally(
            ev=ev,
            actors=actors,
            accounts=accounts,
            actor_names=actor_names,
            account_names=account_names,
            sig=sig,
            follows=follows,
            forced=forced,
            counts=counts,
            platform=platform,
            p0=p0,
            clients=clients,
            client_names=client_names,
            client_background=background_client_share(actors[is_follow], clients[is_follow]),
        )
        findings: list[Finding] = []
        for acc, pv in zip(cand.tolist(), pvalue.tolist(), strict=True):
            f = self._finding(acc, pv, tally)
            if f.score >= c.min_score:
                findings.append(f)
        findings.sort(key=lambda x: (-x.score, x.subject))
        logger.info(
            "forced_subscription: %d accounts flagged of %d judged", len(findings), n_judged
        )
        return findings

    def _signals(
        self,
        ev: EventFrame,
        actors: IntArray,
        accounts: IntArray,
        is_follow: BoolArray,
        n_accounts: int,
    ) -> _Signals:
        c = self.config
        n = len(ev)
        times = ev.times

        # Bundles: follows of one actor, in time order, compared with the next few follows.
        fidx = np.flatnonzero(is_follow)
        order = fidx[np.lexsort((times[fidx], actors[fidx]))]
        ev_i: list[IntArray] = []
        ev_j: list[IntArray] = []
        for k in range(1, c.max_bundle_size):
            i, j = order[:-k], order[k:]
            close = (actors[i] == actors[j]) & (times[j] - times[i] <= c.bundle_seconds)
            if not close.any():
                break
            close &= accounts[i] != accounts[j]
            ev_i.append(i[close])
            ev_j.append(j[close])
        bi = np.concatenate(ev_i) if ev_i else np.zeros(0, dtype=np.int64)
        bj = np.concatenate(ev_j) if ev_j else np.zeros(0, dtype=np.int64)
        lo = np.minimum(accounts[bi], accounts[bj])
        hi = np.maximum(accounts[bi], accounts[bj])
        pair = lo * n_accounts + hi
        # Distinct actors per account pair: a pair bundled by many users is a product feature.
        o = np.lexsort((actors[bi], pair))
        ps, as_ = pair[o], actors[bi][o]
        first = np.ones(len(ps), dtype=bool)
        first[1:] = (ps[1:] != ps[:-1]) | (as_[1:] != as_[:-1])
        upairs, n_actors = np.unique(ps[first], return_counts=True)
        repeated = upairs[n_actors >= c.min_bundle_actors]
        in_repeated = np.isin(pair, repeated)
        bundled = np.zeros(n, dtype=bool)
        bundled[bi[in_repeated]] = True
        bundled[bj[in_repeated]] = True

        # Undone: the actor's next event on the same account is an unfollow, soon.
        o2 = np.lexsort((times, accounts, actors))
        i, j = o2[:-1], o2[1:]
        quick = (
            (actors[i] == actors[j])
            & (accounts[i] == accounts[j])
            & is_follow[i]
            & ~is_follow[j]
            & (times[j] - times[i] <= c.undo_seconds)
        )
        undone = np.zeros(n, dtype=bool)
        undone[i[quick]] = True

        keep = n_actors >= c.min_bundle_actors
        fixed_share = self._fixed_share(
            upairs[keep], n_actors[keep], accounts[bundled], actors[bundled], n_accounts
        )
        fixed = bundled & (fixed_share[accounts] >= c.min_fixed_share)

        risky = np.isin(ev.sources, np.asarray(c.risky_sources)) & is_follow
        unconsented = ~ev.consented & is_follow
        consent_reported = bool(ev.consented[is_follow].any())
        if consent_reported:
            forced = unconsented & (bundled | risky | undone)
        else:
            # Without consent data a bundled signup_flow follow may be a confirmed onboarding
            # choice; it looks forced only when the user soon undid it and it was either
            # added to everyone (a fixed bundle) or came from a risky source.
            forced = undone & (fixed | risky)
        return _Signals(
            bundled=bundled & is_follow,
            fixed=fixed & is_follow,
            fixed_share=fixed_share,
            risky=risky,
            undone=undone,
            unconsented=unconsented,
            forced=forced,
            consent_reported=consent_reported,
            pair_lo=upairs[keep] // n_accounts,
            pair_hi=upairs[keep] % n_accounts,
            pair_actors=n_actors[keep],
        )

    @staticmethod
    def _fixed_share(
        pairs: IntArray,
        pair_actors: IntArray,
        bundled_accounts: IntArray,
        bundled_actors: IntArray,
        n_accounts: int,
    ) -> npt.NDArray[np.float64]:
        """Per account: of the users who bundled a partner account, the share who got this one.

        Averaged over the account's partners, weighted by pair size. About 1 for an account
        added to every bundle; about k/n when users pick k of n suggestions.
        """
        lo, hi = pairs // n_accounts, pairs % n_accounts
        n_acc = n_accounts
        # Distinct bundling users per account.
        span = int(bundled_actors.max(initial=0)) + 1
        distinct = np.unique(bundled_accounts * span + bundled_actors)
        per_account = np.bincount(distinct // span, minlength=n_acc).astype(np.float64)
        w = pair_actors.astype(np.float64)
        # For lo: the share of hi's bundling users who also bundled lo with it; and vice versa.
        num = np.bincount(lo, weights=w * w / np.maximum(per_account[hi], 1), minlength=n_acc)
        num += np.bincount(hi, weights=w * w / np.maximum(per_account[lo], 1), minlength=n_acc)
        den = np.bincount(lo, weights=w, minlength=n_acc) + np.bincount(
            hi, weights=w, minlength=n_acc
        )
        return np.where(den > 0, num / np.maximum(den, 1e-12), 0.0)

    def _finding(self, acc: int, pvalue: float, t: _Tally) -> Finding:
        c = self.config
        ev, actors, accounts, sig = t.ev, t.actors, t.accounts, t.sig
        actor_names, account_names = t.actor_names, t.account_names
        counts, platform = t.counts, t.platform
        subject = str(account_names[acc])
        rows = np.flatnonzero(sig.forced & (accounts == acc))  # in time order
        n, k = int(t.follows[acc]), int(t.forced[acc])
        share = k / n

        with_acc = (sig.pair_lo == acc) | (sig.pair_hi == acc)
        partners = np.where(
            sig.pair_lo[with_acc] == acc, sig.pair_hi[with_acc], sig.pair_lo[with_acc]
        )
        weight = sig.pair_actors[with_acc]
        by_weight = np.lexsort((partners, -weight))
        partners, weight = partners[by_weight], weight[by_weight]

        _, first_rows = np.unique(actors[rows], return_index=True)
        member_rows = rows[np.sort(first_rows)]  # earliest forced follow first

        signal_values: dict[str, float | str] = {"consent_reported": str(sig.consent_reported)}
        for name, cnt in counts.items():
            signal_values[f"{name}_share"] = int(cnt[acc]) / n
            signal_values[f"platform_{name}_share"] = platform[name]
            # Is this account's rate of the signal unusual for the platform? (binomial tail)
            signal_values[f"{name}_p_value"] = float(
                stats.binom.sf(int(cnt[acc]) - 1, n, max(platform[name], c.baseline_floor))
            )
        signal_values["fixed_bundle_share"] = float(sig.fixed_share[acc])
        bundle_values: dict[str, float | str] = {
            "bundle_seconds": float(c.bundle_seconds),
            "partner_accounts": float(len(partners)),
        }
        if len(partners):
            bundle_values["top_partner"] = str(account_names[partners[0]])
            bundle_values["top_partner_actors"] = float(weight[0])
        evidence = (
            Evidence(
                "observed_vs_expected",
                {
                    "follows": float(n),
                    "forced_follows": float(k),
                    "forced_share": share,
                    "platform_forced_share": platform["forced"],
                    "expected_share": t.p0,
                    "lift": share / t.p0,
                    "p_value": pvalue,
                    "members": float(len(member_rows)),
                    "targets": float(1 + len(partners)),
                    "member_sample": ", ".join(actor_names[actors[member_rows[:5]]].tolist()),
                    "target_sample": ", ".join([subject, *account_names[partners[:4]].tolist()]),
                    "first_action": iso(ev.times[rows].min()),
                    "last_action": iso(ev.times[rows].max()),
                    "time_span_seconds": float(ev.times[rows].max() - ev.times[rows].min()),
                },
            ),
            # What hides the forced follows: the account's ordinary follows beside them.
            Evidence("camouflage", {"share_of_account_follows_not_forced": 1.0 - share}),
            client_overlap_codes(
                actors, t.clients, np.unique(actors[rows]), t.client_names, t.client_background
            ).evidence(),
            Evidence("signals", signal_values),
            Evidence("bundles", bundle_values),
            Evidence(
                "example_edges",
                example_edges(
                    actor_names, account_names, actors[rows], accounts[rows], ev.times[rows]
                ),
            ),
        )
        parts = [
            f"{int(counts['bundled'][acc])} bundled within {c.bundle_seconds} s with follows "
            "of other accounts"
            + (f" (mostly {account_names[partners[0]]})" if len(partners) else ""),
            f"{int(counts['unconsented'][acc])} without the user's confirmation",
            f"{int(counts['undone'][acc])} undone within {c.undo_seconds // 3600 or 1} hours",
        ]
        explanation = (
            f"{k} of the {n} follows {subject} received ({share:.0%}, platform "
            f"{platform['forced']:.1%}) look forced: " + ", ".join(parts) + "."
        )
        size = 1.0 - math.exp(-k / 25.0)
        score = min(1.0, max(0.0, math.sqrt(share) * size * (1.0 - t.p0 / share)))
        return Finding(
            detector=self.name,
            pattern="forced_subscription",
            subject=subject,
            key=f"forced_subscription:{subject}",
            start_time=utc(ev.times[rows].min()),
            end_time=utc(ev.times[rows].max()),
            score=score,
            observed=share,
            expected=t.p0,
            explanation=explanation,
            evidence=evidence,
            member_ids=ranked(actor_names, actors[member_rows]),
            metric="follows",
            target_ids=(subject, *bounded(account_names, partners, c.max_partners)),
            member_count=len(member_rows),
            target_count=1 + len(partners),
        )
