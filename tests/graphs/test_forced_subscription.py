"""Forced subscription: bundled unconsented follows are flagged; a consented onboarding is not."""

from __future__ import annotations

import numpy as np
import pytest

from detectors.findings import EventFrame, Finding
from graphs.forced_subscription import ForcedSubscriptionConfig, ForcedSubscriptionDetector
from graphs.synthetic import Organic, plant_forced, plant_onboarding, to_frame


def _evidence(finding: Finding, kind: str) -> dict[str, float | str]:
    return {k: v for e in finding.evidence if e.kind == kind for k, v in e.values.items()}


def test_forced_bundle_flagged_onboarding_not(organic: Organic) -> None:
    onboarding = plant_onboarding(organic, seed=71)
    forced = plant_forced(organic, seed=72)
    frame = to_frame(organic.rows, onboarding.rows, forced.rows)
    findings = ForcedSubscriptionDetector().detect(frame)

    assert [f.subject for f in findings] == sorted(forced.targets)
    f = findings[0]
    assert f.pattern == "forced_subscription"
    assert f.key == f"forced_subscription:{f.subject}"
    # The accounts the users did choose come with it, bundled, most frequent first.
    chosen = set(organic.accounts[10:20].tolist())
    assert f.target_ids[0] == f.subject and set(f.target_ids[1:]) == chosen
    assert set(f.member_ids) <= forced.members and len(f.member_ids) == 200
    assert f.observed > 0.9 and f.expected < 0.05 and f.score > 0.8
    signals = _evidence(f, "signals")
    assert float(signals["unconsented_share"]) > 0.9
    assert float(signals["bundled_share"]) > 0.9
    assert 0.3 < float(signals["undone_share"]) < 0.5
    assert float(_evidence(f, "observed_vs_expected")["p_value"]) < 1e-10
    assert _evidence(f, "bundles")["top_partner"] in chosen
    assert "without the user's confirmation" in f.explanation


def test_consented_onboarding_alone_is_not_forced(organic: Organic) -> None:
    onboarding = plant_onboarding(organic, seed=71)
    assert ForcedSubscriptionDetector().detect(to_frame(organic.rows, onboarding.rows)) == []


def test_without_consent_data_quick_undos_decide(organic: Organic) -> None:
    # A platform that never reports consent: bundled signup_flow follows alone no longer tell
    # onboarding from forcing; the forced account still stands out by its quick unfollows.
    onboarding = plant_onboarding(organic, seed=71)
    forced = plant_forced(organic, seed=72)
    frame = to_frame(organic.rows, onboarding.rows, forced.rows)
    blind = EventFrame(
        frame.actor_ids,
        frame.account_ids,
        frame.types,
        frame.times,
        frame.content_ids,
        frame.sources,
        np.zeros(len(frame), dtype=bool),
        frame.client_ids,
    )
    findings = ForcedSubscriptionDetector().detect(blind)
    assert [f.subject for f in findings] == sorted(forced.targets)
    assert _evidence(findings[0], "signals")["consent_reported"] == "False"


@pytest.mark.parametrize("bad", [{"bundle_seconds": 0}, {"min_lift": 0.5}, {"alpha": 2.0}])
def test_config_is_validated(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        ForcedSubscriptionDetector(ForcedSubscriptionConfig(**bad))  # type: ignore[arg-type]
