"""Shared client: a phone farm on one fingerprint is found; families and internet cafes are not."""

from __future__ import annotations

import pytest

from detectors.findings import Finding
from graphs.shared_client import SharedClientConfig, SharedClientDetector
from graphs.synthetic import Organic, member_f1, plant_shared_client, to_frame


def _evidence(finding: Finding, kind: str) -> dict[str, float | str]:
    return {k: v for e in finding.evidence if e.kind == kind for k, v in e.values.items()}


def test_phone_farm_found(organic: Organic) -> None:
    farm = plant_shared_client(organic, seed=81, client="farm7")
    findings = SharedClientDetector().detect(to_frame(organic.rows, farm.rows))

    assert len(findings) == 1
    f = findings[0]
    assert f.pattern == "lockstep_group"
    assert f.key == "lockstep_group:client:farm7"
    assert member_f1(set(f.member_ids), farm.members) >= 0.9
    assert set(f.target_ids) == farm.targets and f.subject in farm.targets
    client = _evidence(f, "client")
    assert client["client_id"] == "farm7" and client["members"] == 60
    assert float(client["typical_actors_per_client"]) <= 2
    assert f.observed > 0.6 and f.observed > 20 * f.expected
    assert "farm7" in f.explanation


def test_internet_cafes_are_judged_but_not_flagged(organic: Organic) -> None:
    # Five cafes of 25 users each are in the organic traffic, over the actor threshold.
    cafes = {c for c in organic.user_client.tolist() if c.startswith("cafe")}
    assert len(cafes) == 5
    assert (
        SharedClientDetector(SharedClientConfig(min_actors=10)).detect(to_frame(organic.rows)) == []
    )


def test_small_farm_below_actor_floor_is_ignored(organic: Organic) -> None:
    farm = plant_shared_client(organic, seed=82, n_actors=8)
    assert SharedClientDetector().detect(to_frame(organic.rows, farm.rows)) == []


@pytest.mark.parametrize("bad", [{"min_actors": 1}, {"min_target_share": 0.0}])
def test_config_is_validated(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        SharedClientDetector(SharedClientConfig(**bad))  # type: ignore[arg-type]
