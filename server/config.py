"""One typed settings object, built once in cli.py and passed down."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ExternalSource(BaseModel):
    """A platform's own ClickHouse table to read series from instead of streamed data.

    The table holds one row per account and time, with one column per metric (wide layout);
    rows are summed per hour at read time.
    """

    table: str  # "db.table" or "table"
    account_column: str
    time_column: str
    metric_columns: dict[str, str] = Field(default_factory=dict)  # metric name -> column


class DetectionSettings(BaseModel):
    """How the scheduled detection runs."""

    every_seconds: float = 0.0  # 0 disables the schedule
    window_hours: int = 24  # the window judged by each scheduled run
    history_hours: int = 14 * 24  # baseline read before the judged window
    # Hours outside the window that receive data late are judged when it arrives, this far back.
    late_lookback_hours: int = 7 * 24


class FeedbackSettings(BaseModel):
    """How review verdicts move each detector's operating point (lowest score that alerts)."""

    floor: float = 0.0  # the point never goes below this, nor below the detector's own min_score
    ceiling: float = 0.95  # nor above this: feedback can quiet a detector, never silence it
    step: float = 0.05  # one verdict moves the point at most this much


class AlertmanagerSettings(BaseModel):
    """Where and what to push to Alertmanager's v2 API; an empty url disables pushing."""

    url: str = ""  # e.g. http://alertmanager:9093
    min_severity: Literal["low", "medium", "high", "critical"] = "high"  # pushed at or above
    # str.format fields: account_id, alert_id, detector, pattern, window_start_ms, window_end_ms
    # (values URL-quoted); e.g. a Grafana drill-down "https://grafana/d/x?var-account={account_id}"
    drilldown_url_template: str = ""
    resend_seconds: float = 60.0  # Alertmanager expires an alert that is not re-sent
    expire_after_seconds: float = 3 * 24 * 3600.0  # resolved this long after its window ends
    timeout_seconds: float = 5.0  # per HTTP request
    alertname: str = "EngagementFraud"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ENGAGEWATCH_", env_nested_delimiter="__")

    store_url: str = "chdb:///var/lib/engagewatch/chdb"
    grpc_address: str = "[::]:50051"
    metrics_address: str = "0.0.0.0:9464"  # empty disables the /metrics endpoint
    detection: DetectionSettings = DetectionSettings()
    feedback: FeedbackSettings = FeedbackSettings()
    external_source: ExternalSource | None = None
    max_batch_rows: int = 100_000
    alertmanager: AlertmanagerSettings = AlertmanagerSettings()
