"""The servicer boundary: errors become gRPC status codes here, and every call is measured.

EngageWatchError subclasses map to their own code (InvalidArgument with a
google.rpc.BadRequest); anything else is logged with its traceback and becomes INTERNAL
with a generic message.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any, NoReturn, TypeVar

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from server.errors import EngageWatchError, InvalidArgument, StoreUnavailable
from server.metrics import Metrics

logger = logging.getLogger(__name__)

T = TypeVar("T")


def abort(context: grpc.ServicerContext, err: EngageWatchError) -> NoReturn:
    if isinstance(err, InvalidArgument) and err.violations:
        bad_request = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field=f, description=d)
                for f, d in err.violations
            ]
        )
        detail = any_pb2.Any()
        detail.Pack(bad_request)
        status = status_pb2.Status(
            code=code_pb2.INVALID_ARGUMENT, message=str(err), details=[detail]
        )
        context.abort_with_status(rpc_status.to_status(status))
    context.abort(err.code, str(err))


class _Call:
    """Measures one call and turns its exceptions into statuses."""

    def __init__(self, metrics: Metrics, method: str, context: grpc.ServicerContext) -> None:
        self.metrics = metrics
        self.method = method
        self.context = context
        self.began = time.perf_counter()

    def done(self, code: grpc.StatusCode) -> None:
        self.metrics.grpc_handled.labels(self.method, code.name).inc()
        self.metrics.grpc_handling_seconds.labels(self.method).observe(
            time.perf_counter() - self.began
        )

    def fail(self, exc: BaseException) -> NoReturn:
        if isinstance(exc, EngageWatchError):
            if isinstance(exc, StoreUnavailable):
                self.metrics.store_errors.labels(self.method).inc()
            self.done(exc.code)
            abort(self.context, exc)
        if isinstance(exc, grpc.RpcError) or _already_aborted(self.context):
            self.done(_code_of(self.context) or grpc.StatusCode.UNKNOWN)
            raise exc
        logger.exception("%s failed", self.method)
        self.done(grpc.StatusCode.INTERNAL)
        self.context.abort(grpc.StatusCode.INTERNAL, "internal error; see the server log")


def _code_of(context: grpc.ServicerContext) -> grpc.StatusCode | None:
    # grpc's server context has code() (since 1.38), but the ServicerContext stubs lack it.
    code: grpc.StatusCode | None = getattr(context, "code", lambda: None)()
    return code


def _already_aborted(context: grpc.ServicerContext) -> bool:
    code = _code_of(context)
    return code is not None and code != grpc.StatusCode.OK


def unary(method: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Wraps a unary-response handler (unary or client-streaming request)."""

    def wrap(handler: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(handler)
        def call(self: Any, request: Any, context: grpc.ServicerContext) -> T:
            tracked = _Call(self.metrics, method, context)
            try:
                response = handler(self, request, context)
            except Exception as exc:
                tracked.fail(exc)
            tracked.done(grpc.StatusCode.OK)
            return response

        return call

    return wrap


def server_stream(
    method: str,
) -> Callable[[Callable[..., Iterator[T]]], Callable[..., Iterator[T]]]:
    """Wraps a server-streaming handler; a stream the client cancels counts as CANCELLED."""

    def wrap(handler: Callable[..., Iterator[T]]) -> Callable[..., Iterator[T]]:
        @functools.wraps(handler)
        def call(self: Any, request: Any, context: grpc.ServicerContext) -> Iterator[T]:
            tracked = _Call(self.metrics, method, context)
            try:
                yield from handler(self, request, context)
            except GeneratorExit:
                tracked.done(grpc.StatusCode.CANCELLED)
                raise
            except Exception as exc:
                tracked.fail(exc)
            tracked.done(grpc.StatusCode.OK if context.is_active() else grpc.StatusCode.CANCELLED)

        return call

    return wrap
