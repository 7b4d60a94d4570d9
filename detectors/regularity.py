"""Traffic too regular to be human.

Pattern sought: bots and scripted farms (fake_traffic on clicks and impressions,
fake_followers on follows, fake_engagement on shares and comments). People arrive at
random, which makes hourly counts at least as dispersed as Poisson, and they sleep, which
gives a daily cycle. A script emitting a fixed number per hour is under-dispersed (index
of dispersion well below 1) and one running at a constant rate flattens the account's
daily cycle. Both tests run over the judged buckets of every account at once.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy import stats

from detectors._baseline import BaselineConfig, panel_baseline
from detectors._common import (
    FloatArray,
    bucket_iso,
    fmt_count,
    fmt_hours,
    metric_finding,
    metric_label,
    normal_neglog10_sf,
    significance_score,
)
from detectors._partners import partner_evidence, partner_lift, partners_present
from detectors.cohort import panel_cohorts
from detectors.fdr import bh_adjusted, corrected
from detectors.findings import METRICS, Evidence, Finding, Panel

logger = logging.getLogger(__name__)

_LN10 = float(np.log(10.0))


@dataclass(frozen=True, slots=True)
class RegularityConfig:
    """Thresholds of the regularity detector."""

    metrics: tuple[str, ...] = METRICS
    min_hours: int = 24  # judged buckets needed to say anything about a day's rhythm
    min_rate: float = 3.0  # mean count per judged hour below which rhythm says nothing
    min_cycle: float = 0.2  # usual sd / mean of an hour's expectation: "has a daily cycle"
    dispersion_full: float = 0.2  # an index of dispersion this low counts fully
    cycle_full: float = 0.2  # keeping this little of the usual cycle counts fully
    burst_dispersion: float = 1.5  # above this x the usual dispersion, a flat cycle is a burst
    significance_half: float = 12.0  # -log10(p) that alone gives half the score
    min_score: float = 0.5
    fdr_alpha: float = 0.01  # Benjamini-Hochberg false discovery rate across accounts
    baseline: BaselineConfig = field(default_factory=BaselineConfig)


@dataclass(frozen=True, slots=True)
class _Rhythm:
    """Per account, the judged window's dispersion and daily-cycle statistics."""

    mean: FloatArray
    dispersion: FloatArray  # variance / mean of the hourly counts
    cycle_share: FloatArray  # how much of the usual daily cycle is left (1 = all of it)
    amplitude: FloatArray  # the usual cycle: sd / mean of the expected hourly counts
    usual_dispersion: FloatArray  # what the account's normal regime would give
    q_dispersion: FloatArray
    q_cycle: FloatArray
    expected_total: FloatArray


class RegularityDetector:
    """Hourly counts with far less randomness or daily rhythm than people produce."""

    name: ClassVar[str] = "regularity"

    def __init__(self, config: RegularityConfig | None = None) -> None:
        cfg = config or RegularityConfig()
        unknown = [m for m in cfg.metrics if m not in METRICS]
        if unknown:
            raise ValueError(f"unknown metrics {unknown}")
        if cfg.min_hours < 6:
            raise ValueError("min_hours must be at least 6")
        if not (0.0 < cfg.dispersion_full < 1.0 and 0.0 < cfg.cycle_full < 1.0):
            raise ValueError("dispersion_full and cycle_full must be in (0, 1)")
        if not 0.0 <= cfg.min_score <= 1.0:
            raise ValueError("min_score must be in [0, 1]")
        self.config = cfg

    def detect(self, panel: Panel) -> list[Finding]:
        cfg = self.config
        judged = panel.n_buckets - panel.judge_from
        if judged < cfg.min_hours or panel.n_accounts == 0:
            if judged < cfg.min_hours:
                logger.debug("regularity needs %d judged hours, got %d", cfg.min_hours, judged)
            return []
        candidates: list[tuple[float, Callable[[float, float], Finding]]] = []
        metrics = [m for m in cfg.metrics if m in panel.values]
        for metric in metrics:
            candidates.extend(self._detect_metric(panel, metric))
        # Benjamini-Hochberg across every account and metric of the run; two statistics
        # (dispersion, daily cycle) are tested per series.
        q = corrected(np.array([c[0] for c in candidates]), 2)
        fdr = bh_adjusted(q, panel.n_accounts * len(metrics))
        findings = [
            make(float(10.0**-qi), float(fi))
            for (_, make), qi, fi in zip(candidates, q, fdr, strict=True)
            if fi <= cfg.fdr_alpha
        ]
        findings.sort(key=lambda f: f.score, reverse=True)
        return findings

    def _detect_metric(
        self, panel: Panel, metric: str
    ) -> list[tuple[float, Callable[[float, float], Finding]]]:
        """Candidates: calibrated -log10 p and how to describe them once judged."""
        cfg = self.config
        full = panel.metric(metric)
        base = panel_baseline(panel, metric, cfg.baseline)
        mu = base.mu
        j = panel.judge_from
        rhythm = _rhythm(full[:, j:], mu[:, j:], base.dispersion)
        busy = rhythm.mean >= cfg.min_rate
        if not busy.any():
            return []
        # The platform must normally have a cycle too, or a flat account is just global.
        platform_cycle = float(np.median(rhythm.amplitude[busy]))
        cyclic = (rhythm.amplitude >= cfg.min_cycle) & (platform_cycle >= cfg.min_cycle)
        # A flat bot lowers the spread of hourly counts; a burst (a viral evening) that
        # bends the fit of the cycle raises it far above the usual regime's: not a bot.
        cyclic &= rhythm.dispersion <= cfg.burst_dispersion * rhythm.usual_dispersion

        disp_weight = np.clip((1.0 - rhythm.dispersion) / (1.0 - cfg.dispersion_full), 0.0, 1.0)
        cycle_weight = np.clip((1.0 - rhythm.cycle_share) / (1.0 - cfg.cycle_full), 0.0, 1.0)
        score_disp = significance_score(rhythm.q_dispersion, cfg.significance_half) * disp_weight
        score_cycle = significance_score(rhythm.q_cycle, cfg.significance_half) * cycle_weight
        score_cycle = np.where(cyclic, score_cycle, 0.0)
        score = np.where(busy, np.maximum(score_disp, score_cycle), 0.0)

        q = np.maximum(
            np.where(disp_weight > 0, rhythm.q_dispersion, 0.0),
            np.where(cyclic & (cycle_weight > 0), rhythm.q_cycle, 0.0),
        )
        out: list[tuple[float, Callable[[float, float], Finding]]] = []
        for i in np.flatnonzero(score >= cfg.min_score):
            onset = _regime_onset(full[i], mu[i], float(base.dispersion[i]), j, cfg)
            out.append(
                (
                    float(q[i]),
                    functools.partial(
                        self._describe,
                        panel,
                        metric,
                        int(i),
                        float(score[i]),
                        rhythm,
                        platform_cycle,
                        onset,
                    ),
                )
            )
        return out

    def _describe(
        self,
        panel: Panel,
        metric: str,
        i: int,
        score: float,
        rhythm: _Rhythm,
        platform_cycle: float,
        onset: int,
        p_value: float,
        fdr_q: float,
    ) -> Finding:
        j = panel.judge_from
        hours = panel.n_buckets - j
        x = panel.metric(metric)[i, j:]
        account = str(panel.account_ids[i])
        dispersion = float(rhythm.dispersion[i])
        share = float(rhythm.cycle_share[i])
        evidence = (
            Evidence(
                "dispersion",
                {
                    "index_of_dispersion": round(dispersion, 3),
                    "usual_dispersion": round(float(rhythm.usual_dispersion[i]), 3),
                    "mean_per_hour": round(float(rhythm.mean[i]), 2),
                    "min_per_hour": float(x.min()),
                    "max_per_hour": float(x.max()),
                    "neglog10_p": round(float(rhythm.q_dispersion[i]), 2),
                },
            ),
            Evidence(
                "daily_cycle",
                {
                    "cycle_share_left": round(share, 3),
                    "usual_amplitude": round(float(rhythm.amplitude[i]), 3),
                    "platform_amplitude": round(platform_cycle, 3),
                    "neglog10_p": round(float(rhythm.q_cycle[i]), 2),
                },
            ),
            Evidence(
                "observed_vs_expected",
                {
                    "observed": float(x.sum()),
                    "expected": round(float(rhythm.expected_total[i]), 2),
                    "hours": float(hours),
                    "regime_start": bucket_iso(panel.bucket_times, onset),
                },
            ),
            Evidence("partner_metrics", partner_evidence(_partner_lifts(panel, metric, i, j))),
            Evidence("peer_percentile", _dispersion_percentile(panel, metric, rhythm, i)),
            Evidence(
                "significance",
                {
                    "p_value": float(f"{p_value:.3g}"),
                    "fdr_q": float(f"{fdr_q:.3g}"),
                    "fdr_alpha": self.config.fdr_alpha,
                },
            ),
        )
        label = metric_label(metric)
        if rhythm.q_dispersion[i] >= rhythm.q_cycle[i]:
            explanation = (
                f"{label} of {account} stayed between {fmt_count(float(x.min()))} and "
                f"{fmt_count(float(x.max()))} every hour for {fmt_hours(hours)} "
                f"(variance {dispersion:.2f}x the mean, where people give at least 1x), "
                f"keeping {max(share, 0.0):.0%} of its usual daily cycle."
            )
        else:
            explanation = (
                f"{label} of {account} ran at a flat {fmt_count(float(rhythm.mean[i]))} per hour "
                f"for {fmt_hours(hours)}, keeping only {max(share, 0.0):.0%} of the daily cycle "
                f"it and the platform normally show."
            )
        return metric_finding(
            self.name,
            panel,
            account,
            metric,
            onset=onset,
            first=max(onset, j),
            last=panel.n_buckets - 1,
            score=score,
            observed=float(x.sum()),
            expected=float(rhythm.expected_total[i]),
            explanation=explanation,
            evidence=evidence,
        )


def _partner_lifts(panel: Panel, metric: str, i: int, j: int) -> dict[str, float]:
    """The judged window's count of each partner against its seasonal expectation."""
    out = {}
    for p in partners_present(panel, metric):
        mu = float(panel_baseline(panel, p).mu[i, j:].sum())
        seen = float(panel.metric(p)[i, j:].sum())
        out[p] = round(float(partner_lift(np.array([seen]), np.array([mu]))[0]), 3)
    return out


def _dispersion_percentile(
    panel: Panel, metric: str, rhythm: _Rhythm, i: int
) -> dict[str, float | str]:
    """Share of the account's size cohort whose hourly counts scatter more than its own."""
    cohorts = panel_cohorts(panel, metric)
    members = cohorts.members(i)
    busy = members[np.isfinite(rhythm.dispersion[members])]
    share = float(np.mean(rhythm.dispersion[busy] > rhythm.dispersion[i])) if busy.size else 0.0
    return {
        "percentile": round(100.0 * share, 2),
        "cohort": f"{metric} {cohorts.label(i)}",
        "cohort_accounts": float(len(members)),
    }


def _rhythm(x: FloatArray, mu: FloatArray, noise: FloatArray) -> _Rhythm:
    """Dispersion and daily-cycle statistics of every row of `x` against expectation `mu`.

    `noise` is each row's usual variance / mean of hourly counts around its expectation.
    """
    hours = x.shape[-1]
    mean = x.mean(axis=-1)
    safe_mean = np.maximum(mean, 1e-9)
    dispersion = x.var(axis=-1, ddof=1) / safe_mean
    # Under Poisson, (hours - 1) * dispersion is chi-square; small values are suspicious.
    q_disp = -stats.chi2.logcdf((hours - 1) * dispersion, hours - 1) / _LN10

    # Regress counts on the expected hourly shape: a slope near 0 means no daily cycle.
    exp_mean = mu.mean(axis=-1)
    ec = mu - exp_mean[..., None]
    xc = x - mean[..., None]
    sxx = np.maximum((ec * ec).sum(axis=-1), 1e-9)
    slope = (xc * ec).sum(axis=-1) / sxx
    resid = xc - slope[..., None] * ec
    se = np.sqrt((resid * resid).sum(axis=-1) / max(hours - 2, 1) / sxx)
    scale = exp_mean / safe_mean
    share = slope * scale
    share_se = np.maximum(se * scale, 1e-9)
    q_cycle = normal_neglog10_sf((1.0 - share) / share_se)
    amplitude = np.sqrt(sxx / hours) / np.maximum(exp_mean, 1e-9)
    # Noise plus the spread the usual daily cycle itself puts into hourly counts.
    usual_dispersion = noise + (sxx / hours) / np.maximum(exp_mean, 1e-9)
    return _Rhythm(
        mean=np.asarray(mean),
        dispersion=np.asarray(dispersion),
        cycle_share=np.asarray(share),
        amplitude=np.asarray(amplitude),
        usual_dispersion=np.asarray(usual_dispersion),
        q_dispersion=np.asarray(np.maximum(q_disp, 0.0)),
        q_cycle=np.asarray(q_cycle),
        expected_total=np.asarray(mu.sum(axis=-1)),
    )


def _regime_onset(
    x: FloatArray, mu: FloatArray, noise: float, judge_from: int, cfg: RegularityConfig
) -> int:
    """Start of the first day-long window of the unbroken regular run reaching the judged part.

    Judged on the raw series, so a later, overlapping run finds the same start.
    """
    width = cfg.min_hours
    windows = _rhythm(
        sliding_window_view(x, width), sliding_window_view(mu, width), np.array(noise)
    )
    regular = (windows.mean >= cfg.min_rate) & (
        (windows.dispersion <= 0.5) | (windows.cycle_share <= 0.5)
    )
    starts = np.arange(len(regular))
    hot = np.flatnonzero(regular & (starts > judge_from - width))
    if hot.size == 0:
        return judge_from
    s = int(hot[0])
    while s > 0 and regular[s - 1]:
        s -= 1
    return s
