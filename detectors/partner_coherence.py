"""Metrics that move without their partners: clicks without impressions and the like.

Pattern sought: click farms (clicks far above what the impressions can yield), bought
followers (follows without the impressions that would bring them), bought shares and
comments (shares without comments or clicks, comments without impressions). The test is
the metric's share of metric + partners in a window against the account's own normal
ratio and its volume peers', a binomial tail widened by the account's own extra-binomial
scatter so that large accounts with naturally drifting rates do not flood. A viral burst
or a holiday lifts metric and partners together and leaves the ratio alone.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from scipy import special

from detectors._baseline import panel_baseline, with_history
from detectors._common import (
    FloatArray,
    anomalous_span,
    fmt_count,
    fmt_hours,
    lift_weight,
    metric_finding,
    metric_label,
    prefix_sums,
    robust_sd,
    significance_score,
    window_sums,
    window_widths,
)
from detectors._partners import partner_evidence, partner_lift
from detectors.fdr import bh_adjusted, corrected, searched_windows
from detectors.findings import METRICS, Evidence, Finding, Panel

logger = logging.getLogger(__name__)

_MIN_HISTORY = 24
_TINY = 1e-290
_LN10 = float(np.log(10.0))


@dataclass(frozen=True, slots=True)
class PartnerCoherenceConfig:
    """Pairs tested and thresholds. Each pair is (metric, partners summed as its base)."""

    pairs: tuple[tuple[str, tuple[str, ...]], ...] = (
        ("clicks", ("impressions",)),
        ("follows", ("impressions",)),
        ("shares", ("comments", "clicks")),
        ("comments", ("impressions",)),
    )
    window_hours: tuple[int, ...] = (1, 3, 6, 24)  # plus the whole judged span
    min_score: float = 0.42  # with fdr_alpha below; tuned on seeds 3, 7, 11 of bench.quality
    significance_half: float = 12.0  # -log10(p) that alone gives half the score
    full_lift: float = 3.0  # a ratio this many times the normal one counts fully
    min_excess: float = 10.0  # fewer extra events than this is never a finding
    prior_events: float = 10.0  # pseudo-events pulling a small account's ratio to its peers'
    min_band_size: int = 100  # accounts per volume band of peers
    max_bands: int = 5
    rel_sd_floor: float = 0.1  # organic day-to-day drift of a ratio is never assumed smaller
    edge_z: float = 3.0  # per-bucket excess marking the first and last anomalous bucket
    fdr_alpha: float = 0.01  # Benjamini-Hochberg false discovery rate across accounts and pairs


@dataclass(frozen=True, slots=True)
class _Reference:
    """What each account's ratio should be, and how much it drifts by itself."""

    ratio: FloatArray  # (n,) max(own, peer) expected metric per partner event
    own: FloatArray  # (n,)
    peer: FloatArray  # (n,) median ratio of the account's volume band
    band: np.ndarray  # (n,) band index
    rel_sd: FloatArray  # (n,)


class PartnerCoherenceDetector:
    """Metrics that rose far beyond what their partner metrics can explain."""

    name: ClassVar[str] = "partner_coherence"

    def __init__(self, config: PartnerCoherenceConfig | None = None) -> None:
        cfg = config or PartnerCoherenceConfig()
        for metric, partners in cfg.pairs:
            if metric not in METRICS or not partners or any(p not in METRICS for p in partners):
                raise ValueError(f"bad pair {metric!r} ~ {partners!r}")
            if metric in partners:
                raise ValueError(f"{metric!r} cannot be its own partner")
        if not 0.0 <= cfg.min_score <= 1.0:
            raise ValueError("min_score must be in [0, 1]")
        if not cfg.window_hours or min(cfg.window_hours) < 1:
            raise ValueError("window_hours must be positive")
        if cfg.full_lift <= 1.0 or cfg.prior_events <= 0.0 or cfg.min_band_size < 1:
            raise ValueError("full_lift must exceed 1, prior_events and min_band_size be positive")
        self.config = cfg

    def detect(self, panel: Panel) -> list[Finding]:
        if panel.n_buckets - panel.judge_from < 1 or panel.n_accounts == 0:
            return []
        cfg = self.config
        judged = panel.n_buckets - panel.judge_from
        candidates: list[_Candidate] = []
        pairs = 0
        for metric, partners in cfg.pairs:
            present = [p for p in partners if p in panel.values and np.any(panel.values[p])]
            if metric not in panel.values or not present:
                logger.debug("skipping %s: no data for it or its partners", metric)
                continue
            pairs += 1
            candidates.extend(self._detect_pair(panel, metric, tuple(present)))
        established = with_history(panel)
        candidates = [c for c in candidates if established[c.row]]
        # One Benjamini-Hochberg family per run: every account of every pair, each account's
        # best window corrected for the windows searched (rises only: one direction).
        tests = searched_windows(judged, window_widths(judged, cfg.window_hours), directions=1)
        q = corrected(np.array([c.neglog10_p for c in candidates]), tests)
        fdr = bh_adjusted(q, panel.n_accounts * pairs)
        findings = [
            self._describe(panel, c, float(10.0**-qi), float(fi))
            for c, qi, fi in zip(candidates, q, fdr, strict=True)
            if fi <= cfg.fdr_alpha
        ]
        findings.sort(key=lambda f: f.score, reverse=True)
        return findings

    def _detect_pair(
        self, panel: Panel, metric: str, partners: tuple[str, ...]
    ) -> list[_Candidate]:
        cfg = self.config
        x = panel.metric(metric)
        # Summed in order, as np.sum over a stacked copy would; one partner is used as is.
        y = functools.reduce(np.add, [panel.metric(p) for p in partners])
        ref = self._reference(x, y, panel.judge_from)
        judge_from = panel.judge_from
        # Windows lie in the judged buckets only, so running sums start there.
        cs_x, cs_y = prefix_sums(x[:, judge_from:]), prefix_sums(y[:, judge_from:])
        n = panel.n_accounts
        rows = np.arange(n)
        ratio, rel_sd = ref.ratio[:, None], ref.rel_sd[:, None]
        best_strength = np.zeros(n)
        best_score = np.zeros(n)
        best_width = np.zeros(n, dtype=np.int64)
        best_start = np.zeros(n, dtype=np.int64)
        best_q = np.zeros(n)
        for width in window_widths(panel.n_buckets - judge_from, cfg.window_hours):
            obs = window_sums(cs_x, width, 0)
            base = window_sums(cs_y, width, 0)
            expected = base * ratio
            # Rank windows by z|z| (how -log10 p grows); the exact tail only for the winner.
            # A window short of `min_excess` extra events has strength 0 whatever its z, so
            # z and the effect weight are computed for the windows that have it alone.
            hit_r, hit_c = np.nonzero(obs - expected >= cfg.min_excess)
            o, e = obs[hit_r, hit_c], expected[hit_r, hit_c]
            c = rel_sd[hit_r, 0]
            z = (o - e) / np.sqrt(e * (1.0 + c**2 * e) + 1.0)
            strength = np.zeros_like(obs)
            strength[hit_r, hit_c] = (
                z * np.abs(z) * lift_weight((o + 1.0) / (e + 1.0), cfg.full_lift)
            )
            idx = np.argmax(strength, axis=1)
            top = strength[rows, idx]
            # Best strengths start at 0: a better window had the excess, and top > 0.
            better = np.flatnonzero(top > best_strength)
            at = idx[better]
            o, b = obs[better, at], base[better, at]
            q, e = _tail(o, b, ref.ratio[better], ref.rel_sd[better])
            lw = lift_weight((o + 1.0) / (e + 1.0), cfg.full_lift)
            best_strength[better] = top[better]
            best_score[better] = significance_score(q, cfg.significance_half) * lw
            best_width[better] = width
            best_start[better] = judge_from + at
            best_q[better] = q

        return [
            _Candidate(
                metric,
                partners,
                int(i),
                int(best_start[i]),
                int(best_width[i]),
                float(best_score[i]),
                float(best_q[i]),
                x,
                y,
                ref,
            )
            for i in np.flatnonzero(best_score >= cfg.min_score)
        ]

    def _reference(self, x: FloatArray, y: FloatArray, judge_from: int) -> _Reference:
        """Each account's normal ratio from history, its peers', and its own drift."""
        cfg = self.config
        n, t = x.shape
        hist_end = judge_from if judge_from >= _MIN_HISTORY else t
        hist_x = x[:, :hist_end].sum(axis=1)
        hist_y = y[:, :hist_end].sum(axis=1)

        bands = int(np.clip(n // cfg.min_band_size, 1, cfg.max_bands))
        volume = np.log1p(hist_y)
        edges = np.quantile(volume, np.linspace(0.0, 1.0, bands + 1)[1:-1])
        band = np.searchsorted(edges, volume, side="right")
        active = hist_y > 0
        global_peer = _median_ratio(hist_x[active], hist_y[active])
        peer = np.full(n, global_peer)
        for b in range(bands):
            members = (band == b) & active
            if members.sum() >= 10:
                peer[band == b] = _median_ratio(hist_x[members], hist_y[members])
        peer = np.maximum(peer, 1e-6)
        own = (hist_x + cfg.prior_events) / (hist_y + cfg.prior_events / peer)
        ratio = np.maximum(own, peer)

        days = hist_end // 24
        if days >= 3:
            span = days * 24
            dx = x[:, hist_end - span : hist_end].reshape(n, days, 24).sum(axis=2)
            dy = y[:, hist_end - span : hist_end].reshape(n, days, 24).sum(axis=2)
            exp = dy * own[:, None]
            mean_exp = np.maximum(exp.mean(axis=1), 1e-9)
            excess_var = robust_sd(dx - exp) ** 2 - mean_exp
            rel_sd = np.sqrt(np.maximum(excess_var, 0.0)) / mean_exp
        else:
            rel_sd = np.zeros(n)
        rel_sd = np.clip(rel_sd, cfg.rel_sd_floor, 1.0)
        return _Reference(ratio=ratio, own=own, peer=peer, band=band, rel_sd=rel_sd)

    def _describe(self, panel: Panel, c: _Candidate, p_value: float, fdr_q: float) -> Finding:
        metric, partners, i, start, width = c.metric, c.partners, c.row, c.start, c.width
        score, x, y, ref = c.score, c.x, c.y, c.ref
        stop = start + width
        observed = float(x[i, start:stop].sum())
        base = float(y[i, start:stop].sum())
        expected = base * float(ref.ratio[i])
        q, _ = _tail(
            np.array([observed]), np.array([base]), ref.ratio[i : i + 1], ref.rel_sd[i : i + 1]
        )
        inflation = 1.0 + ref.rel_sd[i] ** 2 * y[i] * ref.ratio[i]
        z_row = (x[i] - y[i] * ref.ratio[i]) / np.sqrt(y[i] * ref.ratio[i] * inflation + 1.0)
        first, last, onset = anomalous_span(z_row, start, stop, self.config.edge_z)

        # Peers: the same window's ratio of every account in the same volume band.
        peers = ref.band == ref.band[i]
        peer_obs = x[peers, start:stop].sum(axis=1)
        peer_base = y[peers, start:stop].sum(axis=1)
        peer_ratio = (peer_obs + 1.0) / (peer_base + 1.0)
        own_ratio = (observed + 1.0) / (base + 1.0)
        percentile = 100.0 * float(np.mean(peer_ratio < own_ratio))
        bands = int(ref.band.max()) + 1

        account = str(panel.account_ids[i])
        partner_text = " and ".join(partners)
        per100 = 100.0 * observed / base if base > 0 else float("inf")
        evidence = (
            Evidence(
                "observed_vs_expected",
                {
                    "observed": observed,
                    "expected": round(expected, 2),
                    "ratio": round((observed + 1.0) / (expected + 1.0), 3),
                    "neglog10_p": round(float(q[0]), 2),
                    "hours": float(width),
                },
            ),
            Evidence(
                "partner_ratio",
                {
                    "partners": partner_text,
                    "partner_count": base,
                    "observed_per_100": round(per100, 3),
                    "own_per_100": round(100.0 * float(ref.own[i]), 3),
                    "peer_per_100": round(100.0 * float(ref.peer[i]), 3),
                },
            ),
            Evidence(
                "partner_metrics", partner_evidence(_partner_lifts(panel, partners, i, start, stop))
            ),
            Evidence(
                "peer_percentile",
                {
                    "percentile": round(percentile, 2),
                    "peers": float(peers.sum()),
                    "cohort": f"partner volume band {int(ref.band[i]) + 1}/{bands}",
                },
            ),
            Evidence(
                "significance",
                {
                    "p_value": float(f"{p_value:.3g}"),
                    "fdr_q": float(f"{fdr_q:.3g}"),
                    "fdr_alpha": self.config.fdr_alpha,
                },
            ),
        )
        explanation = (
            f"{metric_label(metric)} of {account} reached {fmt_count(observed)} in "
            f"{fmt_hours(width)}, {per100:.1f} per 100 {partner_text} against about "
            f"{100.0 * ref.own[i]:.1f} normally for this account and "
            f"{100.0 * ref.peer[i]:.1f} for its peers, with only {fmt_count(base)} "
            f"{partner_text} to bring them."
        )
        return metric_finding(
            self.name,
            panel,
            account,
            metric,
            onset=onset,
            first=first,
            last=last,
            score=score,
            observed=observed,
            expected=expected,
            explanation=explanation,
            evidence=evidence,
        )


@dataclass(frozen=True, slots=True)
class _Candidate:
    """An account's best window on one pair, before false discovery control."""

    metric: str
    partners: tuple[str, ...]
    row: int
    start: int
    width: int
    score: float
    neglog10_p: float
    x: FloatArray
    y: FloatArray
    ref: _Reference


def _partner_lifts(
    panel: Panel, partners: tuple[str, ...], i: int, start: int, stop: int
) -> dict[str, float]:
    """Each partner's window count against its own seasonal expectation (shared fit)."""
    out = {}
    for p in partners:
        mu = float(panel_baseline(panel, p).mu[i, start:stop].sum())
        seen = float(panel.metric(p)[i, start:stop].sum())
        out[p] = round(float(partner_lift(np.array([seen]), np.array([mu]))[0]), 3)
    return out


def _median_ratio(num: FloatArray, den: FloatArray) -> float:
    if num.size == 0:
        return 1e-6
    return float(np.median(num / den))


def _tail(
    obs: FloatArray, base: FloatArray, ratio: FloatArray, rel_sd: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """-log10 P(metric >= obs | metric + partners), quasi-binomial; and the expected count.

    Given the total, the metric's count is binomial with p = r / (1 + r). Extra-binomial
    drift (variance e * (1 + c^2 e)) is absorbed the quasi-likelihood way, by shrinking
    both counts by the inflation factor; betainc takes the non-integer counts this gives.
    """
    r = ratio[:, None] if obs.ndim == 2 else ratio
    c = rel_sd[:, None] if obs.ndim == 2 else rel_sd
    expected = base * r
    inflation = 1.0 + c * c * expected
    k = obs / inflation
    total = (obs + base) / inflation
    p_success = r / (1.0 + r)
    with np.errstate(divide="ignore", invalid="ignore"):
        tail = special.betainc(np.maximum(k, 1e-9), np.maximum(total - k + 1.0, 1e-9), p_success)
        q = -np.log10(tail)
        # Deep in the tail betainc underflows; the large-deviation rate N * KL(k/N || p)
        # keeps ranking the extreme windows there instead of tying them.
        share = np.clip(k / np.maximum(total, 1e-9), 1e-12, 1.0 - 1e-12)
        kl = special.xlogy(share, share / p_success) + special.xlogy(
            1.0 - share, (1.0 - share) / (1.0 - p_success)
        )
        deep = total * kl / _LN10
    q = np.where(tail > _TINY, q, deep)
    q = np.where(obs > expected, np.maximum(q, 0.0), 0.0)
    return np.asarray(q, dtype=np.float64), np.asarray(expected, dtype=np.float64)
