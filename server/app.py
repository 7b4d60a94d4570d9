"""Wires the service together: store, alert book, detection, gRPC server, /metrics, schedule."""

from __future__ import annotations

import logging
import threading
from concurrent import futures
from dataclasses import dataclass
from datetime import timedelta

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from prometheus_client import CollectorRegistry, start_http_server

from engagewatch.v1 import (
    alert_service_pb2,
    alert_service_pb2_grpc,
    detection_service_pb2,
    detection_service_pb2_grpc,
    ingest_service_pb2,
    ingest_service_pb2_grpc,
)
from server.alert_servicer import AlertServicer
from server.alertmanager import AlertmanagerPusher, check_template
from server.alerts import AlertBook
from server.config import Settings
from server.detection import DetectionRunner, Scheduler
from server.detection_servicer import DetectionServicer
from server.errors import StoreUnavailable
from server.ingest_servicer import IngestServicer
from server.metrics import Metrics
from server.store import Store, open_store

logger = logging.getLogger(__name__)

SERVICE_NAMES = (
    ingest_service_pb2.DESCRIPTOR.services_by_name["IngestService"].full_name,
    detection_service_pb2.DESCRIPTOR.services_by_name["DetectionService"].full_name,
    alert_service_pb2.DESCRIPTOR.services_by_name["AlertService"].full_name,
)
_HEALTH_PROBE_SECONDS = 5.0
_MAX_MESSAGE_BYTES = 64 * 1024 * 1024  # a 100k-row batch of points fits


def split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]") or "0.0.0.0", int(port)


@dataclass
class Service:
    """A running service; `stop()` shuts everything down."""

    settings: Settings
    store: Store
    metrics: Metrics
    book: AlertBook
    runner: DetectionRunner
    grpc_server: grpc.Server
    grpc_port: int
    metrics_port: int | None
    _stopping: threading.Event
    _scheduler: Scheduler | None
    _http: object | None
    _pusher: AlertmanagerPusher | None = None

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def wait(self) -> None:
        self.grpc_server.wait_for_termination()

    def stop(self, grace: float = 2.0) -> None:
        self._stopping.set()
        if self._scheduler is not None:
            self._scheduler.stop()
        if self._pusher is not None:
            self._pusher.stop()
        self.grpc_server.stop(grace).wait()
        if self._http is not None:
            self._http.shutdown()  # type: ignore[attr-defined]
        self.store.close()


def start_service(
    settings: Settings, registry: CollectorRegistry | None = None, store: Store | None = None
) -> Service:
    """Starts the gRPC server (and /metrics and the schedule when configured)."""
    check_template(settings.alertmanager.drilldown_url_template)  # before anything is opened
    registry = registry if registry is not None else CollectorRegistry()
    metrics = Metrics(registry)
    metrics.initialize_series(grpc_method_names())
    store = store or open_store(settings.store_url, settings.external_source)
    store.migrate()
    book = AlertBook(store)

    def refresh_open_alerts() -> None:
        metrics.set_open_alerts(store.alert_counts_by_state())
        metrics.set_accounts_by_action(store.accounts_by_action())

    runner = DetectionRunner(
        store,
        book,
        metrics,
        history=timedelta(hours=settings.detection.history_hours),
        on_alerts_changed=refresh_open_alerts,
        feedback=settings.feedback,
    )
    pusher = None
    if settings.alertmanager.url:
        pusher = AlertmanagerPusher(store, book, settings.alertmanager, metrics)
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=16, thread_name_prefix="grpc"),
        options=[
            ("grpc.max_receive_message_length", _MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", _MAX_MESSAGE_BYTES),
        ],
    )
    ingest_service_pb2_grpc.add_IngestServiceServicer_to_server(
        IngestServicer(store, metrics, settings.max_batch_rows), server
    )
    detection_service_pb2_grpc.add_DetectionServiceServicer_to_server(
        DetectionServicer(runner, metrics), server
    )
    alert_service_pb2_grpc.add_AlertServiceServicer_to_server(
        AlertServicer(store, book, metrics, refresh_open_alerts, runner.operating_points), server
    )
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    port = server.add_insecure_port(settings.grpc_address)
    if port == 0:
        raise OSError(f"cannot listen on {settings.grpc_address}")
    server.start()
    stopping = threading.Event()
    threading.Thread(
        target=_watch_store_health,
        args=(store, health_servicer, stopping),
        name="store-health",
        daemon=True,
    ).start()

    http = None
    metrics_port = None
    if settings.metrics_address:
        host, wanted = split_address(settings.metrics_address)
        http, _ = start_http_server(wanted, addr=host, registry=registry)
        metrics_port = http.server_port
    if pusher is not None:  # its own thread: detection never waits for Alertmanager
        pusher.start()
    scheduler = None
    metrics.detection_schedule_interval.set(max(settings.detection.every_seconds, 0.0))
    if settings.detection.every_seconds > 0:
        scheduler = Scheduler(
            runner,
            settings.detection.every_seconds,
            timedelta(hours=settings.detection.window_hours),
            late_lookback=timedelta(hours=settings.detection.late_lookback_hours),
        )
        scheduler.start()
    try:
        refresh_open_alerts()
    except StoreUnavailable:
        logger.warning("store unavailable at start; open-alert gauge set after the next run")
    logger.info("serving gRPC on port %d, metrics on %s", port, metrics_port)
    return Service(
        settings=settings,
        store=store,
        metrics=metrics,
        book=book,
        runner=runner,
        grpc_server=server,
        grpc_port=port,
        metrics_port=metrics_port,
        _stopping=stopping,
        _scheduler=scheduler,
        _http=http,
        _pusher=pusher,
    )


def grpc_method_names() -> list[str]:
    """The methods of the engagewatch services, as the boundary labels them."""
    files = (ingest_service_pb2, detection_service_pb2, alert_service_pb2)
    return [
        method.name
        for file in files
        for service in file.DESCRIPTOR.services_by_name.values()
        for method in service.methods
    ]


def _watch_store_health(
    store: Store, servicer: health.HealthServicer, stopping: threading.Event
) -> None:
    """Reports NOT_SERVING while the store is down, so load balancers route around it."""
    status: int | None = None
    while True:
        now: int
        try:
            store.ping()
            now = health_pb2.HealthCheckResponse.SERVING
        except StoreUnavailable:
            now = health_pb2.HealthCheckResponse.NOT_SERVING
        if now != status:
            for name in ("", *SERVICE_NAMES):
                servicer.set(name, now)
            status = now
        if stopping.wait(_HEALTH_PROBE_SECONDS):
            return
