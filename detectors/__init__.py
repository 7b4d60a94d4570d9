"""Statistical detectors: per-account panels in, findings out. Pure: no I/O.

`STATISTICAL_DETECTORS` is the registry the scheduler and RunDetection pick from by name.
`EVENT_DETECTORS` hold the statistical detectors that read the judged window's events (as the
graph detectors do) instead of the panel.
"""

from __future__ import annotations

from detectors.actor_mix import ActorMixConfig, ActorMixDetector
from detectors.follow_purge import FollowPurgeConfig, FollowPurgeDetector
from detectors.partner_coherence import PartnerCoherenceConfig, PartnerCoherenceDetector
from detectors.peer_outlier import PeerOutlierConfig, PeerOutlierDetector
from detectors.regularity import RegularityConfig, RegularityDetector
from detectors.seasonal_baseline import SeasonalBaselineConfig, SeasonalBaselineDetector
from detectors.streaming_detector import StreamingDetector, StreamingDetectorConfig

StatisticalDetector = (
    SeasonalBaselineDetector
    | FollowPurgeDetector
    | PartnerCoherenceDetector
    | RegularityDetector
    | PeerOutlierDetector
    | StreamingDetector
)

STATISTICAL_DETECTORS: dict[str, type[StatisticalDetector]] = {
    SeasonalBaselineDetector.name: SeasonalBaselineDetector,
    FollowPurgeDetector.name: FollowPurgeDetector,
    PartnerCoherenceDetector.name: PartnerCoherenceDetector,
    RegularityDetector.name: RegularityDetector,
    PeerOutlierDetector.name: PeerOutlierDetector,
    StreamingDetector.name: StreamingDetector,
}


EVENT_DETECTORS: dict[str, type[ActorMixDetector]] = {
    ActorMixDetector.name: ActorMixDetector,
}


def default_event_detectors() -> list[ActorMixDetector]:
    """Every registered event-reading statistical detector with its default config."""
    return [cls() for cls in EVENT_DETECTORS.values()]


def default_detectors() -> list[StatisticalDetector]:
    """Every registered detector with its default config."""
    return [cls() for cls in STATISTICAL_DETECTORS.values()]


__all__ = [
    "EVENT_DETECTORS",
    "STATISTICAL_DETECTORS",
    "ActorMixConfig",
    "ActorMixDetector",
    "FollowPurgeConfig",
    "FollowPurgeDetector",
    "PartnerCoherenceConfig",
    "PartnerCoherenceDetector",
    "PeerOutlierConfig",
    "PeerOutlierDetector",
    "RegularityConfig",
    "RegularityDetector",
    "SeasonalBaselineConfig",
    "SeasonalBaselineDetector",
    "StatisticalDetector",
    "StreamingDetector",
    "StreamingDetectorConfig",
    "default_detectors",
    "default_event_detectors",
]
