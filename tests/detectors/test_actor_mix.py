"""Actor mix: several actors on one client fingerprint devoted to one account (actor_mix.py)."""

from __future__ import annotations

import numpy as np
import pytest

import detectors
from detectors.actor_mix import ActorMixConfig, ActorMixDetector
from detectors.findings import EventFrame
from server.simulator import HARD_NEGATIVE_PREFIX, SimulationConfig, simulate

T0 = 1_790_000_000
HOURS = 72


def _frame(
    actors: list[str], accounts: list[str], types: list[str], times: list[int], clients: list[str]
) -> EventFrame:
    n = len(times)
    order = np.argsort(times, kind="stable")

    def arr(values: list[str]) -> np.ndarray:
        return np.asarray(values, dtype=str)[order]

    return EventFrame(
        actor_ids=arr(actors),
        account_ids=arr(accounts),
        types=arr(types),
        times=np.asarray(times, dtype=np.int64)[order],
        content_ids=np.full(n, ""),
        sources=np.full(n, "profile"),
        consented=np.zeros(n, dtype=bool),
        client_ids=arr(clients),
    )


def _organic(seed: int, n_actors: int = 3000, n_accounts: int = 200) -> list[list[str]]:
    """Actors with own clients, picking accounts independently (popularity is Zipf-like)."""
    rng = np.random.default_rng(seed)
    popularity = 1.0 / np.arange(1, n_accounts + 1)
    popularity /= popularity.sum()
    cols: list[list[str]] = [[], [], [], [], []]
    per_actor = np.minimum(rng.pareto(1.3, n_actors) + 2, 200).astype(int)
    for i, k in enumerate(per_actor.tolist()):
        accounts = rng.choice(n_accounts, k, p=popularity)
        kinds = rng.choice(["click", "follow", "share", "comment"], k, p=[0.7, 0.1, 0.1, 0.1])
        for a, kind, t in zip(accounts, kinds, rng.integers(0, HOURS * 3600, k), strict=True):
            cols[0].append(f"u{i}")
            cols[1].append(f"acct-{a:03d}")
            cols[2].append(str(kind))
            cols[3].append(T0 + int(t))  # type: ignore[arg-type]
            cols[4].append(f"cl-{i}")
    return cols


def _with(cols: list[list[str]], rows: list[tuple[str, str, str, int, str]]) -> EventFrame:
    out = [list(c) for c in cols]
    for row in rows:
        for col, value in zip(out, row, strict=True):
            col.append(value)  # type: ignore[arg-type]
    return _frame(*out)  # type: ignore[arg-type]


def _farm(target: str, kind: str, bots: int, devices: int, each: int, start_h: int) -> list:
    rng = np.random.default_rng(5)
    return [
        (
            f"bot{b}",
            target,
            kind,
            T0 + start_h * 3600 + int(rng.integers(0, 6 * 3600)),
            f"dev{b % devices}",
        )
        for b in range(bots)
        for _ in range(each)
    ]


def test_a_small_click_farm_on_few_devices_is_found_with_its_evidence() -> None:
    cols = _organic(1)
    target = "acct-003"
    # 12 bots on 3 devices, 4 clicks each: a few percent of a busy account's clicks.
    events = _with(cols, _farm(target, "click", 12, 3, 4, 30))
    on_target = int(np.sum((events.account_ids == target) & (events.types == "click")))
    assert 48 / on_target < 0.2
    found = ActorMixDetector().detect(events)
    assert [(f.subject, f.pattern) for f in found] == [(target, "fake_traffic")]
    f = found[0]
    assert f.detector == "actor_mix" and f.key.startswith(f"{target}:")
    assert f.observed == 4 and f.expected < 1.0
    assert f.explanation.endswith(".") and target in f.explanation
    values = {e.kind: e.values for e in f.evidence}
    assert values["shared_client_actors"]["actor_focus"] == 1.0
    assert values["share_of_account_events"]["events_from_flagged_clients"] == 48
    assert values["share_of_account_events"]["flagged_clients"] == 3
    assert T0 + 30 * 3600 <= f.start_time.timestamp() < f.end_time.timestamp()


def test_the_same_farm_gives_the_same_key_in_an_overlapping_later_run() -> None:
    cols = _organic(2)
    events = _with(cols, _farm("acct-030", "follow", 9, 3, 1, 40))
    first = ActorMixDetector().detect(events)
    later = ActorMixDetector().detect(events.where(events.times >= T0 + 24 * 3600))
    assert first and {f.key for f in first} == {f.key for f in later}


def test_clean_traffic_and_an_empty_frame_raise_nothing() -> None:
    for seed in (3, 4):
        assert ActorMixDetector().detect(_with(_organic(seed), [])) == []
    assert ActorMixDetector().detect(EventFrame.empty()) == []


def test_a_household_on_one_device_fond_of_one_account_is_not_a_farm() -> None:
    cols = _organic(6)
    # Four family members follow and comment on one small account from the same tablet,
    # but each also acts on many other accounts in the window.
    rows = []
    rng = np.random.default_rng(9)
    for m in range(4):
        rows.append((f"fam{m}", "acct-150", "follow", T0 + 50 * 3600 + m * 60, "tablet"))
        rows.append((f"fam{m}", "acct-150", "comment", T0 + 51 * 3600 + m * 60, "tablet"))
        for a in rng.integers(0, 100, 12).tolist():
            rows.append(
                (f"fam{m}", f"acct-{a:03d}", "click", T0 + int(rng.integers(0, 259_000)), "tablet")
            )
    assert ActorMixDetector().detect(_with(cols, rows)) == []
    # The same four as single-purpose actors are what a farm looks like.
    farm = [r for r in rows if r[1] == "acct-150"]
    found = ActorMixDetector().detect(_with(cols, farm))
    assert {f.subject for f in found} == {"acct-150"}


def test_a_public_computer_with_many_independent_users_is_not_a_farm() -> None:
    cols = _organic(7)
    # 60 of the actors also use one cafe computer, acting on what they like anyway.
    cafe = [i for i, c in enumerate(cols[4]) if int(c[3:]) % 50 == 0]
    cols[4] = ["cafe" if i in set(cafe) else c for i, c in enumerate(cols[4])]
    assert ActorMixDetector().detect(_with(cols, [])) == []


def test_config_is_validated_and_the_detector_is_registered() -> None:
    for bad in (
        {"min_client_actors": 1},
        {"min_actors_on_account": 1},
        {"alpha": 0.0},
        {"min_focus": 1.5},
        {"min_neglog10_p": -1.0},
    ):
        with pytest.raises(ValueError):
            ActorMixConfig(**bad)  # type: ignore[arg-type]
    assert detectors.EVENT_DETECTORS["actor_mix"] is ActorMixDetector
    assert [d.name for d in detectors.default_event_detectors()] == ["actor_mix"]


def test_on_the_simulator_subtle_fraud_is_found_and_shared_devices_are_not_flagged() -> None:
    sim = simulate(
        SimulationConfig(
            seed=5,
            accounts=200,
            fraud_accounts_per_pattern=2,
            subtle_fraud=0.05,
            shared_devices=0.1,
        )
    )
    end = int(sim.config.end.timestamp())
    events = sim.events.where(sim.events.times >= end - HOURS * 3600)
    found = ActorMixDetector().detect(events)
    flagged = {f.subject for f in found}
    subtle = {
        c.account_ids[0] for c in sim.truth if c.is_fraud and c.description.startswith("subtle")
    }
    assert len(subtle) == 3 and subtle <= flagged
    assert flagged <= sim.fraud_accounts()
    households = {
        a
        for c in sim.truth
        if c.pattern == HARD_NEGATIVE_PREFIX + "shared_device"
        for a in c.account_ids
    }
    assert households and not households & flagged
