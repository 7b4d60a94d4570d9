"""The `engagewatch` command line: serve, demo, detect, score-csv, simulate."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pydantic costs ~0.2 s to import; `--help` needs none of it
    from server.config import Settings

logger = logging.getLogger(__name__)


class _LazyParser(argparse.ArgumentParser):
    """A subcommand parser whose options are added only when that subcommand is parsed.

    `simulate` and `throttle` take their options (and defaults) from modules that import grpc,
    the simulator and every detector: seconds of start-up that no other command should pay.
    """

    def __init__(
        self,
        *args: Any,
        add_options: Callable[[argparse.ArgumentParser], None] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._add_options = add_options

    def _ensure_options(self) -> None:
        add, self._add_options = self._add_options, None
        if add is not None:
            add(self)

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        self._ensure_options()
        return super().parse_known_args(args, namespace)

    def format_usage(self) -> str:
        self._ensure_options()
        return super().format_usage()

    def format_help(self) -> str:
        self._ensure_options()
        return super().format_help()


def _add_simulate_arguments(parser: argparse.ArgumentParser) -> None:
    from server.sim_client import add_simulate_arguments

    add_simulate_arguments(parser)


def _add_throttle_arguments(parser: argparse.ArgumentParser) -> None:
    from server.throttle import add_throttle_arguments

    add_throttle_arguments(parser)


def _time(text: str) -> datetime:
    """An ISO 8601 time; naive times are taken as UTC."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _settings(args: argparse.Namespace) -> Settings:
    from server.config import Settings

    overrides: dict[str, object] = {}
    if getattr(args, "store", None):
        overrides["store_url"] = args.store
    if getattr(args, "grpc_addr", None):
        overrides["grpc_address"] = args.grpc_addr
    if getattr(args, "metrics_addr", None) is not None:
        overrides["metrics_address"] = args.metrics_addr
    settings = Settings(**overrides)  # type: ignore[arg-type]
    if getattr(args, "detect_every", None) is not None:
        settings.detection.every_seconds = args.detect_every
    if getattr(args, "alertmanager_url", None) is not None:
        settings.alertmanager.url = args.alertmanager_url
    return settings


def _serve(args: argparse.Namespace) -> int:
    from server.app import start_service

    service = start_service(_settings(args))
    stop = lambda *_: service.stop()  # noqa: E731 - a signal handler
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    logger.info("engagewatch serving on %s", service.target)
    service.wait()
    return 0


def _detect(args: argparse.Namespace) -> int:
    from prometheus_client import CollectorRegistry

    from server.alerts import AlertBook
    from server.detection import DetectionRunner
    from server.metrics import Metrics
    from server.store import open_store

    settings = _settings(args)
    store = open_store(settings.store_url, settings.external_source)
    store.migrate()
    runner = DetectionRunner(
        store,
        AlertBook(store),
        Metrics(CollectorRegistry()),
        history=timedelta(hours=settings.detection.history_hours),
        feedback=settings.feedback,
    )
    result = runner.run(args.start, args.end, args.account or (), args.detector or (), "cli")
    for name, seconds, found in result.timings:
        print(f"{name:<22} {seconds:8.3f} s {found:6d} findings")
    print(
        f"run {result.run_id}: {result.accounts_scored} accounts scored, "
        f"{result.raised} alerts raised, {result.updated} updated"
    )
    for finding in sorted(result.findings, key=lambda f: -f.score):
        print(f"{finding.score:5.2f} {finding.pattern:<20} {finding.explanation}")
    store.close()
    return 0


def _backtest(args: argparse.Namespace) -> int:
    import json

    from prometheus_client import CollectorRegistry

    from server.alerts import AlertBook
    from server.backtest import backtest, format_table, to_json
    from server.detection import DetectionRunner
    from server.metrics import Metrics
    from server.store import open_store

    settings = _settings(args)
    store = open_store(settings.store_url, settings.external_source)
    try:
        store.migrate()
        runner = DetectionRunner(
            store,
            AlertBook(store),  # never applied to: a backtest writes no alerts
            Metrics(CollectorRegistry()),
            history=timedelta(hours=settings.detection.history_hours),
            feedback=settings.feedback,
        )
        report = backtest(
            runner,
            store,
            args.start,
            args.end,
            step=timedelta(hours=args.step_hours),
            window=timedelta(hours=args.window_hours or settings.detection.window_hours),
            detector_names=args.detectors or (),
            account_ids=args.account or (),
        )
    finally:
        store.close()
    print(json.dumps(to_json(report), indent=2) if args.json else format_table(report))
    return 0


def _score_csv(args: argparse.Namespace) -> int:
    from server.score_csv import score_csv_file

    score_csv_file(args.input, args.output or args.input)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from server.demo import run_demo

    return run_demo(args)


def _throttle(args: argparse.Namespace) -> int:
    from server.throttle import run_throttle

    return run_throttle(args)


def _simulate(args: argparse.Namespace) -> int:
    from server.sim_client import run_simulate

    return run_simulate(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="engagewatch", description=__doc__)
    parser.add_argument("--log-level", default="INFO")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_LazyParser)

    serve = commands.add_parser("serve", help="run the gRPC service")
    serve.add_argument("--store", help="clickhouse://host:9000/db or chdb:///dir")
    serve.add_argument("--grpc-addr", help="listen address, e.g. [::]:50051")
    serve.add_argument("--metrics-addr", help="/metrics address, e.g. 0.0.0.0:9464; '' disables")
    serve.add_argument("--detect-every", type=float, help="seconds between detection runs")
    serve.add_argument(
        "--alertmanager-url", help="push alerts to this Alertmanager, e.g. http://127.0.0.1:9093"
    )
    serve.set_defaults(func=_serve)

    demo = commands.add_parser("demo", help="simulated platform, detection, alerts and a report")
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--accounts", type=int, default=300)
    demo.add_argument("--days", type=int, default=14)
    demo.add_argument("--report", default="reports/demo.html", help="where to write the report")
    demo.add_argument("--store", help="store URL (default: a fresh embedded chDB store)")
    demo.set_defaults(func=_demo)

    detect = commands.add_parser("detect", help="one detection run over a window")
    detect.add_argument("--store", help="clickhouse://host:9000/db or chdb:///dir")
    detect.add_argument("--start", type=_time, required=True)
    detect.add_argument("--end", type=_time, required=True)
    detect.add_argument("--account", action="append", help="only this account (repeatable)")
    detect.add_argument("--detector", action="append", help="only this detector (repeatable)")
    detect.set_defaults(func=_detect)

    replay = commands.add_parser(
        "backtest", help="replay the schedule over a past window; report alerts, write nothing"
    )
    replay.add_argument("--store", help="clickhouse://host:9000/db or chdb:///dir")
    replay.add_argument("--start", type=_time, required=True)
    replay.add_argument("--end", type=_time, required=True)
    replay.add_argument("--step-hours", type=int, default=1, help="hours between runs (1)")
    replay.add_argument("--window-hours", type=int, help="hours each run judges (as configured)")
    replay.add_argument(
        "--detectors", "--detector", nargs="+", action="extend", help="only these detectors"
    )
    replay.add_argument("--account", action="append", help="only this account (repeatable)")
    replay.add_argument("--json", action="store_true", help="print JSON instead of a table")
    replay.set_defaults(func=_backtest)

    score = commands.add_parser("score-csv", help="score one series (timestamp,value) offline")
    score.add_argument("input")
    score.add_argument("-o", "--output", help="output CSV (default: rewrite the input)")
    score.set_defaults(func=_score_csv)

    simulate = commands.add_parser(
        "simulate",
        help="stream simulated traffic to a server",
        add_options=_add_simulate_arguments,
    )
    simulate.set_defaults(func=_simulate)

    throttle = commands.add_parser(
        "throttle",
        help="reference throttling consumer of alerts",
        add_options=_add_throttle_arguments,
    )
    throttle.set_defaults(func=_throttle)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from server.errors import InvalidArgument

    try:
        return int(args.func(args))
    except InvalidArgument as e:
        # Wrong input (a bad CSV, an empty window) is the user's to fix: one line, like argparse.
        print(f"engagewatch {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
