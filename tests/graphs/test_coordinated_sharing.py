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


def test_evidence_of_the_group(organic: Organic) -> None:
    ring = plant_coordinated(organic, seed=51)
    (f,) = CoordinatedSharingDetector().detect(to_frame(organic.rows, ring.rows))
    # Full lists on the finding (the alert keeps a sample), with their counts.
    assert f.member_count == len(f.member_ids) and f.target_count == len(f.target_ids) == 5
    group = _evidence(f, "group")
    assert group["members"] == f.member_count and group["targets"] == 5
    assert float(group["time_span_seconds"]) > 0
    assert str(group["first_action"]) < str(group["last_action"])
    assert str(group["member_sample"]).split(", ")[0] == f.member_ids[0]
    assert 0.2 < float(_evidence(f, "camouflage")["share_of_member_shares_elsewhere"]) < 0.5
    pairs = _evidence(f, "top_pairs")
    assert len(pairs) == 3 and all("posts within 30 s" in str(v) for v in pairs.values())
    # Every ring account runs on its own device: no shared-client signal, and it says so.
    client = _evidence(f, "shared_client")
    assert client["shared_client_share"] == 0.0 and client["member_clients"] == f.member_count
    assert 0.0 < float(client["background_shared_client_share"]) < 0.1


def test_large_ring_whose_posts_are_crowds_is_recruited_back(organic: Organic) -> None:
    # 300 accounts on each post within 20 s: every ring slot is a crowd over the cap, so
    # only the members whose hash falls under cap / crowd are paired; the rest are
    # recruited from the full data by their shares inside the group's bursts.
    ring = plant_coordinated(organic, seed=54, n_members=300)
    viral = plant_viral(organic, seed=52)
    config = CoordinatedSharingConfig(max_cell_actors=100)
    (f,) = CoordinatedSharingDetector(config).detect(to_frame(organic.rows, ring.rows, viral.rows))
    assert member_f1(set(f.member_ids), ring.members) >= 0.95
    assert f.member_count == len(f.member_ids) >= 285
    assert float(_evidence(f, "group")["members_recruited"]) > 100


def test_viral_post_is_not_coordinated(organic: Organic) -> None:
    viral = plant_viral(organic, seed=52)
    frame = to_frame(organic.rows, viral.rows)
    assert CoordinatedSharingDetector().detect(frame) == []


def test_crowd_cells_are_thinned_not_paired_in_full(organic: Organic) -> None:
    # A post shared by 3000 people within two minutes: crowd cells, thinned, no finding.
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
    assert set(first[0].member_ids) < set(second[0].member_ids)
    assert second[0].member_count == len(second[0].member_ids) >= 40
    assert first[0].key == second[0].key


@pytest.mark.parametrize(
    "bad",
    [
        {"window_seconds": -1},
        {"min_shared_contents": 0},
        {"max_cell_actors": 1},
        {"recruit_share": 0.0},
    ],
)
def test_config_is_validated(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        CoordinatedSharingDetector(CoordinatedSharingConfig(**bad))  # type: ignore[arg-type]
