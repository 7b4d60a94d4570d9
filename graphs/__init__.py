"""Graph and time detectors over raw interaction events (EventFrame in, Findings out).

Pure: arrays in, findings out; no I/O. Counting and peeling run on numpy / scipy.sparse arrays,
networkx only on candidate groups.
"""

from __future__ import annotations

from typing import TypeAlias

from graphs.coordinated_sharing import CoordinatedSharingConfig, CoordinatedSharingDetector
from graphs.forced_subscription import ForcedSubscriptionConfig, ForcedSubscriptionDetector
from graphs.lockstep import LockstepConfig, LockstepDetector
from graphs.shared_client import SharedClientConfig, SharedClientDetector

GraphDetector: TypeAlias = (
    LockstepDetector
    | ForcedSubscriptionDetector
    | CoordinatedSharingDetector
    | SharedClientDetector
)

# name -> detector class; every class takes its Config (or None for defaults).
GRAPH_DETECTORS: dict[str, type[GraphDetector]] = {
    LockstepDetector.name: LockstepDetector,
    ForcedSubscriptionDetector.name: ForcedSubscriptionDetector,
    CoordinatedSharingDetector.name: CoordinatedSharingDetector,
    SharedClientDetector.name: SharedClientDetector,
}


def default_detectors() -> list[GraphDetector]:
    """One instance of every graph detector with its default configuration, registry order."""
    return [cls() for cls in GRAPH_DETECTORS.values()]


__all__ = [
    "GRAPH_DETECTORS",
    "CoordinatedSharingConfig",
    "CoordinatedSharingDetector",
    "ForcedSubscriptionConfig",
    "ForcedSubscriptionDetector",
    "GraphDetector",
    "LockstepConfig",
    "LockstepDetector",
    "SharedClientConfig",
    "SharedClientDetector",
    "default_detectors",
]
