"""Array plumbing shared by the graph detectors: id encoding, time conversion, bounded id lists.

Graph detectors count in integer codes, never in Python objects, so a million events stay a
few numpy arrays; names come back only for the few groups worth reporting.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from detectors.findings import EventFrame

IntArray = npt.NDArray[np.int64]
StrArray = npt.NDArray[np.str_]

MAX_IDS = 200  # member_ids / target_ids on a finding are bounded samples, most important first
N_EXAMPLES = 3  # example edges quoted in evidence


def encode(ids: StrArray) -> tuple[StrArray, IntArray]:
    """Dense integer codes for string ids: (sorted unique names, code of each row)."""
    names, codes = np.unique(ids, return_inverse=True)
    return names, codes.astype(np.int64, copy=False)


def of_types(events: EventFrame, types: tuple[str, ...]) -> EventFrame:
    """The events whose type is one of `types` (kept in time order)."""
    if len(events) == 0:
        return events
    return events.where(np.isin(events.types, np.asarray(types)))


_METRIC_OF_TYPE = {
    "follow": "follows",
    "unfollow": "unfollows",
    "click": "clicks",
    "share": "shares",
    "comment": "comments",
}


def metric_of(types: tuple[str, ...]) -> str | None:
    """The series metric a finding over these event types concerns, if there is just one."""
    metrics = {_METRIC_OF_TYPE.get(t) for t in types}
    return metrics.pop() if len(metrics) == 1 else None


def utc(seconds: int | np.integer) -> datetime:
    """A Unix-seconds time as an aware UTC datetime."""
    return datetime.fromtimestamp(int(seconds), tz=UTC)


def iso(seconds: int | np.integer) -> str:
    return utc(seconds).strftime("%Y-%m-%dT%H:%M:%SZ")


def first_per_pair(
    left: IntArray, right: IntArray, times: IntArray
) -> tuple[IntArray, IntArray, IntArray]:
    """Each distinct (left, right) pair once, with its earliest time.

    A repeated follow or re-share would otherwise count one actor twice on one item.
    """
    if len(left) == 0:
        return left, right, times
    order = np.lexsort((times, right, left))
    lo, ro, to = left[order], right[order], times[order]
    first = np.ones(len(lo), dtype=bool)
    first[1:] = (lo[1:] != lo[:-1]) | (ro[1:] != ro[:-1])
    return lo[first], ro[first], to[first]


def bounded(names: StrArray, order: IntArray, limit: int = MAX_IDS) -> tuple[str, ...]:
    """The first `limit` names of `order` (codes already sorted by importance)."""
    return tuple(str(names[c]) for c in order[:limit])


def example_edges(
    actor_names: StrArray,
    target_names: StrArray,
    actors: IntArray,
    targets: IntArray,
    times: IntArray,
    n: int = N_EXAMPLES,
) -> dict[str, str]:
    """A few "actor -> target at time" lines, so a reviewer can look the events up."""
    out: dict[str, str] = {}
    for k in range(min(n, len(actors))):
        out[f"edge_{k + 1}"] = (
            f"{actor_names[actors[k]]} -> {target_names[targets[k]]} at {iso(times[k])}"
        )
    return out
