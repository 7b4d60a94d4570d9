"""Streams a simulation through the real gRPC IngestService, as a platform would.

Batch ids are derived from the seed and the batch number, so streaming the same simulation again
(same seed, config and batch size) is idempotent: the server counts the batches as duplicates.
Also the `engagewatch simulate` command: `add_simulate_arguments` and `run_simulate`.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc

from detectors.findings import EVENT_TYPES
from engagewatch.v1 import ingest_service_pb2, ingest_service_pb2_grpc
from server.errors import InvalidArgument
from server.simulator import (
    MetricArrays,
    Simulation,
    SimulationConfig,
    simulate,
    truth_document,
)

logger = logging.getLogger(__name__)

# Proto EventType numbers follow EVENT_TYPES order (EVENT_TYPE_FOLLOW = 1, ...).
_EVENT_TYPE_NUMBERS = {name: i + 1 for i, name in enumerate(EVENT_TYPES)}
_MAX_MESSAGE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class StreamReport:
    """What the server said about one streamed simulation."""

    points_accepted: int
    points_duplicate: int
    point_batches_accepted: int
    point_batches_duplicate: int
    events_accepted: int
    events_duplicate: int
    event_batches_accepted: int
    event_batches_duplicate: int
    seconds: float


def stream_simulation(
    target: str,
    sim: Simulation,
    *,
    batch_size: int = 10_000,
    columnar: bool = True,
    timeout: float = 300.0,
    batch_prefix: str = "sim",
) -> StreamReport:
    """Send a simulation's points (WriteMetrics) and then its events (WriteEvents) to `target`.

    Args:
        target: host:port of an engagewatch gRPC server.
        batch_size: rows per request message (one batch each).
        columnar: send points as MetricColumns (parallel arrays) rather than MetricPoint messages.
        timeout: seconds to wait for the server to be ready, and the deadline of each RPC.
        batch_prefix: first part of every batch_id.

    Raises:
        ConnectionError: the server was not ready within `timeout`.
        grpc.RpcError: the server rejected a stream (e.g. INVALID_ARGUMENT for a bad batch).
    """
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    started = time.perf_counter()
    options = [
        ("grpc.max_send_message_length", _MAX_MESSAGE_BYTES),
        ("grpc.max_receive_message_length", _MAX_MESSAGE_BYTES),
    ]
    with grpc.insecure_channel(target, options=options) as channel:
        try:
            grpc.channel_ready_future(channel).result(timeout=timeout)
        except grpc.FutureTimeoutError as e:
            raise ConnectionError(f"no gRPC server ready at {target} within {timeout:g} s") from e
        stub = ingest_service_pb2_grpc.IngestServiceStub(channel)
        seed = sim.config.seed
        metrics = stub.WriteMetrics(
            _metric_requests(sim.points, batch_size, columnar, f"{batch_prefix}-{seed}-points"),
            timeout=timeout,
            wait_for_ready=True,
        )
        logger.info(
            "points: %d accepted, %d duplicate (%d/%d batches)",
            metrics.accepted_points,
            metrics.duplicate_points,
            metrics.accepted_batches,
            metrics.duplicate_batches,
        )
        events = stub.WriteEvents(
            _event_requests(sim, batch_size, f"{batch_prefix}-{seed}-events"),
            timeout=timeout,
            wait_for_ready=True,
        )
        logger.info(
            "events: %d accepted, %d duplicate (%d/%d batches)",
            events.accepted_events,
            events.duplicate_events,
            events.accepted_batches,
            events.duplicate_batches,
        )
    return StreamReport(
        points_accepted=metrics.accepted_points,
        points_duplicate=metrics.duplicate_points,
        point_batches_accepted=metrics.accepted_batches,
        point_batches_duplicate=metrics.duplicate_batches,
        events_accepted=events.accepted_events,
        events_duplicate=events.duplicate_events,
        event_batches_accepted=events.accepted_batches,
        event_batches_duplicate=events.duplicate_batches,
        seconds=time.perf_counter() - started,
    )


def _metric_requests(
    points: MetricArrays, batch_size: int, columnar: bool, id_prefix: str
) -> Iterator[ingest_service_pb2.WriteMetricsRequest]:
    # Built lazily: gRPC pulls the next request while the previous one is on the wire.
    for i, start in enumerate(range(0, len(points), batch_size)):
        batch = points.slice(start, start + batch_size)
        batch_id = f"{id_prefix}-{i}"
        accounts = batch.account_ids.tolist()
        metrics = batch.metrics.tolist()
        seconds = batch.unix_seconds.tolist()
        values = batch.values.tolist()
        if columnar:
            columns = ingest_service_pb2.MetricColumns(
                account_ids=accounts, metrics=metrics, unix_seconds=seconds, values=values
            )
            yield ingest_service_pb2.WriteMetricsRequest(batch_id=batch_id, columns=columns)
        else:
            rows = ingest_service_pb2.MetricPoints(
                points=[
                    ingest_service_pb2.MetricPoint(
                        account_id=a, metric=m, time={"seconds": t}, value=v
                    )
                    for a, m, t, v in zip(accounts, metrics, seconds, values, strict=True)
                ]
            )
            yield ingest_service_pb2.WriteMetricsRequest(batch_id=batch_id, points=rows)


def _event_requests(
    sim: Simulation, batch_size: int, id_prefix: str
) -> Iterator[ingest_service_pb2.WriteEventsRequest]:
    ev = sim.events
    for i, start in enumerate(range(0, len(ev), batch_size)):
        stop = start + batch_size
        columns = zip(
            ev.actor_ids[start:stop].tolist(),
            ev.account_ids[start:stop].tolist(),
            ev.types[start:stop].tolist(),
            ev.times[start:stop].tolist(),
            ev.content_ids[start:stop].tolist(),
            ev.sources[start:stop].tolist(),
            ev.consented[start:stop].tolist(),
            ev.client_ids[start:stop].tolist(),
            strict=True,
        )
        events = [
            ingest_service_pb2.Event(
                actor_id=actor,
                account_id=account,
                type=_EVENT_TYPE_NUMBERS[kind],
                time={"seconds": t},
                content_id=content,
                source=source,
                consented=consented,
                client_id=client,
            )
            for actor, account, kind, t, content, source, consented, client in columns
        ]
        yield ingest_service_pb2.WriteEventsRequest(batch_id=f"{id_prefix}-{i}", events=events)


# ---------------------------------------------------------------------------------------------
# engagewatch simulate


def add_simulate_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of `engagewatch simulate` to its subparser."""
    defaults = SimulationConfig()
    parser.add_argument("--target", required=True, help="host:port of the engagewatch server")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--accounts", type=int, default=defaults.accounts)
    parser.add_argument("--actors", type=int, default=defaults.actors)
    parser.add_argument("--days", type=int, default=defaults.days)
    parser.add_argument(
        "--fraud-per-pattern",
        type=int,
        default=defaults.fraud_accounts_per_pattern,
        help="accounts (or groups) planted per fraud pattern; 0 for clean traffic",
    )
    parser.add_argument(
        "--no-hard-negatives", action="store_true", help="plant no look-alike innocent cases"
    )
    parser.add_argument(
        "--click-sample-rate",
        type=float,
        default=defaults.event_sample_rate,
        help="share of raw click events sent (points always carry full counts)",
    )
    parser.add_argument("--batch-size", type=int, default=10_000, help="rows per request")
    parser.add_argument(
        "--rows", action="store_true", help="send MetricPoint messages instead of columns"
    )
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per RPC")
    parser.add_argument("--batch-prefix", default="sim", help="first part of every batch_id")
    parser.add_argument("--truth-out", type=Path, help="write the planted truth here as JSON")


def run_simulate(args: argparse.Namespace) -> int:
    """Generate a simulation, optionally write its truth, stream it; 0 on success."""
    started = time.perf_counter()
    try:
        config = SimulationConfig(
            seed=args.seed,
            accounts=args.accounts,
            actors=args.actors,
            days=args.days,
            fraud_accounts_per_pattern=args.fraud_per_pattern,
            hard_negatives=not args.no_hard_negatives,
            event_sample_rate=args.click_sample_rate,
        )
        sim = simulate(config)
    except ValueError as e:  # e.g. too few accounts for the planted cases: the flags are wrong
        raise InvalidArgument(f"cannot simulate: {e}") from e
    logger.info(
        "simulated %d accounts x %d days: %d points, %d events, %d truth cases in %.1f s",
        config.accounts,
        config.days,
        len(sim.points),
        len(sim.events),
        len(sim.truth),
        time.perf_counter() - started,
    )
    if args.truth_out is not None:
        args.truth_out.write_text(json.dumps(truth_document(sim), indent=2) + "\n")
        logger.info("truth written to %s", args.truth_out)
    try:
        report = stream_simulation(
            args.target,
            sim,
            batch_size=args.batch_size,
            columnar=not args.rows,
            timeout=args.timeout,
            batch_prefix=args.batch_prefix,
        )
    except ConnectionError as e:
        logger.error("%s", e)
        return 1
    except grpc.RpcError as e:
        logger.error("the server rejected the stream: %s %s", e.code(), e.details())
        return 1
    logger.info(
        "streamed in %.1f s: points %d accepted / %d duplicate, events %d accepted / %d duplicate",
        report.seconds,
        report.points_accepted,
        report.points_duplicate,
        report.events_accepted,
        report.events_duplicate,
    )
    return 0
