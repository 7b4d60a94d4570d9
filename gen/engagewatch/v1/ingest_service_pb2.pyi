import datetime

from engagewatch.v1 import types_pb2 as _types_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class MetricPoint(_message.Message):
    __slots__ = ("account_id", "metric", "time", "value")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    metric: _types_pb2.Metric
    time: _timestamp_pb2.Timestamp
    value: float
    def __init__(self, account_id: _Optional[str] = ..., metric: _Optional[_Union[_types_pb2.Metric, str]] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., value: _Optional[float] = ...) -> None: ...

class MetricColumns(_message.Message):
    __slots__ = ("account_ids", "metrics", "unix_seconds", "values")
    ACCOUNT_IDS_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    UNIX_SECONDS_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    account_ids: _containers.RepeatedScalarFieldContainer[str]
    metrics: _containers.RepeatedScalarFieldContainer[_types_pb2.Metric]
    unix_seconds: _containers.RepeatedScalarFieldContainer[int]
    values: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, account_ids: _Optional[_Iterable[str]] = ..., metrics: _Optional[_Iterable[_Union[_types_pb2.Metric, str]]] = ..., unix_seconds: _Optional[_Iterable[int]] = ..., values: _Optional[_Iterable[float]] = ...) -> None: ...

class WriteMetricsRequest(_message.Message):
    __slots__ = ("batch_id", "points", "columns")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    points: MetricPoints
    columns: MetricColumns
    def __init__(self, batch_id: _Optional[str] = ..., points: _Optional[_Union[MetricPoints, _Mapping]] = ..., columns: _Optional[_Union[MetricColumns, _Mapping]] = ...) -> None: ...

class MetricPoints(_message.Message):
    __slots__ = ("points",)
    POINTS_FIELD_NUMBER: _ClassVar[int]
    points: _containers.RepeatedCompositeFieldContainer[MetricPoint]
    def __init__(self, points: _Optional[_Iterable[_Union[MetricPoint, _Mapping]]] = ...) -> None: ...

class WriteMetricsResponse(_message.Message):
    __slots__ = ("accepted_points", "accepted_batches", "duplicate_batches", "duplicate_points")
    ACCEPTED_POINTS_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_BATCHES_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_BATCHES_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_POINTS_FIELD_NUMBER: _ClassVar[int]
    accepted_points: int
    accepted_batches: int
    duplicate_batches: int
    duplicate_points: int
    def __init__(self, accepted_points: _Optional[int] = ..., accepted_batches: _Optional[int] = ..., duplicate_batches: _Optional[int] = ..., duplicate_points: _Optional[int] = ...) -> None: ...

class Event(_message.Message):
    __slots__ = ("actor_id", "account_id", "type", "time", "content_id", "source", "consented", "client_id")
    ACTOR_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    CONTENT_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    CONSENTED_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    actor_id: str
    account_id: str
    type: _types_pb2.EventType
    time: _timestamp_pb2.Timestamp
    content_id: str
    source: str
    consented: bool
    client_id: str
    def __init__(self, actor_id: _Optional[str] = ..., account_id: _Optional[str] = ..., type: _Optional[_Union[_types_pb2.EventType, str]] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., content_id: _Optional[str] = ..., source: _Optional[str] = ..., consented: _Optional[bool] = ..., client_id: _Optional[str] = ...) -> None: ...

class WriteEventsRequest(_message.Message):
    __slots__ = ("batch_id", "events")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    events: _containers.RepeatedCompositeFieldContainer[Event]
    def __init__(self, batch_id: _Optional[str] = ..., events: _Optional[_Iterable[_Union[Event, _Mapping]]] = ...) -> None: ...

class WriteEventsResponse(_message.Message):
    __slots__ = ("accepted_events", "accepted_batches", "duplicate_batches", "duplicate_events")
    ACCEPTED_EVENTS_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_BATCHES_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_BATCHES_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_EVENTS_FIELD_NUMBER: _ClassVar[int]
    accepted_events: int
    accepted_batches: int
    duplicate_batches: int
    duplicate_events: int
    def __init__(self, accepted_events: _Optional[int] = ..., accepted_batches: _Optional[int] = ..., duplicate_batches: _Optional[int] = ..., duplicate_events: _Optional[int] = ...) -> None: ...
