"""Seeded synthetic platform traffic with planted fraud, for the graph detectors' tests and benches.

Organic traffic: 20k users, 2k accounts with power-law popularity, a week of follows, unfollows,
shares and clicks with diurnal timing, browsing sessions, realistic sources and mostly consented
follows, personal devices plus a few shared ones (families, internet cafes). Planted cases are
built separately and merged, so each test says exactly what it adds. Everything is seeded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from detectors.findings import EventFrame

T0 = 1_704_067_200  # 2024-01-01T00:00:00Z, a Monday
DAY = 86_400
WEEK = 7 * DAY
ORGANIC_SOURCES = ("profile", "search", "recommendation", "signup_flow", "third_party")
ORGANIC_SOURCE_P = (0.40, 0.20, 0.35, 0.03, 0.02)


@dataclass
class Rows:
    """Column lists that become an EventFrame; planted cases append to one of these."""

    actor: list[npt.NDArray[Any]] = field(default_factory=list)
    account: list[npt.NDArray[Any]] = field(default_factory=list)
    type: list[npt.NDArray[Any]] = field(default_factory=list)
    time: list[npt.NDArray[Any]] = field(default_factory=list)
    content: list[npt.NDArray[Any]] = field(default_factory=list)
    source: list[npt.NDArray[Any]] = field(default_factory=list)
    consented: list[npt.NDArray[Any]] = field(default_factory=list)
    client: list[npt.NDArray[Any]] = field(default_factory=list)

    def add(
        self,
        actor: npt.ArrayLike,
        account: npt.ArrayLike,
        type_: str | npt.ArrayLike,
        time: npt.ArrayLike,
        *,
        content: str | npt.ArrayLike = "",
        source: str | npt.ArrayLike = "profile",
        consented: bool | npt.ArrayLike = True,
        client: str | npt.ArrayLike = "",
    ) -> None:
        actor_a = np.asarray(actor, dtype=str)
        n = len(actor_a)

        def col(v: str | bool | npt.ArrayLike, dtype: type) -> npt.NDArray[Any]:
            arr: npt.NDArray[Any] = np.asarray(v, dtype=dtype)
            return np.full(n, arr, dtype=arr.dtype) if arr.ndim == 0 else arr

        self.actor.append(actor_a)
        self.account.append(col(account, str))
        self.type.append(col(type_, str))
        self.time.append(np.asarray(time, dtype=np.int64))
        self.content.append(col(content, str))
        self.source.append(col(source, str))
        self.consented.append(col(consented, bool))
        self.client.append(col(client, str))

    def frame(self) -> EventFrame:
        return to_frame(self)


def to_frame(*parts: Rows) -> EventFrame:
    """Merge row sets into one EventFrame sorted by time."""

    def cat(name: str) -> npt.NDArray[Any]:
        return np.concatenate([a for p in parts for a in getattr(p, name)])

    times = cat("time").astype(np.int64)
    order = np.argsort(times, kind="stable")
    return EventFrame(
        actor_ids=cat("actor")[order],
        account_ids=cat("account")[order],
        types=cat("type")[order],
        times=times[order],
        content_ids=cat("content")[order],
        sources=cat("source")[order],
        consented=cat("consented").astype(bool)[order],
        client_ids=cat("client")[order],
    )


def diurnal_times(rng: np.random.Generator, n: int) -> npt.NDArray[np.int64]:
    """Times over the week, busiest in the evening, quietest before dawn."""
    hours = np.arange(24)
    weight = 1.0 + 0.8 * np.sin((hours - 14) / 24 * 2 * np.pi)
    hour = rng.choice(24, size=n, p=weight / weight.sum())
    day = rng.integers(0, 7, size=n)
    return T0 + day * DAY + hour * 3600 + rng.integers(0, 3600, size=n)


@dataclass
class Organic:
    """The organic platform and what tests need to plant cases into it."""

    rows: Rows
    users: npt.NDArray[np.str_]
    accounts: npt.NDArray[np.str_]  # by popularity, most popular first
    popularity: npt.NDArray[np.float64]  # follow probability of each account (same order)
    contents: npt.NDArray[np.str_]
    content_owner: npt.NDArray[np.str_]
    user_client: npt.NDArray[np.str_]


def make_organic(seed: int = 7, n_users: int = 20_000, n_accounts: int = 2_000) -> Organic:
    rng = np.random.default_rng(seed)
    users = np.array([f"u{i:05d}" for i in range(n_users)])
    accounts = np.array([f"a{i:04d}" for i in rng.permutation(n_accounts)])
    weight = 1.0 / np.arange(1, n_accounts + 1, dtype=np.float64) ** 0.9
    popularity: npt.NDArray[np.float64] = weight / weight.sum()

    # Devices: mostly one per user; some families share one; five internet cafes of 25 users.
    user_client = np.array([f"dev{i:05d}" for i in range(n_users)])
    family = rng.choice(n_users, size=600, replace=False)
    user_client[family[1::2]] = user_client[family[0::2]]
    cafe_users = rng.choice(np.setdiff1d(np.arange(n_users), family), size=125, replace=False)
    for k in range(5):
        user_client[cafe_users[k * 25 : (k + 1) * 25]] = f"cafe{k}"

    rows = Rows()
    # Follows come in browsing sessions: a few follows, tens of seconds apart.
    per_user = np.maximum(1, rng.lognormal(1.5, 0.9, size=n_users).astype(np.int64))
    per_user = np.minimum(per_user, 300)
    actor_idx = np.repeat(np.arange(n_users), per_user)
    n_f = len(actor_idx)
    session_len = 3
    session_of = np.arange(n_f) // session_len  # consecutive follows of one user share a session
    starts = diurnal_times(rng, int(session_of.max()) + 1)
    gaps = rng.exponential(60.0, size=n_f).astype(np.int64)
    f_time = starts[session_of] + gaps
    f_acc = rng.choice(n_accounts, size=n_f, p=popularity)
    src = rng.choice(len(ORGANIC_SOURCES), size=n_f, p=ORGANIC_SOURCE_P)
    consented = rng.random(n_f) < 0.98
    rows.add(
        users[actor_idx],
        accounts[f_acc],
        "follow",
        f_time,
        source=np.array(ORGANIC_SOURCES)[src],
        consented=consented,
        client=user_client[actor_idx],
    )
    # Some follows are undone: a few within hours (changed their mind), most days later.
    undo = rng.random(n_f) < 0.06
    quick = rng.random(n_f) < 0.2
    delay = np.where(quick, rng.exponential(3 * 3600, n_f), rng.uniform(DAY, 5 * DAY, n_f))
    u_time = f_time + delay.astype(np.int64)
    undo &= u_time < T0 + WEEK
    rows.add(
        users[actor_idx[undo]],
        accounts[f_acc[undo]],
        "unfollow",
        u_time[undo],
        source="profile",
        client=user_client[actor_idx[undo]],
    )

    # Content: popular accounts post more; shares follow the post, decaying over hours.
    n_posts = 1 + rng.poisson(popularity * 20_000)
    owner_idx = np.repeat(np.arange(n_accounts), n_posts)
    contents = np.array([f"{accounts[o]}/p{k}" for k, o in enumerate(owner_idx)])
    post_time = T0 + rng.integers(0, WEEK, size=len(contents))
    post_weight = popularity[owner_idx] / n_posts[owner_idx]
    post_weight /= post_weight.sum()
    per_user_s = np.minimum(np.maximum(0, rng.lognormal(0.8, 0.9, n_users).astype(np.int64)), 200)
    s_actor = np.repeat(np.arange(n_users), per_user_s)
    s_post = rng.choice(len(contents), size=len(s_actor), p=post_weight)
    s_time = post_time[s_post] + rng.exponential(6 * 3600, len(s_actor)).astype(np.int64)
    rows.add(
        users[s_actor],
        accounts[owner_idx[s_post]],
        "share",
        s_time,
        content=contents[s_post],
        source="recommendation",
        client=user_client[s_actor],
    )
    n_c = 80_000
    c_actor = rng.integers(0, n_users, n_c)
    c_post = rng.choice(len(contents), size=n_c, p=post_weight)
    c_time = post_time[c_post] + rng.exponential(4 * 3600, n_c).astype(np.int64)
    rows.add(
        users[c_actor],
        accounts[owner_idx[c_post]],
        "click",
        c_time,
        content=contents[c_post],
        source="search",
        client=user_client[c_actor],
    )
    return Organic(
        rows=rows,
        users=users,
        accounts=accounts,
        popularity=popularity,
        contents=contents,
        content_owner=accounts[owner_idx],
        user_client=user_client,
    )


@dataclass
class Planted:
    rows: Rows
    members: set[str]
    targets: set[str]


def plant_lockstep(
    org: Organic,
    seed: int,
    *,
    n_members: int = 50,
    n_targets: int = 30,
    spread_seconds: int = 180,
    participation: float = 0.9,
    camouflage: int = 10,
    prefix: str = "lk",
    targets: npt.NDArray[np.str_] | None = None,
    bursts: npt.NDArray[np.int64] | None = None,
) -> Planted:
    """A follow farm: members follow each customer within minutes, plus organic camouflage."""
    rng = np.random.default_rng(seed)
    members = np.array([f"bot-{prefix}{i:03d}" for i in range(n_members)])
    if targets is None:
        targets = rng.choice(org.accounts[200:1500], size=n_targets, replace=False)
    if bursts is None:
        bursts = T0 + rng.integers(0, WEEK - 3600, size=len(targets))
    rows = Rows()
    for tgt, t0 in zip(targets, bursts, strict=True):
        who = members[rng.random(n_members) < participation]
        rows.add(
            who,
            tgt,
            "follow",
            t0 + rng.integers(0, spread_seconds, len(who)),
            source="recommendation",
            client=np.char.add("dev-", who),
        )
    cam_actor = np.repeat(members, camouflage)
    cam_acc = rng.choice(len(org.accounts), size=len(cam_actor), p=org.popularity)
    rows.add(
        cam_actor,
        org.accounts[cam_acc],
        "follow",
        diurnal_times(rng, len(cam_actor)),
        source="search",
        client=np.char.add("dev-", cam_actor),
    )
    return Planted(rows, set(members.tolist()), set(targets.tolist()))


def plant_celebrity(org: Organic, seed: int, *, n_followers: int = 5_000) -> Planted:
    """One account's organic burst: thousands of unrelated users follow it over a few hours."""
    rng = np.random.default_rng(seed)
    celeb = org.accounts[700]
    fans = rng.choice(org.users, size=n_followers, replace=False)
    t = T0 + 3 * DAY + 18 * 3600 + rng.gamma(2.0, 3600.0, n_followers).astype(np.int64)
    rows = Rows()
    src = rng.choice(["profile", "search", "recommendation"], size=n_followers)
    idx = np.searchsorted(org.users, fans)
    rows.add(fans, celeb, "follow", t, source=src, client=org.user_client[idx])
    return Planted(rows, set(), {str(celeb)})


def plant_onboarding(org: Organic, seed: int, *, n_new: int = 2_000) -> Planted:
    """A legitimate onboarding flow: new users pick a suggested bundle, confirming it."""
    rng = np.random.default_rng(seed)
    bundle = org.accounts[:5]
    new = np.array([f"new{i:05d}" for i in range(n_new)])
    start = diurnal_times(rng, n_new)
    rows = Rows()
    for k, acc in enumerate(bundle):
        rows.add(
            new,
            acc,
            "follow",
            start + k + rng.integers(0, 2, n_new),
            source="signup_flow",
            consented=True,
            client=np.char.add("dev-", new),
        )
    return Planted(rows, set(new.tolist()), set(bundle.tolist()))


def plant_forced(org: Organic, seed: int, *, n_actors: int = 800) -> Planted:
    """Forced bundling: following a popular account silently adds a follow of `forced`."""
    rng = np.random.default_rng(seed)
    forced = org.accounts[900]
    chosen = org.accounts[10:20]
    who = rng.choice(org.users, size=n_actors, replace=False)
    client = org.user_client[np.searchsorted(org.users, who)]
    t = diurnal_times(rng, n_actors)
    pick = chosen[rng.integers(0, len(chosen), n_actors)]
    rows = Rows()
    rows.add(who, pick, "follow", t, source="profile", consented=True, client=client)
    ft = t + rng.integers(0, 3, n_actors)
    rows.add(who, forced, "follow", ft, source="third_party", consented=False, client=client)
    undone = rng.random(n_actors) < 0.4
    rows.add(
        who[undone],
        forced,
        "unfollow",
        ft[undone] + rng.integers(1800, 3 * 3600, int(undone.sum())),
        client=client[undone],
    )
    return Planted(rows, set(who.tolist()), {str(forced)})


def plant_coordinated(
    org: Organic,
    seed: int,
    *,
    n_members: int = 30,
    n_contents: int = 20,
    within_seconds: int = 20,
    participation: float = 0.9,
) -> Planted:
    """A sharing ring: the same members share the same posts within seconds, post after post."""
    rng = np.random.default_rng(seed)
    members = np.array([f"bot-cs{i:03d}" for i in range(n_members)])
    owners = org.accounts[300:305]
    rows = Rows()
    targets: set[str] = set()
    for k in range(n_contents):
        owner = owners[k % len(owners)]
        content = f"{owner}/ring{k}"
        targets.add(str(owner))
        who = members[rng.random(n_members) < participation]
        t0 = T0 + int(rng.integers(0, WEEK - 600))
        rows.add(
            who,
            owner,
            "share",
            t0 + rng.integers(0, within_seconds, len(who)),
            content=content,
            source="third_party",
            client=np.char.add("dev-", who),
        )
    # Camouflage: each member also shares a few ordinary posts at ordinary times.
    cam = np.repeat(members, 8)
    post = rng.integers(0, len(org.contents), len(cam))
    rows.add(
        cam,
        org.content_owner[post],
        "share",
        diurnal_times(rng, len(cam)),
        content=org.contents[post],
        source="recommendation",
        client=np.char.add("dev-", cam),
    )
    return Planted(rows, set(members.tolist()), targets)


def plant_viral(org: Organic, seed: int, *, n_sharers: int = 3_000) -> Planted:
    """A viral post: thousands of unrelated users share it over a few hours."""
    rng = np.random.default_rng(seed)
    post = org.contents[5]
    owner = org.content_owner[5]
    who = rng.choice(org.users, size=n_sharers, replace=False)
    t = T0 + 2 * DAY + 12 * 3600 + rng.gamma(1.5, 3600.0, n_sharers).astype(np.int64)
    rows = Rows()
    rows.add(
        who,
        owner,
        "share",
        t,
        content=post,
        source="recommendation",
        client=org.user_client[np.searchsorted(org.users, who)],
    )
    return Planted(rows, set(), {str(owner)})


def plant_shared_client(
    org: Organic, seed: int, *, n_actors: int = 60, n_targets: int = 15, client: str = "farm7"
) -> Planted:
    """A phone farm: one device fingerprint runs many accounts that follow the same customers,
    spread over the week (so not in lockstep), with some popular follows mixed in."""
    rng = np.random.default_rng(seed)
    actors = np.array([f"bot-sc{i:03d}" for i in range(n_actors)])
    targets = rng.choice(org.accounts[100:1800], size=n_targets, replace=False)
    rows = Rows()
    for tgt in targets:
        who = actors[rng.random(n_actors) < 0.8]
        rows.add(who, tgt, "follow", diurnal_times(rng, len(who)), client=client)
    cam = np.repeat(actors, 5)
    acc = rng.choice(len(org.accounts), size=len(cam), p=org.popularity)
    rows.add(cam, org.accounts[acc], "follow", diurnal_times(rng, len(cam)), client=client)
    return Planted(rows, set(actors.tolist()), set(targets.tolist()))


def member_f1(found: set[str], truth: set[str]) -> float:
    """F1 of a found member set against the planted one (how benches and tests grade groups)."""
    tp = len(found & truth)
    if tp == 0:
        return 0.0
    precision, recall = tp / len(found), tp / len(truth)
    return 2 * precision * recall / (precision + recall)


@dataclass
class ShareStream:
    """A large share stream with planted rings (see `make_share_stream`)."""

    frame: EventFrame
    rings: list[Planted]


def _ids(prefix: str, n: int) -> npt.NDArray[np.str_]:
    width = len(str(max(n - 1, 0)))
    return np.char.add(prefix, np.char.zfill(np.arange(n).astype(str), width))


def make_share_stream(
    n_shares: int,
    seed: int = 11,
    *,
    n_rings: int = 10,
    ring_members: int = 40,
    ring_posts: int = 30,
    within_seconds: int = 20,
) -> ShareStream:
    """Shares at platform scale: Zipf-popular posts shared over hours after publication.

    Built with array indexing only, so 10M rows take seconds. The head posts draw hundreds of
    thousands of shares (several per second at their peak): the crowd the coordinated sharing
    detector must not pair. Each ring's members share each of its posts within
    `within_seconds`, and share ordinary posts at ordinary times too (camouflage).
    """
    rng = np.random.default_rng(seed)
    n_users = max(1_000, n_shares // 20)
    n_contents = max(200, n_shares // 40)
    n_accounts = max(20, n_contents // 20)
    users, contents, accounts = _ids("u", n_users), _ids("c", n_contents), _ids("a", n_accounts)
    owner = rng.integers(0, n_accounts, n_contents)
    published = T0 + rng.integers(0, WEEK, n_contents)
    weight = 1.0 / np.arange(1, n_contents + 1, dtype=np.float64) ** 1.1
    activity = rng.lognormal(0.0, 1.0, n_users)

    n_org = n_shares - n_rings * ring_members * (ring_posts + 10)
    post = rng.choice(n_contents, size=n_org, p=weight / weight.sum())
    who = rng.choice(n_users, size=n_org, p=activity / activity.sum())
    t = published[post] + rng.exponential(3 * 3600.0, n_org).astype(np.int64)
    rows = Rows()
    rows.add(
        users[who],
        accounts[owner[post]],
        "share",
        t,
        content=contents[post],
        source="recommendation",
        client=np.char.add("d", users[who]),
    )
    rings: list[Planted] = []
    for r in range(n_rings):
        members = _ids(f"bot-r{r:02d}-", ring_members)
        ring_rows = Rows()
        targets = accounts[rng.choice(n_accounts, size=3, replace=False)]
        for k in range(ring_posts):
            who_r = members[rng.random(ring_members) < 0.9]
            t0 = T0 + int(rng.integers(0, WEEK - 600))
            ring_rows.add(
                who_r,
                targets[k % 3],
                "share",
                t0 + rng.integers(0, within_seconds, len(who_r)),
                content=f"ring{r:02d}-post{k:02d}",
                source="third_party",
                client=np.char.add("d", who_r),
            )
        cam = np.repeat(members, 10)
        cam_post = rng.choice(n_contents, size=len(cam), p=weight / weight.sum())
        ring_rows.add(
            cam,
            accounts[owner[cam_post]],
            "share",
            published[cam_post] + rng.exponential(3 * 3600.0, len(cam)).astype(np.int64),
            content=contents[cam_post],
            source="recommendation",
            client=np.char.add("d", cam),
        )
        rows.actor += ring_rows.actor
        rows.account += ring_rows.account
        rows.type += ring_rows.type
        rows.time += ring_rows.time
        rows.content += ring_rows.content
        rows.source += ring_rows.source
        rows.consented += ring_rows.consented
        rows.client += ring_rows.client
        rings.append(Planted(ring_rows, set(members.tolist()), set(targets.tolist())))
    return ShareStream(to_frame(rows), rings)


def plant_onboarding_choice(
    org: Organic, seed: int, *, n_new: int = 2_000, n_suggested: int = 10, undo_share: float = 0.04
) -> Planted:
    """A legitimate onboarding: new users pick 2-5 of the suggested accounts, confirming each,
    within seconds; a few undo one later."""
    rng = np.random.default_rng(seed)
    suggested = org.accounts[20 : 20 + n_suggested]
    new = np.array([f"newc{i:05d}" for i in range(n_new)])
    start = diurnal_times(rng, n_new)
    rows = Rows()
    for user, t0 in zip(new, start, strict=True):
        picks = rng.choice(suggested, size=int(rng.integers(2, 6)), replace=False)
        t = t0 + np.arange(len(picks))
        rows.add(
            np.full(len(picks), user), picks, "follow", t, source="signup_flow", client=f"d-{user}"
        )
        undo = rng.random(len(picks)) < undo_share
        if undo.any():
            rows.add(
                np.full(int(undo.sum()), user),
                picks[undo],
                "unfollow",
                t[undo] + int(rng.integers(1800, 5 * 3600)),
                client=f"d-{user}",
            )
    return Planted(rows, set(new.tolist()), set(suggested.tolist()))


def plant_forced_signup(
    org: Organic, seed: int, *, n_new: int = 1_500, undo_share: float = 0.45
) -> Planted:
    """A forced signup flow: every new user also gets the same two accounts followed, without
    confirming them, beside 1-3 suggestions they chose; many undo the added ones soon."""
    rng = np.random.default_rng(seed)
    fixed = org.accounts[950:952]
    suggested = org.accounts[40:50]
    new = np.array([f"news{i:05d}" for i in range(n_new)])
    start = diurnal_times(rng, n_new)
    rows = Rows()
    for k, acc in enumerate(fixed):
        rows.add(new, acc, "follow", start + k, source="signup_flow", consented=False)
        undo = rng.random(n_new) < undo_share
        rows.add(
            new[undo],
            acc,
            "unfollow",
            start[undo] + rng.integers(600, 4 * 3600, int(undo.sum())),
        )
    for user, t0 in zip(new, start, strict=True):
        picks = rng.choice(suggested, size=int(rng.integers(1, 4)), replace=False)
        rows.add(
            np.full(len(picks), user),
            picks,
            "follow",
            t0 + 2 + np.arange(len(picks)),
            source="signup_flow",
        )
    return Planted(rows, set(new.tolist()), set(fixed.tolist()))


def plant_third_party(
    org: Organic, seed: int, *, n_actors: int = 600, consented: bool = False
) -> Planted:
    """A partner app adds a follow of one account for its users, one follow each (no bundle),
    spread over the week. Unconsented, about half undo it within hours; consented (the app
    asked), few do."""
    rng = np.random.default_rng(seed)
    target = org.accounts[1200 if not consented else 1300]
    who = rng.choice(org.users, size=n_actors, replace=False)
    client = org.user_client[np.searchsorted(org.users, who)]
    t = diurnal_times(rng, n_actors)
    rows = Rows()
    rows.add(who, target, "follow", t, source="third_party", consented=consented, client=client)
    undo = rng.random(n_actors) < (0.03 if consented else 0.5)
    rows.add(
        who[undo],
        target,
        "unfollow",
        t[undo] + rng.integers(1800, 5 * 3600, int(undo.sum())),
        client=client[undo],
    )
    return Planted(rows, set(who.tolist()), {str(target)})
