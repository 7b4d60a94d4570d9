"""Forced subscription: bundled unconsented follows are flagged; a consented onboarding is not."""

from __future__ import annotations

import numpy as np
import pytest

from detectors.findings import EventFrame, Finding
from graphs.forced_subscription import ForcedSubscriptionConfig, ForcedSubscriptionDetector
from graphs.synthetic import (
    Organic,
    plant_forced,
    plant_forced_signup,
    plant_onboarding,
    plant_onboarding_choice,
    plant_third_party,
    to_frame,
)


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
    # The full member list travels on the finding; the alert keeps a sample of it.
    assert set(f.member_ids) == forced.members and f.member_count == 800
    assert f.observed > 0.9 and f.expected < 0.05 and f.score > 0.8
    signals = _evidence(f, "signals")
    assert float(signals["unconsented_share"]) > 0.9
    assert float(signals["bundled_share"]) > 0.9
    assert 0.3 < float(signals["undone_share"]) < 0.5
    assert float(_evidence(f, "observed_vs_expected")["p_value"]) < 1e-10
    assert _evidence(f, "bundles")["top_partner"] in chosen
    assert "without the user's confirmation" in f.explanation
    # The group evidence every group finding carries.
    counts = _evidence(f, "observed_vs_expected")
    assert counts["members"] == f.member_count and counts["targets"] == f.target_count == 11
    assert str(counts["target_sample"]).startswith(f.subject)
    assert float(counts["time_span_seconds"]) > 0
    assert float(_evidence(f, "camouflage")["share_of_account_follows_not_forced"]) < 0.1
    client = _evidence(f, "shared_client")  # real users on their own devices (a few families)
    assert float(client["shared_client_share"]) < 0.1
    assert float(client["background_shared_client_share"]) > 0


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


def _blind(frame: EventFrame) -> EventFrame:
    """The same events from a platform that never reports consent."""
    return EventFrame(
        frame.actor_ids,
        frame.account_ids,
        frame.types,
        frame.times,
        frame.content_ids,
        frame.sources,
        np.zeros(len(frame), dtype=bool),
        frame.client_ids,
    )


@pytest.mark.parametrize("consent_reported", [True, False])
def test_fixed_signup_bundle_forced_choice_onboarding_not(
    organic: Organic, consent_reported: bool
) -> None:
    # Both flows are signup_flow bundles within seconds. The onboarding lets users pick 2-5 of
    # 10 suggestions, confirmed, few undo; the forced flow adds the same two accounts to every
    # new user, unconfirmed, and ~45% undo them within hours.
    choice = plant_onboarding_choice(organic, seed=91)
    forced = plant_forced_signup(organic, seed=92)
    frame = to_frame(organic.rows, choice.rows, forced.rows)
    findings = ForcedSubscriptionDetector().detect(frame if consent_reported else _blind(frame))

    assert sorted(f.subject for f in findings) == sorted(forced.targets)
    for f in findings:
        signals = _evidence(f, "signals")
        assert float(signals["fixed_bundle_share"]) > 0.9
        assert float(signals["bundled_share"]) > 0.9
        assert 0.3 < float(signals["undone_share"]) < 0.6
        assert float(signals["undone_p_value"]) < 1e-10
        assert float(signals["risky_source_p_value"]) < 1e-10
        assert set(f.member_ids) <= forced.members
        assert f.member_count == len(f.member_ids) > 500
        assert _evidence(f, "bundles")["top_partner"] in forced.targets


def test_third_party_flow_unconsented_flagged_consented_not(organic: Organic) -> None:
    # A partner app adding one follow per user (no bundle): unconfirmed and half undone is
    # forced; the same app asking first, with few undos, is not.
    pushed = plant_third_party(organic, seed=93)
    asked = plant_third_party(organic, seed=94, consented=True)
    findings = ForcedSubscriptionDetector().detect(to_frame(organic.rows, pushed.rows, asked.rows))

    assert [f.subject for f in findings] == sorted(pushed.targets)
    signals = _evidence(findings[0], "signals")
    assert float(signals["bundled_share"]) == 0.0
    assert float(signals["risky_source_share"]) > 0.95
    assert float(signals["risky_source_p_value"]) < 1e-10
    assert float(signals["unconsented_p_value"]) < 1e-10
    assert findings[0].member_count == len(findings[0].member_ids) > 500


@pytest.mark.parametrize(
    "bad", [{"bundle_seconds": 0}, {"min_lift": 0.5}, {"alpha": 2.0}, {"min_fixed_share": 0.0}]
)
def test_config_is_validated(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        ForcedSubscriptionDetector(ForcedSubscriptionConfig(**bad))  # type: ignore[arg-type]
