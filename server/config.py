"""One typed settings object, built once in cli.py and passed down."""

from __future__ import annotations

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


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ENGAGEWATCH_", env_nested_delimiter="__")

    store_url: str = "chdb:///var/lib/engagewatch/chdb"
    grpc_address: str = "[::]:50051"
    metrics_address: str = "0.0.0.0:9464"  # empty disables the /metrics endpoint
    detection: DetectionSettings = DetectionSettings()
    external_source: ExternalSource | None = None
    max_batch_rows: int = 100_000
