"""Config checks shared by the graph detectors' `__init__`s (ValueError names the field)."""

from __future__ import annotations


def require_positive(config: object, *fields: str) -> None:
    for field in fields:
        if getattr(config, field) <= 0:
            raise ValueError(f"{type(config).__name__}.{field} must be positive")


def require_share(config: object, *fields: str, allow_zero: bool = False) -> None:
    """Fields that are shares or probabilities: in (0, 1], or [0, 1] with allow_zero."""
    for field in fields:
        value = getattr(config, field)
        low_ok = value >= 0.0 if allow_zero else value > 0.0
        if not (low_ok and value <= 1.0):
            raise ValueError(f"{type(config).__name__}.{field} must be in the unit interval")


def require_at_least(config: object, field: str, minimum: float) -> None:
    if getattr(config, field) < minimum:
        raise ValueError(f"{type(config).__name__}.{field} must be at least {minimum}")


def require_types(config: object, field: str = "event_types") -> None:
    if not getattr(config, field):
        raise ValueError(f"{type(config).__name__}.{field} must not be empty")
