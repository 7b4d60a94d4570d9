"""Peer cohorts, accounts with little history, and the evidence every statistical finding owes."""

from __future__ import annotations

import numpy as np
import pytest

import detectors
from detectors.cohort import cohort_noise, size_cohorts
from detectors.findings import Panel
from server.simulator import SimulationConfig, simulate, to_panel


@pytest.fixture(scope="module")
def fraud_panel() -> Panel:
    return to_panel(simulate(SimulationConfig(seed=5, accounts=200, actors=4_000, days=10)))


@pytest.fixture(scope="module")
def clean_panel() -> Panel:
    config = SimulationConfig(
        seed=5, accounts=300, actors=5_000, fraud_accounts_per_pattern=0, hard_negatives=False
    )
    return to_panel(simulate(config))


def test_size_cohorts_are_quantile_bands_of_at_least_fifty() -> None:
    level = np.random.default_rng(1).lognormal(2.0, 1.5, 1_000)
    cohorts = size_cohorts(level)
    assert cohorts.count == 10
    counts = np.bincount(cohorts.band)
    assert counts.min() >= 50
    # Bands are ordered by size: every account of band b is smaller than every one of b + 1.
    for b in range(cohorts.count - 1):
        assert level[cohorts.band == b].max() <= level[cohorts.band == b + 1].min()
    assert size_cohorts(level[:60]).count == 1


def test_short_accounts_take_their_cohorts_noise() -> None:
    level = np.arange(200.0)
    cohorts = size_cohorts(level)
    noise = np.full(200, 2.0)
    short = np.zeros(200, dtype=bool)
    short[[10, 150]] = True
    noise[[10, 150]] = 0.0  # an estimate from a day of history: far too calm
    out = cohort_noise(noise, cohorts, short)
    assert out[10] == 2.0 and out[150] == 2.0 and (out[~short] == 2.0).all()


def test_accounts_that_began_during_the_history_raise_no_alert(clean_panel: Panel) -> None:
    # Established accounts whose data begins one to three days before the judged window:
    # against the silent days before, their normal traffic would look like a level shift.
    panel = clean_panel
    level = panel.metric("impressions").mean(axis=1)
    late = np.argsort(-level)[[20, 40, 60, 80, 100, 150, 200]]
    values = {}
    for metric, x in panel.values.items():
        y = x.copy()
        for k, i in enumerate(late):
            y[i, : panel.judge_from - 24 * (1 + k % 3)] = 0.0
        values[metric] = y
    started = Panel(panel.account_ids, panel.bucket_times, values, panel.judge_from)
    names = set(panel.account_ids[late].tolist())
    findings = [f for d in detectors.default_detectors() for f in d.detect(started)]
    assert [f.explanation for f in findings if f.subject in names] == []


def test_every_statistical_finding_says_expected_observed_partners_and_peers(
    fraud_panel: Panel,
) -> None:
    findings = [f for d in detectors.default_detectors() for f in d.detect(fraud_panel)]
    assert {f.detector for f in findings} >= {"seasonal_baseline", "follow_purge"}
    for f in findings:
        kinds = {e.kind: e.values for e in f.evidence}
        assert "observed_vs_expected" in kinds, f.detector
        partners = kinds["partner_metrics"]
        assert "moved" in partners and "flat" in partners, f.detector
        assert any(k.endswith("_lift") for k in partners), f.detector
        peers = kinds["peer_percentile"]
        assert 0.0 <= float(peers["percentile"]) <= 100.0 and peers["cohort"], f.detector
        if f.detector != "peer_outlier":  # a ranking among peers, not a test with a p-value
            significance = kinds["significance"]
            assert float(significance["fdr_q"]) <= float(significance["fdr_alpha"])
            assert 0.0 <= float(significance["p_value"]) <= float(significance["fdr_q"])
