"""The NAB-scored streaming scorer as a service detector: bought followers, click farms, bought
engagement, alerted by the same model `engagewatch score-csv` is benchmarked with.

Pattern sought: a metric of one account that the causal streaming scorer
(`detectors.streaming.causal_parts`, default `StreamingConfig`, the config NAB is scored with)
alerts on in the judged window, by a spike beyond anything seen, a slow departure from the
daily shape, a sustained rise (CUSUM) or an unusual run of surprise (likelihood), and that
neither the platform's mood nor partner metrics explain, at a false discovery rate controlled
across every account and metric of the run.

The scorer judges a series by its own history alone, which is what NAB asks of it and not
enough at scale: among 100k accounts some series always set a new extreme, a holiday lifts
every series at once, and a viral post lifts a series with its partners. So an alert row of
the scorer becomes a finding only if the count of a judged window around it is significant
against the seasonal baseline the other metric detectors share (`_baseline.panel_baseline`:
hour of day, weekday, platform-wide factor per bucket), after the partners' lift is allowed
for (`_partner_lifts`, `_partners`), with Benjamini-Hochberg across accounts (`fdr`).

The scorer costs about 1.6 ms per hourly series of two weeks (pandas rolling quantiles): some
14 minutes of CPU for 100k accounts x 5 metrics, where every other detector together takes
under a minute, and alone it alerts on about 17% of clean series in a judged day.
So it runs only where a finding is possible: a screen over every series keeps those
whose best judged window could clear the same gates (Benjamini-Hochberg and the score) against
the seasonal expectation alone; the partners' allowance and the windows the gates test can
only make the p-value larger. The screen is a normal tail on every series (lighter than the
count tail, given `screen_slack` besides), then the count tail itself on the few that pass.
On the scored series, the scores are exactly `causal_scores` of each series (`panel_scores`).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from detectors._baseline import BaselineConfig, SeasonalBaseline, panel_baseline, with_history
from detectors._common import (
    FloatArray,
    anomalous_span,
    bucket_iso,
    fmt_count,
    fmt_hours,
    lift_weight,
    metric_finding,
    metric_label,
    normal_neglog10_sf,
    prefix_sums,
    significance_score,
    window_sums,
)
from detectors._partner_lifts import partner_bounds
from detectors._partners import (
    describe_partners,
    explained_expectation,
    partner_evidence,
    partner_lift,
    partners_present,
    proportional_lift,
)
from detectors.cohort import window_percentile
from detectors.fdr import bh_adjusted, corrected, count_neglog10_p, searched_windows
from detectors.findings import BUCKET_SECONDS, METRICS, Evidence, Finding, Panel
from detectors.streaming import StreamingConfig, StreamingParts, causal_parts

logger = logging.getLogger(__name__)

# Series scored at a time: the scorer's pandas temporaries stay small.
_SCORE_ROWS = 2048
# Window arrays of the screen at a time (about 1 MB each), as in seasonal_baseline.
_BLOCK_CELLS = 1 << 17
_MIN_BLOCK_ROWS = 256

PART_NAMES = ("likelihood", "new extreme", "slow seasonal extreme", "CUSUM")
# How an explanation names each part.
PART_WORDS = {
    "likelihood": "an unlikely run of surprise",
    "new extreme": "a new extreme",
    "slow seasonal extreme": "a sustained departure from the daily shape",
    "CUSUM": "a sustained rise (CUSUM)",
}


@dataclass(frozen=True, slots=True)
class StreamingDetectorConfig:
    """Gates around the streaming scorer; `streaming` is the scorer's own config (NAB's)."""

    metrics: tuple[str, ...] = ("follows", "clicks", "impressions", "shares", "comments")
    streaming: StreamingConfig = field(default_factory=StreamingConfig)
    window_hours: tuple[int, ...] = (1, 3, 6, 12, 24)  # count windows holding the alert row
    # False discovery rate across every account and metric of a run, on calibrated count
    # p-values (the best window of a series corrected for the windows searched).
    fdr_alpha: float = 0.01
    screen_slack: float = 10.0  # the screen lets through p-values this many times too large
    min_score: float = 0.3  # significance x effect size, as in seasonal_baseline
    significance_half: float = 12.0  # -log10(p) that alone gives half the score
    full_lift: float = 3.0  # a change of this many times counts fully
    min_excess: float = 10.0  # fewer extra events than this is never a finding
    partner_slack: float = 1.25  # a metric may outgrow its partners' lift by this much
    partner_context_hours: int = 6  # partners may also show their lift over this many hours
    edge_z: float = 3.0  # per-bucket excess that marks the first and last anomalous bucket
    baseline: BaselineConfig = field(default_factory=BaselineConfig)


@dataclass(frozen=True, slots=True)
class _Candidate:
    """The best alert row of one series: its window and what it is tested on."""

    row: int  # account index
    alert: int  # bucket the scorer alerted at
    start: int  # window [start, stop), holding the alert
    stop: int
    observed: float
    seasonal: float  # seasonal expectation (platform factor included)
    expected: float  # and what partners explain on top
    neglog10_p: float  # uncorrected count tail
    lifts: dict[str, float]  # each partner's lift over the window
    parts: tuple[str, ...]  # which parts of the scorer fired at the alert row
    stream_score: float
    likelihood: float
    cusum: float


class StreamingDetector:
    """Alerts of the NAB-scored streaming model that season, platform and partners do not
    explain, at a controlled false discovery rate."""

    name: ClassVar[str] = "streaming"

    def __init__(self, config: StreamingDetectorConfig | None = None) -> None:
        cfg = config or StreamingDetectorConfig()
        unknown = [m for m in cfg.metrics if m not in METRICS]
        if unknown:
            raise ValueError(f"unknown metrics {unknown}")
        if not 0.0 <= cfg.min_score < 1.0:
            raise ValueError("min_score must be in [0, 1)")
        if not cfg.window_hours or min(cfg.window_hours) < 1:
            raise ValueError("window_hours must be positive")
        if not 0.0 < cfg.fdr_alpha <= 1.0 or cfg.screen_slack < 1.0:
            raise ValueError("fdr_alpha must be in (0, 1] and screen_slack >= 1")
        if cfg.full_lift <= 1.0 or cfg.significance_half <= 0.0:
            raise ValueError("full_lift must exceed 1 and significance_half be positive")
        if cfg.partner_slack < 1.0 or cfg.partner_context_hours < 0:
            raise ValueError("partner_slack must be >= 1 and partner_context_hours >= 0")
        self.config = cfg

    def detect(self, panel: Panel) -> list[Finding]:
        judged = panel.n_buckets - panel.judge_from
        if judged < 1 or panel.n_accounts == 0:
            return []
        cfg = self.config
        metrics = [m for m in cfg.metrics if m in panel.values]
        widths = self._widths(judged)
        tests = searched_windows(judged, widths, directions=1)
        family = panel.n_accounts * len(metrics)
        baselines = {m: panel_baseline(panel, m, cfg.baseline) for m in metrics}
        screened = self.screen(panel)
        candidates: dict[str, list[_Candidate]] = {}
        for metric in metrics:
            rows = screened[metric]
            parts = panel_scores(panel, metric, cfg.streaming, rows) if rows.size else None
            found = [] if parts is None else self._candidates(panel, metric, rows, parts, widths)
            candidates[metric] = [
                c for c in found if self._score(c, tests) >= cfg.min_score and c.neglog10_p > 0
            ]
        pvals = np.array(
            [corrected(np.array([c.neglog10_p]), tests)[0] for m in metrics for c in candidates[m]]
        )
        adjusted = bh_adjusted(pvals, family)
        findings: list[Finding] = []
        at = 0
        for metric in metrics:
            for cand in candidates[metric]:
                q_value = float(adjusted[at])
                p_value = 10.0 ** -float(pvals[at])
                at += 1
                if q_value <= cfg.fdr_alpha:
                    findings.append(
                        self._describe(
                            panel, metric, cand, baselines[metric], p_value, q_value, tests
                        )
                    )
        logger.debug(
            "streaming: %d series screened in, %d candidates, %d findings",
            sum(len(r) for r in screened.values()),
            len(pvals),
            len(findings),
        )
        findings.sort(key=lambda f: f.score, reverse=True)
        return findings

    def _widths(self, judged: int) -> list[int]:
        return sorted({min(w, judged) for w in self.config.window_hours})

    def _score(self, cand: _Candidate, tests: int) -> float:
        """Significance (corrected for the windows searched) times effect size."""
        q = corrected(np.array([cand.neglog10_p]), tests)
        ratio = (cand.observed + 1.0) / (cand.expected + 1.0)
        significance = significance_score(q, self.config.significance_half)
        return float(significance[0] * lift_weight(ratio, self.config.full_lift))

    def screen(self, panel: Panel) -> dict[str, npt.NDArray[np.intp]]:
        """Per metric, the accounts whose best judged window could clear both gates: the
        series the scorer then runs on.

        Two steps, both on every judged window against the seasonal expectation alone (the
        partners' allowance only raises it, and the gates test a subset of these windows):
        first the normal tail of the excess on the count variance, no heavier than the count
        tail and cheap on every series, with `screen_slack` for where the normal
        approximation is off; then, on the series that pass, the count tail the gates use.
        """
        cfg = self.config
        j = panel.judge_from
        judged = panel.n_buckets - j
        metrics = [m for m in cfg.metrics if m in panel.values]
        if judged < 1 or not metrics:
            return {m: np.zeros(0, dtype=np.intp) for m in metrics}
        tests = searched_windows(judged, self._widths(judged), directions=1)
        family = panel.n_accounts * len(metrics)
        established = with_history(panel)
        slack = math.log10(cfg.screen_slack)
        # significance_score(q) >= min_score  <=>  q >= half * sqrt(s / (1 - s)).
        min_q = cfg.significance_half * math.sqrt(cfg.min_score / (1.0 - cfg.min_score))
        best: dict[str, FloatArray] = {}
        step = max(_MIN_BLOCK_ROWS, _BLOCK_CELLS // (judged + 1))
        for metric in metrics:
            base = panel_baseline(panel, metric, cfg.baseline)
            x = panel.metric(metric)
            top = np.full(panel.n_accounts, -np.inf)
            for a in range(0, panel.n_accounts, step):
                b = min(a + step, panel.n_accounts)
                cs_x = prefix_sums(x[a:b, j:])
                cs_mu = prefix_sums(base.mu[a:b, j:])
                for width in self._widths(judged):
                    obs = window_sums(cs_x, width, 0)
                    mu = window_sums(cs_mu, width, 0)
                    var = np.maximum(base.count_variance(mu, slice(a, b)), 1e-9)
                    z = (obs - mu) / np.sqrt(var)
                    z[obs - mu < cfg.min_excess] = -np.inf
                    np.maximum(top[a:b], z.max(axis=1), out=top[a:b])
            finite = np.isfinite(top)
            q = corrected(
                np.where(finite, normal_neglog10_sf(np.where(finite, top, 0.0)), 0.0), tests
            )
            q[~established] = 0.0
            best[metric] = q
        everything = np.concatenate([best[m] for m in metrics])
        hopeful = np.flatnonzero(everything + slack >= min_q)
        if hopeful.size:
            adjusted = bh_adjusted(everything[hopeful] + slack, family)
            hopeful = hopeful[adjusted <= cfg.fdr_alpha]
        # The few series left get the count tail itself, on every judged window: a lower
        # bound of the p-value the gates see, so the same gates decide who goes on.
        exact = np.zeros(hopeful.size)
        for k, metric in enumerate(metrics):
            mine = (hopeful >= k * panel.n_accounts) & (hopeful < (k + 1) * panel.n_accounts)
            if mine.any():
                rows = hopeful[mine] - k * panel.n_accounts
                exact[mine] = corrected(self._best_count_tail(panel, metric, rows), tests)
        keep = np.zeros(everything.size, dtype=bool)
        sure = exact >= min_q
        if sure.any():
            keep[hopeful[sure]] = bh_adjusted(exact[sure], family) <= cfg.fdr_alpha
        out: dict[str, npt.NDArray[np.intp]] = {}
        for k, metric in enumerate(metrics):
            chunk = keep[k * panel.n_accounts : (k + 1) * panel.n_accounts]
            out[metric] = np.flatnonzero(chunk)
        return out

    def _best_count_tail(self, panel: Panel, metric: str, rows: npt.NDArray[np.intp]) -> FloatArray:
        """Per account of `rows`, -log10 of the smallest count p-value of any judged window
        with `min_excess` events over the seasonal expectation."""
        cfg = self.config
        j = panel.judge_from
        base = panel_baseline(panel, metric, cfg.baseline)
        cs_x = prefix_sums(panel.metric(metric)[rows, j:])
        cs_mu = prefix_sums(base.mu[rows, j:])
        best = np.zeros(len(rows))
        for width in self._widths(panel.n_buckets - j):
            obs = window_sums(cs_x, width, 0)
            mu = window_sums(cs_mu, width, 0)
            hit_rows, hit_cols = np.nonzero(obs - mu >= cfg.min_excess)
            if hit_rows.size == 0:
                continue
            expected = mu[hit_rows, hit_cols]
            q = count_neglog10_p(
                obs[hit_rows, hit_cols], expected, base.count_variance(expected, rows[hit_rows])
            )
            np.maximum.at(best, hit_rows, q)
        return best

    def _candidates(
        self,
        panel: Panel,
        metric: str,
        rows: npt.NDArray[np.intp],
        parts: StreamingParts,
        widths: list[int],
    ) -> list[_Candidate]:
        """Per series, the alert row with the most significant judged window around it."""
        cfg = self.config
        j = panel.judge_from
        level = cfg.streaming.alert_level
        base = panel_baseline(panel, metric, cfg.baseline)
        partners = partners_present(panel, metric)
        partner_bases = {p: panel_baseline(panel, p, cfg.baseline) for p in partners}
        lead = min(cfg.partner_context_hours, j)
        # An alert shortly before the judged window opened an incident the scorer then keeps
        # quiet about (its quiet period): its judged part is judged here.
        quiet = max(
            round(cfg.streaming.quiet_seconds / BUCKET_SECONDS), cfg.streaming.quiet_min_rows
        )
        first = max(j - quiet, 0)
        out: list[_Candidate] = []
        for k, i in enumerate(rows.tolist()):
            alerts = first + np.flatnonzero(parts.score[k, first:] >= level)
            best: _Candidate | None = None
            for t in alerts.tolist():
                cand = self._test(
                    panel, metric, i, t, widths, base, partners, partner_bases, lead, parts, k
                )
                if cand is not None and (best is None or cand.neglog10_p > best.neglog10_p):
                    best = cand
            if best is not None:
                out.append(best)
        return out

    def _test(
        self,
        panel: Panel,
        metric: str,
        i: int,
        t: int,
        widths: list[int],
        base: SeasonalBaseline,
        partners: tuple[str, ...],
        partner_bases: dict[str, SeasonalBaseline],
        lead: int,
        parts: StreamingParts,
        k: int,
    ) -> _Candidate | None:
        """The most significant judged window holding alert row `t` of account `i` (for an
        alert before the judged window: starting with it), if any has `min_excess` events
        beyond what season, platform and partners explain.

        Windows around the alert, not only up to it: after its first alert the scorer stays
        quiet for the rest of the incident (its quiet period), and a burst of several hours
        is judged on all of them.
        """
        cfg = self.config
        j = panel.judge_from
        cs_x = prefix_sums(panel.metric(metric)[i : i + 1])[0]
        cs_mu = prefix_sums(base.mu[i : i + 1])[0]
        sums = {
            p: (
                prefix_sums(panel.metric(p)[i : i + 1, j - lead :]),
                prefix_sums(partner_bases[p].mu[i : i + 1, j - lead :]),
            )
            for p in partners
        }
        hist = slice(base.history_start, base.history_end)
        own = cs_x[hist.stop] - cs_x[hist.start]
        cs_pooled = prefix_sums(
            sum((panel.metric(p)[i : i + 1] for p in partners), np.zeros((1, panel.n_buckets)))
        )[0]
        pooled_hist = cs_pooled[hist.stop] - cs_pooled[hist.start]
        rate = float(pooled_hist / own) if own > 0 and partners else 0.0
        best: tuple[float, int, int, float, float, float] | None = None
        for width in widths:
            # Judged buckets only: an alert before the window is judged from its first bucket.
            starts = np.arange(max(j, t - width + 1), min(max(t, j), panel.n_buckets - width) + 1)
            if starts.size == 0:
                continue
            observed = cs_x[starts + width] - cs_x[starts]
            seasonal = cs_mu[starts + width] - cs_mu[starts]
            expected = seasonal
            if partners:
                up, _ = partner_bounds(sums, width, starts - j, lead, cfg.partner_context_hours)
                expected = explained_expectation(seasonal, up[0], cfg.partner_slack)
                if rate > 0:
                    pooled = cs_pooled[starts + width] - cs_pooled[starts]
                    prop = proportional_lift(pooled, seasonal * rate)
                    explained = explained_expectation(seasonal, prop, cfg.partner_slack)
                    expected = np.maximum(expected, explained)
            hits = np.flatnonzero(observed - expected >= cfg.min_excess)
            if hits.size == 0:
                continue
            var = base.count_variance(expected[hits], np.full(hits.size, i))
            q = count_neglog10_p(observed[hits], expected[hits], var)
            at = int(np.argmax(q))
            if best is None or q[at] > best[0]:
                h = hits[at]
                start = int(starts[h])
                best = (
                    float(q[at]),
                    start,
                    start + width,
                    float(observed[h]),
                    float(seasonal[h]),
                    float(expected[h]),
                )
        if best is None:
            return None
        q_best, start, stop, observed_sum, seasonal_sum, expected_sum = best
        lifts = {
            p: round(
                float(
                    partner_lift(
                        np.array([panel.metric(p)[i, start:stop].sum()]),
                        np.array([partner_bases[p].mu[i, start:stop].sum()]),
                    )[0]
                ),
                3,
            )
            for p in partners
        }
        return _Candidate(
            row=i,
            alert=t,
            start=start,
            stop=stop,
            observed=observed_sum,
            seasonal=seasonal_sum,
            expected=expected_sum,
            neglog10_p=q_best,
            lifts=lifts,
            parts=fired_parts(parts, k, t, cfg.streaming.alert_level),
            stream_score=float(parts.score[k, t]),
            likelihood=float(parts.likelihood[k, t]),
            cusum=float(parts.upper_cusum[k, t]),
        )

    def _describe(
        self,
        panel: Panel,
        metric: str,
        cand: _Candidate,
        base: SeasonalBaseline,
        p_value: float,
        q_value: float,
        tests: int,
    ) -> Finding:
        """The finding of one discovery, with its evidence."""
        cfg = self.config
        i, start, stop = cand.row, cand.start, cand.stop
        width = stop - start
        sd = float(np.sqrt(base.variance(np.array([cand.expected]), np.array([i]))[0]))
        z = (cand.observed - cand.expected) / sd
        first, last, onset = anomalous_span(
            base.row_z(panel.metric(metric)[i], i), start, stop, cfg.edge_z
        )
        account = str(panel.account_ids[i])
        evidence = (
            Evidence(
                "observed_vs_expected",
                {
                    "observed": cand.observed,
                    "expected": round(cand.expected, 2),
                    "seasonal_expected": round(cand.seasonal, 2),
                    "ratio": round((cand.observed + 1.0) / (cand.expected + 1.0), 3),
                    "z": round(z, 2),
                    "hours": float(width),
                },
            ),
            Evidence("partner_metrics", partner_evidence(cand.lifts)),
            Evidence(
                "peer_percentile",
                {
                    **window_percentile(panel, metric, base.mu, i, start, stop),
                    "accounts": float(panel.n_accounts),
                },
            ),
            Evidence(
                "significance",
                {
                    "p_value": float(f"{p_value:.3g}"),
                    "fdr_q": float(f"{q_value:.3g}"),
                    "fdr_alpha": cfg.fdr_alpha,
                    "tests": float(panel.n_accounts * len(cfg.metrics)),
                    "windows": float(tests),
                },
            ),
            Evidence(
                "platform_factor",
                {"mean": round(float(base.platform[start:stop].mean()), 3)},
            ),
            Evidence(
                "streaming_scorer",
                {
                    "parts": ", ".join(cand.parts),
                    "alert_time": bucket_iso(panel.bucket_times, cand.alert),
                    "score": round(cand.stream_score, 3),
                    "likelihood": round(cand.likelihood, 3),
                    "cusum": round(cand.cusum, 2),
                },
            ),
        )
        return metric_finding(
            self.name,
            panel,
            account,
            metric,
            onset=onset,
            first=first,
            last=last,
            score=self._score(cand, tests),
            observed=cand.observed,
            expected=cand.expected,
            explanation=_explain(metric, account, cand, width),
            evidence=evidence,
        )


def panel_scores(
    panel: Panel,
    metric: str,
    config: StreamingConfig | None = None,
    rows: npt.NDArray[np.intp] | None = None,
) -> StreamingParts:
    """The streaming scorer on the hourly series of `metric` of these accounts (all by
    default), history and judged window together: row k is exactly
    `causal_scores(panel.metric(metric)[rows[k]], config, panel.bucket_times)`."""
    cfg = config or StreamingConfig()
    x = panel.metric(metric)
    chosen = np.arange(panel.n_accounts) if rows is None else np.asarray(rows, dtype=np.intp)
    blocks = [
        causal_parts(x[chosen[a : a + _SCORE_ROWS]], cfg, panel.bucket_times)
        for a in range(0, max(len(chosen), 1), _SCORE_ROWS)
    ]
    if len(blocks) == 1:
        return blocks[0]
    return StreamingParts(
        score=np.concatenate([b.score for b in blocks]),
        likelihood=np.concatenate([b.likelihood for b in blocks]),
        extreme=np.concatenate([b.extreme for b in blocks]),
        slow=np.concatenate([b.slow for b in blocks]),
        shift=np.concatenate([b.shift for b in blocks]),
        upper_cusum=np.concatenate([b.upper_cusum for b in blocks]),
        tier=np.concatenate([b.tier for b in blocks]),
        min_history=blocks[0].min_history,
    )


def fired_parts(parts: StreamingParts, k: int, t: int, level: float) -> tuple[str, ...]:
    """Which parts of the scorer put row `t` of series `k` at or above the alert level."""
    flags = (
        bool(parts.likelihood[k, t] >= level),
        bool(parts.extreme[k, t]),
        bool(parts.slow[k, t]),
        bool(parts.shift[k, t]),
    )
    return tuple(name for name, on in zip(PART_NAMES, flags, strict=True) if on)


def _explain(metric: str, account: str, cand: _Candidate, width: int) -> str:
    label = metric_label(metric)
    words = [PART_WORDS[p] for p in cand.parts] or ["its score"]
    fired = words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
    return (
        f"{label} of {account} reached {fmt_count(cand.observed)} in {fmt_hours(width)} "
        f"around the streaming scorer's alert ({fired}) against about "
        f"{fmt_count(cand.expected)} expected for those hours, {describe_partners(cand.lifts)}."
    )
