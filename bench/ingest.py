"""gRPC ingest points/s into each store, beside clickhouse-client inserting the same rows natively.

    python -m bench.ingest [--points 2000000] [--repeats 3]      (from the repository root)

Starts its own clickhouse-server (Debian's, on free loopback ports) and, per store backend, an
`engagewatch serve` process; streams the same points through WriteMetrics as row messages
(1,000 per request) and as columns (10,000 per request). The baseline, measured in the same
run on the same server, is `clickhouse-client` inserting the same rows as TSV into a plain
MergeTree table. Requests are built before the clock starts; every figure is the median of
`--repeats` runs, each into a fresh database.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import numpy as np
import pandas as pd
from grpc_health.v1 import health_pb2, health_pb2_grpc

from engagewatch.v1 import ingest_service_pb2, ingest_service_pb2_grpc
from tests.clickhouse_server import ClickHouseServer, free_port


def make_points(n: int, seed: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    start = int((datetime.now(UTC) - timedelta(days=10)).timestamp())
    return {
        "account_ids": np.char.add("acct_", rng.integers(0, 10_000, n).astype(str)),
        "metrics": rng.integers(1, 7, n).astype(np.int64),
        "unix_seconds": start + rng.integers(0, 9 * 86400, n),
        "values": rng.integers(0, 1000, n).astype(np.float64),
    }


def columnar_requests(
    points: dict[str, np.ndarray], per_request: int, tag: str
) -> list[ingest_service_pb2.WriteMetricsRequest]:
    requests = []
    for i, begin in enumerate(range(0, len(points["values"]), per_request)):
        end = begin + per_request
        request = ingest_service_pb2.WriteMetricsRequest(batch_id=f"{tag}-{i}")
        request.columns.account_ids.extend(points["account_ids"][begin:end].tolist())
        request.columns.metrics.extend(points["metrics"][begin:end].tolist())
        request.columns.unix_seconds.extend(points["unix_seconds"][begin:end].tolist())
        request.columns.values.extend(points["values"][begin:end].tolist())
        requests.append(request)
    return requests


def row_requests(
    points: dict[str, np.ndarray], per_request: int, tag: str
) -> list[ingest_service_pb2.WriteMetricsRequest]:
    requests = []
    columns = [points[k].tolist() for k in ("account_ids", "metrics", "unix_seconds", "values")]
    rows = list(zip(*columns, strict=True))
    for i, begin in enumerate(range(0, len(rows), per_request)):
        request = ingest_service_pb2.WriteMetricsRequest(batch_id=f"{tag}-{i}")
        for account, metric, seconds, value in rows[begin : begin + per_request]:
            point = request.points.points.add(account_id=account, metric=metric, value=value)
            point.time.seconds = seconds
        requests.append(request)
    return requests


def native_insert_seconds(
    server: ClickHouseServer, points: dict[str, np.ndarray], scratch: Path
) -> float:
    tsv = scratch / "points.tsv"
    frame = pd.DataFrame(points)
    # 18.16 parses DateTime text as "YYYY-MM-DD hh:mm:ss" (the server runs in UTC).
    frame["unix_seconds"] = pd.to_datetime(frame["unix_seconds"], unit="s").dt.strftime(
        "%Y-%m-%d %H:%M:%S"
    )
    frame.to_csv(tsv, sep="\t", header=False, index=False)
    database = f"native_{uuid.uuid4().hex[:8]}"
    client = ["clickhouse-client", "--host", "127.0.0.1", "--port", str(server.tcp_port)]
    subprocess.run([*client, "--query", f"CREATE DATABASE {database}"], check=True)
    subprocess.run(
        [
            *client,
            "--query",
            f"CREATE TABLE {database}.points (account_id String, metric UInt8, time DateTime,"
            " value Float64) ENGINE = MergeTree ORDER BY (account_id, metric, time)",
        ],
        check=True,
    )
    began = time.perf_counter()
    with tsv.open("rb") as source:
        subprocess.run(
            [*client, "--query", f"INSERT INTO {database}.points FORMAT TabSeparated"],
            stdin=source,
            check=True,
        )
    seconds = time.perf_counter() - began
    subprocess.run([*client, "--query", f"DROP DATABASE {database}"], check=True)
    return seconds


def serve(store_url: str, scratch: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    log = (scratch / f"serve-{port}.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "server.cli",
            "--log-level",
            "WARNING",
            "serve",
            "--store",
            store_url,
            "--grpc-addr",
            f"127.0.0.1:{port}",
            "--metrics-addr",
            "",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    target = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    with grpc.insecure_channel(target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        while True:
            try:
                status = health.Check(health_pb2.HealthCheckRequest(), timeout=1).status
                if status == health_pb2.HealthCheckResponse.SERVING:
                    return process, target
            except grpc.RpcError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"engagewatch serve did not start; see {log.name}")
            time.sleep(0.2)


def stream_seconds(target: str, requests: list[ingest_service_pb2.WriteMetricsRequest]) -> float:
    def feed() -> Iterator[ingest_service_pb2.WriteMetricsRequest]:
        yield from requests

    with grpc.insecure_channel(
        target, options=[("grpc.max_send_message_length", 64 * 1024 * 1024)]
    ) as channel:
        stub = ingest_service_pb2_grpc.IngestServiceStub(channel)
        began = time.perf_counter()
        response = stub.WriteMetrics(feed(), timeout=3600)
        seconds = time.perf_counter() - began
    expected = sum(
        len(r.columns.values) if r.WhichOneof("rows") == "columns" else len(r.points.points)
        for r in requests
    )
    if response.accepted_points != expected:
        raise RuntimeError(f"accepted {response.accepted_points} of {expected} points")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=2_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    points = make_points(args.points)
    n = args.points
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        scratch = Path(tmp)
        clickhouse = ClickHouseServer(scratch / "clickhouse")
        clickhouse.start()
        try:
            results["clickhouse-client native TSV (baseline)"] = [
                native_insert_seconds(clickhouse, points, scratch) for _ in range(args.repeats)
            ]
            backends = {
                "clickhouse": lambda: f"{clickhouse.url}/bench_{uuid.uuid4().hex[:8]}",
                "chdb": lambda: f"chdb://{scratch}/chdb-{uuid.uuid4().hex[:8]}",
            }
            for backend, fresh_url in backends.items():
                for form, build, per in (
                    ("columns", columnar_requests, 10_000),
                    ("rows", row_requests, 1_000),
                ):
                    label = f"gRPC {form} ({per:,}/request) -> {backend}"
                    results[label] = []
                    for repeat in range(args.repeats):
                        requests = build(points, per, f"{form}-{repeat}")
                        process, target = serve(fresh_url(), scratch)
                        try:
                            results[label].append(stream_seconds(target, requests))
                        finally:
                            process.terminate()
                            process.wait(30)
        finally:
            clickhouse.stop()
    baseline = statistics.median(results["clickhouse-client native TSV (baseline)"])
    print(f"\n{n:,} points, median of {args.repeats} runs, same machine and run")
    print(f"{'path':<48} {'median s':>9} {'points/s':>12} {'vs native':>10}")
    for label, runs in results.items():
        median = statistics.median(runs)
        print(f"{label:<48} {median:9.2f} {n / median:12,.0f} {baseline / median:9.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
