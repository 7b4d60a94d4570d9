"""A daylight-saving change moves a one-time-zone platform's daily cycle by an hour in UTC.

That is no fraud: every detector must stay silent on clean traffic across the change.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import detectors
from detectors.findings import Panel
from server.simulator import SimulationConfig, simulate, to_panel

CLEAN = SimulationConfig(
    seed=21, accounts=200, actors=3_000, days=10, fraud_accounts_per_pattern=0, hard_negatives=False
)


@pytest.fixture(scope="module", params=[1, -1], ids=["spring", "autumn"])
def shifted(request: pytest.FixtureRequest) -> tuple[int, Panel]:
    shift = int(request.param)
    return shift, to_panel(simulate(replace(CLEAN, dst_shift_hours=shift)))


def _platform_profile(panel: Panel, first: int, last: int) -> np.ndarray:
    """The platform's impressions per UTC hour of day over days [first, last)."""
    x = panel.metric("impressions")[:, first * 24 : last * 24].sum(axis=0)
    return np.asarray(x.reshape(-1, 24).mean(axis=0))


def test_the_change_moves_the_daily_cycle_by_an_hour(shifted: tuple[int, Panel]) -> None:
    shift, panel = shifted
    change_day = CLEAN.dst_hour // 24
    before = _platform_profile(panel, 0, change_day)
    after = _platform_profile(panel, change_day + 1, CLEAN.days)

    # The profile after the change matches the one before rolled by the shift, not unrolled.
    def distance(roll: int) -> float:
        return float(np.abs(np.roll(before, -roll) / before.sum() - after / after.sum()).sum())

    assert distance(shift) < 0.5 * distance(0)


def test_a_daylight_saving_change_raises_no_alert(shifted: tuple[int, Panel]) -> None:
    _, panel = shifted
    assert panel.judge_from <= CLEAN.dst_hour < panel.n_buckets  # the change is judged
    findings = [f for d in detectors.default_detectors() for f in d.detect(panel)]
    assert findings == [], [f.explanation for f in findings]
