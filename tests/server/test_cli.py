"""The `engagewatch` command line, run for real in subprocesses.

Every command pays ~3 s of imports (pyod, sklearn), so independent commands run side by side.
"""

from __future__ import annotations

import csv
import json
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import numpy as np
from grpc_health.v1 import health_pb2, health_pb2_grpc

import detectors
import graphs
from engagewatch.v1 import types_pb2
from server.app import Service
from server.simulator import SimulationConfig, simulate, truth_document
from tests.clickhouse_server import free_port
from tests.server.conftest import MAX_BATCH_ROWS

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 1, 1, tzinfo=UTC)
SPIKE_ROW = 300
# Small but valid: the simulator needs >= 5 days and room for one case per pattern.
SIM_ARGS = (
    *("--seed", "11", "--accounts", "60", "--actors", "2000", "--days", "5"),
    *("--fraud-per-pattern", "1"),
)
FOLLOWS = types_pb2.METRIC_FOLLOWS


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "server.cli", *args]


def run_all(
    commands: Sequence[Sequence[str]], timeout: float = 120.0
) -> list[subprocess.CompletedProcess[str]]:
    """Runs the commands side by side; their results in order."""
    started = [
        subprocess.Popen(c, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for c in commands
    ]
    results = []
    for process in started:
        out, err = process.communicate(timeout=timeout)
        results.append(subprocess.CompletedProcess(process.args, process.returncode, out, err))
    return results


def run(*args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    return run_all([command(*args)], timeout)[0]


def write_series(path: Path, values: Sequence[float]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["timestamp", "value"])
        for i, value in enumerate(values):
            writer.writerow([(T0 + timedelta(hours=i)).isoformat(), repr(value)])


def read_scores(path: Path) -> tuple[list[str], np.ndarray]:
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    return [r["timestamp"] for r in rows], np.array([float(r["anomaly_score"]) for r in rows])


def seasonal_series_with_spike(n: int = 400) -> list[float]:
    rng = np.random.default_rng(3)
    hours = np.arange(n)
    values = 100 + 30 * np.sin(2 * np.pi * hours / 24) + rng.normal(0, 5, n)
    values[SPIKE_ROW] += 400
    return [float(v) for v in values]


def test_score_csv_scores_every_row_causally(tmp_path: Path) -> None:
    values = seasonal_series_with_spike()
    full_in, full_out = tmp_path / "full.csv", tmp_path / "full-scored.csv"
    write_series(full_in, values)
    prefixes = (30, 150, SPIKE_ROW + 1)  # before any score, mid-way, ending on the spike
    for k in prefixes:
        write_series(tmp_path / f"first-{k}.csv", values[:k])
    results = run_all(
        [
            command("score-csv", str(full_in), "-o", str(full_out)),
            # Without -o the input is rewritten in place.
            *(command("score-csv", str(tmp_path / f"first-{k}.csv")) for k in prefixes),
        ]
    )
    for result in results:
        assert result.returncode == 0, result.stderr

    timestamps, scores = read_scores(full_out)
    assert len(scores) == len(values)
    assert timestamps == [(T0 + timedelta(hours=i)).isoformat() for i in range(len(values))]
    assert np.all((scores >= 0) & (scores <= 1))
    assert scores[SPIKE_ROW] > 0.9 and scores[SPIKE_ROW] == scores.max()
    # A new extreme of the noise early on may alert once; the series does not flood.
    assert np.count_nonzero(scores >= 0.5) <= 3
    # Causality: a row's score depends only on the rows up to it.
    for k in prefixes:
        _, prefix_scores = read_scores(tmp_path / f"first-{k}.csv")
        assert len(prefix_scores) == k
        np.testing.assert_array_equal(prefix_scores, scores[:k], err_msg=f"first {k} rows")


def test_bad_input_exits_2_with_a_one_line_error(tmp_path: Path) -> None:
    no_value = tmp_path / "no-value.csv"
    no_value.write_text("timestamp,count\n2026-01-01,3\n")
    not_numeric = tmp_path / "not-numeric.csv"
    not_numeric.write_text("timestamp,value\n2026-01-01,3\n2026-01-02,lots\n")
    out = tmp_path / "out.csv"
    results = run_all(
        [
            command("score-csv", str(no_value), "-o", str(out)),
            command("score-csv", str(not_numeric), "-o", str(out)),
            # 40 accounts cannot hold the default 3 planted cases per pattern.
            command("simulate", "--target", "127.0.0.1:1", "--accounts", "40", "--days", "5"),
        ]
    )
    for result in results:
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr
        errors = [line for line in result.stderr.splitlines() if "error" in line.lower()]
        assert len(errors) == 1, result.stderr
    missing, garbled, simulated = (r.stderr for r in results)
    assert "engagewatch score-csv: error:" in missing
    assert "missing column(s) ['value']" in missing
    assert "non-numeric values in column 'value'" in garbled
    assert "too few accounts" in simulated
    assert not out.exists()


def test_every_subcommand_has_help() -> None:
    expected = {
        "serve": ["--store", "--grpc-addr", "--metrics-addr", "--detect-every"],
        "demo": ["--seed", "--accounts", "--days", "--report"],
        "detect": ["--store", "--start", "--end", "--account", "--detector"],
        "score-csv": ["input", "--output"],
        "simulate": ["--target", "--accounts", "--days", "--truth-out"],
    }
    results = run_all([command(name, "--help") for name in expected])
    for (name, options), result in zip(expected.items(), results, strict=True):
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith(f"usage: engagewatch {name}")
        for option in options:
            assert option in result.stdout, f"{name} --help lacks {option}"


def test_simulate_streams_into_a_running_service(service: Service, tmp_path: Path) -> None:
    truth = tmp_path / "truth.json"
    result = run(
        "simulate",
        "--target",
        service.target,
        *SIM_ARGS,
        "--batch-size",
        str(MAX_BATCH_ROWS),  # the fixture's service takes no bigger batches
        "--truth-out",
        str(truth),
    )
    assert result.returncode == 0, result.stderr

    # The same flags simulate the same platform in-process: the store must hold all of it.
    sim = simulate(
        SimulationConfig(seed=11, accounts=60, actors=2000, days=5, fraud_accounts_per_pattern=1)
    )
    panel = service.store.series(sim.config.start, sim.config.end)
    assert panel.n_accounts == 60
    for name, number in (("impressions", types_pb2.METRIC_IMPRESSIONS), ("follows", FOLLOWS)):
        sent = sim.points.values[sim.points.metrics == number].sum()
        assert sent > 0
        assert panel.metric(name).sum() == sent
    registry = service.metrics.registry
    for kind in ("metrics", "events"):
        accepted = registry.get_sample_value(
            "engagewatch_ingest_batches_total", {"kind": kind, "outcome": "accepted"}
        )
        assert accepted is not None and accepted >= 1

    written = json.loads(truth.read_text())
    assert written == json.loads(json.dumps(truth_document(sim)))
    patterns = {case["pattern"] for case in written["cases"]}
    assert {"fake_followers", "lockstep_group", "forced_subscription"} <= patterns


def test_serve_then_simulate_then_detect_on_a_chdb_directory(tmp_path: Path) -> None:
    """serve answers health checks and stops on SIGTERM; detect reads what was streamed.

    chDB lets one process at a time open a directory, so the store is this test's own and the
    processes use it one after the other.
    """
    store = f"chdb://{tmp_path / 'store'}?database=cli"
    grpc_port, metrics_port = free_port(), free_port()
    target = f"127.0.0.1:{grpc_port}"
    log = tmp_path / "serve.log"
    serve_flags = ("--grpc-addr", target, "--metrics-addr", f"127.0.0.1:{metrics_port}")
    with log.open("w") as serve_log:
        serve = subprocess.Popen(
            command("serve", "--store", store, *serve_flags),
            cwd=REPO,
            stdout=serve_log,
            stderr=subprocess.STDOUT,
        )
    # simulate waits for the server itself, so both start at once.
    simulate_process = subprocess.Popen(
        command("simulate", "--target", target, *SIM_ARGS),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        with grpc.insecure_channel(target) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            status = health.Check(health_pb2.HealthCheckRequest(), timeout=60, wait_for_ready=True)
            assert status.status == health_pb2.HealthCheckResponse.SERVING
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as r:
            assert b"engagewatch_ingest_batches_total" in r.read()
        _, simulate_log = simulate_process.communicate(timeout=120)
        assert simulate_process.returncode == 0, simulate_log

        asked_to_stop = time.monotonic()
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=10) == 0, log.read_text()
        assert time.monotonic() - asked_to_stop < 5
    finally:
        for process in (simulate_process, serve):
            if process.poll() is None:
                process.kill()
                process.wait()

    # The simulation's last 3 days hold the planted fraud; the rest is history.
    detected = run(
        "detect", "--store", store, "--start", "2026-11-04T00:00", "--end", "2026-11-07T00:00"
    )
    assert detected.returncode == 0, detected.stderr
    lines = detected.stdout.splitlines()
    names = [d.name for d in detectors.default_detectors()]
    names += [d.name for d in graphs.default_detectors()]
    for name in names:
        assert any(re.fullmatch(rf"{name}\s+\d+\.\d{{3}} s\s+\d+ findings", ln) for ln in lines)
    summary = [ln for ln in lines if ln.startswith("run ")]
    assert len(summary) == 1, detected.stdout
    match = re.fullmatch(r"run \w+: 60 accounts scored, (\d+) alerts raised, 0 updated", summary[0])
    assert match, summary[0]
    assert int(match.group(1)) >= 1
