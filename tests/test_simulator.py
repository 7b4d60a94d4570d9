"""The traffic simulator: deterministic, truth consistent with the data, fraud visible in it."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import numpy as np
import numpy.typing as npt
import pytest

from detectors.findings import BUCKET_SECONDS, EVENT_TYPES, METRICS, PATTERNS
from server.simulator import (
    HARD_NEGATIVE_PREFIX,
    HARD_NEGATIVES,
    WINDOW_HOURS,
    Simulation,
    SimulationConfig,
    TruthCase,
    simulate,
    simulate_counts,
    truth_document,
)

SMALL = SimulationConfig(seed=11, accounts=100, actors=3_000, days=7)
FOLLOWS, UNFOLLOWS, CLICKS, SHARES, COMMENTS, IMPRESSIONS = range(6)

Dense = npt.NDArray[np.float64]


@pytest.fixture(scope="module", params=[11, 12, 13])
def sim(request: pytest.FixtureRequest) -> Simulation:
    return simulate(replace(SMALL, seed=request.param))


def _t0(sim: Simulation) -> int:
    return int(sim.config.start.timestamp())


def _point_matrix(sim: Simulation) -> Dense:
    """(metric, account, hour) counts from the points."""
    out = np.zeros((6, len(sim.account_ids), sim.config.hours))
    p = sim.points
    account = np.searchsorted(sim.account_ids, p.account_ids)
    hour = (p.unix_seconds - _t0(sim)) // BUCKET_SECONDS
    np.add.at(out, (p.metrics.astype(np.int64) - 1, account, hour), p.values)
    return out


def _event_matrix(sim: Simulation) -> Dense:
    """(event type, account, hour) counts from the events."""
    ev = sim.events
    out = np.zeros((len(EVENT_TYPES), len(sim.account_ids), sim.config.hours))
    names, inverse = np.unique(ev.types, return_inverse=True)
    kind = np.array([EVENT_TYPES.index(n) for n in names.tolist()])[inverse]
    account = np.searchsorted(sim.account_ids, ev.account_ids)
    np.add.at(out, (kind, account, (ev.times - _t0(sim)) // BUCKET_SECONDS), 1)
    return out


def _cases(sim: Simulation, pattern: str) -> list[TruthCase]:
    found = [c for c in sim.truth if c.pattern == pattern]
    assert found, f"no {pattern} case"
    return found


def _index(sim: Simulation, account: str) -> int:
    return int(np.searchsorted(sim.account_ids, account))


def _hours_of(sim: Simulation, case: TruthCase) -> tuple[int, int]:
    """The buckets a case covers, as a slice."""
    t0 = _t0(sim)
    first = (int(case.start.timestamp()) - t0) // BUCKET_SECONDS
    return first, (int(case.end.timestamp()) - 1 - t0) // BUCKET_SECONDS + 1


def _history_hours(sim: Simulation) -> int:
    return sim.config.hours - WINDOW_HOURS


def test_same_seed_same_simulation_other_seed_differs() -> None:
    a, b = simulate(SMALL), simulate(SMALL)
    assert a.truth == b.truth
    for name in ("account_ids", "metrics", "unix_seconds", "values"):
        np.testing.assert_array_equal(getattr(a.points, name), getattr(b.points, name))
    for name in ("actor_ids", "account_ids", "types", "times", "content_ids", "sources"):
        np.testing.assert_array_equal(getattr(a.events, name), getattr(b.events, name))
    np.testing.assert_array_equal(a.events.consented, b.events.consented)
    np.testing.assert_array_equal(a.events.client_ids, b.events.client_ids)

    other = simulate(replace(SMALL, seed=SMALL.seed + 1))
    assert other.truth != a.truth
    assert not np.array_equal(other.points.values[:1000], a.points.values[:1000])


def test_truth_covers_every_pattern_and_hard_negative_in_the_window(sim: Simulation) -> None:
    patterns = {c.pattern for c in sim.truth}
    assert patterns == set(PATTERNS) | {HARD_NEGATIVE_PREFIX + k for k in HARD_NEGATIVES}
    window_start = sim.config.end - timedelta(hours=WINDOW_HOURS)
    for case in sim.truth:
        assert case.start <= case.end <= sim.config.end
        if case.is_fraud:
            assert case.start >= window_start, case
            assert case.account_ids
    # Each fraud account belongs to one pattern, and no hard negative is also fraud.
    per_pattern = [sim.fraud_accounts(p) for p in PATTERNS]
    assert sum(len(s) for s in per_pattern) == len(sim.fraud_accounts())
    hard = {a for c in sim.truth if not c.is_fraud for a in c.account_ids}
    assert not hard & sim.fraud_accounts()
    assert sim.hard_negative_accounts() == hard
    assert len(sim.fraud_accounts("fake_followers")) == sim.config.fraud_accounts_per_pattern
    known = set(sim.account_ids.tolist())
    assert sim.fraud_accounts() <= known and hard <= known
    cases = truth_document(sim)["cases"]
    assert isinstance(cases, list) and len(cases) == len(sim.truth)


def test_clean_config_plants_nothing() -> None:
    clean = simulate(replace(SMALL, fraud_accounts_per_pattern=0, hard_negatives=False))
    assert clean.truth == ()
    assert clean.fraud_accounts() == set() and clean.hard_negative_accounts() == set()
    # Only the organic pool acts: no fresh actors were added.
    assert len(np.unique(clean.events.actor_ids)) <= SMALL.actors
    assert not (clean.events.consented & (clean.events.types != "follow")).any()


def test_points_count_every_event_of_their_bucket(sim: Simulation) -> None:
    points, events = _point_matrix(sim), _event_matrix(sim)
    assert (points[:5] >= events).all()
    # Unsampled, the event types are complete: points and events agree exactly.
    np.testing.assert_array_equal(points[:5], events)
    assert np.all(sim.points.values > 0)
    assert set(np.unique(sim.points.metrics).tolist()) == {1, 2, 3, 4, 5, 6}
    assert np.all(np.diff(sim.events.times) >= 0)


def test_sampled_clicks_never_exceed_points_and_the_rest_stays_complete() -> None:
    sampled = simulate(replace(SMALL, event_sample_rate=0.1))
    points, events = _point_matrix(sampled), _event_matrix(sampled)
    assert (points[:5] >= events).all()
    np.testing.assert_array_equal(
        points[[FOLLOWS, UNFOLLOWS, SHARES, COMMENTS]], events[[0, 1, 3, 4]]
    )
    share = events[CLICKS].sum() / points[CLICKS].sum()
    assert 0.08 < share < 0.12


def test_partners_follow_impressions_and_seasonality_is_diurnal(sim: Simulation) -> None:
    points = _point_matrix(sim)[:, :, : _history_hours(sim)]
    per_account = points.sum(axis=2)
    # Accounts with more impressions have more clicks, shares and follows.
    for metric in (CLICKS, SHARES, COMMENTS, FOLLOWS):
        corr = np.corrcoef(np.log1p(per_account[IMPRESSIONS]), np.log1p(per_account[metric]))[0, 1]
        assert corr > 0.7, metric
    # Accounts sit in a few time zones, which flattens the platform total somewhat.
    by_hour = points[IMPRESSIONS].sum(axis=0).reshape(-1, 24).mean(axis=0)
    assert by_hour.max() > 2 * by_hour.min()
    # Heavy-tailed audiences: the largest account dwarfs the median one.
    totals = per_account[IMPRESSIONS]
    assert totals.max() > 8 * np.median(totals)


def test_bought_followers_burst_without_impressions_then_purge(sim: Simulation) -> None:
    points = _point_matrix(sim)
    hist = _history_hours(sim)
    for case in _cases(sim, "fake_followers"):
        i = _index(sim, case.account_ids[0])
        follows, impressions = points[FOLLOWS, i], points[IMPRESSIONS, i]
        assert follows[hist:].sum() > 100 + 1.5 * follows[:hist].mean() * WINDOW_HOURS
        assert follows[hist:].max() > 3 * max(follows[:hist].max(), 2.0)
        assert impressions[hist:].mean() < 2 * impressions[:hist].mean()
        unfollow_rate = points[UNFOLLOWS, i, hist:].mean()
        assert unfollow_rate > 3 * max(points[UNFOLLOWS, i, :hist].mean(), 0.05)
        # The bots (at most 5 hours of burst) are fresh: none acted before the fraud window.
        ev = sim.events
        start = int(case.start.timestamp())
        burst = (ev.account_ids == case.account_ids[0]) & (ev.types == "follow")
        burst &= (ev.times >= start) & (ev.times < start + 5 * 3600)
        bots = set(ev.actor_ids[burst].tolist())
        window_start = int((sim.config.end - timedelta(hours=WINDOW_HOURS)).timestamp())
        before = set(ev.actor_ids[ev.times < window_start].tolist())
        assert len(bots - before) > 0.8 * len(bots)


def test_click_farm_clicks_rise_alone_and_evenly(sim: Simulation) -> None:
    points = _point_matrix(sim)
    hist = _history_hours(sim)
    for case in _cases(sim, "fake_traffic"):
        i = _index(sim, case.account_ids[0])
        first, last = _hours_of(sim, case)
        clicks, impressions = points[CLICKS, i], points[IMPRESSIONS, i]
        click_ratio = clicks[first:last].mean() / max(clicks[:hist].mean(), 0.1)
        impression_ratio = impressions[first:last].mean() / impressions[:hist].mean()
        assert click_ratio > 2 * impression_ratio
        # Few devices behind the extra clicks.
        ev = sim.events
        farm = (ev.account_ids == case.account_ids[0]) & (ev.types == "click")
        farm &= (ev.times >= int(case.start.timestamp())) & (ev.times < int(case.end.timestamp()))
        _, per_client = np.unique(ev.client_ids[farm], return_counts=True)
        assert np.sort(per_client)[-5:].sum() > 0.5 * farm.sum()


def test_bought_engagement_moves_shares_and_comments_alone(sim: Simulation) -> None:
    points = _point_matrix(sim)
    hist = _history_hours(sim)
    for case in _cases(sim, "fake_engagement"):
        i = _index(sim, case.account_ids[0])
        first, last = _hours_of(sim, case)
        engaged = points[SHARES, i] + points[COMMENTS, i]
        engaged_ratio = engaged[first:last].mean() / max(engaged[:hist].mean(), 0.1)
        clicks = points[CLICKS, i]
        click_ratio = clicks[first:last].mean() / max(clicks[:hist].mean(), 0.1)
        assert engaged_ratio > 2 * click_ratio


def test_lockstep_members_follow_every_target_within_minutes(sim: Simulation) -> None:
    ev = sim.events
    follows = ev.where(ev.types == "follow")
    for case in _cases(sim, "lockstep_group"):
        assert 40 <= len(case.member_ids) <= 80
        assert len(case.account_ids) >= 10
        members = np.isin(follows.actor_ids, case.member_ids)
        for target in case.account_ids:
            hit = follows.where(members & (follows.account_ids == target))
            assert set(hit.actor_ids.tolist()) == set(case.member_ids)
            assert hit.times.max() - hit.times.min() <= 600
            assert int(case.start.timestamp()) <= hit.times.min()
            assert hit.times.max() <= int(case.end.timestamp())
        # Camouflage: members also follow accounts outside the targets.
        others = follows.where(members & ~np.isin(follows.account_ids, case.account_ids))
        assert len(others) >= len(case.member_ids)


def test_forced_follows_ride_seconds_after_a_chosen_follow(sim: Simulation) -> None:
    ev = sim.events
    for case in _cases(sim, "forced_subscription"):
        account = case.account_ids[0]
        forced = ev.where((ev.account_ids == account) & (ev.types == "follow") & ~ev.consented)
        assert len(forced) >= 20
        assert set(forced.sources.tolist()) <= {"third_party", "signup_flow"}
        follows = ev.where((ev.types == "follow") & (ev.account_ids != account))
        for actor, t in zip(forced.actor_ids.tolist(), forced.times.tolist(), strict=True):
            before = (follows.actor_ids == actor) & (follows.times >= t - 3) & (follows.times < t)
            assert before.any(), (actor, t)
        undone = (ev.account_ids == account) & (ev.types == "unfollow")
        undone &= np.isin(ev.actor_ids, forced.actor_ids)
        assert undone.sum() >= 0.1 * len(forced)


def test_coordinated_group_shares_the_same_contents_within_seconds(sim: Simulation) -> None:
    ev = sim.events
    for case in _cases(sim, "coordinated_sharing"):
        shares = ev.where((ev.types == "share") & np.isin(ev.actor_ids, case.member_ids))
        assert set(shares.account_ids.tolist()) <= set(case.account_ids)
        contents, counts = np.unique(shares.content_ids, return_counts=True)
        assert len(contents) >= 10
        assert counts.min() >= 0.35 * len(case.member_ids)
        for content in contents.tolist():
            times = shares.times[shares.content_ids == content]
            assert times.max() - times.min() <= 60


def test_consented_onboarding_follows_are_consented_signup_and_kept(sim: Simulation) -> None:
    ev = sim.events
    (case,) = _cases(sim, HARD_NEGATIVE_PREFIX + "consented_onboarding")
    by_new_users = ev.where(np.isin(ev.actor_ids, case.member_ids))
    assert len(by_new_users) >= len(case.member_ids)
    assert set(by_new_users.types.tolist()) == {"follow"}  # never undone
    assert by_new_users.consented.all()
    assert set(by_new_users.sources.tolist()) == {"signup_flow"}
    assert set(by_new_users.account_ids.tolist()) == set(case.account_ids)


def test_hard_negatives_move_with_their_partners(sim: Simulation) -> None:
    points = _point_matrix(sim)
    hist = _history_hours(sim)
    for kind in ("organic_viral", "celebrity_share"):
        for case in _cases(sim, HARD_NEGATIVE_PREFIX + kind):
            i = _index(sim, case.account_ids[0])
            first, last = _hours_of(sim, case)
            for metric in (IMPRESSIONS, CLICKS, FOLLOWS):
                base = max(points[metric, i, :hist].mean(), 0.05)
                assert points[metric, i, first:last].mean() > 2 * base, (kind, metric)
    (holiday,) = _cases(sim, HARD_NEGATIVE_PREFIX + "holiday")
    day = (int(holiday.start.timestamp()) - _t0(sim)) // BUCKET_SECONDS
    daily = points[IMPRESSIONS].sum(axis=0).reshape(-1, 24).sum(axis=1)
    holiday_day = day // 24
    assert daily[holiday_day] > 1.3 * np.median(np.delete(daily, holiday_day))


def test_config_is_validated() -> None:
    with pytest.raises(ValueError, match="days"):
        SimulationConfig(days=3)
    with pytest.raises(ValueError, match="event_sample_rate"):
        SimulationConfig(event_sample_rate=0.0)
    with pytest.raises(ValueError, match="too few accounts"):
        simulate(SimulationConfig(accounts=40, actors=1_000, days=5, fraud_accounts_per_pattern=5))


def test_subtle_fraud_adds_a_few_percent_of_a_large_accounts_volume() -> None:
    base = replace(SMALL, accounts=200)
    plain, subtle = simulate(base), simulate(replace(base, subtle_fraud=0.05))
    extra = [c for c in subtle.truth if c.description.startswith("subtle")]
    assert sorted(c.pattern for c in extra) == ["fake_engagement", "fake_followers", "fake_traffic"]
    # Switching subtle fraud on moves no other account's role (lockstep targets are drawn
    # from the accounts left over, so they may differ).
    roles = {(c.pattern, c.account_ids) for c in subtle.truth if c not in extra}
    assert {
        (c.pattern, c.account_ids) for c in plain.truth if c.pattern != "lockstep_group"
    } <= roles
    points, before = _point_matrix(subtle), _point_matrix(plain)
    metric = {"fake_followers": [FOLLOWS], "fake_traffic": [CLICKS]}
    metric["fake_engagement"] = [SHARES, COMMENTS]
    for case in extra:
        i = _index(subtle, case.account_ids[0])
        m = metric[case.pattern]
        added = (points[m, i] - before[m, i]).sum()
        normal = (
            before[m, i, : _history_hours(subtle)].sum()
            * subtle.config.hours
            / _history_hours(subtle)
        )
        assert 0.02 * normal < added < 0.1 * normal, case.description
        # Large accounts: above the median size.
        assert points[IMPRESSIONS, i].sum() > np.median(points[IMPRESSIONS].sum(axis=1))


def test_daylight_saving_moves_the_daily_rhythm_by_the_shift() -> None:
    base = replace(SMALL, fraud_accounts_per_pattern=0, hard_negatives=False)
    change_day = base.dst_hour // 24

    def moved_by(shift: int) -> int:
        """The roll that best maps the platform's hourly profile before the change to after."""
        x = _point_matrix(simulate(replace(base, dst_shift_hours=shift)))[IMPRESSIONS].sum(axis=0)
        before = x[: change_day * 24].reshape(-1, 24).mean(axis=0)
        after = x[(change_day + 1) * 24 :].reshape(-1, 24).mean(axis=0)
        gaps = [
            np.abs(np.roll(before, -r) / before.sum() - after / after.sum()).sum()
            for r in (-1, 0, 1)
        ]
        return int(np.argmin(gaps)) - 1

    assert [moved_by(s) for s in (0, 1, -1)] == [0, 1, -1]
    with pytest.raises(ValueError, match="dst_shift_hours"):
        SimulationConfig(dst_shift_hours=3)
    with pytest.raises(ValueError, match="dst_day"):
        SimulationConfig(days=7, dst_day=7)
    with pytest.raises(ValueError, match="subtle_fraud"):
        SimulationConfig(subtle_fraud=0.9)


def test_counts_alone_match_the_full_simulation() -> None:
    config = replace(SMALL, fraud_accounts_per_pattern=0)
    full, counts = simulate(config), simulate_counts(config)
    points = _point_matrix(full)
    for m, name in enumerate(METRICS):
        assert (counts.values[name] == points[m]).all(), name
    assert counts.truth == full.truth
    with pytest.raises(ValueError, match="clean"):
        simulate_counts(SMALL)
