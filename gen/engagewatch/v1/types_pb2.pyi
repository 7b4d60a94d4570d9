from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from typing import ClassVar as _ClassVar

DESCRIPTOR: _descriptor.FileDescriptor

class Metric(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    METRIC_UNSPECIFIED: _ClassVar[Metric]
    METRIC_FOLLOWS: _ClassVar[Metric]
    METRIC_UNFOLLOWS: _ClassVar[Metric]
    METRIC_CLICKS: _ClassVar[Metric]
    METRIC_SHARES: _ClassVar[Metric]
    METRIC_COMMENTS: _ClassVar[Metric]
    METRIC_IMPRESSIONS: _ClassVar[Metric]

class EventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EVENT_TYPE_UNSPECIFIED: _ClassVar[EventType]
    EVENT_TYPE_FOLLOW: _ClassVar[EventType]
    EVENT_TYPE_UNFOLLOW: _ClassVar[EventType]
    EVENT_TYPE_CLICK: _ClassVar[EventType]
    EVENT_TYPE_SHARE: _ClassVar[EventType]
    EVENT_TYPE_COMMENT: _ClassVar[EventType]

class Pattern(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PATTERN_UNSPECIFIED: _ClassVar[Pattern]
    PATTERN_FAKE_FOLLOWERS: _ClassVar[Pattern]
    PATTERN_FAKE_TRAFFIC: _ClassVar[Pattern]
    PATTERN_FAKE_ENGAGEMENT: _ClassVar[Pattern]
    PATTERN_LOCKSTEP_GROUP: _ClassVar[Pattern]
    PATTERN_FORCED_SUBSCRIPTION: _ClassVar[Pattern]
    PATTERN_COORDINATED_SHARING: _ClassVar[Pattern]

class Severity(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SEVERITY_UNSPECIFIED: _ClassVar[Severity]
    SEVERITY_LOW: _ClassVar[Severity]
    SEVERITY_MEDIUM: _ClassVar[Severity]
    SEVERITY_HIGH: _ClassVar[Severity]
    SEVERITY_CRITICAL: _ClassVar[Severity]

class Action(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACTION_UNSPECIFIED: _ClassVar[Action]
    ACTION_WARN: _ClassVar[Action]
    ACTION_LIMIT_FEATURES: _ClassVar[Action]
    ACTION_SUSPEND_UPDATES: _ClassVar[Action]
    ACTION_STOP_ADS: _ClassVar[Action]
    ACTION_CLOSE_ACCOUNT: _ClassVar[Action]
    ACTION_BLACKLIST: _ClassVar[Action]

class AlertState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ALERT_STATE_UNSPECIFIED: _ClassVar[AlertState]
    ALERT_STATE_OPEN: _ClassVar[AlertState]
    ALERT_STATE_CONFIRMED: _ClassVar[AlertState]
    ALERT_STATE_DISMISSED: _ClassVar[AlertState]

class Verdict(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VERDICT_UNSPECIFIED: _ClassVar[Verdict]
    VERDICT_CONFIRMED_FRAUD: _ClassVar[Verdict]
    VERDICT_FALSE_POSITIVE: _ClassVar[Verdict]
METRIC_UNSPECIFIED: Metric
METRIC_FOLLOWS: Metric
METRIC_UNFOLLOWS: Metric
METRIC_CLICKS: Metric
METRIC_SHARES: Metric
METRIC_COMMENTS: Metric
METRIC_IMPRESSIONS: Metric
EVENT_TYPE_UNSPECIFIED: EventType
EVENT_TYPE_FOLLOW: EventType
EVENT_TYPE_UNFOLLOW: EventType
EVENT_TYPE_CLICK: EventType
EVENT_TYPE_SHARE: EventType
EVENT_TYPE_COMMENT: EventType
PATTERN_UNSPECIFIED: Pattern
PATTERN_FAKE_FOLLOWERS: Pattern
PATTERN_FAKE_TRAFFIC: Pattern
PATTERN_FAKE_ENGAGEMENT: Pattern
PATTERN_LOCKSTEP_GROUP: Pattern
PATTERN_FORCED_SUBSCRIPTION: Pattern
PATTERN_COORDINATED_SHARING: Pattern
SEVERITY_UNSPECIFIED: Severity
SEVERITY_LOW: Severity
SEVERITY_MEDIUM: Severity
SEVERITY_HIGH: Severity
SEVERITY_CRITICAL: Severity
ACTION_UNSPECIFIED: Action
ACTION_WARN: Action
ACTION_LIMIT_FEATURES: Action
ACTION_SUSPEND_UPDATES: Action
ACTION_STOP_ADS: Action
ACTION_CLOSE_ACCOUNT: Action
ACTION_BLACKLIST: Action
ALERT_STATE_UNSPECIFIED: AlertState
ALERT_STATE_OPEN: AlertState
ALERT_STATE_CONFIRMED: AlertState
ALERT_STATE_DISMISSED: AlertState
VERDICT_UNSPECIFIED: Verdict
VERDICT_CONFIRMED_FRAUD: Verdict
VERDICT_FALSE_POSITIVE: Verdict
