"""Errors raised under the servicers, each with the gRPC code it maps to (in one place)."""

from __future__ import annotations

from typing import ClassVar

import grpc


class EngageWatchError(Exception):
    code: ClassVar[grpc.StatusCode] = grpc.StatusCode.INTERNAL


class InvalidArgument(EngageWatchError):
    code = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(self, message: str, violations: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        # (field path, description) pairs for google.rpc.BadRequest
        self.violations = violations or []


class NotFound(EngageWatchError):
    code = grpc.StatusCode.NOT_FOUND


class NotEnoughData(EngageWatchError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class StoreUnavailable(EngageWatchError):
    code = grpc.StatusCode.UNAVAILABLE
