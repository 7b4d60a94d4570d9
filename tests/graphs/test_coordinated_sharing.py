"""Coordinated sharing: a planted sharing ring is found; a viral post is not."""

from __future__ import annotations

import numpy as np
import pytest

from detectors.findings import EventFrame, Finding
from graphs.coordinated_sharing import CoordinatedSharingConfig, CoordinatedSharingDetector
from graphs.synthetic import (
    Organic,
    Rows,
    member_f1,
    plant_coordinated,
    plant_viral,
    to_frame,
)


def _evidence(finding: Finding, kind: str) -> dict[str, float | str]:
    return {k: v for e in finding.evidence if e.kind == kind for k, v in e.values.items()}


def test_ring_found_beside_viral_post(organic: Organic) -> None:
    ring = plant_coordinated(organic, seed=51)
    viral = plant_viral(organic, seed=52)
    findings = CoordinatedSharingDetector().detect(to_frame(organic.rows, ring.rows, viral.rows))

    assert len(findings) == 1
    f = findings[0]
    assert f.pattern == "coordinated_sharing" and f.metric == "shares"
    assert member_f1(set(f.member_ids), ring.members) >= 0.9
    assert set(f.target_ids) == ring.targets
    assert f.subject in ring.targets
    assert f.observed > 10 * f.expected and 0.5 < f.score <= 1.0
    group = _evidence(f, "group")
    assert group["contents"] == 20 and group["targets"] == 5
    assert float(group["median_content_spread_seconds"]) <= 20
    assert "ring" in str(_evidence(f, "top_content")["content_id"])
    assert len(_evidence(f, "example_edges")) == 3


def test_viral_post_is_not_coordinated(organic: Organic) -> None:
    viral = plant_viral(organic, seed=52)
    frame = to_frame(organic.rows, viral.rows)
    assert CoordinatedSharingDetector().detect(frame) == []


def test_crowd_cells_are_capped_not_paired(organic: Organic) -> None:
    # A post shared by 3000 people within two minutes: one crowd cell, skipped, no finding.
    viral = plant_viral(organic, seed=53)
    frame = to_frame(organic.rows, viral.rows)
    crowd = frame.content_ids == str(viral.rows.content[0][0])
    times = frame.times.copy()
    times[crowd] = times[crowd].min() + (times[crowd] - times[crowd].min()) % 120
    order = np.argsort(times, kind="stable")
    squeezed = EventFrame(
        frame.actor_ids[order],
        frame.account_ids[order],
        frame.types[order],
        times[order],
        frame.content_ids[order],
        frame.sources[order],
        frame.consented[order],
        frame.client_ids[order],
    )
    assert CoordinatedSharingDetector().detect(squeezed) == []


def test_key_survives_the_ring_growing(organic: Organic) -> None:
    ring = plant_coordinated(organic, seed=61)
    first = CoordinatedSharingDetector().detect(to_frame(organic.rows, ring.rows))
    # A later run: the same posts at the same moments, now with 15 more ring accounts.
    rng = np.random.default_rng(62)
    ring_frame = to_frame(ring.rows)
    extra = Rows()
    newcomers = np.array([f"bot-csx{i:02d}" for i in range(15)])
    for content in np.unique(
        ring_frame.content_ids[np.char.find(ring_frame.content_ids, "ring") >= 0]
    ):
        on = ring_frame.content_ids == content
        t0 = int(ring_frame.times[on].min())
        owner = str(ring_frame.account_ids[on][0])
        extra.add(newcomers, owner, "share", t0 + rng.integers(0, 20, 15), content=content)
    second = CoordinatedSharingDetector().detect(to_frame(organic.rows, ring.rows, extra))
    assert len(first) == 1 and len(second) == 1
    assert len(second[0].member_ids) > len(first[0].member_ids)
    assert first[0].key == second[0].key


@pytest.mark.parametrize("bad", [{"window_seconds": -1}, {"min_shared_contents": 0}])
def test_config_is_validated(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        CoordinatedSharingDetector(CoordinatedSharingConfig(**bad))  # type: ignore[arg-type]
