"""The store: the one place that holds SQL. One interface, two backends.

Backends: a ClickHouse server over the native protocol (clickhouse-driver) and chDB in-process.
CONTRACT (implemented by the backends below this interface):

- Series are hourly. Metric points are summed per (account, metric, hour). Events are counted
  per (account, metric of the event type, hour) at write time. `series()` returns, per bucket,
  max(summed points, event count), so a platform sending both is never double-counted.
- Idempotency: a batch_id written once is never counted again, even if the process died
  between writing the rows and recording the batch (rows carry their batch_id and reads
  collapse them per batch).
- Every value goes through driver parameters; identifiers are module constants or validated
  configuration, never request data.
- Driver errors become StoreUnavailable.
"""
