"""Conversions between protobuf messages and the service's records, in one place."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from engagewatch.v1 import alert_service_pb2
from server.records import AlertRecord


def to_timestamp(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment.astimezone(UTC))
    return stamp


def from_timestamp(stamp: Timestamp) -> datetime:
    return stamp.ToDatetime(tzinfo=UTC)


def alert_message(record: AlertRecord) -> alert_service_pb2.Alert:
    evidence = [
        alert_service_pb2.EvidenceItem(kind=item["kind"], values=item["values"])
        for item in json.loads(record.evidence_json or "[]")
    ]
    return alert_service_pb2.Alert(
        alert_id=record.alert_id,
        sequence=record.sequence,
        account_id=record.account_id,
        member_ids=record.member_ids,
        target_ids=record.target_ids,
        detector=record.detector,
        pattern=record.pattern,
        metric=record.metric,
        severity=record.severity,
        score=record.score,
        window_start=to_timestamp(record.window_start),
        window_end=to_timestamp(record.window_end),
        observed=record.observed,
        expected=record.expected,
        evidence=evidence,
        explanation=record.explanation,
        recommended_action=record.recommended_action,
        state=record.state,
        created_at=to_timestamp(record.created_at),
        updated_at=to_timestamp(record.updated_at),
        member_count=record.member_count,
        target_count=record.target_count,
        verdict=record.verdict,
        review_note=record.review_note,
        reviewer=record.reviewer,
    )
