"""The report's figures, drawn with matplotlib's object API and returned as embeddable PNG.

Two kinds: an account's series against what the detectors expected of it (the same seasonal
baseline they judge against, so the band is the one the alert broke out of), with its
partner metrics beneath; and a group's bipartite graph, drawn from the events that the
group's sampled members sent to its targets.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass, field
from datetime import UTC, datetime

import networkx as nx
import numpy as np
import numpy.typing as npt
from matplotlib.dates import DateFormatter, DayLocator
from matplotlib.figure import Figure  # the object API: no global pyplot state, no screen
from matplotlib.ticker import FuncFormatter, NullLocator

# The baseline module is private to detectors/; the report reuses it so that "expected"
# in a figure is the detectors' own expectation, not a second model that could disagree.
from detectors._baseline import SeasonalBaseline, fit_seasonal_baseline
from detectors._partners import PARTNERS
from detectors.findings import EventFrame, Panel
from engagewatch.v1 import alert_service_pb2, types_pb2

FloatArray = npt.NDArray[np.float64]

_CONTEXT_HOURS = 96  # history shown before the judged window: four days of normal
_MAX_MEMBERS = 40
_MAX_TARGETS = 20
_DPI = 96
# "1000" rather than log axes' default "10^3": as clear, and mathtext parsing of every tick
# label was a third of a figure's drawing time.
_PLAIN = FuncFormatter(lambda value, _: f"{value:g}")
_OBSERVED = "#c0392b"
_EXPECTED = "#2c3e50"
_PARTNER_COLORS = ("#2980b9", "#27ae60", "#8e44ad")
# The event type a group's edges are made of; lockstep groups may act in any way.
_GROUP_EVENT_TYPE = {
    types_pb2.PATTERN_COORDINATED_SHARING: "share",
    types_pb2.PATTERN_FORCED_SUBSCRIPTION: "follow",
}


def png_data_uri(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_DPI)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


@dataclass(slots=True)
class Expectations:
    """Seasonal baselines of a panel, fitted once per metric on first use."""

    panel: Panel
    _fits: dict[str, SeasonalBaseline] = field(default_factory=dict)

    def of(self, metric: str) -> SeasonalBaseline:
        fit = self._fits.get(metric)
        if fit is None:
            fit = fit_seasonal_baseline(
                self.panel.metric(metric), self.panel.bucket_times, self.panel.judge_from
            )
            self._fits[metric] = fit
        return fit


def _times(panel: Panel) -> list[datetime]:
    seconds = panel.bucket_times.astype("datetime64[s]").astype(np.int64)
    return [datetime.fromtimestamp(int(s), tz=UTC) for s in seconds]


def _rolling(x: FloatArray, width: int) -> FloatArray:
    """Trailing sums over `width` buckets (shorter at the start)."""
    cs = np.concatenate([[0.0], np.cumsum(x)])
    lo = np.maximum(np.arange(1, len(x) + 1) - width, 0)
    return np.asarray(cs[1:] - cs[lo], dtype=np.float64)


def series_figure(alert: alert_service_pb2.Alert, panel: Panel, fits: Expectations) -> str | None:
    """The alert's metric, observed against expected with a +-2 sd band, partners beneath.

    Returns None when the panel has no row for the alert's account.
    """
    rows = np.flatnonzero(panel.account_ids == alert.account_id)
    if not len(rows) or not alert.metric:
        return None
    row = int(rows[0])
    metric = types_pb2.Metric.Name(alert.metric).removeprefix("METRIC_").lower()
    base = fits.of(metric)
    times = _times(panel)
    start = alert.window_start.ToDatetime(tzinfo=UTC)
    end = alert.window_end.ToDatetime(tzinfo=UTC)
    # Four days of normal before the judged window, and never less than a day before the alert.
    first = max(0, min(panel.judge_from - _CONTEXT_HOURS, _index(times, start) - 24))
    shown = slice(first, panel.n_buckets)
    x = times[shown]
    observed = panel.metric(metric)[row, shown]
    mu = base.mu[row, shown]
    sd = np.sqrt(mu * base.dispersion[row] + (base.rel_sd[row] * mu) ** 2 + 1.0)

    # Fixed margins: constrained layout measures every tick label and doubles the draw time.
    fig = Figure(figsize=(6.8, 3.6))
    fig.subplots_adjust(left=0.085, right=0.985, top=0.92, bottom=0.075, hspace=0.07)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(2.4, 1.0))
    top.fill_between(x, np.maximum(mu - 2 * sd, 0), mu + 2 * sd, color=_EXPECTED, alpha=0.15, lw=0)
    top.plot(x, mu, color=_EXPECTED, lw=1.0, ls="--", label="expected (seasonal baseline, ±2 sd)")
    top.plot(x, observed, color=_OBSERVED, lw=1.2, label=f"observed {metric}")
    for axis in (top, bottom):
        axis.axvspan(start, end, color="#f39c12", alpha=0.28, lw=0)
        if 0 < panel.judge_from < panel.n_buckets:
            axis.axvline(times[panel.judge_from], color="#7f8c8d", lw=0.8, ls=":")
    ceiling = float((mu + 2 * sd).max())
    if float(observed.max()) > 8 * ceiling:
        # A spike hundreds of times the normal would flatten the band into the axis: keep
        # the band's range linear and compress above it.
        top.set_yscale("symlog", linthresh=max(ceiling, 1.0), linscale=1.5)
        top.set_ylabel(f"{metric} per hour (symlog)", fontsize=8)
        top.set_ylim(bottom=0)
        top.yaxis.set_minor_locator(NullLocator())
        top.yaxis.set_major_formatter(_PLAIN)
    else:
        top.set_ylabel(f"{metric} per hour", fontsize=8)
    top.set_title(
        f"{alert.account_id}: {metric}, alert window shaded, dotted line = start of judged window",
        fontsize=9,
        loc="left",
    )
    top.legend(fontsize=7, loc="upper left", frameon=False)

    # Partners as observed / expected over 6 hours, so metrics of any size share one axis
    # and "flat" reads as 1.
    bottom.axhline(1.0, color="#7f8c8d", lw=0.6)
    lines = ((metric, _OBSERVED), *zip(PARTNERS.get(metric, ()), _PARTNER_COLORS, strict=False))
    for name, color in lines:
        if name != metric and name not in panel.values:
            continue
        fit = base if name == metric else fits.of(name)
        got = _rolling(panel.metric(name)[row], 6)[shown]
        want = _rolling(fit.mu[row], 6)[shown]
        ratio = (got + 1.0) / (want + 1.0)
        width = 0.8 if name == metric else 1.2
        bottom.plot(x, ratio, color=color, lw=width, label=name)
    bottom.set_yscale("log")
    bottom.yaxis.set_minor_locator(NullLocator())  # minor ticks cost more than the lines
    bottom.yaxis.set_major_formatter(_PLAIN)
    bottom.set_ylabel("÷ expected (6 h)", fontsize=8)
    bottom.legend(fontsize=7, loc="upper left", frameon=False, ncols=4)
    for axis in (top, bottom):
        axis.tick_params(labelsize=7)
        axis.grid(alpha=0.25, lw=0.5)
    # matplotlib.dates ships without annotations.
    bottom.xaxis.set_major_locator(DayLocator())  # type: ignore[no-untyped-call]
    bottom.xaxis.set_major_formatter(DateFormatter("%a %d", tz=UTC))  # type: ignore[no-untyped-call]
    bottom.set_xlim(x[0], x[-1])
    return png_data_uri(fig)


def _index(times: list[datetime], moment: datetime) -> int:
    for i, t in enumerate(times):
        if t >= moment:
            return i
    return len(times)


def _member_of(ids: npt.NDArray[np.str_], wanted: set[str]) -> npt.NDArray[np.bool_]:
    # A set lookup per id: np.isin sorts string arrays, 100x slower at these sizes.
    return np.fromiter((i in wanted for i in ids.tolist()), dtype=bool, count=len(ids))


@dataclass(frozen=True, slots=True)
class GroupSample:
    """What a group figure drew, for its caption."""

    members_drawn: int
    targets_drawn: int
    edges_drawn: int
    events_drawn: int


def group_figure(
    alert: alert_service_pb2.Alert, events: EventFrame
) -> tuple[str, GroupSample] | None:
    """Bipartite graph of sampled members (left) and the targets they acted on (right).

    Edges are real: the events between them inside the alert's window, width by count. For
    coordinated sharing the right side is the shared posts, the unit the group moved on.
    Returns None when the events hold no edge of the group.
    """
    members = list(alert.member_ids[:_MAX_MEMBERS])
    targets = list(alert.target_ids)
    if not len(members) or not len(targets) or not len(events):
        return None
    start = int(alert.window_start.seconds)
    end = int(alert.window_end.seconds)
    keep = (events.times >= start) & (events.times <= end)
    keep &= _member_of(events.actor_ids, set(members)) & _member_of(
        events.account_ids, set(targets)
    )
    kind = _GROUP_EVENT_TYPE.get(alert.pattern)
    if kind is not None:
        keep &= events.types == kind
    by_post = alert.pattern == types_pb2.PATTERN_COORDINATED_SHARING
    right = events.content_ids[keep] if by_post else events.account_ids[keep]
    left = events.actor_ids[keep]
    if not len(left):
        return None
    pairs, counts = np.unique(
        np.stack([left.astype(str), right.astype(str)]), axis=1, return_counts=True
    )
    right_ids, right_counts = np.unique(pairs[1], return_counts=True)
    top_right = set(right_ids[np.argsort(-right_counts, kind="stable")[:_MAX_TARGETS]])
    graph = nx.Graph()
    left_nodes = [f"m:{m}" for m in dict.fromkeys(pairs[0])]
    right_nodes = sorted(f"t:{r}" for r in top_right)
    graph.add_nodes_from(left_nodes)
    graph.add_nodes_from(right_nodes)
    for (m, r), n in zip(pairs.T, counts, strict=True):
        if r in top_right:
            graph.add_edge(f"m:{m}", f"t:{r}", weight=int(n))
    left_nodes = [n for n in left_nodes if graph.degree(n)]
    graph.remove_nodes_from([n for n in list(graph) if not graph.degree(n)])
    layout = nx.bipartite_layout(graph, left_nodes, align="vertical", scale=1.0)

    fig = Figure(figsize=(4.8, 3.6))
    fig.subplots_adjust(left=0.01, right=0.99, top=0.9, bottom=0.01)
    axis = fig.subplots()
    weights = np.array([d["weight"] for _, _, d in graph.edges(data=True)], dtype=float)
    nx.draw_networkx_edges(
        graph,
        layout,
        ax=axis,
        width=0.3 + 0.7 * weights / weights.max(),
        alpha=0.35,
        edge_color="#7f8c8d",
    )
    nx.draw_networkx_nodes(
        graph, layout, nodelist=left_nodes, ax=axis, node_size=14, node_color=_OBSERVED
    )
    degree = np.array([graph.degree(n) for n in right_nodes], dtype=float)
    nx.draw_networkx_nodes(
        graph,
        layout,
        nodelist=right_nodes,
        ax=axis,
        node_color=_EXPECTED,
        node_size=20 + 80 * degree / max(float(degree.max()), 1.0),
    )
    if len(right_nodes) <= _MAX_TARGETS:
        labels = {n: n.removeprefix("t:") for n in right_nodes}
        for node, text in labels.items():
            x, y = layout[node]
            axis.text(x + 0.06, y, text, fontsize=6, va="center", ha="left")
    total_members = alert.member_count or len(alert.member_ids)
    total_targets = alert.target_count or len(alert.target_ids)
    side = "posts" if by_post else "accounts"
    axis.set_title(
        f"{len(left_nodes)} of {total_members} members (red) → {len(right_nodes)} {side} "
        f"of {total_targets} target accounts (blue)",
        fontsize=8,
        loc="left",
    )
    axis.set_xlim(-1.1, 1.75)  # room for the target labels on the right
    axis.axis("off")
    sample = GroupSample(
        members_drawn=len(left_nodes),
        targets_drawn=len(right_nodes),
        edges_drawn=graph.number_of_edges(),
        events_drawn=int(weights.sum()),
    )
    return png_data_uri(fig), sample
