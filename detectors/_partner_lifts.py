"""How far the partners of a metric rose or fell in every judged window, for `seasonal_baseline`.

A spike is allowed the most generous upper bound of its partners' lift over three spans: the
window itself, and `context` hours ending with it or starting with it, because a short window
holds too few partner events (a viral hour brings 5 clicks, a viral evening 40). A drop is
allowed the lowest lower bound of its partners' lift in the window itself.

The screen asks for these bounds for every metric and window width, and most partners serve
several metrics (impressions for follows, clicks and comments), so `PartnerLifts` computes each
partner's bounds once per width, and the context spans once per partner for every width.
`partner_bounds` is the same computation for a few chosen windows (one finding's).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from detectors._common import FloatArray
from detectors._partners import partner_lift_bounds, partner_lift_upper

# Running sums (`prefix_sums`) of a partner's counts and of its baseline, from `lead`
# buckets before the judged window on.
PartnerSums = tuple[FloatArray, FloatArray]


class PartnerLifts:
    """Partner lift bounds of every judged window, each computed once and shared by metrics."""

    def __init__(self, sums: dict[str, PartnerSums], lead: int, context: int) -> None:
        self.sums = sums
        self._lead = lead
        self._context = context
        self._window: dict[tuple[str, int], tuple[FloatArray, FloatArray]] = {}
        self._spans: dict[str, tuple[FloatArray, FloatArray]] = {}
        self._lifts: dict[tuple[tuple[str, ...], int], tuple[FloatArray, FloatArray]] = {}

    def bounds(self, partners: tuple[str, ...], width: int) -> tuple[FloatArray, FloatArray]:
        """(upper, lower) lift allowed to every `width`-hour window start, per account.

        Upper is at least 1 and lower at most 1: a partner that did not move explains
        nothing. The arrays are shared between callers and must not be written to.
        """
        key = (partners, width)
        if key not in self._lifts:
            self._lifts[key] = self._bounds(partners, width)
        return self._lifts[key]

    def _bounds(self, partners: tuple[str, ...], width: int) -> tuple[FloatArray, FloatArray]:
        lead = self._lead
        upper: FloatArray | None = None
        lower: FloatArray | None = None
        for p in partners:
            up, down = self._window_bounds(p, width)
            starts = up.shape[1]
            upper = np.maximum(up, 1.0) if upper is None else np.maximum(upper, up, out=upper)
            lower = np.minimum(down, 1.0) if lower is None else np.minimum(lower, down, out=lower)
            if self._context > width:
                ending, starting = self._span_bounds(p)
                np.maximum(upper, ending[:, lead + width : lead + width + starts], out=upper)
                np.maximum(upper, starting[:, lead : lead + starts], out=upper)
        if upper is None or lower is None:
            raise ValueError("partner bounds need at least one partner")
        return upper, lower

    def _window_bounds(self, partner: str, width: int) -> tuple[FloatArray, FloatArray]:
        """Bounds of the partner's lift in each `width`-hour window itself."""
        key = (partner, width)
        if key not in self._window:
            cs, cm = self.sums[partner]
            lead = self._lead
            starts = cs.shape[1] - lead - width  # judged window starts
            lo, hi = slice(lead, lead + starts), slice(lead + width, lead + width + starts)
            self._window[key] = partner_lift_bounds(cs[:, hi] - cs[:, lo], cm[:, hi] - cm[:, lo])
        return self._window[key]

    def _span_bounds(self, partner: str) -> tuple[FloatArray, FloatArray]:
        """Upper bounds over `context` hours ending at, and starting at, every bucket edge."""
        if partner not in self._spans:
            cs, cm = self.sums[partner]
            end = cs.shape[1] - 1
            edge = np.arange(end + 1)
            before = np.maximum(edge - self._context, 0)
            after = np.minimum(edge + self._context, end)
            self._spans[partner] = (
                partner_lift_upper(cs[:, edge] - cs[:, before], cm[:, edge] - cm[:, before]),
                partner_lift_upper(cs[:, after] - cs[:, edge], cm[:, after] - cm[:, edge]),
            )
        return self._spans[partner]


def partner_bounds(
    sums: dict[str, PartnerSums],
    width: int,
    starts: npt.NDArray[np.int64],
    lead: int,
    context: int,
) -> tuple[FloatArray, FloatArray]:
    """(upper, lower) partner lift allowed to the windows at `starts` (judged coordinates).

    The same bounds as `PartnerLifts.bounds`, for a few windows: `sums` may hold a few
    accounts' rows only.
    """
    lo = starts + lead
    hi = lo + width
    end = next(iter(sums.values()))[0].shape[1] - 1
    spans = [(lo, hi)]
    if context > width:
        spans += [(np.maximum(hi - context, 0), hi), (lo, np.minimum(lo + context, end))]
    uppers: list[FloatArray] = []
    lowers: list[FloatArray] = []
    for cs, cm in sums.values():
        for k, (a, b) in enumerate(spans):
            upper, lower = partner_lift_bounds(cs[:, b] - cs[:, a], cm[:, b] - cm[:, a])
            uppers.append(upper)
            if k == 0:
                lowers.append(lower)
    return (
        np.asarray(np.maximum(np.max(uppers, axis=0), 1.0)),
        np.asarray(np.minimum(np.min(lowers, axis=0), 1.0)),
    )
