"""`engagewatch backtest`: the schedule replayed over a store fed by the simulator.

The replay must raise what the live schedule raises for the same ticks (it shares the function
that goes from a window to alerts), apply the current operating points, and write nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

import detectors
from detectors.findings import PATTERNS
from server.app import Service
from server.backtest import BacktestReport, backtest, format_table, tick_times
from server.cli import main
from server.errors import InvalidArgument
from server.feedback import OperatingPointChange, reporting_floor
from server.records import AlertFilter
from server.sim_client import stream_simulation
from server.simulator import Simulation, SimulationConfig, simulate
from tests.conftest import drop_database
from tests.server.conftest import MAX_BATCH_ROWS, make_service

END = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
START = END - timedelta(days=1)
STEP = timedelta(hours=12)  # ticks overlap: the second re-detects some of the first's alerts
WINDOW = timedelta(hours=24)


def small_simulation() -> Simulation:
    config = SimulationConfig(
        seed=31,
        accounts=40,
        actors=2_000,
        days=6,
        start=END - timedelta(days=6),
        fraud_accounts_per_pattern=1,
    )
    return simulate(config)


@pytest.fixture
def fed_service(store_url: str) -> Iterator[tuple[Service, Simulation]]:
    service = make_service(store_url)
    sim = small_simulation()
    stream_simulation(service.target, sim, batch_size=MAX_BATCH_ROWS)
    yield service, sim
    drop_database(service.store)
    service.stop(grace=0)


def alert_ids(service: Service) -> set[str]:
    return {a.alert_id for a in service.store.list_alerts(AlertFilter(), None, 100_000)}


def test_the_replay_raises_what_the_live_schedule_raises_and_writes_nothing(
    fed_service: tuple[Service, Simulation],
) -> None:
    service, sim = fed_service
    report = backtest(service.runner, service.store, START, END, step=STEP, window=WINDOW)
    assert [t.end for t in report.ticks] == [START + STEP, END]
    assert service.store.max_alert_sequence() == 0  # a dry run: not one alert written
    replayed = [{a.alert_id for a in t.raised} for t in report.ticks]
    assert all(a.in_store == "none" for a in report.alerts)
    assert {a.account_id for a in report.alerts} & sim.fraud_accounts()

    # The live schedule's runs at the same ticks raise exactly the same alerts, tick by tick.
    for tick, expected in zip(tick_times(START, END, STEP), replayed, strict=True):
        before = alert_ids(service)
        service.runner.run(tick - WINDOW, tick, trigger="schedule")
        assert alert_ids(service) - before == expected

    # Replayed again, the first tick's alerts are known to the store now.
    again = backtest(service.runner, service.store, START, START + STEP, step=STEP, window=WINDOW)
    assert {a.alert_id for a in again.alerts} == replayed[0]
    assert {a.in_store for a in again.alerts} == {"open"}


def test_the_command_applies_current_operating_points(
    chdb_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The simulation ends at this hour, so its weakest alert can score above the feedback
    # ceiling (0.95), where no verdict may quiet it (at 14:00 UTC: 0.989). Raised to 1 here,
    # the point can always move past the weakest alert.
    monkeypatch.setenv("ENGAGEWATCH_FEEDBACK__CEILING", "1.0")
    service = make_service(chdb_url)
    try:
        stream_simulation(service.target, small_simulation(), batch_size=MAX_BATCH_ROWS)
        args = ["--store", chdb_url, "--start", START.isoformat(), "--end", END.isoformat()]
        replay = [*args, "--step-hours", "24", "--window-hours", "24"]
        replay += ["--detectors", "seasonal_baseline", "partner_coherence"]
        assert main(["backtest", *replay, "--json"]) == 0
        before = json.loads(capsys.readouterr().out)
        earlier = [a for t in before["ticks"] for a in t["alerts"]]
        assert len(before["ticks"]) == 1 and earlier
        floors = {n: reporting_floor(d) for n, d in detector_instances().items()}
        assert {(p["detector"], p["value"]) for p in before["operating_points"]} <= set(
            floors.items()
        )  # nothing moved yet: every point at its detector's floor

        # Reviews moved the point of the weakest alert's (detector, pattern) just above its
        # score, as ReviewAlert would: replayed now, it is gone, and nothing else changed.
        weakest = min(earlier, key=lambda a: a["score"])
        pair = (weakest["detector"], weakest["pattern"])
        point = round(weakest["score"] + 0.005, 3)
        assert point <= 1.0, "no alert the feedback ceiling lets a verdict quiet"
        service.store.write_operating_point_change(
            OperatingPointChange(
                pair[0], PATTERNS.index(pair[1]) + 1, 1, END, 2, "alr_x", 0.5, point
            )
        )
        assert main(["backtest", *replay]) == 0
        table = capsys.readouterr().out
        assert "1 ticks" in table and f"{pair[0]}/{pair[1]}: {point:.3f}" in table
        # Alert lines: date, time, score, point, detector, pattern, account, live state.
        rows = [line.split() for line in table.splitlines() if line.startswith(f"{END:%Y-%m-%d}")]
        shown = {(r[4], r[5], r[6]) for r in rows if len(r) == 8}
        kept = {
            (a["detector"], a["pattern"], a["account_id"])
            for a in earlier
            if (a["detector"], a["pattern"]) != pair or a["score"] >= point
        }
        assert shown == kept and (pair[0], pair[1], weakest["account_id"]) not in shown
        assert service.store.max_alert_sequence() == 0
    finally:
        drop_database(service.store)
        service.stop(grace=0)


@pytest.mark.parametrize(
    ("start", "end", "step"),
    [
        (END, END, STEP),  # no tick in the window
        (START, END, timedelta(minutes=30)),  # not whole hours
        (END - timedelta(days=200), END, timedelta(hours=1)),  # too many ticks
    ],
    ids=["empty", "partial hours", "too many ticks"],
)
def test_bad_replay_windows_are_refused(start: datetime, end: datetime, step: timedelta) -> None:
    with pytest.raises(InvalidArgument):
        tick_times(start, end, step)


def test_an_empty_replay_still_says_what_was_replayed() -> None:
    report = BacktestReport(START, END, STEP, WINDOW, ["lockstep"], {})
    text = format_table(report)
    assert "step 12 h, window 24 h, 0 ticks" in text and "0 alerts would be raised" in text


def detector_instances() -> dict[str, object]:
    return {d.name: d for d in detectors.default_detectors()}
