"""Detectors walk the panel a block of accounts at a time: the block size never changes a result.

The fit, the seasonal screen, the follow-purge screen and the pooled partner sums are all per
account apart from platform-wide statistics computed on the whole panel; a step that let one
account's value leak into another's within a block would make results depend on where block
boundaries fall, which these tests would catch.
"""

from __future__ import annotations

import numpy as np
import pytest

from detectors import _baseline, follow_purge, peer_outlier, seasonal_baseline
from detectors._baseline import fit_seasonal_baseline
from detectors._partners import partners_present
from detectors.findings import Finding, Panel
from detectors.synthetic import Synth, account_near_median, simulate, with_added

_SMALL_BLOCKS = 7  # prime, so boundaries fall in a different place for every stage


def _fresh(panel: Panel) -> Panel:
    """The same data as a new Panel object: no baseline remembered for it yet."""
    return Panel(panel.account_ids, panel.bucket_times, dict(panel.values), panel.judge_from)


def _small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_baseline, "_BLOCK_ROWS", _SMALL_BLOCKS)
    monkeypatch.setattr(follow_purge, "_BLOCK_ROWS", _SMALL_BLOCKS)
    monkeypatch.setattr(seasonal_baseline, "_POOL_ROWS", _SMALL_BLOCKS)
    monkeypatch.setattr(seasonal_baseline, "_BLOCK_CELLS", 1)
    monkeypatch.setattr(seasonal_baseline, "_MIN_BLOCK_ROWS", _SMALL_BLOCKS)
    monkeypatch.setattr(peer_outlier, "_BLOCK_ROWS", _SMALL_BLOCKS)


def _planted() -> Panel:
    """A platform with a bought-follower gain and purge and a click spike planted."""
    panel = simulate(n_accounts=300, seed=4).panel
    t = panel.n_buckets
    a = account_near_median(panel, 0.7)
    b = account_near_median(panel, 0.5)
    panel = with_added(panel, "follows", a, t - 110, [50.0] * 8)
    panel = with_added(panel, "unfollows", a, t - 30, [20.0] * 20)
    return with_added(panel, "clicks", b, t - 12, [80.0] * 3)


def _everything(panel: Panel) -> list[Finding]:
    from detectors import default_detectors

    return [f for d in default_detectors() for f in d.detect(panel)]


@pytest.mark.parametrize("days", [3, 10, 14])
def test_fit_is_the_same_whatever_the_block_size(
    days: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    panel = simulate(n_accounts=120, days=days, judge_hours=24, seed=days).panel
    x = panel.metric("follows")
    whole = fit_seasonal_baseline(x, panel.bucket_times, panel.judge_from)
    _small_blocks(monkeypatch)
    blocked = fit_seasonal_baseline(x, panel.bucket_times, panel.judge_from)
    for field in ("mu", "platform", "dispersion", "rel_sd"):
        np.testing.assert_array_equal(getattr(blocked, field), getattr(whole, field))


def test_findings_are_the_same_whatever_the_block_size(monkeypatch: pytest.MonkeyPatch) -> None:
    panel = _planted()
    whole = _everything(_fresh(panel))
    assert {f.detector for f in whole} >= {"follow_purge", "seasonal_baseline"}
    _small_blocks(monkeypatch)
    assert _everything(_fresh(panel)) == whole


def test_partners_present_sees_data_in_the_last_row_only(clean: Synth) -> None:
    panel = clean.panel
    values = {m: np.zeros_like(v) for m, v in panel.values.items()}
    values["impressions"][-1, -1] = 1.0
    sparse = Panel(panel.account_ids, panel.bucket_times, values, panel.judge_from)
    assert partners_present(sparse, "clicks") == ("impressions",)
    values["impressions"][-1, -1] = 0.0
    assert partners_present(sparse, "clicks") == ()
