import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RunDetectionRequest(_message.Message):
    __slots__ = ("start", "end", "account_ids", "detectors")
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_IDS_FIELD_NUMBER: _ClassVar[int]
    DETECTORS_FIELD_NUMBER: _ClassVar[int]
    start: _timestamp_pb2.Timestamp
    end: _timestamp_pb2.Timestamp
    account_ids: _containers.RepeatedScalarFieldContainer[str]
    detectors: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., account_ids: _Optional[_Iterable[str]] = ..., detectors: _Optional[_Iterable[str]] = ...) -> None: ...

class DetectorTiming(_message.Message):
    __slots__ = ("detector", "seconds", "findings")
    DETECTOR_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    FINDINGS_FIELD_NUMBER: _ClassVar[int]
    detector: str
    seconds: float
    findings: int
    def __init__(self, detector: _Optional[str] = ..., seconds: _Optional[float] = ..., findings: _Optional[int] = ...) -> None: ...

class RunDetectionResponse(_message.Message):
    __slots__ = ("run_id", "accounts_scored", "alerts_raised", "alerts_updated", "timings", "read_seconds")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNTS_SCORED_FIELD_NUMBER: _ClassVar[int]
    ALERTS_RAISED_FIELD_NUMBER: _ClassVar[int]
    ALERTS_UPDATED_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_FIELD_NUMBER: _ClassVar[int]
    READ_SECONDS_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    accounts_scored: int
    alerts_raised: int
    alerts_updated: int
    timings: _containers.RepeatedCompositeFieldContainer[DetectorTiming]
    read_seconds: float
    def __init__(self, run_id: _Optional[str] = ..., accounts_scored: _Optional[int] = ..., alerts_raised: _Optional[int] = ..., alerts_updated: _Optional[int] = ..., timings: _Optional[_Iterable[_Union[DetectorTiming, _Mapping]]] = ..., read_seconds: _Optional[float] = ...) -> None: ...
