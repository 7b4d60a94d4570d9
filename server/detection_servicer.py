"""DetectionService: one detection run on request."""

from __future__ import annotations

import grpc

from engagewatch.v1 import detection_service_pb2, detection_service_pb2_grpc
from server.boundary import unary
from server.convert import from_timestamp
from server.detection import DetectionRunner
from server.errors import InvalidArgument
from server.metrics import Metrics


class DetectionServicer(detection_service_pb2_grpc.DetectionServiceServicer):
    def __init__(self, runner: DetectionRunner, metrics: Metrics) -> None:
        self.runner = runner
        self.metrics = metrics

    @unary("RunDetection")
    def RunDetection(
        self, request: detection_service_pb2.RunDetectionRequest, context: grpc.ServicerContext
    ) -> detection_service_pb2.RunDetectionResponse:
        missing = [(f, "is required") for f in ("start", "end") if not request.HasField(f)]
        if missing:
            raise InvalidArgument("start and end are required", missing)
        result = self.runner.run(
            from_timestamp(request.start),
            from_timestamp(request.end),
            list(request.account_ids),
            list(request.detectors),
            trigger="request",
        )
        return detection_service_pb2.RunDetectionResponse(
            run_id=result.run_id,
            accounts_scored=result.accounts_scored,
            alerts_raised=result.raised,
            alerts_updated=result.updated,
            timings=[
                detection_service_pb2.DetectorTiming(detector=n, seconds=s, findings=f)
                for n, s, f in result.timings
            ],
            read_seconds=result.read_seconds,
        )
