import datetime

from engagewatch.v1 import types_pb2 as _types_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GroupRole(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    GROUP_ROLE_UNSPECIFIED: _ClassVar[GroupRole]
    GROUP_ROLE_MEMBER: _ClassVar[GroupRole]
    GROUP_ROLE_TARGET: _ClassVar[GroupRole]
GROUP_ROLE_UNSPECIFIED: GroupRole
GROUP_ROLE_MEMBER: GroupRole
GROUP_ROLE_TARGET: GroupRole

class EvidenceItem(_message.Message):
    __slots__ = ("kind", "values")
    class ValuesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    KIND_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    kind: str
    values: _containers.ScalarMap[str, str]
    def __init__(self, kind: _Optional[str] = ..., values: _Optional[_Mapping[str, str]] = ...) -> None: ...

class Alert(_message.Message):
    __slots__ = ("alert_id", "sequence", "account_id", "member_ids", "target_ids", "detector", "pattern", "metric", "severity", "score", "window_start", "window_end", "observed", "expected", "evidence", "explanation", "recommended_action", "state", "created_at", "updated_at", "member_count", "target_count", "verdict", "review_note", "reviewer")
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    MEMBER_IDS_FIELD_NUMBER: _ClassVar[int]
    TARGET_IDS_FIELD_NUMBER: _ClassVar[int]
    DETECTOR_FIELD_NUMBER: _ClassVar[int]
    PATTERN_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    WINDOW_START_FIELD_NUMBER: _ClassVar[int]
    WINDOW_END_FIELD_NUMBER: _ClassVar[int]
    OBSERVED_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    RECOMMENDED_ACTION_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    MEMBER_COUNT_FIELD_NUMBER: _ClassVar[int]
    TARGET_COUNT_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    REVIEW_NOTE_FIELD_NUMBER: _ClassVar[int]
    REVIEWER_FIELD_NUMBER: _ClassVar[int]
    alert_id: str
    sequence: int
    account_id: str
    member_ids: _containers.RepeatedScalarFieldContainer[str]
    target_ids: _containers.RepeatedScalarFieldContainer[str]
    detector: str
    pattern: _types_pb2.Pattern
    metric: _types_pb2.Metric
    severity: _types_pb2.Severity
    score: float
    window_start: _timestamp_pb2.Timestamp
    window_end: _timestamp_pb2.Timestamp
    observed: float
    expected: float
    evidence: _containers.RepeatedCompositeFieldContainer[EvidenceItem]
    explanation: str
    recommended_action: _types_pb2.Action
    state: _types_pb2.AlertState
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    member_count: int
    target_count: int
    verdict: _types_pb2.Verdict
    review_note: str
    reviewer: str
    def __init__(self, alert_id: _Optional[str] = ..., sequence: _Optional[int] = ..., account_id: _Optional[str] = ..., member_ids: _Optional[_Iterable[str]] = ..., target_ids: _Optional[_Iterable[str]] = ..., detector: _Optional[str] = ..., pattern: _Optional[_Union[_types_pb2.Pattern, str]] = ..., metric: _Optional[_Union[_types_pb2.Metric, str]] = ..., severity: _Optional[_Union[_types_pb2.Severity, str]] = ..., score: _Optional[float] = ..., window_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., window_end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., observed: _Optional[float] = ..., expected: _Optional[float] = ..., evidence: _Optional[_Iterable[_Union[EvidenceItem, _Mapping]]] = ..., explanation: _Optional[str] = ..., recommended_action: _Optional[_Union[_types_pb2.Action, str]] = ..., state: _Optional[_Union[_types_pb2.AlertState, str]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., member_count: _Optional[int] = ..., target_count: _Optional[int] = ..., verdict: _Optional[_Union[_types_pb2.Verdict, str]] = ..., review_note: _Optional[str] = ..., reviewer: _Optional[str] = ...) -> None: ...

class ListAlertsRequest(_message.Message):
    __slots__ = ("account_id", "detector", "pattern", "min_severity", "since", "page_size", "page_token", "state")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    DETECTOR_FIELD_NUMBER: _ClassVar[int]
    PATTERN_FIELD_NUMBER: _ClassVar[int]
    MIN_SEVERITY_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    detector: str
    pattern: _types_pb2.Pattern
    min_severity: _types_pb2.Severity
    since: _timestamp_pb2.Timestamp
    page_size: int
    page_token: str
    state: _types_pb2.AlertState
    def __init__(self, account_id: _Optional[str] = ..., detector: _Optional[str] = ..., pattern: _Optional[_Union[_types_pb2.Pattern, str]] = ..., min_severity: _Optional[_Union[_types_pb2.Severity, str]] = ..., since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., state: _Optional[_Union[_types_pb2.AlertState, str]] = ...) -> None: ...

class ListAlertsResponse(_message.Message):
    __slots__ = ("alerts", "next_page_token")
    ALERTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    alerts: _containers.RepeatedCompositeFieldContainer[Alert]
    next_page_token: str
    def __init__(self, alerts: _Optional[_Iterable[_Union[Alert, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListAlertMembersRequest(_message.Message):
    __slots__ = ("alert_id", "role", "page_size", "page_token")
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    alert_id: str
    role: GroupRole
    page_size: int
    page_token: str
    def __init__(self, alert_id: _Optional[str] = ..., role: _Optional[_Union[GroupRole, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListAlertMembersResponse(_message.Message):
    __slots__ = ("ids", "next_page_token", "total_size", "sequence")
    IDS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    ids: _containers.RepeatedScalarFieldContainer[str]
    next_page_token: str
    total_size: int
    sequence: int
    def __init__(self, ids: _Optional[_Iterable[str]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ..., sequence: _Optional[int] = ...) -> None: ...

class WatchAlertsRequest(_message.Message):
    __slots__ = ("min_severity", "after_sequence")
    MIN_SEVERITY_FIELD_NUMBER: _ClassVar[int]
    AFTER_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    min_severity: _types_pb2.Severity
    after_sequence: int
    def __init__(self, min_severity: _Optional[_Union[_types_pb2.Severity, str]] = ..., after_sequence: _Optional[int] = ...) -> None: ...

class GetAccountRiskRequest(_message.Message):
    __slots__ = ("account_id",)
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    def __init__(self, account_id: _Optional[str] = ...) -> None: ...

class GetAccountRiskResponse(_message.Message):
    __slots__ = ("account_id", "risk_score", "severity", "recommended_action", "open_alerts", "estimated_fake_follower_share", "confirmed_alerts", "dismissed_alerts")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    RISK_SCORE_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    RECOMMENDED_ACTION_FIELD_NUMBER: _ClassVar[int]
    OPEN_ALERTS_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_FAKE_FOLLOWER_SHARE_FIELD_NUMBER: _ClassVar[int]
    CONFIRMED_ALERTS_FIELD_NUMBER: _ClassVar[int]
    DISMISSED_ALERTS_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    risk_score: float
    severity: _types_pb2.Severity
    recommended_action: _types_pb2.Action
    open_alerts: _containers.RepeatedCompositeFieldContainer[Alert]
    estimated_fake_follower_share: float
    confirmed_alerts: int
    dismissed_alerts: int
    def __init__(self, account_id: _Optional[str] = ..., risk_score: _Optional[float] = ..., severity: _Optional[_Union[_types_pb2.Severity, str]] = ..., recommended_action: _Optional[_Union[_types_pb2.Action, str]] = ..., open_alerts: _Optional[_Iterable[_Union[Alert, _Mapping]]] = ..., estimated_fake_follower_share: _Optional[float] = ..., confirmed_alerts: _Optional[int] = ..., dismissed_alerts: _Optional[int] = ...) -> None: ...

class ReviewAlertRequest(_message.Message):
    __slots__ = ("alert_id", "verdict", "note", "reviewer")
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    REVIEWER_FIELD_NUMBER: _ClassVar[int]
    alert_id: str
    verdict: _types_pb2.Verdict
    note: str
    reviewer: str
    def __init__(self, alert_id: _Optional[str] = ..., verdict: _Optional[_Union[_types_pb2.Verdict, str]] = ..., note: _Optional[str] = ..., reviewer: _Optional[str] = ...) -> None: ...

class ReviewAlertResponse(_message.Message):
    __slots__ = ("alert",)
    ALERT_FIELD_NUMBER: _ClassVar[int]
    alert: Alert
    def __init__(self, alert: _Optional[_Union[Alert, _Mapping]] = ...) -> None: ...
