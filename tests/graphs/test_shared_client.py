"""Shared client: a phone farm on one fingerprint is found; families and internet cafes are not."""

from __future__ import annotations

import numpy as np
import pytest

from detectors.findings import EventFrame, Finding
from graphs.shared_client import SharedClientConfig, SharedClientDetector, client_overlap
from graphs.synthetic import (
    Organic,
    member_f1,
    plant_coordinated,
    plant_shared_client,
    to_frame,
)

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0.0.0"


def _with_browser(frame: EventFrame, users: set[str]) -> EventFrame:
    """The frame with these users' events all carrying one common browser build string."""
    on = np.isin(frame.actor_ids, np.array(sorted(users)))
    clients = frame.client_ids.astype(object)
    clients[on] = BROWSER
    return EventFrame(
        frame.actor_ids,
        frame.account_ids,
        frame.types,
        frame.times,
        frame.content_ids,
        frame.sources,
        frame.consented,
        clients.astype(str),
    )


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


def test_popular_browser_string_is_not_a_farm(organic: Organic) -> None:
    # 4000 honest users report the same browser build as their client: one fingerprint with
    # thousands of accounts, but they follow what everyone follows, at the platform's rates.
    # A real farm in the same traffic, on its own fingerprint, is still found.
    users = set(organic.users[::5].tolist())
    farm = plant_shared_client(organic, seed=83, client="farm9")
    frame = _with_browser(to_frame(organic.rows, farm.rows), users)
    findings = SharedClientDetector().detect(frame)
    assert [f.key for f in findings] == ["lockstep_group:client:farm9"]
    assert member_f1(set(findings[0].member_ids), farm.members) >= 0.9
    assert findings[0].member_count == len(findings[0].member_ids) == 60


def test_client_overlap_is_group_evidence(organic: Organic) -> None:
    farm = plant_shared_client(organic, seed=81, client="farm7")
    ring = plant_coordinated(organic, seed=51)
    frame = to_frame(organic.rows, farm.rows, ring.rows)

    on_farm = client_overlap(sorted(farm.members), frame)
    assert on_farm.share == 1.0 and on_farm.clients == 1
    assert on_farm.top_client == "farm7" and on_farm.top_client_members == 60
    assert 0.0 < on_farm.background_share < 0.1
    on_own_devices = client_overlap(sorted(ring.members), frame)
    assert on_own_devices.share == 0.0 and on_own_devices.clients == len(ring.members)
    assert on_farm.evidence().values["shared_client_share"] == 1.0


def test_small_farm_below_actor_floor_is_ignored(organic: Organic) -> None:
    farm = plant_shared_client(organic, seed=82, n_actors=8)
    assert SharedClientDetector().detect(to_frame(organic.rows, farm.rows)) == []


@pytest.mark.parametrize("bad", [{"min_actors": 1}, {"min_target_share": 0.0}])
def test_config_is_validated(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        SharedClientDetector(SharedClientConfig(**bad))  # type: ignore[arg-type]
