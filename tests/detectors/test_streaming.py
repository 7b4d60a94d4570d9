"""The causal streaming scorer and its building blocks (robust baseline, likelihood, alerts)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest

from detectors.streaming import (
    StreamingConfig,
    causal_parts,
    causal_scores,
    channels,
    likelihood_scores,
)
from detectors.streaming_alerts import new_extreme, quiet_period
from detectors.streaming_baseline import (
    past_range,
    robust_z,
    rows_per_period,
    seasonal_residual,
    trailing_baseline,
    trailing_mean,
)
from detectors.streaming_likelihood import likelihood_score, log_tail, surprise
from detectors.streaming_shift import cusum, run_length
from detectors.streaming_tier import tier_alerts, tighter_spread

NAB_DATA = Path(__file__).resolve().parents[3] / "shared" / "nab" / "data"
FIVE_MINUTES = np.timedelta64(300, "s")


def five_minute_clock(n: int) -> npt.NDArray[np.datetime64]:
    return np.datetime64("2026-01-05T00:00:00") + FIVE_MINUTES * np.arange(n)


def noisy_daily(n: int, seed: int) -> npt.NDArray[np.float64]:
    """A 5-minute series with a daily cycle and noise, like a platform metric."""
    rng = np.random.default_rng(seed)
    phase = 2 * np.pi * np.arange(n) / 288
    return 100 + 40 * np.sin(phase) + rng.normal(0, 3, n)


def assert_prefix_causal(
    values: npt.NDArray[np.float64],
    timestamps: npt.NDArray[np.datetime64] | None,
    prefixes: list[int],
) -> None:
    full = causal_scores(values, StreamingConfig(), timestamps)
    for k in prefixes:
        stamps = None if timestamps is None else timestamps[:k]
        prefix = causal_scores(values[:k], StreamingConfig(), stamps)
        np.testing.assert_array_equal(prefix, full[:k], err_msg=f"first {k} rows")


def test_truncated_real_nab_series_scores_the_prefix_of_the_full_scores() -> None:
    frame = pd.read_csv(NAB_DATA / "realKnownCause" / "nyc_taxi.csv")
    values = frame["value"].to_numpy(dtype=np.float64)
    stamps = pd.to_datetime(frame["timestamp"]).to_numpy(dtype="datetime64[ns]")
    # Around the learning period, one day (48 rows) in, inside the labelled anomalies and just
    # after second-tier alerts (holidays the weekly tier finds).
    prefixes = [1, 299, 300, 301, 349, 2000, 5900, 7168, 8512, 8730, 8834, 10000]
    assert_prefix_causal(values, stamps, prefixes)
    tier = causal_parts(values[None, :], StreamingConfig(), stamps).tier[0]
    assert tier[[7167, 8511, 8833]].all()  # Thanksgiving, Christmas, New Year
    assert causal_scores(values, StreamingConfig(), stamps).max() == 1.0


@pytest.mark.parametrize("step", [300, 3600, 0], ids=["5min", "hourly", "no-timestamps"])
def test_truncated_random_series_scores_the_prefix_of_the_full_scores(step: int) -> None:
    rng = np.random.default_rng(5)
    values = np.cumsum(rng.normal(0, 1, 3000)) + rng.standard_t(2, 3000)
    values[rng.choice(3000, 20, replace=False)] += rng.normal(0, 50, 20)
    stamps = None
    if step:
        # Irregular steps (as in real logs), one repeated and one stepping back.
        jitter = rng.integers(-step // 3, step // 3, 3000)
        stamps = np.datetime64("2026-01-05T00:00:00") + np.timedelta64(1, "s") * np.cumsum(
            step + jitter
        )
        stamps[1500] = stamps[1499]
        stamps[2500] = stamps[2400]
    # Around the step sample (20 rows), a week of hourly rows (168) and the 300-row learning.
    prefixes = {int(k) for k in rng.integers(1, 3000, 10)} | {20, 21, 22, 168, 169, 288, 301}
    assert_prefix_causal(values, stamps, sorted(prefixes | {577, 1501, 2999}))


def test_learning_ends_after_a_week_of_hourly_rows() -> None:
    hourly = np.datetime64("2026-01-05T00:00:00") + np.timedelta64(1, "h") * np.arange(400)
    values = 10 + np.random.default_rng(8).normal(0, 1, 400)
    values[200] = 100.0
    scores = causal_scores(values, StreamingConfig(), hourly)
    assert np.all(scores[:168] == 0.0) and scores[200] == 1.0
    no_cap = dataclasses.replace(StreamingConfig(), learning_seconds=None)
    assert causal_scores(values, no_cap, hourly)[200] == 0.0  # still learning (300 rows)


def test_planted_spike_is_the_top_alert_and_alerts_are_rare_on_clean_data() -> None:
    values = noisy_daily(4000, seed=1)
    clean = causal_scores(values, StreamingConfig(), five_minute_clock(4000))
    values[3000] += 60
    spiked = causal_scores(values, StreamingConfig(), five_minute_clock(4000))
    alert = StreamingConfig().alert_level
    assert np.all((spiked >= 0) & (spiked <= 1))
    assert spiked[3000] == 1.0 and clean[3000] < alert
    np.testing.assert_array_equal(spiked[:3000], clean[:3000])
    # Two weeks of clean data: at most a handful of alerts, never during the learning period.
    assert np.count_nonzero(clean >= alert) <= 5
    assert np.all(clean[: StreamingConfig().min_history] == 0.0)
    # Over six clean series (12 weeks) about 2-3 alerts per two weeks: 14 (12 without the
    # slow view; 18 when new extremes needed only 2% of the range, not 2.5%).
    others = [
        causal_scores(noisy_daily(4000, seed), StreamingConfig(), five_minute_clock(4000))
        for seed in range(2, 7)
    ]
    assert (
        np.count_nonzero(clean >= alert) + sum(np.count_nonzero(o >= alert) for o in others) <= 18
    )


def test_seasonal_view_catches_a_value_normal_overall_but_wrong_for_the_time_of_day() -> None:
    values = noisy_daily(4000, seed=2)
    # Hold the midday peak level for two hours at night: within the overall range, so neither
    # the value's baseline nor the new-extreme rule on the value sees much.
    night = 3000 + (288 - 3000 % 288) + 216  # 18:00 of the next day, the cycle's trough
    values[night : night + 24] = 130.0
    stamps = five_minute_clock(4000)
    with_season = causal_scores(values, StreamingConfig(), stamps)
    without = causal_scores(values, dataclasses.replace(StreamingConfig(), use_seasonal=False))
    alert = StreamingConfig().alert_level
    assert with_season[night : night + 24].max() >= alert
    assert with_season[night : night + 24].max() > without[night : night + 24].max()


def test_slow_view_catches_a_sustained_shift_no_single_row_makes_extreme() -> None:
    values = noisy_daily(4000, seed=2)
    stamps = five_minute_clock(4000)
    clean = causal_scores(values, StreamingConfig(), stamps)
    # Two hours 5 units (about 1.4 residual noise widths) above the daily shape: no row leaves
    # the residual's range, but the 12-row mean leaves the range of past 12-row means.
    values[3100:3124] += 5.0
    shifted = causal_scores(values, StreamingConfig(), stamps)
    no_slow = causal_scores(values, dataclasses.replace(StreamingConfig(), slow_rows=0), stamps)
    alert = StreamingConfig().alert_level
    assert clean[3100:3124].max() < alert and no_slow[3100:3124].max() < alert
    assert shifted[3100:3124].max() == 1.0
    np.testing.assert_array_equal(shifted[:3100], clean[:3100])


def test_cusum_catches_a_sustained_rise_no_row_makes_extreme_or_likely() -> None:
    rng = np.random.default_rng(0)
    values = 100 + rng.uniform(-5, 5, 3000)
    values[[400, 500]] = [150.0, 50.0]  # two old spikes widen the range seen so far
    # 25 hours (rows on a 5-minute clock) about 1.35 robust sds up: every row stays far inside
    # the range, the 45-row likelihood stays low, but the rise adds up.
    values[2000:2300] += 5.0
    on = causal_scores(values)
    off = causal_scores(values, dataclasses.replace(StreamingConfig(), use_cusum=False))
    alert = StreamingConfig().alert_level
    assert off[2000:2300].max() < alert
    assert on[2000:2300].max() == 1.0
    assert 2000 < int(np.argmax(on[2000:2300] >= alert)) + 2000 < 2050  # within hours
    # Before the rise the CUSUM changes nothing: its records there stay below Page's h.
    np.testing.assert_array_equal(on[:2000], off[:2000])
    first = 2000 + int(np.argmax(on[2000:2300] >= alert))
    assert_prefix_causal(values, None, [first - 1, first, first + 1, 2299])


def test_two_spike_rows_are_not_a_sustained_rise() -> None:
    rng = np.random.default_rng(0)
    values = 100 + rng.uniform(-5, 5, 3000)
    values[[400, 500]] = [150.0, 50.0]  # two old spikes widen the range seen so far
    values[2000:2002] += 30.0  # inside that range, but each row far above the baseline
    short = dataclasses.replace(StreamingConfig(), cusum_min_rows=0)
    parts = causal_parts(values[None, :], StreamingConfig())
    assert parts.upper_cusum[0, 2001] > StreamingConfig().cusum_threshold  # h alone is passed
    assert not parts.shift[0].any() and parts.score[0, 1990:2300].max() < 0.5
    assert np.flatnonzero(causal_parts(values[None, :], short).shift[0]).tolist() == [2001]


def test_run_length_counts_rows_since_the_statistic_was_zero() -> None:
    upper = np.array([[0.0, 1.0, 2.0, 0.0, 0.0, 3.0, 4.0, 5.0], [1.0, 2.0, 0.0, 1.0, 0, 0, 0, 0]])
    assert run_length(upper).tolist() == [[0, 1, 2, 0, 0, 1, 2, 3], [1, 2, 0, 1, 0, 0, 0, 0]]


def test_cusum_follows_pages_recursion_on_a_series_and_a_panel() -> None:
    rng = np.random.default_rng(10)
    panel = rng.standard_t(3, (3, 400)) + np.where(np.arange(400) > 300, 1.5, 0.0)
    upper, lower = cusum(panel, drift=0.5, clip=4.0)
    for i, z in enumerate(panel):
        up = down = 0.0
        expected_up, expected_down = [], []
        for x in np.clip(z, -4.0, 4.0):
            up, down = max(0.0, up + x - 0.5), max(0.0, down - x - 0.5)
            expected_up.append(up)
            expected_down.append(down)
        np.testing.assert_allclose(upper[i], expected_up, atol=1e-9)
        np.testing.assert_allclose(lower[i], expected_down, atol=1e-9)
        single_up, single_down = cusum(z, drift=0.5, clip=4.0)
        np.testing.assert_array_equal(single_up, upper[i])
        np.testing.assert_array_equal(single_down, lower[i])
    assert (upper >= 0).all() and (lower >= 0).all()
    assert upper[:, -1].min() > 50  # the shift after row 300 keeps building the upper side


def test_cusum_clip_limits_what_one_spike_adds() -> None:
    z = np.array([0.0, 100.0, 0.0, 0.0, -100.0])
    upper, lower = cusum(z, drift=1.0, clip=5.0)
    np.testing.assert_array_equal(upper, [0.0, 4.0, 3.0, 2.0, 0.0])
    np.testing.assert_array_equal(lower, [0.0, 0.0, 0.0, 0.0, 4.0])


def test_quiet_period_turns_a_run_into_one_alert() -> None:
    values = noisy_daily(3000, seed=3)
    values[2000:2100] += 200  # an 8-hour incident
    stamps = five_minute_clock(3000)
    quiet = causal_scores(values, StreamingConfig(), stamps)
    loud = causal_scores(
        values, dataclasses.replace(StreamingConfig(), use_quiet_period=False), stamps
    )
    alert = StreamingConfig().alert_level
    assert np.count_nonzero(loud[2000:2100] >= alert) > 10
    assert np.flatnonzero(quiet[1990:2200] >= alert).tolist() == [10]  # row 2000 only


def test_quiet_period_counts_wall_time_and_survives_a_clock_stepping_back() -> None:
    scores = np.array([0.9, 0.9, 0.2, 0.9, 0.9])
    clock = np.array([0.0, 10.0, 20.0, 30.0, 100.0])
    np.testing.assert_array_equal(quiet_period(scores, clock, 0.5, 50.0), [0.9, 0, 0, 0, 0.9])
    np.testing.assert_array_equal(quiet_period(scores, clock, 0.95, 50.0), scores)


def test_quiet_period_lasts_at_least_min_rows_unless_a_row_breaks_it() -> None:
    scores = np.array([0.9, 0.2, 0.9, 0.9, 0.9])
    clock = np.array([0.0, 100.0, 200.0, 300.0, 400.0])  # rows far apart in wall time
    np.testing.assert_array_equal(quiet_period(scores, clock, 0.5, 50.0), scores)
    np.testing.assert_array_equal(quiet_period(scores, clock, 0.5, 50.0, 3), [0.9, 0, 0, 0.9, 0])
    breaks = np.array([False, False, True, False, False])
    np.testing.assert_array_equal(
        quiet_period(scores, clock, 0.5, 50.0, 3, breaks), [0.9, 0, 0.9, 0, 0]
    )


def test_hourly_incident_alerts_once_but_a_far_larger_one_breaks_the_quiet() -> None:
    hourly = np.datetime64("2026-01-05T00:00:00") + np.timedelta64(1, "h") * np.arange(600)
    rng = np.random.default_rng(4)
    values = 10 + 3 * np.sin(2 * np.pi * np.arange(600) / 24) + rng.normal(0, 1, 600)
    # A new high, another 20 hours later (12 h of wall time is 12 hourly rows), then a jump
    # beyond the range seen so far by more than that whole range.
    values[[300, 320, 350]] = [25.0, 26.0, 60.0]
    config = StreamingConfig()

    def alerts(cfg: StreamingConfig) -> list[int]:
        scores = causal_scores(values, cfg, hourly)
        return [int(r) for r in np.flatnonzero(scores[250:] >= cfg.alert_level) + 250]

    assert alerts(config) == [300, 350]
    assert alerts(dataclasses.replace(config, quiet_min_rows=0)) == [300, 320, 350]
    assert alerts(dataclasses.replace(config, break_margin=float("inf"))) == [300]
    assert_prefix_causal(values, hourly, [299, 300, 320, 349, 350, 351])


def test_new_extreme_needs_history_and_a_margin() -> None:
    values = np.array([0.0, 10.0, 5.0, 10.1, 11.0, -1.0, np.nan, 12.0])
    got = new_extreme(values, margin=0.05, min_history=2)
    # Row 3 (10.1) is within 5% of the range [0, 10]; rows 4, 5, 7 clear it; NaN never fires.
    assert got.tolist() == [False, False, False, False, True, True, False, True]
    assert not new_extreme(values, margin=0.05, min_history=10).any()


def test_building_blocks_work_on_a_panel_like_on_each_series() -> None:
    rng = np.random.default_rng(9)
    panel = rng.normal(0, 1, (3, 500)).cumsum(axis=1)
    z_panel = robust_z(panel, window=100, min_periods=20)
    extreme_panel = new_extreme(panel, margin=0.02, min_history=20)
    low, high = past_range(panel)
    for i, row in enumerate(panel):
        np.testing.assert_array_equal(z_panel[i], robust_z(row, window=100, min_periods=20))
        np.testing.assert_array_equal(extreme_panel[i], new_extreme(row, 0.02, 20))
        np.testing.assert_array_equal(high[i, 1:], np.maximum.accumulate(row)[:-1])
        np.testing.assert_array_equal(low[i, 1:], np.minimum.accumulate(row)[:-1])
    base = trailing_baseline(panel, window=100, min_periods=20)
    assert np.isnan(base.center[:, :20]).all() and not np.isnan(base.center[:, 20:]).any()


def test_robust_z_ignores_the_current_row_and_floors_a_flat_history() -> None:
    values = np.array([5.0] * 50 + [6.0, 5.0, 7.0])
    z = robust_z(values, window=50, min_periods=10, range_floor=0.01)
    # A flat history has no spread; the floor (1% of the range seen so far, 1.0 -> 0.01 at
    # row 52) keeps z finite, and a history with range 0 (row 50) gives the tiny floor instead.
    assert z[:10].tolist() == [0.0] * 10
    assert np.isfinite(z).all()
    assert z[52] == pytest.approx((7.0 - 5.0) / 0.01)


def test_seasonal_residual_and_period_detection() -> None:
    values = np.tile([1.0, 2.0, 3.0, 4.0], 6)
    values[-1] = 9.0
    residual = seasonal_residual(values, period=4, cycles=3)
    assert np.isnan(residual[:4]).all()
    np.testing.assert_array_equal(residual[4:-1], 0.0)
    assert residual[-1] == 5.0
    assert rows_per_period(five_minute_clock(400), 86400.0, 300) == 288
    assert rows_per_period(five_minute_clock(1), 86400.0, 300) == 0


def test_trailing_mean_is_causal_and_undefined_until_the_window_fills() -> None:
    values = np.array([1.0, 2.0, 3.0, np.nan, 5.0, 6.0, 7.0])
    means = trailing_mean(values, rows=2)
    np.testing.assert_array_equal(means[[1, 2, 5, 6]], [1.5, 2.5, 5.5, 6.5])
    assert np.isnan(means[[0, 3, 4]]).all()  # too few rows, or a NaN in the window
    panel = np.vstack([values, values * 2])
    np.testing.assert_array_equal(trailing_mean(panel, 2)[1], trailing_mean(values * 2, 2))


def test_likelihood_ranks_a_sudden_surprise_above_a_steady_one() -> None:
    rng = np.random.default_rng(4)
    raw = surprise(rng.normal(0, 1, 1000), cap=8.0)
    raw[900:910] = 1.0
    logs = log_tail(raw, short=5, long=500, min_periods=100, min_std=0.02)
    scores = likelihood_score(logs)
    assert np.all(logs <= 0) and np.all((scores >= 0) & (scores <= 1))
    assert scores[:100].max() == pytest.approx(-np.log(0.5) / np.log(1e10), abs=0.05)
    assert int(np.argmax(scores)) in range(900, 910) and scores.max() == 1.0
    assert np.percentile(scores[100:900], 99) < 0.5


def test_channels_and_likelihood_are_exposed_for_the_service_detectors() -> None:
    values = noisy_daily(1000, seed=6)
    views = channels(values, StreamingConfig(), five_minute_clock(1000))
    assert sorted(views) == ["change", "seasonal_86400s", "value"]
    scores = likelihood_scores(views, StreamingConfig())
    assert scores.shape == values.shape and np.all((scores >= 0) & (scores <= 1))


@pytest.mark.parametrize(
    "change",
    [
        {"baseline_window": 2},
        {"alert_level": 0.0},
        {"surprise_cap": 0.0},
        {"season_seconds": (0.0,)},
        {"quiet_seconds": -1.0},
        {"quiet_min_rows": -1},
        {"break_margin": -0.5},
        {"learning_seconds": 0.0},
        {"slow_rows": -1},
        {"cusum_clip": 0.0},
        {"cusum_drift": -1.0},
        {"cusum_threshold": -1.0},
        {"cusum_min_rows": -1},
        {"tier_score": 0.5},
        {"tier_score": 0.0},
        {"tier_seconds": 0.0},
        {"tier_spread_ratio": 0.0},
    ],
)
def test_config_rejects_nonsense(change: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        dataclasses.replace(StreamingConfig(), **change)


def test_scores_need_one_series_and_matching_timestamps() -> None:
    with pytest.raises(ValueError):
        causal_scores(np.zeros((2, 10)))
    with pytest.raises(ValueError):
        causal_scores(np.zeros(10), StreamingConfig(), five_minute_clock(9))
    assert causal_scores(np.zeros(0)).shape == (0,)


HALF_HOUR = np.timedelta64(1800, "s")


def weekly_shaped(n: int, seed: int) -> npt.NDArray[np.float64]:
    """Half-hourly, starting on a Monday: a daily cycle on a weekday level and a lower weekend."""
    rng = np.random.default_rng(seed)
    rows = np.arange(n)
    weekday = (rows // 48) % 7 < 5
    return np.where(weekday, 100.0, 40.0) + 30 * np.sin(2 * np.pi * rows / 48) + rng.normal(0, 3, n)


@pytest.mark.parametrize("seed", [0, 2])
def test_weekly_tier_flags_a_holiday_below_the_alert_level_and_leaves_alerts_alone(
    seed: int,
) -> None:
    n = 48 * 7 * 5
    stamps = np.datetime64("2026-01-05T00:00:00") + HALF_HOUR * np.arange(n)
    values = weekly_shaped(n, seed)
    holiday = 48 * (7 * 4 + 2)  # the fifth Wednesday looks like a Sunday
    values[holiday : holiday + 48] -= 60
    config = StreamingConfig()
    parts = causal_parts(values[None, :], config, stamps)
    scores = parts.score[0]
    # Ordinary for the time of day against the last days (a weekend), unusual for the weekday:
    # only the tier sees it, once, at its start, and below the alert level.
    assert np.flatnonzero(parts.tier[0][holiday : holiday + 48]).tolist() == [0]
    assert scores[holiday] == config.tier_score < config.alert_level
    assert scores[holiday : holiday + 48].max() == config.tier_score
    assert np.count_nonzero(parts.tier[0]) <= 2
    # Every other row below the alert level ranks under the tier; the top tier is unchanged.
    off = causal_scores(values, dataclasses.replace(config, use_weekly_tier=False), stamps)
    top = off >= config.alert_level
    np.testing.assert_array_equal(scores >= config.alert_level, top)
    np.testing.assert_array_equal(scores[top], off[top])
    assert np.all(scores[~top & ~parts.tier[0]] < config.tier_score)
    assert off[holiday : holiday + 48].max() < config.alert_level


def test_weekly_tier_stays_off_without_a_weekly_shape() -> None:
    for seed in range(1, 4):
        values = noisy_daily(4000, seed)
        values[3500:3510] -= 40  # unusual for the day and the week alike
        parts = causal_parts(values[None, :], StreamingConfig(), five_minute_clock(4000))
        assert not parts.tier.any()


def test_tighter_spread_compares_trailing_spreads() -> None:
    rng = np.random.default_rng(3)
    wide, narrow = rng.normal(0, 10, 500), rng.normal(0, 1, 500)
    tighter = tighter_spread(narrow, wide, 0.8, 200, 50)
    assert not tighter[:50].any() and tighter[50:].all()
    assert not tighter_spread(wide, narrow, 0.8, 200, 50).any()


def test_tier_alerts_keep_their_own_quiet_period_and_respect_the_top_one() -> None:
    clock = np.arange(100, dtype=np.float64)
    candidates = np.zeros(100, dtype=np.bool_)
    candidates[[5, 8, 20, 31, 33, 70]] = True
    top = np.zeros(100, dtype=np.bool_)
    top[[28, 33, 50]] = True
    kept = tier_alerts(candidates, top, clock, 10.0)
    # 8 is within 10 of the tier alert at 5; 31 is inside the top tier's quiet period after
    # 28; 33 is a top alert itself. A tier alert does not silence the top tier (50 stays).
    assert np.flatnonzero(kept).tolist() == [5, 20, 70]
