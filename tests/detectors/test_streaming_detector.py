"""streaming: the NAB-scored scorer as a service detector, with the service's gates around it."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest

from detectors import STATISTICAL_DETECTORS, default_detectors
from detectors.findings import Finding, Panel
from detectors.streaming import StreamingConfig, causal_scores
from detectors.streaming_detector import (
    PART_WORDS,
    StreamingDetector,
    StreamingDetectorConfig,
    fired_parts,
    panel_scores,
)
from detectors.synthetic import Synth, account_near_median, burst, simulate, with_added

Check = Callable[[Finding, Panel, str], None]
DETECTOR = StreamingDetector()


def _bought_followers(panel: Panel) -> tuple[Panel, int, int]:
    """A sustained rise: 12 bought follows an hour for 18 hours on a mid-sized account."""
    account = account_near_median(panel, 0.6)
    start = panel.judge_from + 10
    return with_added(panel, "follows", account, start, [12.0] * 18), account, start


def test_runs_in_the_service_registry_with_nabs_scorer_config() -> None:
    assert STATISTICAL_DETECTORS["streaming"] is StreamingDetector
    assert any(isinstance(d, StreamingDetector) for d in default_detectors())
    # The scorer the service runs is the one bench/nab.py scores: the default config.
    assert StreamingDetector().config.streaming == StreamingConfig()


def test_sustained_bought_follower_rise_is_found_with_evidence(clean: Synth, check: Check) -> None:
    planted, account, start = _bought_followers(clean.panel)
    findings = DETECTOR.detect(planted)
    assert findings, "the planted rise was missed"
    top = findings[0]
    check(top, planted, DETECTOR.name)
    assert top.subject == str(planted.account_ids[account])
    assert (top.metric, top.pattern) == ("follows", "fake_followers")
    assert top.observed >= 100 and top.expected < top.observed / 5
    values = {e.kind: e.values for e in top.evidence}
    assert {
        "observed_vs_expected",
        "partner_metrics",
        "peer_percentile",
        "significance",
        "platform_factor",
        "streaming_scorer",
    } <= set(values)
    assert values["partner_metrics"]["flat"] != "none"  # impressions did not move with it
    assert float(values["significance"]["fdr_q"]) <= DETECTOR.config.fdr_alpha
    assert float(values["peer_percentile"]["percentile"]) >= 95.0
    # The alert row is one where the NAB scorer, run on this series alone, alerts.
    scores = causal_scores(
        planted.metric("follows")[account], StreamingConfig(), planted.bucket_times
    )
    alert = int(
        np.flatnonzero(
            planted.bucket_times
            == np.datetime64(str(values["streaming_scorer"]["alert_time"]).rstrip("Z"))
        )[0]
    )
    assert scores[alert] >= StreamingConfig().alert_level
    assert start <= alert < start + 18
    fired = str(values["streaming_scorer"]["parts"]).split(", ")
    assert fired and all(PART_WORDS[part] in top.explanation for part in fired)
    # The key follows seasonal_baseline's convention: account, metric, onset hour.
    assert top.key.startswith(f"{top.subject}:follows:")
    assert len({f.key for f in findings}) == len(findings)


def test_clean_platform_yields_nothing(clean: Synth) -> None:
    assert DETECTOR.detect(clean.panel) == []


def test_organic_burst_with_partners_moving_is_not_fraud(viral: Synth) -> None:
    # The scorer itself alerts on the burst: only the partner allowance keeps it quiet.
    row = np.array([123])
    parts = panel_scores(viral.panel, "impressions", rows=row)
    assert (parts.score[0, viral.panel.judge_from :] >= 0.5).any()
    assert DETECTOR.detect(viral.panel) == []


def test_platform_wide_lift_on_every_account_is_not_fraud(holiday: Synth) -> None:
    assert DETECTOR.detect(holiday.panel) == []


def test_strong_platform_wide_lift_is_not_fraud() -> None:
    lifted = simulate(seed=11, lift=burst(slice(None), 14 * 24 - 48, 24, 3.0))
    follows = panel_scores(lifted.panel, "follows")
    # Many series alert by the scorer alone; the platform factor explains all of them.
    assert (follows.score[:, lifted.panel.judge_from :] >= 0.5).any(axis=1).sum() > 50
    assert DETECTOR.detect(lifted.panel) == []


def test_panel_scores_are_causal_scores_of_each_series(clean: Synth) -> None:
    planted, account, _ = _bought_followers(clean.panel)
    rows = np.array([account, 0, 7, 250, 499])
    for metric in ("follows", "impressions"):
        parts = panel_scores(planted, metric, rows=rows)
        for k, i in enumerate(rows):
            expected = causal_scores(
                planted.metric(metric)[i], StreamingConfig(), planted.bucket_times
            )
            np.testing.assert_array_equal(parts.score[k], expected)
    # Blocks of series are stitched back in order.
    whole = panel_scores(planted, "follows")
    np.testing.assert_array_equal(
        whole.score[rows], panel_scores(planted, "follows", rows=rows).score
    )


class _Unscreened(StreamingDetector):
    """The detector with its screen switched off: the scorer runs on every series."""

    def screen(self, panel: Panel) -> dict[str, npt.NDArray[np.intp]]:
        everyone = np.arange(panel.n_accounts)
        return {m: everyone for m in self.config.metrics if m in panel.values}


def test_screen_only_saves_time(clean: Synth) -> None:
    planted, account, _ = _bought_followers(clean.panel)
    other = account_near_median(planted, 0.8)
    planted = with_added(planted, "clicks", other, planted.judge_from + 30, [8.0] * 10)
    planted = with_added(planted, "comments", other, planted.judge_from + 5, [6.0] * 4)
    screened = DETECTOR.screen(planted)
    assert sum(len(r) for r in screened.values()) < 20  # of 2,500 series
    found = DETECTOR.detect(planted)
    assert {(f.subject, f.metric) for f in found} >= {
        (str(planted.account_ids[account]), "follows")
    }
    assert found == _Unscreened().detect(planted)


def test_fired_parts_name_what_put_the_row_over_the_level(clean: Synth) -> None:
    planted, account, start = _bought_followers(clean.panel)
    parts = panel_scores(planted, "follows", rows=np.array([account]))
    alert = start + int(np.argmax(parts.score[0, start:] >= 0.5))
    named = fired_parts(parts, 0, alert, 0.5)
    assert named and set(named) <= {"likelihood", "new extreme", "slow seasonal extreme", "CUSUM"}
    quiet = int(np.argmin(parts.score[0, : planted.judge_from]))
    assert parts.score[0, quiet] < 0.5


def test_tighter_fdr_drops_a_weak_finding(clean: Synth) -> None:
    planted, _, _ = _bought_followers(clean.panel)
    assert DETECTOR.detect(planted)
    strict = StreamingDetector(dataclasses.replace(StreamingDetectorConfig(), fdr_alpha=1e-300))
    assert strict.detect(planted) == []


@pytest.mark.parametrize(
    "change",
    [
        {"metrics": ("likes",)},
        {"min_score": 1.0},
        {"window_hours": ()},
        {"window_hours": (0, 3)},
        {"fdr_alpha": 0.0},
        {"screen_slack": 0.5},
        {"full_lift": 1.0},
        {"significance_half": 0.0},
        {"partner_slack": 0.9},
        {"partner_context_hours": -1},
    ],
)
def test_config_rejects_nonsense(change: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        StreamingDetector(dataclasses.replace(StreamingDetectorConfig(), **change))  # type: ignore[arg-type]
