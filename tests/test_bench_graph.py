"""The protocol bench's explanation of a zero: the planted farm, refined, against the test's bar."""

from __future__ import annotations

import numpy as np

from bench.graph import farm_excess
from graphs.lockstep import LockstepDetector
from graphs.synthetic_blocks import block_core, chung_lu, inject, to_event_frame


def test_block_cores_shrink_and_hold_k_edges_per_node() -> None:
    inj = inject(chung_lu(1, 30_000), 2, density=0.03)
    two, three = block_core(inj, 2), block_core(inj, 3)
    assert set(three[0]) < set(two[0]) and set(three[1]) < set(two[1])
    in_core = np.isin(inj.block_actors, three[0]) & np.isin(inj.block_targets, three[1])
    assert np.bincount(inj.block_actors[in_core])[three[0]].min() >= 3
    assert np.bincount(inj.block_targets[in_core])[three[1]].min() >= 3


def test_farm_excess_separates_a_found_farm_from_one_the_test_cannot_flag() -> None:
    background = chung_lu(1, 30_000)
    found = inject(background, 2, density=0.03)
    hidden = inject(background, 2, density=0.01, camouflage="random")
    detector = LockstepDetector()
    assert farm_excess(found, detector) > 100
    assert len(detector.detect(to_event_frame(found.edges))) == 1
    # Half of its nodes have one block edge, and camouflage doubles the accounts' degrees:
    # refined from the farm itself, the best block stays below the test's bar, and the
    # detector (by its test) reports nothing.
    assert farm_excess(hidden, detector) < 0
    assert detector.detect(to_event_frame(hidden.edges)) == []
