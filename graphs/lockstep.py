"""Lockstep groups: actors that follow (or engage) the same set of accounts, often within minutes.

Pattern sought: bought followers delivered by a farm. The farm's accounts follow each customer,
customer after customer, often within minutes of each other, and mix in follows of popular
accounts as camouflage; a farm may send a different subset of its accounts to each customer.

Two views of the same follow graph, each searched for dense blocks (graphs/dense_blocks.py):
- timing: columns are (target, time cell) instead of targets, on two grids offset by half a
  cell, so a farm's follows of a customer within a window of minutes to hours land in one
  column, while organic follows of that customer spread over weeks of cells. A block here is
  "the same accounts hit the same targets at the same times", however big the farm (no crowd
  cap) and whichever subset of it each customer got.
- topology: plain actor x target; finds farms that spread their follows out in time.
Each block must beat the Chung-Lu background by more than the search itself could gain by chance
(graphs/significance.py), so clean graphs, celebrity cores included, report nothing.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from detectors.findings import EventFrame, Evidence, Finding
from graphs.dense_blocks import BlockParams, FoundBlock, find_blocks
from graphs.frames import IntArray, iso, metric_of, utc
from graphs.group_extend import ExtendParams, GroupExtender
from graphs.idcodes import dense_codes, encode_fast
from graphs.validate import require_at_least, require_positive, require_share, require_types

logger = logging.getLogger(__name__)

MAX_SAMPLE = 50  # ids quoted inside evidence (the finding itself carries the full lists)
N_EXAMPLES = 3


@dataclass(frozen=True, slots=True)
class LockstepConfig:
    """Hyperparameters of the lockstep detector.

    Attributes:
        event_types: actions that count as acting on a target.
        cell_seconds: width of the time cells of the timing view; windows up to half of it fit
            in one cell of one of the two offset grids.
        use_topology: also search the plain actor x target graph (farms with no timing).
        min_members, min_targets: smallest block reported.
        max_members, max_targets: size caps of one block.
        max_groups: groups reported per view and run.
        alpha: false-alarm rate of the block tests of one view.
        same_group_share: blocks of different views sharing this share of the smaller one's
            members are one group.
        unfollow_seconds: a member's unfollow of a block target within this long of the
            follow counts as a burst-then-drop.
        skip_consented_sources: consented follows from these sources are not counted (a
            signup flow's suggested bundle makes every new user follow the same accounts).
        max_remembered_groups: groups kept in the state between runs, newest first.
    """

    event_types: tuple[str, ...] = ("follow",)
    cell_seconds: int = 3 * 3600
    use_topology: bool = True
    min_members: int = 5
    min_targets: int = 3
    max_members: int = 5000
    max_targets: int = 5000
    max_groups: int = 5
    alpha: float = 0.01
    same_group_share: float = 0.3
    unfollow_seconds: int = 7 * 86_400
    skip_consented_sources: tuple[str, ...] = ("signup_flow",)
    max_remembered_groups: int = 1000


@dataclass(frozen=True, slots=True)
class GroupState:
    """What a later run needs to know of a group reported before (see `detect_window`)."""

    key: str
    members: frozenset[str]
    targets: frozenset[str]
    first_time: int


@dataclass(frozen=True, slots=True)
class LockstepState:
    groups: tuple[GroupState, ...] = ()


@dataclass(frozen=True, slots=True)
class _Graph:
    """Distinct follows (actor, target) with their first time; codes from `encode_fast`.

    Rows are in actor order, so `actor_start[a]:actor_start[a + 1]` are actor a's follows.
    """

    actors: IntArray
    targets: IntArray
    times: IntArray
    n_actors: int
    n_targets: int
    actor_start: IntArray

    @classmethod
    def of(
        cls, actors: IntArray, targets: IntArray, times: IntArray, n_actors: int, n_targets: int
    ) -> _Graph:
        start = np.zeros(n_actors + 1, dtype=np.int64)
        np.cumsum(np.bincount(actors, minlength=n_actors), out=start[1:])
        return cls(actors, targets, times, n_actors, n_targets, start)

    def member_rows(self, members: IntArray, targets: IntArray | None = None) -> IntArray:
        """Rows of the members' follows (of `targets` only, if given), ascending.

        Reads only the members' own rows: a scan of every follow costs 10M reads per call.
        """
        m = np.unique(members)
        lo, hi = self.actor_start[m], self.actor_start[m + 1]
        counts = hi - lo
        rows = np.arange(int(counts.sum()), dtype=np.int64)
        rows += np.repeat(lo - (np.cumsum(counts) - counts), counts)
        if targets is None:
            return rows
        in_t = np.zeros(self.n_targets, dtype=bool)
        in_t[targets] = True
        return rows[in_t[self.targets[rows]]]


@dataclass(frozen=True, slots=True)
class _Group:
    members: IntArray  # actor codes, most in-block edges first
    targets: IntArray  # target codes, most members first
    view: str
    found: FoundBlock
    extra: dict[str, float] = field(default_factory=dict)


class LockstepDetector:
    """Finds groups of actors that act on many of the same targets, often within minutes."""

    name: ClassVar[str] = "lockstep"

    def __init__(self, config: LockstepConfig | None = None) -> None:
        self.config = config or LockstepConfig()
        c = self.config
        require_positive(c, "cell_seconds", "max_members", "max_targets", "max_groups")
        require_positive(c, "unfollow_seconds", "max_remembered_groups")
        require_at_least(c, "min_members", 2)
        require_at_least(c, "min_targets", 2)
        require_share(c, "alpha", "same_group_share")
        require_types(c)

    def detect(self, events: EventFrame) -> list[Finding]:
        findings, _ = self.detect_window(events, self.initial_state())
        return findings

    def initial_state(self) -> LockstepState:
        """The state before any window: no group seen yet."""
        return LockstepState()

    def detect_window(
        self, events: EventFrame, state: LockstepState
    ) -> tuple[list[Finding], LockstepState]:
        """Findings of this window, with groups seen before keeping their key.

        A group found again (sharing `same_group_share` of its members with a group of
        `state`) keeps the earlier key, so the service keeps its alert_id, and its member and
        target lists become the union of both runs. Pure: the caller keeps the state.
        """
        c = self.config
        if len(events) == 0:
            return [], state
        actor_code, actor_rep = encode_fast(events.actor_ids)
        target_code, target_rep = encode_fast(events.account_ids)
        is_action = np.isin(events.types, np.asarray(c.event_types))
        # Consented follows from a platform flow (signup suggestions) are the platform's
        # bundle, not the actors' choice; the forced-subscription detector judges those flows.
        if c.skip_consented_sources:
            is_action &= ~(
                np.isin(events.sources, np.asarray(c.skip_consented_sources)) & events.consented
            )
        graph = _distinct(
            actor_code[is_action],
            target_code[is_action],
            events.times[is_action],
            len(actor_rep),
            len(target_rep),
        )
        if len(graph.actors) == 0:
            return [], state
        unfollows = _unfollow_pairs(events, actor_code, target_code)
        del actor_code, target_code, is_action  # 17 bytes a row, not needed by the search
        groups = self._groups(graph)
        actor_names = events.actor_ids[actor_rep]
        target_names = events.account_ids[target_rep]
        findings: list[Finding] = []
        kept: list[GroupState] = []
        used: set[str] = set()
        for g in groups:
            f, gs = self._finding(g, graph, actor_names, target_names, unfollows, state, used)
            findings.append(f)
            kept.append(gs)
            used.add(f.key)
        seen = {gs.key for gs in kept}
        carried = tuple(gs for gs in state.groups if gs.key not in seen)
        logger.info("lockstep: %d groups from %d follows", len(findings), len(graph.actors))
        # Newest first, and bounded: a long-running service must not remember every group.
        return findings, LockstepState((tuple(kept) + carried)[: c.max_remembered_groups])

    def block_params(self, view: str) -> BlockParams:
        """The block search's settings in the "timing" or the "topology" view."""
        c = self.config
        timing = BlockParams(
            max_blocks=c.max_groups,
            max_rows=c.max_members,
            max_cols=c.max_targets,
            min_rows=c.min_members,
            min_cols=c.min_targets,
            alpha=c.alpha,
            stub=True,
        )
        if view == "timing":
            return timing
        if view == "topology":
            return dataclasses.replace(timing, sparse=True, stub=False, inner_degrees=(2, 3))
        raise ValueError(f"unknown view {view!r}")

    def _groups(self, g: _Graph) -> list[_Group]:
        c = self.config
        params = self.block_params("timing")
        candidates: list[_Group] = []
        for offset in (0, c.cell_seconds // 2):
            # In place where it can be: at 10M follows each int64 temporary is 80 MB.
            cell = g.times - g.times.min()
            cell += offset
            cell //= c.cell_seconds
            value = g.targets * (int(cell.max()) + 1)
            value += cell
            del cell
            cols, col_rep = encode_fast_ints(value)
            del value
            col_target = g.targets[col_rep]
            # Seeds come from cells holding two follows or more: a lone follow is no burst,
            # and most organic follows are alone in their cell, so the peeled graph shrinks.
            busy = np.bincount(cols, minlength=len(col_rep)) >= 2
            for fb in find_blocks(g.actors, cols, g.n_actors, len(col_rep), params, busy):
                targets = np.unique(col_target[fb.block.cols])
                if len(targets) >= c.min_targets:
                    candidates.append(_order(g, fb.block.rows, targets, "timing", fb))
            del cols, col_rep, col_target, busy
        if c.use_topology:
            topology = self.block_params("topology")
            for fb in find_blocks(g.actors, g.targets, g.n_actors, g.n_targets, topology):
                candidates.append(_order(g, fb.block.rows, fb.block.cols, "topology", fb))
        # The strongest view of each group wins; the others' copies of it are dropped. A block
        # that is the union of two smaller ones from another view (two farms tied by a stray
        # camouflage edge) gives way to them.
        candidates.sort(key=lambda x: -x.found.stats.margin)
        share = c.same_group_share
        candidates = [x for x in candidates if not _is_union(x, candidates, share)]
        out: list[_Group] = []
        for cand in candidates:
            k = _same_group(cand, out, share)
            if k is not None:
                # The same farm seen by another grid: each copy passed the test on its own, and
                # each grid splits a few bursts over two cells, so together they hold more of
                # it than either. Seen by the other view, the stronger copy (the first: by
                # margin) wins whole. A farm's bursts say which nodes are its own, while a
                # topology block also holds targets that took a few of its camouflage follows
                # (heavy100k, random, 0.05: 67 of them; timing 4596 nats, topology 2456; F
                # 0.92 -> 1.00). A farm spreading its follows over a week has no bursts,
                # only cells its own follows crowd: there the topology copy is the stronger
                # (60 x 15 at 1807 nats against 31 x 15 at 154, which held an organic
                # account). The extension then adds what the counts justify.
                if out[k].view == cand.view:
                    out[k] = _merge(g, out[k], cand)
            else:
                out.append(cand)
        extender = GroupExtender(
            g.actors,
            g.targets,
            g.times,
            g.n_actors,
            g.n_targets,
            ExtendParams(window=c.cell_seconds),
        )
        grown: list[_Group] = []
        for x in out:
            x = _order(g, *extender.extend(x.members, x.targets), x.view, x.found)
            # Two blocks of one farm that shared no member can grow into the same group: a
            # later round's 5 x 5 piece of the farm whose 71 x 73 the first round took out
            # (heavy100k, timing, 0.01: 155 x 118 and 164 x 122, 96% the same accounts). One
            # farm is one alert; the stronger copy's view and test stand for both.
            k = _same_group(x, grown, share)
            if k is not None:
                grown[k] = _merge(g, grown[k], x)
            else:
                grown.append(x)
        return grown

    def _finding(
        self,
        g: _Group,
        graph: _Graph,
        actor_names: npt.NDArray[np.str_],
        target_names: npt.NDArray[np.str_],
        unfollows: npt.NDArray[np.int64],
        state: LockstepState,
        used: set[str],
    ) -> tuple[Finding, GroupState]:
        c = self.config
        ev = _evidence_arrays(graph, g.members, g.targets)
        members = [str(x) for x in actor_names[g.members]]
        targets = [str(x) for x in target_names[g.targets]]
        previous = _match(members, state, c.same_group_share, used)
        if previous is not None:
            key = previous.key
            members += sorted(previous.members - set(members))
            targets += sorted(previous.targets - set(targets))
            first_time = min(previous.first_time, ev.start)
        else:
            anchor = str(target_names[_anchor(graph, g.members, g.targets)])
            key = f"lockstep_group:{anchor}"
            if key in used:
                key = f"{key}:{members[0]}"
            first_time = ev.start
        subject = targets[0]
        m_all = float(len(graph.actors))
        d_a = np.bincount(graph.actors, minlength=graph.n_actors)[g.members].sum()
        d_t = np.bincount(graph.targets, minlength=graph.n_targets)[g.targets].sum()
        possible = float(len(g.members) * len(g.targets))
        density = ev.in_block / possible
        expected_density = float(d_a) * float(d_t) / m_all / possible
        lift = density / max(expected_density, 1e-12)
        stats = g.found.stats
        score = 1.0 - math.exp(-max(stats.margin, 0.0) / 200.0)
        undone = _undone_share(graph, ev.rows, unfollows, c.unfollow_seconds)
        top_target_followers = int(np.count_nonzero(graph.targets == g.targets[0]))
        from_group = int(np.count_nonzero(graph.targets[ev.rows] == g.targets[0]))
        evidence = (
            Evidence(
                "group",
                {
                    "members": float(len(members)),
                    "targets": float(len(targets)),
                    "member_sample": ",".join(members[:MAX_SAMPLE]),
                    "target_sample": ",".join(targets[:MAX_SAMPLE]),
                    "found_by": g.view,
                    "first_action": iso(ev.start),
                    "last_action": iso(ev.end),
                    "time_span_seconds": float(ev.end - ev.start),
                    "median_target_spread_seconds": ev.median_spread,
                },
            ),
            Evidence(
                "density_vs_background",
                {
                    "observed_density": density,
                    "expected_density": expected_density,
                    "lift": lift,
                    "block_edges": float(ev.in_block),
                    "surprise_nats": stats.surprise,
                    "search_price_nats": stats.price,
                    # The block the test judged; the group adds the members and targets
                    # graphs/group_extend.py recognises one by one once it is known.
                    "tested_members": float(stats.n_rows),
                    "tested_columns": float(stats.n_cols),
                },
            ),
            Evidence(
                "camouflage",
                {"share_of_member_actions_elsewhere": ev.camouflage_share},
            ),
            Evidence(
                "fake_followers",
                {
                    "target": subject,
                    "new_followers": float(top_target_followers),
                    "from_group": float(from_group),
                    "share_from_group": from_group / max(top_target_followers, 1),
                    "share_undone": undone,
                },
            ),
            Evidence(
                "example_edges",
                {
                    f"edge_{k + 1}": f"{actor_names[a]} -> {target_names[t]} at {iso(tm)}"
                    for k, (a, t, tm) in enumerate(ev.examples)
                },
            ),
        )
        timing = (
            f"within {_duration(ev.median_spread)} of each other per target"
            if g.view == "timing"
            else "spread over time"
        )
        explanation = (
            f"{len(members)} accounts followed the same {len(targets)} accounts {timing} "
            f"({density:.1%} of possible edges, {lift:.0f}x the background); {from_group} of "
            f"the {top_target_followers} followers of {subject} came from this group."
        )
        finding = Finding(
            detector=self.name,
            pattern="lockstep_group",
            subject=subject,
            key=key,
            start_time=utc(ev.start),
            end_time=utc(ev.end),
            score=score,
            observed=density,
            expected=expected_density,
            explanation=explanation,
            evidence=evidence,
            metric=metric_of(c.event_types),
            member_ids=tuple(members),
            target_ids=tuple(targets),
            member_count=len(members),
            target_count=len(targets),
        )
        return finding, GroupState(key, frozenset(members), frozenset(targets), first_time)


def encode_fast_ints(values: IntArray) -> tuple[IntArray, IntArray]:
    """Dense codes of int64 values: (code of each row, index of one row per code)."""
    if len(values) == 0 or values.min() >= 0:
        return dense_codes(values)
    return dense_codes(values - values.min())


def _distinct(
    actors: IntArray, targets: IntArray, times: IntArray, n_actors: int, n_targets: int
) -> _Graph:
    """Each (actor, target) once, at its first time: a repeated follow adds nothing.

    In (actor, target) order. Key and time are packed into one integer where they fit, so one
    sort of plain integers replaces a lexsort of two keys (several times slower at 10M rows).
    """
    key = actors * n_targets + targets
    t0 = int(times.min()) if len(times) else 0
    span = int(times.max()) - t0 + 1 if len(times) else 1
    if max(n_actors * n_targets, 1) * span >= 2**63:
        order = np.lexsort((times, key))
        k = key[order]
        first = _run_starts(k)
        rows = order[first]
        return _Graph.of(actors[rows], targets[rows], times[rows], n_actors, n_targets)
    packed = key  # in place from here: each int64 temporary is 80 MB at 10M rows
    packed *= span
    packed += times
    packed -= t0
    packed.sort()
    k = packed // span
    first = _run_starts(k)
    first_times = packed[first]
    del packed
    k = k[first]
    first_times %= span
    first_times += t0
    return _Graph.of(k // n_targets, k % n_targets, first_times, n_actors, n_targets)


def _run_starts(sorted_keys: IntArray) -> npt.NDArray[np.bool_]:
    """True at the first row of each run of equal keys."""
    first = np.empty(len(sorted_keys), dtype=bool)
    first[:1] = True
    np.not_equal(sorted_keys[1:], sorted_keys[:-1], out=first[1:])
    return first


def _order(g: _Graph, members: IntArray, targets: IntArray, view: str, fb: FoundBlock) -> _Group:
    """Members by edges into the targets, targets by edges from the members, ties by code."""
    rows = g.member_rows(members, targets)
    per_m = np.bincount(g.actors[rows], minlength=g.n_actors)[members]
    per_t = np.bincount(g.targets[rows], minlength=g.n_targets)[targets]
    return _Group(
        members=members[np.lexsort((members, -per_m))],
        targets=targets[np.lexsort((targets, -per_t))],
        view=view,
        found=fb,
    )


def _merge(g: _Graph, a: _Group, b: _Group) -> _Group:
    """One group of both copies' members and targets; the stronger copy's view and test."""
    return _order(
        g, np.union1d(a.members, b.members), np.union1d(a.targets, b.targets), a.view, a.found
    )


def _is_union(x: _Group, all_groups: list[_Group], share: float) -> bool:
    """Whether x holds two or more disjoint groups found elsewhere, each mostly inside x."""
    inside = [
        o.members
        for o in all_groups
        if o is not x
        and len(o.members) < len(x.members)
        and len(np.intersect1d(o.members, x.members)) >= share * len(o.members)
    ]
    for i, a in enumerate(inside):
        for b in inside[i + 1 :]:
            if _overlap(a, b) < share:
                return True
    return False


def _same_group(x: _Group, groups: list[_Group], share: float) -> int | None:
    """The first of the groups that shares at least `share` of the smaller one's members."""
    return next((k for k, o in enumerate(groups) if _overlap(x.members, o.members) >= share), None)


def _overlap(a: IntArray, b: IntArray) -> float:
    return len(np.intersect1d(a, b, assume_unique=True)) / max(min(len(a), len(b)), 1)


@dataclass(frozen=True, slots=True)
class _EvidenceArrays:
    rows: IntArray  # the block's edges (rows of the graph)
    in_block: int
    camouflage_share: float
    start: int
    end: int
    median_spread: float
    examples: list[tuple[int, int, int]]


def _evidence_arrays(g: _Graph, members: IntArray, targets: IntArray) -> _EvidenceArrays:
    member_rows = g.member_rows(members)
    in_t = np.zeros(g.n_targets, dtype=bool)
    in_t[targets] = True
    rows = member_rows[in_t[g.targets[member_rows]]]
    t, tg = g.times[rows], g.targets[rows]
    # Per target, the 10th-90th percentile span of the members' follows (sorted per target).
    order = np.lexsort((t, tg))
    ts, tgs = t[order], tg[order]
    starts = np.flatnonzero(np.r_[True, tgs[1:] != tgs[:-1]])
    ends = np.r_[starts[1:], len(tgs)]
    lo = starts + ((ends - starts - 1) * 0.1).astype(np.int64)
    hi = starts + ((ends - starts - 1) * 0.9).astype(np.int64)
    spreads = (ts[hi] - ts[lo]).astype(np.float64)
    top = rows[g.targets[rows] == targets[0]]
    top = top[np.argsort(g.times[top], kind="stable")][:N_EXAMPLES]
    n_member_actions = len(member_rows)
    return _EvidenceArrays(
        rows=rows,
        in_block=len(rows),
        camouflage_share=1.0 - len(rows) / max(n_member_actions, 1),
        start=int(t.min()),
        end=int(t.max()),
        median_spread=float(np.median(spreads)),
        examples=[(int(g.actors[r]), int(g.targets[r]), int(g.times[r])) for r in top],
    )


def _unfollow_pairs(
    events: EventFrame, actor_code: IntArray, target_code: IntArray
) -> npt.NDArray[np.int64]:
    """(pair key, time) of each unfollow, pair key = actor * 2^32 + target, sorted."""
    un = events.types == "unfollow"
    keys = actor_code[un] * (1 << 32) + target_code[un]
    out = np.stack([keys, events.times[un]], axis=1) if un.any() else np.zeros((0, 2), np.int64)
    return out[np.lexsort((out[:, 1], out[:, 0]))] if len(out) else out


def _undone_share(
    g: _Graph, rows: IntArray, unfollows: npt.NDArray[np.int64], within: int
) -> float:
    """Share of the block's follows undone within `within` seconds (burst-then-drop)."""
    if len(rows) == 0 or len(unfollows) == 0:
        return 0.0
    keys = g.actors[rows] * (1 << 32) + g.targets[rows]
    pos = np.searchsorted(unfollows[:, 0], keys)
    pos = np.minimum(pos, len(unfollows) - 1)
    same = unfollows[pos, 0] == keys
    dt = unfollows[pos, 1] - g.times[rows]
    return float(np.mean(same & (dt >= 0) & (dt <= within)))


def _anchor(g: _Graph, members: IntArray, targets: IntArray) -> int:
    """The earliest-hit of the group's strongly hit targets: it stays as the group grows."""
    rows = g.member_rows(members, targets)
    per_t = np.bincount(g.targets[rows], minlength=g.n_targets)
    first = np.full(g.n_targets, np.iinfo(np.int64).max)
    np.minimum.at(first, g.targets[rows], g.times[rows])
    strong = targets[per_t[targets] * 2 >= per_t[targets].max()]
    return int(strong[np.lexsort((strong, first[strong]))][0])


def _match(
    members: list[str], state: LockstepState, share: float, used: set[str]
) -> GroupState | None:
    """The earlier group this one continues, if any (most shared members)."""
    mine = set(members)
    best: GroupState | None = None
    best_share = share
    for gs in state.groups:
        if gs.key in used:
            continue
        s = len(mine & gs.members) / max(min(len(mine), len(gs.members)), 1)
        if s >= best_share:
            best, best_share = gs, s
    return best


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} seconds"
    if seconds < 7200:
        return f"{seconds / 60:.0f} minutes"
    return f"{seconds / 3600:.1f} hours"
