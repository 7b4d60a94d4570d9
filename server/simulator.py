"""Simulated platform traffic with planted fraud and hard negatives, and its ground truth.

Pure generation: numpy in, arrays out, no I/O. `simulate` builds hourly metric points for every
account, raw interaction events consistent with them (every event is counted in the point of its
bucket), and a list of `TruthCase`s naming what was planted where:

- organic traffic: log-normal audience sizes, impressions with hour-of-day and weekly seasonality
  and Poisson-gamma noise, partner metrics (clicks, shares, comments, follows) driven by the
  realised impressions at per-account rates, a small unfollow churn; actors drawn from a pool with
  power-law activity.
- fraud (every pattern of `detectors.findings.PATTERNS`), placed in the last 72 hours.
- hard negatives that look like fraud but are not: organic virality, a holiday, a celebrity share,
  a consented onboarding flow.

Points are `MetricArrays` (parallel columns, proto Metric numbers), events an `EventFrame`.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt

from detectors.findings import BUCKET_SECONDS, EVENT_TYPES, METRICS, PATTERNS, EventFrame, Panel

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
StrArray = npt.NDArray[np.str_]
BoolArray = npt.NDArray[np.bool_]

HARD_NEGATIVES: tuple[str, ...] = (
    "organic_viral",
    "holiday",
    "celebrity_share",
    "consented_onboarding",
)
HARD_NEGATIVE_PREFIX = "hard_negative:"
WINDOW_HOURS = 72  # fraud and hard negatives all fall in the last 72 hours

# Event type indices follow EVENT_TYPES, so an event type's proto metric number is its index + 1.
_FOLLOW, _UNFOLLOW, _CLICK, _SHARE, _COMMENT = range(5)
_IMPRESSIONS = 5
_N_METRICS = 6
_DAY = 86_400
_MAX_POSTS_PER_DAY = 4
_NAME_MODULUS = 99_999_989  # a prime below 10**8, so actor ids are u + 8 digits

# Share of platform activity per local hour of day (mean 1): quiet at night, evening peak.
# fmt: off
_DIURNAL = np.array([
    0.45, 0.32, 0.24, 0.2, 0.2, 0.26, 0.42, 0.65, 0.85, 0.95, 1.0, 1.05,
    1.1, 1.08, 1.05, 1.05, 1.1, 1.2, 1.35, 1.5, 1.6, 1.55, 1.25, 0.8,
])
# fmt: on
_DIURNAL = _DIURNAL / _DIURNAL.mean()
_WEEKLY = np.array([0.97, 0.96, 0.97, 0.98, 1.02, 1.07, 1.05])  # Monday first
_WEEKLY = _WEEKLY / _WEEKLY.mean()

_ORGANIC_SOURCES: dict[int, tuple[tuple[str, ...], tuple[float, ...]]] = {
    _FOLLOW: (
        ("profile", "search", "recommendation", "signup_flow", "third_party"),
        (0.45, 0.2, 0.33, 0.015, 0.005),
    ),
    _UNFOLLOW: (("profile", "search", "recommendation"), (0.85, 0.05, 0.1)),
    _CLICK: (("recommendation", "profile", "search", "third_party"), (0.5, 0.345, 0.15, 0.005)),
    _SHARE: (("recommendation", "profile", "search"), (0.45, 0.45, 0.1)),
    _COMMENT: (("recommendation", "profile", "search"), (0.45, 0.45, 0.1)),
}
_HUMAN_SOURCES = (("profile", "search", "recommendation"), (0.5, 0.2, 0.3))
# Not in HARD_NEGATIVES: planted only when `SimulationConfig.shared_devices` is on.
SHARED_DEVICE_KIND = "shared_device"
_SUBTLE_PATTERNS = ("fake_followers", "fake_traffic", "fake_engagement")


@dataclass(frozen=True)
class SimulationConfig:
    """What to simulate. `fraud_accounts_per_pattern=0, hard_negatives=False` gives clean data.

    `fraud_accounts_per_pattern` (k) plants k accounts each of fake_followers, fake_traffic,
    fake_engagement and forced_subscription, k coordinated_sharing targets split over
    ceil(k/2) groups, and ceil(k/2) lockstep groups of 20-40 targets each; magnitudes go from
    blatant to subtle across the k cases. Too few accounts for that raises ValueError in
    `simulate`.
    """

    seed: int = 7
    accounts: int = 300
    actors: int = 20_000  # the organic pool; fraud and onboarding actors are added on top
    days: int = 14
    start: datetime = datetime(2026, 11, 2, tzinfo=UTC)  # a Monday
    fraud_accounts_per_pattern: int = 3
    hard_negatives: bool = True
    # Share of raw click events sent; follows, unfollows, shares and comments are always complete.
    event_sample_rate: float = 1.0
    # Subtle fraud: one extra case each of fake_followers, fake_traffic and fake_engagement on
    # a large account, adding this share of the account's normal volume of the metric over
    # the simulated days (0.05: five percent), in one episode of the judged window. 0: none.
    subtle_fraud: float = 0.0
    # Daylight saving: users in the platform's time zone move their clocks by this many hours
    # (+1 a spring change: their daily rhythm comes an hour earlier in the UTC data; -1 an
    # autumn one) at 02:00 UTC of day `dst_day` (default: the first day of the fraud window).
    # 0: no change.
    dst_shift_hours: int = 0
    dst_day: int = -1
    # Shared devices, as real platforms see them: this share of the organic actors live in
    # households of 2-5 people on one device, a few public computers (cafes, libraries) carry
    # dozens of actors each, and some households all follow and engage with one favourite
    # account in the window (hard negative "shared_device"). 0: every actor has own devices.
    shared_devices: float = 0.0

    def __post_init__(self) -> None:
        if self.days < 5:
            raise ValueError("days must be >= 5: the last 3 are the fraud window, the rest history")
        if self.accounts < 40:
            raise ValueError("accounts must be >= 40")
        if self.actors < 1_000:
            raise ValueError("actors must be >= 1000")
        if self.fraud_accounts_per_pattern < 0:
            raise ValueError("fraud_accounts_per_pattern must be >= 0")
        if not 0.0 < self.event_sample_rate <= 1.0:
            raise ValueError("event_sample_rate must be in (0, 1]")
        if self.start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        if not 0.0 <= self.subtle_fraud <= 0.5:
            raise ValueError("subtle_fraud must be in [0, 0.5]")
        if abs(self.dst_shift_hours) > 2:
            raise ValueError("dst_shift_hours must be in [-2, 2]")
        if not 0.0 <= self.shared_devices <= 0.5:
            raise ValueError("shared_devices must be in [0, 0.5]")
        if self.dst_day >= self.days:
            raise ValueError("dst_day must fall inside the simulated days")

    @property
    def dst_hour(self) -> int:
        """The first bucket after the daylight-saving change (02:00 UTC of its day)."""
        day = self.dst_day if self.dst_day >= 0 else self.days - WINDOW_HOURS // 24
        return day * 24 + 2

    @property
    def hours(self) -> int:
        return self.days * 24

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=self.days)


@dataclass(frozen=True, eq=False)
class MetricArrays:
    """Metric points as parallel columns, one row per (account, metric, hour) with a count > 0."""

    account_ids: StrArray
    metrics: npt.NDArray[np.uint8]  # proto Metric numbers 1..6
    unix_seconds: IntArray  # start of the hourly bucket
    values: FloatArray

    def __len__(self) -> int:
        return len(self.values)

    def slice(self, start: int, stop: int) -> MetricArrays:
        """Rows start..stop, for batching."""
        return MetricArrays(
            self.account_ids[start:stop],
            self.metrics[start:stop],
            self.unix_seconds[start:stop],
            self.values[start:stop],
        )


@dataclass(frozen=True)
class TruthCase:
    """One planted case: fraud (a PATTERNS name) or a hard negative ("hard_negative:<kind>")."""

    pattern: str  # one of detectors.findings.PATTERNS, or "hard_negative:<kind>"
    account_ids: tuple[str, ...]  # accounts concerned (for groups: targets); () if platform-wide
    member_ids: tuple[str, ...]  # actors, for group patterns (and the onboarding's new users)
    start: datetime
    end: datetime
    description: str

    @property
    def is_fraud(self) -> bool:
        return self.pattern in PATTERNS


@dataclass(frozen=True, eq=False)
class Simulation:
    """The generated traffic and what was planted in it."""

    config: SimulationConfig
    account_ids: StrArray
    points: MetricArrays
    events: EventFrame
    truth: tuple[TruthCase, ...]

    def fraud_accounts(self, pattern: str | None = None) -> set[str]:
        """Accounts of the fraud cases, of one pattern if given."""
        return {
            a
            for case in self.truth
            if case.is_fraud and (pattern is None or case.pattern == pattern)
            for a in case.account_ids
        }

    def hard_negative_accounts(self) -> set[str]:
        """Accounts of hard-negative cases that are not also fraud (the holiday names none)."""
        found = {a for case in self.truth if not case.is_fraud for a in case.account_ids}
        return found - self.fraud_accounts()


def to_panel(sim: Simulation, judged_hours: int = WINDOW_HOURS) -> Panel:
    """The simulation's points as the store would serve them: every account, every hour,
    the last `judged_hours` judged against the rest."""
    hours = sim.config.hours
    t0 = int(sim.config.start.timestamp())
    p = sim.points
    account = np.searchsorted(sim.account_ids, p.account_ids)
    hour = (p.unix_seconds - t0) // BUCKET_SECONDS
    values = {m: np.zeros((len(sim.account_ids), hours)) for m in METRICS}
    for number, name in enumerate(METRICS, start=1):
        rows = p.metrics == number
        values[name][account[rows], hour[rows]] = p.values[rows]
    times = (t0 + np.arange(hours) * BUCKET_SECONDS).astype("datetime64[s]")
    return Panel(sim.account_ids, times, values, judge_from=hours - judged_hours)


def truth_document(sim: Simulation) -> dict[str, object]:
    """The configuration and truth as a JSON-ready dict (times in ISO 8601)."""
    config = {
        name: value.isoformat() if isinstance(value, datetime) else value
        for name, value in vars(sim.config).items()
    }
    cases = [
        {
            "pattern": c.pattern,
            "account_ids": list(c.account_ids),
            "member_ids": list(c.member_ids),
            "start": c.start.isoformat(),
            "end": c.end.isoformat(),
            "description": c.description,
        }
        for c in sim.truth
    ]
    return {"config": config, "cases": cases}


# ---------------------------------------------------------------------------------------------
# The world: accounts, their rates and contents, the actor pool.


def _rng(seed: int, part: str) -> np.random.Generator:
    # One stream per part, so switching a part off leaves the others' draws unchanged.
    return np.random.default_rng([seed, zlib.crc32(part.encode())])


def _choose(
    rng: np.random.Generator, options: Sequence[str], probs: Sequence[float], n: int
) -> StrArray:
    p = np.asarray(probs, dtype=np.float64)
    return np.asarray(options)[rng.choice(len(options), size=n, p=p / p.sum())]


def _hex_ids(rng: np.random.Generator, prefix: str, n: int) -> StrArray:
    return np.array([f"{prefix}{x:010x}" for x in rng.integers(0, 2**40, n).tolist()])


def _lerp(lo: float, hi: float, s: float) -> float:
    return lo + (hi - lo) * s


def _strengths(n: int) -> list[float]:
    """Magnitudes from blatant (1) to subtle (0) across the n cases of a pattern."""
    return [0.6] if n == 1 else np.linspace(1.0, 0.0, n).tolist()


class _World:
    """Accounts, their per-account rates and contents, and the actor pool."""

    def __init__(self, config: SimulationConfig) -> None:
        rng = _rng(config.seed, "world")
        n = config.accounts
        self.config = config
        self.n_accounts = n
        self.hours = config.hours
        self.t0 = int(config.start.timestamp())
        self.t_end = self.t0 + self.hours * BUCKET_SECONDS
        self.window_start = self.t_end - WINDOW_HOURS * BUCKET_SECONDS
        self.account_names = np.array([f"acct-{i:04d}" for i in range(n)])

        # Audience size is log-normal: a few large accounts, a long tail of small ones.
        self.base_impressions = np.clip(rng.lognormal(np.log(50.0), 1.25, n), 2.0, 20_000.0)
        # Most accounts share the platform's time zone; some live a few hours off.
        shift = np.where(rng.random(n) < 0.15, rng.choice([-7.0, -5.0, 8.0], n), 0.0)
        self.phase = shift + rng.normal(0.0, 1.0, n)
        self.in_platform_zone = shift == 0.0  # these users' clocks follow a DST change
        # A latent "engagingness" couples an account's share, comment and follow rates.
        z = rng.normal(0.0, 1.0, n)
        self.click_rate = np.clip(0.025 * np.exp(0.35 * rng.normal(0.0, 1.0, n)), 0.003, 0.15)
        self.share_rate = 0.003 * np.exp(0.4 * z + 0.3 * rng.normal(0.0, 1.0, n))
        self.comment_rate = 0.0025 * np.exp(0.4 * z + 0.3 * rng.normal(0.0, 1.0, n))
        self.follow_rate = 0.004 * np.exp(0.3 * z + 0.35 * rng.normal(0.0, 1.0, n))
        self.unfollow_per_hour = 0.2 * self.base_impressions * self.follow_rate
        self.posts_per_day = np.clip(1 + rng.poisson(0.8, n), 1, _MAX_POSTS_PER_DAY)
        self._content_table: StrArray | None = None

        # Actor activity is power-law (Pareto), capped so no single actor dominates.
        activity = np.minimum(rng.pareto(1.3, config.actors) + 1.0, 300.0)
        self.pool_cdf = np.cumsum(activity) / activity.sum()
        # Follows are rarer decisions than clicks: heavy users follow only somewhat more.
        self.follow_cdf = np.cumsum(np.sqrt(activity)) / np.sqrt(activity).sum()
        clients = _hex_ids(rng, "cl-", 2 * config.actors).reshape(config.actors, 2)
        single = rng.random(config.actors) < 0.7
        clients[single, 1] = clients[single, 0]  # 70% of actors use one client, the rest two
        self.pool_clients = clients
        self.n_actors = config.actors
        # An affine map modulo a prime is a bijection: distinct indices keep distinct ids.
        self._name_mult = int(rng.integers(10_000_000, _NAME_MODULUS))
        self._name_offset = int(rng.integers(0, _NAME_MODULUS))
        self.households: list[IntArray] = []
        self.household_clients: StrArray = np.array([], dtype=str)
        if config.shared_devices > 0:
            self._share_devices()

    def _share_devices(self) -> None:
        """Households on one device and public computers; an own stream, so the rest of the
        world draws the same with or without."""
        rng = _rng(self.config.seed, "shared-devices")
        members = rng.permutation(self.n_actors)[: int(self.config.shared_devices * self.n_actors)]
        sizes = rng.integers(2, 6, len(members))
        bounds = np.cumsum(sizes)
        groups = np.split(members, bounds[bounds < len(members)])
        self.households = [g for g in groups if len(g) >= 2]
        self.household_clients = _hex_ids(rng, "cl-", len(self.households))
        for group, client in zip(self.households, self.household_clients.tolist(), strict=True):
            self.pool_clients[group, 0] = client
            single = self.pool_clients[group, 1] == self.pool_clients[group, 0]
            self.pool_clients[group[single], 1] = client
        # Public computers: a second client of dozens of otherwise unrelated actors.
        for client in _hex_ids(rng, "cl-", 4).tolist():
            users = rng.choice(self.n_actors, int(rng.integers(20, 61)), replace=False)
            self.pool_clients[users, 1] = client

    @property
    def content_table(self) -> StrArray:
        """(account, day, post) content ids; built on first use (counts-only runs skip it)."""
        if self._content_table is None:
            days, posts = self.config.days, _MAX_POSTS_PER_DAY
            self._content_table = np.array(
                [
                    _content_name(str(a), d, j)
                    for a in self.account_names
                    for d in range(days)
                    for j in range(posts)
                ]
            ).reshape(self.n_accounts, days, posts)
        return self._content_table

    def fresh_actors(self, n: int) -> IntArray:
        """Actors never seen before (fraud rings, onboarding users)."""
        out = np.arange(self.n_actors, self.n_actors + n, dtype=np.int64)
        self.n_actors += n
        return out

    def sample_pool(self, rng: np.random.Generator, n: int, *, follows: bool = False) -> IntArray:
        cdf = self.follow_cdf if follows else self.pool_cdf
        idx = np.searchsorted(cdf, rng.random(n), side="right")
        return np.minimum(idx, len(self.pool_cdf) - 1).astype(np.int64)

    def clients_of(self, rng: np.random.Generator, actors: IntArray) -> StrArray:
        return self.pool_clients[actors, rng.integers(0, 2, len(actors))]

    def recent_content(
        self, rng: np.random.Generator, accounts: IntArray, times: IntArray
    ) -> StrArray:
        """A content id of each account, mostly posted the same day, sometimes days before."""
        day = (times - self.t0) // _DAY
        back = rng.geometric(0.55, len(times)) - 1
        day = np.clip(day - back, 0, self.config.days - 1)
        j = (rng.random(len(times)) * self.posts_per_day[accounts]).astype(np.int64)
        found: StrArray = self.content_table[accounts, day, j]
        return found

    def actor_names(self, actors: IntArray) -> StrArray:
        """Actor ids of indices; random-looking, so nothing can be read from an id's number."""
        unique, inverse = np.unique(actors, return_inverse=True)
        numbers = (unique * self._name_mult + self._name_offset) % _NAME_MODULUS
        return np.array([f"u{x:08d}" for x in numbers.tolist()])[inverse]

    def hour_of(self, times: IntArray) -> IntArray:
        return (times - self.t0) // BUCKET_SECONDS

    def when(self, unix: float) -> datetime:
        return datetime.fromtimestamp(int(unix), tz=UTC)


def _content_name(account: str, day: int, j: int) -> str:
    return f"{account}-post-{day:02d}{j:02d}"


# ---------------------------------------------------------------------------------------------
# Events as parallel arrays, with actors and accounts still as indices.


@dataclass
class _Chunk:
    actors: IntArray
    accounts: IntArray
    types: IntArray
    times: IntArray
    contents: StrArray
    sources: StrArray
    consented: BoolArray
    clients: StrArray

    @staticmethod
    def make(
        actors: IntArray,
        accounts: IntArray | int,
        etype: int,
        times: IntArray,
        *,
        sources: StrArray | str,
        clients: StrArray,
        consented: bool = False,
        contents: StrArray | None = None,
    ) -> _Chunk:
        n = len(times)
        return _Chunk(
            actors=np.asarray(actors, dtype=np.int64),
            accounts=np.broadcast_to(np.asarray(accounts, dtype=np.int64), (n,)).copy(),
            types=np.full(n, etype, dtype=np.int64),
            times=np.asarray(times, dtype=np.int64),
            contents=np.full(n, "") if contents is None else contents,
            sources=np.broadcast_to(np.asarray(sources), (n,)).copy(),
            consented=np.full(n, consented),
            clients=clients,
        )

    @staticmethod
    def concat(chunks: Sequence[_Chunk]) -> _Chunk:
        return _Chunk(
            *(
                np.concatenate([getattr(c, name) for c in chunks])
                for name in (
                    "actors",
                    "accounts",
                    "types",
                    "times",
                    "contents",
                    "sources",
                    "consented",
                    "clients",
                )
            )
        )

    def keep(self, mask: BoolArray) -> _Chunk:
        return _Chunk(
            self.actors[mask],
            self.accounts[mask],
            self.types[mask],
            self.times[mask],
            self.contents[mask],
            self.sources[mask],
            self.consented[mask],
            self.clients[mask],
        )


# ---------------------------------------------------------------------------------------------
# Who gets what: disjoint accounts per case, and the times of each case.


@dataclass
class _Roles:
    fake_followers: list[int]
    fake_traffic: list[int]
    fake_engagement: list[int]
    forced: list[int]
    forced_anchors: list[list[int]]
    sharing_groups: list[list[int]]
    lockstep_groups: list[list[int]]
    viral: list[int]
    celebrity: list[int]
    suggested: list[int]
    camouflage: list[int]
    subtle: dict[str, int] = field(default_factory=dict)  # pattern -> account


def _assign_roles(world: _World) -> _Roles:
    rng = _rng(world.config.seed, "roles")
    cfg = world.config
    n = cfg.accounts
    k = cfg.fraud_accounts_per_pattern
    by_size = np.argsort(-world.base_impressions, kind="stable")
    n_popular = max(15, int(0.12 * n))
    popular = [int(a) for a in by_size[:n_popular]]
    # Mid-sized accounts: enough volume to show a pattern, small enough that fraud moves them.
    mid = [int(a) for a in rng.permutation(by_size[n_popular : int(0.85 * n)])]
    taken: set[int] = set()

    def take(pool: list[int], count: int) -> list[int]:
        free = [a for a in pool if a not in taken]
        if len(free) < count:
            raise ValueError(f"too few accounts ({n}) for this many planted cases; raise accounts")
        chosen = free[:count]
        taken.update(chosen)
        return chosen

    fake_followers = take(mid, k)
    fake_traffic = take(mid, k)
    fake_engagement = take(mid, k)
    forced = take(mid, k)
    n_share_groups = (k + 1) // 2
    share_targets = take(mid, k)
    sharing_groups = [list(g) for g in np.array_split(share_targets, n_share_groups)] if k else []
    sharing_groups = [[int(a) for a in g] for g in sharing_groups]
    # Anchors are the accounts users actually chose; the forced follow rides on theirs.
    forced_anchors: list[list[int]] = []
    follows_per_hour = world.base_impressions * world.follow_rate
    by_follows = sorted(popular, key=lambda a: -follows_per_hour[a])
    for s in _strengths(k):
        # Enough anchor follows per hour that even the subtle case bundles a few dozen.
        need, anchors = _lerp(3.5, 15.0, s), []
        for a in by_follows:
            if a in taken:
                continue
            anchors.append(a)
            taken.add(a)
            if follows_per_hour[anchors].sum() >= need or len(anchors) == 4:
                break
        if not anchors:
            raise ValueError(f"too few accounts ({n}) for this many planted cases; raise accounts")
        forced_anchors.append(anchors)

    viral: list[int] = []
    celebrity: list[int] = []
    suggested: list[int] = []
    if cfg.hard_negatives:
        n_hn = max(1, min(2, k))
        # Virality and celebrity shares strike accounts that already have some audience.
        upper_mid = [
            a for a in mid if world.base_impressions[a] >= np.median(world.base_impressions)
        ]
        viral = take(upper_mid, n_hn)
        celebrity = take(upper_mid, n_hn)
        suggested = take([int(a) for a in rng.permutation(popular)] + mid, int(rng.integers(3, 6)))

    subtle: dict[str, int] = {}
    if cfg.subtle_fraud > 0:
        # Large accounts, where a few percent of normal volume is still dozens of events;
        # drawn after every other role, so switching subtle fraud on moves none of them.
        large_mid = sorted(mid, key=lambda a: -world.base_impressions[a])
        for pattern in _SUBTLE_PATTERNS:
            subtle[pattern] = take(large_mid[: max(8, len(large_mid) // 4)], 1)[0]

    # Camouflage goes to popular accounts, anchors and suggested ones included: all innocent.
    camouflage = popular
    taken.update(camouflage)
    lockstep_groups: list[list[int]] = []
    n_lock = (k + 1) // 2
    if n_lock:
        free = [int(a) for a in rng.permutation(n) if int(a) not in taken]
        strengths = _strengths(n_lock)
        wanted = [round(_lerp(20, 38, s)) + int(rng.integers(0, 3)) for s in strengths]
        scale = min(1.0, len(free) / sum(wanted))
        sizes = [int(w * scale) for w in wanted]
        if min(sizes) < 10:
            raise ValueError(f"too few accounts ({n}) for the lockstep targets; raise accounts")
        at = 0
        for size in sizes:
            lockstep_groups.append(free[at : at + size])
            at += size
    return _Roles(
        fake_followers=fake_followers,
        fake_traffic=fake_traffic,
        fake_engagement=fake_engagement,
        forced=forced,
        forced_anchors=forced_anchors,
        sharing_groups=sharing_groups,
        lockstep_groups=lockstep_groups,
        viral=viral,
        celebrity=celebrity,
        suggested=suggested,
        camouflage=camouflage,
        subtle=subtle,
    )


# ---------------------------------------------------------------------------------------------
# Organic traffic.


def _plateau(hours: FloatArray, start: float, length: float, ramp: float) -> FloatArray:
    """0 outside [start - ramp, start + length + ramp], 1 on [start, start + length], smooth."""
    up = np.clip((hours - (start - ramp)) / ramp, 0.0, 1.0)
    down = np.clip((start + length + ramp - hours) / ramp, 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * np.minimum(up, down))


def _seasonality(world: _World) -> FloatArray:
    """(accounts, hours) diurnal x weekly shape, each account in its own time zone."""
    cfg = world.config
    h = np.arange(world.hours, dtype=np.float64)
    start_hour = (world.t0 % _DAY) / 3600.0
    local = h[None, :] + start_hour + world.phase[:, None]
    if cfg.dst_shift_hours:
        # UTC data: after the change, local hour h falls dst_shift_hours earlier or later.
        moved = (h >= cfg.dst_hour)[None, :] & world.in_platform_zone[:, None]
        local = local + cfg.dst_shift_hours * moved
    local = local % 24.0
    diurnal = np.interp(local, np.arange(25.0), np.append(_DIURNAL, _DIURNAL[0]))
    day = (h + start_hour) // 24
    weekly = _WEEKLY[((cfg.start.weekday() + day) % 7).astype(np.int64)]
    return np.asarray(diurnal * weekly[None, :], dtype=np.float64)


@dataclass
class _Lifts:
    """Changes to the expected organic traffic, from the hard negatives."""

    impressions: FloatArray  # multiplier
    follows: FloatArray  # multiplier of the follow rate
    extra_impressions: FloatArray  # added after seasonality


def _organic_counts(world: _World, lifts: _Lifts) -> IntArray:
    """(6, accounts, hours) counts: impressions, then partners driven by realised impressions."""
    rng = _rng(world.config.seed, "organic-counts")
    n, hours = world.n_accounts, world.hours
    shape = _seasonality(world)
    drift = np.exp(np.cumsum(rng.normal(0.0, 0.04, (n, world.config.days)), axis=1))
    drift_h = drift[:, np.arange(hours) // 24]
    lam = world.base_impressions[:, None] * shape * drift_h * lifts.impressions
    lam = lam + lifts.extra_impressions

    def noisy(mean: FloatArray, k: float) -> IntArray:
        # Poisson-gamma (negative binomial): hourly counts vary more than Poisson alone.
        return rng.poisson(mean * rng.gamma(k, 1.0 / k, mean.shape)).astype(np.int64)

    counts = np.zeros((_N_METRICS, n, hours), dtype=np.int64)
    imp = noisy(lam, 25.0)
    counts[_IMPRESSIONS] = imp
    counts[_CLICK] = noisy(imp * world.click_rate[:, None], 30.0)
    counts[_SHARE] = noisy(imp * world.share_rate[:, None], 20.0)
    counts[_COMMENT] = noisy(imp * world.comment_rate[:, None], 20.0)
    counts[_FOLLOW] = noisy(imp * world.follow_rate[:, None] * lifts.follows, 20.0)
    churn = world.unfollow_per_hour[:, None] * (0.5 + 0.5 * shape)
    counts[_UNFOLLOW] = noisy(churn, 10.0)
    return counts


def _organic_events(world: _World, counts: IntArray) -> _Chunk:
    """One event per organic count (clicks thinned to the sample rate), actors from the pool."""
    rng = _rng(world.config.seed, "organic-events")
    hours = world.hours
    chunks = []
    for etype in range(len(EVENT_TYPES)):
        c = counts[etype]
        if etype == _CLICK and world.config.event_sample_rate < 1.0:
            c = rng.binomial(c, world.config.event_sample_rate)
        flat = c.ravel()
        cell = np.repeat(np.arange(flat.size, dtype=np.int64), flat)
        accounts, hour = cell // hours, cell % hours
        times = world.t0 + hour * BUCKET_SECONDS + rng.integers(0, BUCKET_SECONDS, len(cell))
        actors = world.sample_pool(rng, len(cell), follows=etype in (_FOLLOW, _UNFOLLOW))
        options, probs = _ORGANIC_SOURCES[etype]
        with_content = etype in (_CLICK, _SHARE, _COMMENT)
        chunks.append(
            _Chunk.make(
                actors,
                accounts,
                etype,
                times,
                sources=_choose(rng, options, probs, len(cell)),
                clients=world.clients_of(rng, actors),
                # A follow the user made themselves is an explicit choice.
                consented=etype == _FOLLOW,
                contents=world.recent_content(rng, accounts, times) if with_content else None,
            )
        )
    return _Chunk.concat(chunks)


# ---------------------------------------------------------------------------------------------
# Hard negatives: real bursts with real partners.


def _plan_lifts(world: _World, roles: _Roles) -> tuple[_Lifts, list[TruthCase], list[_Chunk]]:
    rng = _rng(world.config.seed, "hard-negatives")
    n, hours = world.n_accounts, world.hours
    lifts = _Lifts(np.ones((n, hours)), np.ones((n, hours)), np.zeros((n, hours)))
    truth: list[TruthCase] = []
    chunks: list[_Chunk] = []
    if not world.config.hard_negatives:
        return lifts, truth, chunks
    hc = np.arange(hours, dtype=np.float64) + 0.5  # bucket centres
    w0 = hours - WINDOW_HOURS
    names = world.account_names

    for a in roles.viral:
        start = float(rng.uniform(w0 + 3, hours - 27))
        lifts.impressions[a] *= 1.0 + 9.0 * _plateau(hc, start, 24.0, 3.0)
        truth.append(
            TruthCase(
                HARD_NEGATIVE_PREFIX + "organic_viral",
                (str(names[a]),),
                (),
                world.when(world.t0 + (start - 3) * 3600),
                world.when(world.t0 + (start + 27) * 3600),
                "impressions x10 for a day; clicks, shares, comments and follows rise in "
                "proportion, from many existing actors",
            )
        )

    # A calendar holiday on the second-to-last day lifts every account.
    day = world.config.days - 2
    lift = float(rng.uniform(0.5, 0.8))
    lifts.impressions *= 1.0 + lift * _plateau(hc, day * 24 + 2.0, 20.0, 2.0)[None, :]
    truth.append(
        TruthCase(
            HARD_NEGATIVE_PREFIX + "holiday",
            (),
            (),
            world.when(world.t0 + day * _DAY),
            world.when(world.t0 + (day + 1) * _DAY),
            f"platform-wide holiday: every account +{lift:.0%} for the day, partners alike",
        )
    )

    for a in roles.celebrity:
        t_share = float(rng.uniform(w0 + 4, hours - 10))
        peak, tau = float(rng.uniform(20, 40)), float(rng.uniform(2.0, 4.0))
        decay = np.where(hc >= t_share, np.exp(-(hc - t_share) / tau), 0.0)
        # The celebrity's audience sees the share at once, whatever the account's time of day.
        lifts.extra_impressions[a] += peak * world.base_impressions[a] * decay
        # That audience converts to followers more than the account's usual one.
        lifts.follows[a] *= 1.0 + decay
        celebrity = world.sample_pool(rng, 1)
        t = np.array([world.t0 + int(t_share * 3600)], dtype=np.int64)
        chunks.append(
            _Chunk.make(
                celebrity,
                a,
                _SHARE,
                t,
                sources="profile",
                clients=world.clients_of(rng, celebrity),
                contents=world.recent_content(rng, np.array([a]), t),
            )
        )
        truth.append(
            TruthCase(
                HARD_NEGATIVE_PREFIX + "celebrity_share",
                (str(names[a]),),
                (),
                world.when(t[0]),
                world.when(t[0] + 4 * tau * 3600),
                f"a celebrity shared its content: impressions x{peak:.0f} decaying over "
                f"{tau:.1f} h, follows from diverse actors, partners moving",
            )
        )

    chunks.append(_onboarding(world, roles, rng, truth))
    return lifts, truth, chunks


def _onboarding(
    world: _World, roles: _Roles, rng: np.random.Generator, truth: list[TruthCase]
) -> _Chunk:
    """New users follow a few suggested accounts in the signup flow, consented, not undone."""
    n_new = max(60, int(0.03 * world.config.actors))
    users = world.fresh_actors(n_new)
    # Sign-ups follow the platform's daily rhythm over the whole period.
    weights = _DIURNAL[np.arange(world.hours) % 24]
    hour = rng.choice(world.hours, n_new, p=weights / weights.sum())
    signup = world.t0 + hour * BUCKET_SECONDS + rng.integers(0, BUCKET_SECONDS - 60, n_new)
    suggested = np.array(roles.suggested, dtype=np.int64)
    picks = rng.random((n_new, len(suggested))) < 0.85
    picks[np.arange(n_new), rng.integers(0, len(suggested), n_new)] = True
    # Each user taps through the suggestions a few seconds apart.
    gaps = np.cumsum(rng.integers(1, 7, (n_new, len(suggested))), axis=1)
    user_idx, slot = np.nonzero(picks)
    clients = _hex_ids(rng, "cl-", n_new)
    chunk = _Chunk.make(
        users[user_idx],
        suggested[slot],
        _FOLLOW,
        signup[user_idx] + gaps[user_idx, slot],
        sources="signup_flow",
        clients=clients[user_idx],
        consented=True,
    )
    truth.append(
        TruthCase(
            HARD_NEGATIVE_PREFIX + "consented_onboarding",
            tuple(str(world.account_names[a]) for a in suggested),
            # The new users, so an evaluation can check none of them is called a group.
            tuple(world.actor_names(users).tolist()),
            world.when(chunk.times.min()),
            world.when(chunk.times.max()),
            f"{n_new} new users followed suggested accounts in the signup flow, consented, "
            "never undone",
        )
    )
    return chunk


def _household_favourites(world: _World, roles: _Roles, truth: list[TruthCase]) -> list[_Chunk]:
    """Households of three or more who all follow, click and comment on one local account.

    Several actors on one device acting on the same account is what a farm looks like; a
    family does it too, but each member also lives a life of their own on the platform.
    """
    if not world.households:
        return []
    rng = _rng(world.config.seed, "household-favourites")
    busy = {
        a
        for group in (
            roles.fake_followers,
            roles.fake_traffic,
            roles.fake_engagement,
            roles.forced,
            roles.viral,
            roles.celebrity,
            roles.suggested,
            list(roles.subtle.values()),
            *roles.forced_anchors,
            *roles.sharing_groups,
            *roles.lockstep_groups,
        )
        for a in group
    }
    free = np.array([a for a in range(world.n_accounts) if a not in busy], dtype=np.int64)
    big = [i for i, g in enumerate(world.households) if len(g) >= 3]
    n_cases = min(len(big), len(free), max(3, len(world.households) // 40))
    chunks = []
    for h, a in zip(
        rng.choice(big, n_cases, replace=False).tolist(),
        rng.choice(free, n_cases, replace=False).tolist(),
        strict=True,
    ):
        group, client = world.households[h], str(world.household_clients[h])
        evening = world.window_start + int(rng.integers(0, 3)) * _DAY + 17 * 3600
        follows = evening + rng.integers(0, 5 * 3600, len(group))
        chunks.append(
            _Chunk.make(
                group,
                a,
                _FOLLOW,
                follows,
                sources=_choose(rng, *_HUMAN_SOURCES, len(group)),
                clients=np.full(len(group), client),
                consented=True,
            )
        )
        clickers = np.repeat(group, rng.integers(1, 4, len(group)))
        times = evening + rng.integers(0, 30 * 3600, len(clickers))
        for etype, who in ((_CLICK, clickers), (_COMMENT, group[rng.random(len(group)) < 0.5])):
            t = times[: len(who)] if etype == _CLICK else follows[: len(who)] + 600
            chunks.append(
                _Chunk.make(
                    who,
                    a,
                    etype,
                    t,
                    sources=_choose(rng, *_HUMAN_SOURCES, len(who)),
                    clients=np.full(len(who), client),
                    contents=world.recent_content(rng, np.full(len(who), a), t),
                )
            )
        truth.append(
            TruthCase(
                HARD_NEGATIVE_PREFIX + SHARED_DEVICE_KIND,
                (str(world.account_names[a]),),
                tuple(world.actor_names(group).tolist()),
                world.when(int(follows.min())),
                world.when(int(max(times.max(), follows.max()))),
                f"a household of {len(group)} on one device all followed and engaged with a "
                "favourite account; each member is also active elsewhere",
            )
        )
    return chunks


# ---------------------------------------------------------------------------------------------
# Fraud.


def _fake_followers(world: _World, roles: _Roles, truth: list[TruthCase]) -> list[_Chunk]:
    """Bought followers: a burst from a seller's fresh bots, partly purged a day or two later."""
    rng = _rng(world.config.seed, "fake_followers")
    if not roles.fake_followers:
        return []
    strengths = _strengths(len(roles.fake_followers))
    sizes = [
        int(np.exp(_lerp(np.log(200), np.log(3000), s)) * rng.uniform(0.85, 1.15))
        for s in strengths
    ]
    # The seller reuses one bot pool for all customers; bots share a few farm devices.
    pool = world.fresh_actors(max(max(sizes), int(0.7 * sum(sizes))))
    farm = _hex_ids(rng, "cl-", max(5, len(pool) // 60))
    pool_client = farm[rng.integers(0, len(farm), len(pool))]
    chunks = []
    for a, s, size in zip(roles.fake_followers, strengths, sizes, strict=True):
        pick = rng.choice(len(pool), size, replace=False)
        start = world.window_start + int(rng.uniform(1, 16) * 3600)
        duration = _lerp(1.0, 5.0, 1.0 - s) * 3600  # subtle cases spread over more hours
        times = np.sort(start + rng.uniform(0, duration, size).astype(np.int64))
        chunks.append(
            _Chunk.make(
                pool[pick],
                a,
                _FOLLOW,
                times,
                sources=_choose(
                    rng, ("profile", "search", "recommendation"), (0.6, 0.25, 0.15), size
                ),
                clients=pool_client[pick],
                consented=True,
            )
        )
        purged = rng.random(size) < rng.uniform(0.2, 0.6)
        purge_at = start + duration + rng.uniform(24, 40) * 3600
        purge_times = (purge_at + rng.uniform(0, rng.uniform(1, 4) * 3600, purged.sum())).astype(
            np.int64
        )
        chunks.append(
            _Chunk.make(
                pool[pick][purged],
                a,
                _UNFOLLOW,
                purge_times,
                sources="profile",
                clients=pool_client[pick][purged],
            )
        )
        truth.append(
            TruthCase(
                "fake_followers",
                (str(world.account_names[a]),),
                (),
                world.when(start),
                world.when(max(purge_times.max(initial=start), times.max())),
                f"{size} bought follows from fresh bots over {duration / 3600:.1f} h with no "
                f"impressions lift; {purged.sum()} purged 1-2 days later",
            )
        )
    return chunks


def _fake_traffic(world: _World, roles: _Roles, truth: list[TruthCase]) -> list[_Chunk]:
    """Click farm: clicks several times normal at an even rate, from a few devices."""
    rng = _rng(world.config.seed, "fake_traffic")
    chunks = []
    w0_hour = world.hours - WINDOW_HOURS
    for a, s in zip(roles.fake_traffic, _strengths(len(roles.fake_traffic)), strict=True):
        normal = world.base_impressions[a] * world.click_rate[a]
        per_hour = max(4, round(_lerp(3.0, 8.0, s) * normal))
        duration = int(rng.integers(18, 37))
        first = w0_hour + int(rng.integers(0, WINDOW_HOURS - duration + 1))
        hours = np.arange(first, first + duration)
        # Too regular to be human: the same count every hour, evenly spaced.
        counts = per_hour + rng.integers(0, 2, duration)
        hour = np.repeat(hours, counts)
        slot = np.concatenate([np.arange(c) for c in counts])
        spacing = 3600.0 / np.repeat(counts, counts)
        times = (
            world.t0
            + hour * 3600
            + ((slot + 0.5) * spacing + rng.uniform(-3, 3, len(hour))).astype(np.int64)
        )
        bots = world.fresh_actors(int(rng.integers(10, 40)))
        devices = _hex_ids(rng, "cl-", int(rng.integers(2, 6)))
        who = rng.integers(0, len(bots), len(times))
        accounts = np.full(len(times), a, dtype=np.int64)
        chunks.append(
            _Chunk.make(
                bots[who],
                a,
                _CLICK,
                times,
                sources=_choose(rng, ("recommendation", "profile"), (0.5, 0.5), len(times)),
                clients=devices[who % len(devices)],
                contents=world.recent_content(rng, accounts, times),
            )
        )
        truth.append(
            TruthCase(
                "fake_traffic",
                (str(world.account_names[a]),),
                (),
                world.when(world.t0 + first * 3600),
                world.when(world.t0 + (first + duration) * 3600),
                f"click farm: +{per_hour} clicks every hour for {duration} h (normal "
                f"{normal:.1f}/h), evenly spaced, {len(devices)} devices, no impressions lift",
            )
        )
    return chunks


def _fake_engagement(world: _World, roles: _Roles, truth: list[TruthCase]) -> list[_Chunk]:
    """Bought shares and comments with clicks and impressions flat."""
    rng = _rng(world.config.seed, "fake_engagement")
    chunks = []
    w0_hour = world.hours - WINDOW_HOURS
    for a, s in zip(roles.fake_engagement, _strengths(len(roles.fake_engagement)), strict=True):
        mult = _lerp(4.0, 15.0, s)
        duration = int(rng.integers(6, 25))
        first = w0_hour + int(rng.integers(0, WINDOW_HOURS - duration + 1))
        bots = world.fresh_actors(int(rng.integers(30, 150)))
        devices = _hex_ids(rng, "cl-", int(rng.integers(3, 11)))
        total = 0
        for etype, rate in ((_SHARE, world.share_rate[a]), (_COMMENT, world.comment_rate[a])):
            normal = max(world.base_impressions[a] * rate, 0.5)
            counts = rng.poisson(mult * normal, duration)
            hour = np.repeat(np.arange(first, first + duration), counts)
            times = world.t0 + hour * 3600 + rng.integers(0, 3600, len(hour))
            who = rng.integers(0, len(bots), len(times))
            chunks.append(
                _Chunk.make(
                    bots[who],
                    a,
                    etype,
                    times,
                    sources=_choose(rng, ("profile", "recommendation"), (0.7, 0.3), len(times)),
                    clients=devices[who % len(devices)],
                    contents=world.recent_content(rng, np.full(len(times), a), times),
                )
            )
            total += len(times)
        truth.append(
            TruthCase(
                "fake_engagement",
                (str(world.account_names[a]),),
                (),
                world.when(world.t0 + first * 3600),
                world.when(world.t0 + (first + duration) * 3600),
                f"{total} bought shares and comments over {duration} h (x{mult:.0f} normal) "
                "with clicks and impressions flat",
            )
        )
    return chunks


def _subtle_fraud(world: _World, roles: _Roles, truth: list[TruthCase]) -> list[_Chunk]:
    """Fraud of a few percent of a large account's normal volume, in one episode.

    The same mechanisms as the blatant cases (fresh bots on a few devices; followers partly
    purged later; clicks evenly spaced), only small: `subtle_fraud` times what the account
    gets of the metric over all the simulated days.
    """
    rng = _rng(world.config.seed, "subtle_fraud")
    chunks: list[_Chunk] = []
    share, hours = world.config.subtle_fraud, world.hours
    w0_hour = hours - WINDOW_HOURS
    rates = {
        "fake_followers": ((_FOLLOW, world.follow_rate),),
        "fake_traffic": ((_CLICK, world.click_rate),),
        "fake_engagement": ((_SHARE, world.share_rate), (_COMMENT, world.comment_rate)),
    }
    durations = {"fake_followers": (1, 5), "fake_traffic": (12, 25), "fake_engagement": (6, 13)}
    for pattern, a in roles.subtle.items():
        duration = int(rng.integers(*durations[pattern]))
        first = w0_hour + int(rng.integers(0, WINDOW_HOURS - duration - 1))
        bots = world.fresh_actors(int(rng.integers(20, 60)))
        devices = _hex_ids(rng, "cl-", int(rng.integers(2, 6)))
        added: list[str] = []
        for etype, rate in rates[pattern]:
            normal = world.base_impressions[a] * rate[a]
            size = max(1, round(share * normal * hours))
            if etype == _CLICK:  # a click farm's even pace
                slot = (np.arange(size) + 0.5) * duration * 3600 / size
                times = world.t0 + first * 3600 + (slot + rng.uniform(-3, 3, size)).astype(np.int64)
            else:
                times = world.t0 + first * 3600 + rng.integers(0, duration * 3600, size)
            times = np.sort(times)
            who = rng.integers(0, len(bots), size)
            contents = (
                None
                if etype == _FOLLOW
                else world.recent_content(rng, np.full(size, a, dtype=np.int64), times)
            )
            chunks.append(
                _Chunk.make(
                    bots[who],
                    a,
                    etype,
                    times,
                    sources=_choose(rng, ("profile", "recommendation"), (0.6, 0.4), size),
                    clients=devices[who % len(devices)],
                    consented=etype == _FOLLOW,
                    contents=contents,
                )
            )
            added.append(f"{size} {EVENT_TYPES[etype]}s (normal {normal:.1f}/h)")
            if etype == _FOLLOW:
                purged = np.flatnonzero(rng.random(size) < rng.uniform(0.2, 0.6))
                purge_times = times[purged] + int(rng.uniform(24, 40) * 3600)
                chunks.append(
                    _Chunk.make(
                        bots[who[purged]],
                        a,
                        _UNFOLLOW,
                        np.sort(purge_times),
                        sources="profile",
                        clients=devices[who[purged] % len(devices)],
                    )
                )
        truth.append(
            TruthCase(
                pattern,
                (str(world.account_names[a]),),
                (),
                world.when(world.t0 + first * 3600),
                world.when(world.t0 + (first + duration) * 3600),
                f"subtle: {', '.join(added)} over {duration} h, {share:.0%} of the account's "
                f"normal volume over {world.config.days} days",
            )
        )
    return chunks


def _lockstep(world: _World, roles: _Roles, truth: list[TruthCase]) -> list[_Chunk]:
    """A group of fresh actors following the same targets within minutes, with camouflage."""
    rng = _rng(world.config.seed, "lockstep_group")
    chunks = []
    camouflage = np.array(roles.camouflage, dtype=np.int64)
    for targets_list, s in zip(
        roles.lockstep_groups, _strengths(len(roles.lockstep_groups)), strict=True
    ):
        targets = np.array(targets_list, dtype=np.int64)
        m = round(_lerp(42, 78, s)) + int(rng.integers(-2, 3))
        members = world.fresh_actors(m)
        clients = _hex_ids(rng, "cl-", m)
        centres = rng.uniform(world.window_start + 600, world.t_end - 600, len(targets))
        member_idx = np.repeat(np.arange(m), len(targets))
        target_idx = np.tile(np.arange(len(targets)), m)
        times = (centres[target_idx] + rng.uniform(-300, 300, len(member_idx))).astype(np.int64)
        chunks.append(
            _Chunk.make(
                members[member_idx],
                targets[target_idx],
                _FOLLOW,
                times,
                sources=_choose(rng, *_HUMAN_SOURCES, len(times)),
                clients=clients[member_idx],
                consented=True,
            )
        )
        # Camouflage: each member also follows a few popular accounts at random times.
        n_camo = rng.integers(2, 7, m)
        camo_member = np.repeat(np.arange(m), n_camo)
        camo_times = rng.integers(world.window_start, world.t_end, len(camo_member))
        chunks.append(
            _Chunk.make(
                members[camo_member],
                camouflage[rng.integers(0, len(camouflage), len(camo_member))],
                _FOLLOW,
                camo_times,
                sources=_choose(rng, *_HUMAN_SOURCES, len(camo_member)),
                clients=clients[camo_member],
                consented=True,
            )
        )
        names = tuple(world.actor_names(members).tolist())
        truth.append(
            TruthCase(
                "lockstep_group",
                tuple(str(world.account_names[t]) for t in targets),
                names,
                world.when(times.min()),
                world.when(times.max()),
                f"{m} fresh actors each followed the same {len(targets)} accounts within "
                "+-5 min of each other, plus camouflage follows of popular accounts",
            )
        )
    return chunks


def _forced_subscription(
    world: _World, roles: _Roles, organic: _Chunk, truth: list[TruthCase]
) -> list[_Chunk]:
    """Follows of popular anchors come bundled with an unconsented follow of the forced account.

    Rides on the anchors' organic follows (their source is rewritten in place to the flow),
    so the anchors' counts do not move; the forced account gains the bundled follows, many of
    them undone within hours.
    """
    rng = _rng(world.config.seed, "forced_subscription")
    chunks = []
    is_follow = organic.types == _FOLLOW
    for i, (y, anchors, s) in enumerate(
        zip(roles.forced, roles.forced_anchors, _strengths(len(roles.forced)), strict=True)
    ):
        flow = "third_party" if i % 2 == 0 else "signup_flow"
        start = world.window_start + int(rng.uniform(0, 12) * 3600)
        duration = int(_lerp(24, 48, s) * 3600)
        bundle_share, undo_share = _lerp(0.6, 0.95, s), _lerp(0.3, 0.6, s)
        chosen = (
            is_follow
            & np.isin(organic.accounts, anchors)
            & (organic.times >= start)
            & (organic.times < start + duration)
            & (organic.sources != "signup_flow")
            & (organic.sources != "third_party")
        )
        idx = np.flatnonzero(chosen)
        idx = idx[rng.random(len(idx)) < bundle_share]
        organic.sources[idx] = flow
        actors, clients = organic.actors[idx], organic.clients[idx]
        times = organic.times[idx] + rng.integers(1, 4, len(idx))
        chunks.append(
            _Chunk.make(actors, y, _FOLLOW, times, sources=flow, clients=clients, consented=False)
        )
        undone = rng.random(len(idx)) < undo_share
        delay = np.clip(rng.exponential(2.5 * 3600, undone.sum()), 300, 12 * 3600).astype(np.int64)
        undo_times = times[undone] + delay
        chunks.append(
            _Chunk.make(
                actors[undone], y, _UNFOLLOW, undo_times, sources="profile", clients=clients[undone]
            )
        )
        anchor_names = ", ".join(str(world.account_names[a]) for a in anchors)
        truth.append(
            TruthCase(
                "forced_subscription",
                (str(world.account_names[y]),),
                (),
                world.when(start),
                world.when(max(start + duration, int(undo_times.max(initial=start)))),
                f"{len(idx)} follows bundled 1-3 s after follows of {anchor_names} via {flow}, "
                f"unconsented; {undone.sum()} undone within hours",
            )
        )
    return chunks


def _coordinated_sharing(world: _World, roles: _Roles, truth: list[TruthCase]) -> list[_Chunk]:
    """A group sharing the same contents of a few accounts within seconds, again and again."""
    rng = _rng(world.config.seed, "coordinated_sharing")
    chunks = []
    for targets, s in zip(roles.sharing_groups, _strengths(len(roles.sharing_groups)), strict=True):
        m = round(_lerp(20, 50, s))
        n_items = round(_lerp(10, 25, s))
        participation, spread = _lerp(0.7, 1.0, s), _lerp(30.0, 8.0, s)
        members = world.fresh_actors(m)
        clients = _hex_ids(rng, "cl-", m)
        triggers = np.sort(rng.integers(world.window_start, world.t_end - 120, n_items))
        parts = []
        for k, trigger in enumerate(triggers.tolist()):
            account = targets[k % len(targets)]
            day = (trigger - world.t0) // _DAY
            # A fresh post (beyond the organic ones of that day) pushed by the group.
            content = _content_name(str(world.account_names[account]), day, _MAX_POSTS_PER_DAY + k)
            who = np.flatnonzero(rng.random(m) < participation)
            if len(who) < 2:
                who = np.arange(m)
            times = trigger + np.sort(rng.uniform(0, spread, len(who))).astype(np.int64)
            parts.append(
                _Chunk.make(
                    members[who],
                    account,
                    _SHARE,
                    times,
                    sources=_choose(rng, ("profile", "recommendation"), (0.6, 0.4), len(who)),
                    clients=clients[who],
                    contents=np.full(len(who), content),
                )
            )
        chunks.extend(parts)
        truth.append(
            TruthCase(
                "coordinated_sharing",
                tuple(str(world.account_names[a]) for a in targets),
                tuple(world.actor_names(members).tolist()),
                world.when(triggers.min()),
                world.when(triggers.max() + spread),
                f"{m} actors shared the same {n_items} contents within {spread:.0f} s of each "
                "other, repeatedly",
            )
        )
    return chunks


# ---------------------------------------------------------------------------------------------
# Assembly.


def simulate(config: SimulationConfig) -> Simulation:
    """Generate a platform's traffic with planted fraud and hard negatives, and its truth."""
    world = _World(config)
    roles = _assign_roles(world)
    lifts, hard_truth, hard_chunks = _plan_lifts(world, roles)
    hard_chunks.extend(_household_favourites(world, roles, hard_truth))
    counts = _organic_counts(world, lifts)
    organic = _organic_events(world, counts)

    fraud_truth: list[TruthCase] = []
    special = [
        *hard_chunks,
        *_fake_followers(world, roles, fraud_truth),
        *_subtle_fraud(world, roles, fraud_truth),
        *_fake_traffic(world, roles, fraud_truth),
        *_fake_engagement(world, roles, fraud_truth),
        *_lockstep(world, roles, fraud_truth),
        *_forced_subscription(world, roles, organic, fraud_truth),
        *_coordinated_sharing(world, roles, fraud_truth),
    ]
    extra = _Chunk.concat(special) if special else None
    if extra is not None:
        extra = extra.keep((extra.times >= world.t0) & (extra.times < world.t_end))
        # Planted events are counted in the points of their bucket like any other.
        np.add.at(counts, (extra.types, extra.accounts, world.hour_of(extra.times)), 1)
        if config.event_sample_rate < 1.0:
            rng = _rng(config.seed, "click-sampling")
            sampled = rng.random(len(extra.times)) < config.event_sample_rate
            extra = extra.keep((extra.types != _CLICK) | sampled)
    events = _Chunk.concat([organic, extra]) if extra is not None else organic
    return Simulation(
        config=config,
        account_ids=world.account_names,
        points=_points(world, counts),
        events=_event_frame(world, events),
        # Effects planted near the end (undo, decay) may run past it; the truth ends with the data.
        truth=tuple(
            replace(case, end=min(case.end, config.end)) for case in fraud_truth + hard_truth
        ),
    )


def _points(world: _World, counts: IntArray) -> MetricArrays:
    # Rows in time order, as a platform would stream them: hour, then account, then metric.
    by_time = counts.transpose(2, 1, 0)
    hour, account, metric = np.nonzero(by_time)
    return MetricArrays(
        account_ids=world.account_names[account],
        metrics=(metric + 1).astype(np.uint8),
        unix_seconds=(world.t0 + hour * BUCKET_SECONDS).astype(np.int64),
        values=by_time[hour, account, metric].astype(np.float64),
    )


def _event_frame(world: _World, chunk: _Chunk) -> EventFrame:
    order = np.argsort(chunk.times, kind="stable")
    return EventFrame(
        actor_ids=world.actor_names(chunk.actors[order]),
        account_ids=world.account_names[chunk.accounts[order]],
        types=np.asarray(EVENT_TYPES)[chunk.types[order]],
        times=chunk.times[order],
        content_ids=chunk.contents[order],
        sources=chunk.sources[order],
        consented=chunk.consented[order],
        client_ids=chunk.clients[order],
    )


@dataclass(frozen=True, eq=False)
class SimulatedCounts:
    """Hourly counts of every account and metric, without events: for volume benchmarks."""

    config: SimulationConfig
    account_ids: StrArray
    values: dict[str, FloatArray]  # metric name (detectors.findings.METRICS) -> (accounts, hours)
    truth: tuple[TruthCase, ...]


def simulate_counts(config: SimulationConfig) -> SimulatedCounts:
    """The organic traffic (and hard negatives) of `simulate` as counts alone, no raw events.

    Raw events cost memory in proportion to every interaction: at 100k accounts they do not
    fit. The counts are the ones `simulate` would give for the same config; fraud needs its
    events, so `fraud_accounts_per_pattern` and `subtle_fraud` must be 0.
    """
    if config.fraud_accounts_per_pattern or config.subtle_fraud:
        raise ValueError("simulate_counts simulates clean traffic: plant no fraud")
    world = _World(config)
    roles = _assign_roles(world)
    lifts, hard_truth, hard_chunks = _plan_lifts(world, roles)
    hard_chunks.extend(_household_favourites(world, roles, hard_truth))
    counts = _organic_counts(world, lifts)
    del lifts
    if hard_chunks:
        extra = _Chunk.concat(hard_chunks)
        extra = extra.keep((extra.times >= world.t0) & (extra.times < world.t_end))
        np.add.at(counts, (extra.types, extra.accounts, world.hour_of(extra.times)), 1)
    values: dict[str, FloatArray] = {}
    for m, name in enumerate(METRICS):
        values[name] = counts[m].astype(np.float64)
    del counts
    return SimulatedCounts(config, world.account_names, values, tuple(hard_truth))
