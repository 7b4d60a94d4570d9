"""Spikes, drops and level shifts against a seasonal robust baseline.

Pattern sought: a metric inflated (or cut) on one account beyond what its own hour-of-day
and weekday rhythm, the platform's mood of the moment and its partner metrics explain:
bought followers (follows), click farms and view bots (clicks, impressions), bought shares
and comments. Every account and every window length is screened at once with window sums;
statsmodels STL then confirms the few candidates.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import numpy.typing as npt
from statsmodels.tsa.seasonal import STL

from detectors._baseline import BaselineConfig, SeasonalBaseline, panel_baseline, with_history
from detectors._common import (
    FloatArray,
    anomalous_span,
    fmt_count,
    fmt_hours,
    lift_weight,
    metric_finding,
    metric_label,
    normal_neglog10_sf,
    prefix_sums,
    significance_score,
    window_sums,
    window_widths,
)
from detectors._partner_lifts import PartnerLifts, partner_bounds
from detectors._partners import (
    describe_partners,
    explained_expectation,
    partner_evidence,
    partner_lift,
    partners_present,
    proportional_lift,
)
from detectors.cohort import cohort_percentile, panel_cohorts
from detectors.fdr import bh_adjusted, corrected, count_neglog10_p, searched_windows
from detectors.findings import METRICS, Evidence, Finding, Panel

logger = logging.getLogger(__name__)

_UP = 1
_DOWN = -1
_STL_MIN_HISTORY = 3 * 24
# Window arrays screened at a time: about 1 MB each, so a block's arrays stay in cache, and
# never so few accounts that numpy's per-call overhead dominates.
_BLOCK_CELLS = 1 << 17
_MIN_BLOCK_ROWS = 256
_POOL_ROWS = 256  # accounts pooled at a time: a block of the pooled history fits in cache


@dataclass(frozen=True, slots=True)
class SeasonalBaselineConfig:
    """Thresholds of the seasonal baseline detector.

    Unfollows are left to `follow_purge` by default: an unfollow wave alone is common and
    organic, it means fraud when it undoes a gain.
    """

    metrics: tuple[str, ...] = ("follows", "clicks", "impressions", "shares", "comments")
    window_hours: tuple[int, ...] = (1, 3, 6, 24)  # plus the whole judged span
    # Lower than the other detectors' gates: Benjamini-Hochberg on calibrated p-values
    # (fdr_alpha) is what keeps clean traffic quiet; the score only ranks and sets severity.
    min_score: float = 0.3
    # Drops keep the stricter gate: a burst left in the history inflates the baseline, and
    # the hours after it then look like a drop however calibrated the test.
    min_drop_score: float = 0.5
    significance_half: float = 12.0  # -log10(p) that alone gives half the score
    full_lift: float = 3.0  # a change of this many times counts fully
    min_excess: float = 10.0  # fewer extra (or missing) events than this is never a finding
    partner_slack: float = 1.25  # a metric may outgrow its partners' lift by this much
    partner_context_hours: int = 6  # partners may also show their lift over this many hours
    drop_weight: float = 0.9  # drops are weaker evidence of fraud than spikes
    edge_z: float = 3.0  # per-bucket excess that marks the first and last anomalous bucket
    # False discovery rate across every account and metric of a run (Benjamini-Hochberg on
    # calibrated p-values, each account's best window corrected for the windows searched).
    fdr_alpha: float = 0.01
    confirm_z: float = 4.0  # excess over the STL expectation that confirms a candidate
    unconfirmed_factor: float = 0.6  # score kept by a candidate STL does not confirm
    max_confirm: int = 200  # STL runs on at most this many candidates per metric
    baseline: BaselineConfig = field(default_factory=BaselineConfig)


@dataclass(frozen=True, slots=True)
class _Best:
    """Per account, the strongest window found so far."""

    strength: FloatArray
    score: FloatArray
    width: np.ndarray
    start: np.ndarray
    direction: np.ndarray
    observed: FloatArray  # the window's count
    expected: FloatArray  # and what season, platform and partners explain of it

    @classmethod
    def empty(cls, n: int) -> _Best:
        """No window yet: strengths start at 0, so only a window with the excess wins."""
        return cls(
            strength=np.zeros(n),
            score=np.zeros(n),
            width=np.zeros(n, dtype=np.int64),
            start=np.zeros(n, dtype=np.int64),
            direction=np.zeros(n, dtype=np.int64),
            observed=np.zeros(n),
            expected=np.zeros(n),
        )

    def neglog10_p(self, rows: npt.NDArray[np.intp], base: SeasonalBaseline) -> FloatArray:
        """Calibrated -log10 p of each row's best window (count tail, not normal)."""
        exp = self.expected[rows]
        var = base.count_variance(exp, rows)
        up = self.direction[rows] == _UP
        q = np.empty(len(rows))
        q[up] = count_neglog10_p(self.observed[rows][up], exp[up], var[up], upper=True)
        q[~up] = count_neglog10_p(self.observed[rows][~up], exp[~up], var[~up], upper=False)
        return q


class SeasonalBaselineDetector:
    """Metric spikes, drops and level shifts that neither season, platform nor partners explain."""

    name: ClassVar[str] = "seasonal_baseline"

    def __init__(self, config: SeasonalBaselineConfig | None = None) -> None:
        cfg = config or SeasonalBaselineConfig()
        unknown = [m for m in cfg.metrics if m not in METRICS]
        if unknown:
            raise ValueError(f"unknown metrics {unknown}")
        if not 0.0 <= cfg.min_score <= 1.0:
            raise ValueError("min_score must be in [0, 1]")
        if not cfg.window_hours or min(cfg.window_hours) < 1:
            raise ValueError("window_hours must be positive")
        if cfg.full_lift <= 1.0 or cfg.significance_half <= 0.0:
            raise ValueError("full_lift must exceed 1 and significance_half be positive")
        if cfg.partner_slack < 1.0:
            raise ValueError("partner_slack must be >= 1")
        self.config = cfg

    def detect(self, panel: Panel) -> list[Finding]:
        judged = panel.n_buckets - panel.judge_from
        if judged < 1 or panel.n_accounts == 0:
            return []
        cfg = self.config
        j = panel.judge_from
        needed = {m for m in cfg.metrics if m in panel.values}
        partners = {m: partners_present(panel, m) for m in needed}
        needed |= {p for ps in partners.values() for p in ps}
        baselines = {m: panel_baseline(panel, m, cfg.baseline) for m in sorted(needed)}
        # Partner sums reach `lead` buckets back, so a burst at the very start of the
        # judged window can still be explained by partners that rose just before it.
        lead = min(cfg.partner_context_hours, j)
        sums = {
            p: (
                prefix_sums(panel.metric(p)[:, j - lead :]),
                prefix_sums(_judged_mu(baselines[p], j - lead)),
            )
            for p in sorted({p for ps in partners.values() for p in ps})
        }
        metrics = [m for m in cfg.metrics if m in panel.values]
        # Window sums only ever cover judged buckets: running sums of those alone suffice.
        cs = {m: prefix_sums(panel.metric(m)[:, j:]) for m in metrics}
        cs_mu = {m: prefix_sums(_judged_mu(baselines[m], j)) for m in metrics}
        pooled = {m: _PooledPartners.of(panel, m, partners[m], baselines[m]) for m in metrics}
        best = {m: _Best.empty(panel.n_accounts) for m in metrics}
        # The screen is per account: a block of accounts at a time keeps its window arrays in
        # cache. Blocks outermost, so each block's partner bounds serve every metric.
        step = max(_MIN_BLOCK_ROWS, _BLOCK_CELLS // (panel.n_buckets - j + 1))
        for a in range(0, panel.n_accounts, step):
            b = min(a + step, panel.n_accounts)
            block_sums = {p: (c[a:b], m[a:b]) for p, (c, m) in sums.items()}
            lifts = PartnerLifts(block_sums, lead, cfg.partner_context_hours)
            for metric in metrics:
                pool = pooled[metric]
                self._screen(
                    best[metric],
                    a,
                    baselines[metric],
                    cs[metric][a:b],
                    cs_mu[metric][a:b],
                    partners[metric],
                    lifts,
                    None if pool is None else pool.rows(a, b),
                    j,
                )
        # One family per run: every account and metric screened. Only candidates that clear
        # the score are tested; the others count as p = 1, which only raises the bar.
        tests = searched_windows(judged, window_widths(judged, cfg.window_hours))
        established = with_history(panel)
        chosen: dict[str, npt.NDArray[np.intp]] = {}
        qvals: dict[str, FloatArray] = {}
        for metric in metrics:
            top = best[metric]
            gate = np.where(
                top.direction == _DOWN, max(cfg.min_score, cfg.min_drop_score), cfg.min_score
            )
            rows = np.flatnonzero((top.score >= gate) & (top.width > 0) & established)
            chosen[metric] = rows
            qvals[metric] = corrected(top.neglog10_p(rows, baselines[metric]), tests)
        family = panel.n_accounts * len(metrics)
        all_q = np.concatenate([qvals[m] for m in metrics]) if metrics else np.zeros(0)
        adjusted = bh_adjusted(all_q, family)
        findings: list[Finding] = []
        at = 0
        for metric in metrics:
            n_rows = len(chosen[metric])
            fdr = adjusted[at : at + n_rows]
            pvals = np.power(10.0, -qvals[metric])
            at += n_rows
            keep = fdr <= cfg.fdr_alpha
            cs_partner = {p: sums[p] for p in partners[metric]}
            findings.extend(
                self._findings(
                    panel,
                    metric,
                    best[metric],
                    baselines[metric],
                    cs[metric],
                    cs_mu[metric],
                    cs_partner,
                    pooled[metric],
                    {
                        int(r): (float(p), float(q))
                        for r, p, q in zip(
                            chosen[metric][keep], pvals[keep], fdr[keep], strict=True
                        )
                    },
                )
            )
        findings.sort(key=lambda f: f.score, reverse=True)
        return findings

    def _findings(
        self,
        panel: Panel,
        metric: str,
        best: _Best,
        base: SeasonalBaseline,
        cs_x: FloatArray,
        cs_mu: FloatArray,
        cs_partner: dict[str, tuple[FloatArray, FloatArray]],
        pooled: _PooledPartners | None,
        discoveries: dict[int, tuple[float, float]],
    ) -> list[Finding]:
        """Findings of `metric` from its discoveries (row -> p-value, BH q-value), strongest
        first."""
        cfg = self.config
        candidates = np.array(sorted(discoveries), dtype=np.intp)
        candidates = candidates[np.argsort(-best.score[candidates])]
        out: list[Finding] = []
        for rank, i in enumerate(candidates):
            finding = self._describe(
                panel,
                metric,
                int(i),
                best,
                base,
                cs_x,
                cs_mu,
                cs_partner,
                pooled,
                rank < cfg.max_confirm,
                discoveries[int(i)],
            )
            if finding.score >= cfg.min_score:  # STL may have withheld its confirmation
                out.append(finding)
        logger.debug("%s: %d candidates, %d findings", metric, len(candidates), len(out))
        return out

    def _screen(
        self,
        best: _Best,
        first: int,
        base: SeasonalBaseline,
        cs_x: FloatArray,
        cs_mu: FloatArray,
        partners: tuple[str, ...],
        lifts: PartnerLifts,
        pooled: _PooledPartners | None,
        judge_from: int,
    ) -> None:
        """Accounts from `first` on, every window width and start at once: into `best`, the
        strongest window of each.

        `cs_x`, `cs_mu`, `lifts` and `pooled` hold the rows of those accounts alone.

        The running sums start at the first judged bucket. Windows are ranked by z|z| times
        the effect weight (what -log10 p grows like), so the costly exact tail is computed
        only for each account's chosen window. A window short of `min_excess` extra (or
        missing) events has strength 0 whatever its z, so z and the effect weight are
        computed only for the windows that have it: on most metrics a small share.
        """
        cfg = self.config
        n = cs_x.shape[0]
        judged = cs_x.shape[1] - 1
        block = slice(first, first + n)
        best_strength, best_score = best.strength[block], best.score[block]
        best_width, best_start = best.width[block], best.start[block]
        best_direction = best.direction[block]
        rows = np.arange(n)
        for width in window_widths(judged, cfg.window_hours):
            obs = window_sums(cs_x, width, 0)
            mu = window_sums(cs_mu, width, 0)
            up_lift, down_lift = lifts.bounds(partners, width) if partners else (None, None)
            for direction in (_UP, _DOWN):
                # Without partners the lift is 1 and the expectation the baseline itself.
                if direction == _UP:
                    exp = (
                        mu
                        if up_lift is None
                        else explained_expectation(mu, up_lift, cfg.partner_slack)
                    )
                    if pooled is not None:
                        prop = pooled.lift(mu, width)
                        np.maximum(exp, explained_expectation(mu, prop, cfg.partner_slack), out=exp)
                    excess = obs - exp
                    weight = 1.0
                else:
                    exp = mu if down_lift is None else mu * down_lift
                    excess = exp - obs
                    weight = cfg.drop_weight
                hit_rows, hit_cols = np.nonzero(excess >= cfg.min_excess)
                z, lw = _window_z(
                    base,
                    direction,
                    obs[hit_rows, hit_cols],
                    exp[hit_rows, hit_cols],
                    excess[hit_rows, hit_cols],
                    hit_rows + first,
                    cfg.full_lift,
                )
                strength = np.zeros_like(excess)
                strength[hit_rows, hit_cols] = z * np.abs(z) * lw * weight
                idx = np.argmax(strength, axis=1)
                top = strength[rows, idx]
                # Best strengths start at 0: a better window had the excess, and top > 0.
                better = np.flatnonzero(top > best_strength)
                at = idx[better]
                z, lw = _window_z(
                    base,
                    direction,
                    obs[better, at],
                    exp[better, at],
                    excess[better, at],
                    better + first,
                    cfg.full_lift,
                )
                q = normal_neglog10_sf(z)
                score = significance_score(q, cfg.significance_half) * lw
                best_strength[better] = top[better]
                best_score[better] = score * weight
                best_width[better] = width
                best_start[better] = judge_from + at
                best_direction[better] = direction
                best.observed[first + better] = obs[better, at]
                best.expected[first + better] = exp[better, at]

    def _describe(
        self,
        panel: Panel,
        metric: str,
        i: int,
        best: _Best,
        base: SeasonalBaseline,
        cs_x: FloatArray,
        cs_mu: FloatArray,
        cs_partner: dict[str, tuple[FloatArray, FloatArray]],
        pooled: _PooledPartners | None,
        confirm: bool,
        significance: tuple[float, float],
    ) -> Finding:
        """The finding for account `i`'s strongest window, with its evidence."""
        cfg = self.config
        width = int(best.width[i])
        start = int(best.start[i])
        stop = start + width
        # The running sums begin at the judged window.
        a, b = start - panel.judge_from, stop - panel.judge_from
        direction = int(best.direction[i])
        observed = float(cs_x[i, b] - cs_x[i, a])
        baseline = float(cs_mu[i, b] - cs_mu[i, a])
        lead = min(cfg.partner_context_hours, panel.judge_from)
        lo, hi = a + lead, b + lead
        lifts = {
            p: round(float(partner_lift(cs[i, hi] - cs[i, lo], cm[i, hi] - cm[i, lo])), 3)
            for p, (cs, cm) in cs_partner.items()
        }
        # The same partner allowance the screen applied, as one factor on any expectation.
        factor = 1.0
        if cs_partner:
            one = {p: (cs[i : i + 1], cm[i : i + 1]) for p, (cs, cm) in cs_partner.items()}
            up, down = partner_bounds(one, width, np.array([a]), lead, cfg.partner_context_hours)
            if direction == _UP:
                lift = float(up[0, 0])
                if pooled is not None:
                    lift = max(lift, pooled.window_lift(i, a, b, baseline))
                factor = 1.0 + (lift - 1.0) * cfg.partner_slack
            else:
                factor = float(down[0, 0])
        expected = baseline * factor
        sd = float(np.sqrt(base.variance(np.array([expected]), np.array([i]))[0]))
        z = direction * (observed - expected) / sd

        z_row = direction * base.row_z(panel.metric(metric)[i], i)
        first, last, onset = anomalous_span(z_row, start, stop, cfg.edge_z)

        score = float(best.score[i])
        stl_values: dict[str, float | str] = {"confirmed": "not run"}
        if confirm:
            stl_expected = _stl_expected(panel.metric(metric)[i], base, start, stop)
            if stl_expected is not None:
                stl_cond = stl_expected * factor
                stl_sd = float(np.sqrt(base.variance(np.array([stl_cond]), np.array([i]))[0]))
                stl_z = direction * (observed - stl_cond) / stl_sd
                confirmed = stl_z >= cfg.confirm_z
                if not confirmed:
                    score *= cfg.unconfirmed_factor
                stl_values = {
                    "stl_expected": round(stl_cond, 2),
                    "z": round(stl_z, 2),
                    "confirmed": "yes" if confirmed else "no",
                }

        all_obs = cs_x[:, b] - cs_x[:, a]
        all_mu = cs_mu[:, b] - cs_mu[:, a]
        all_ratio = (all_obs + 1.0) / (all_mu + 1.0)
        cohorts = panel_cohorts(panel, metric)
        percentile = cohort_percentile(all_ratio, cohorts, i, higher=direction == _UP)
        p_value, fdr_q = significance

        account = str(panel.account_ids[i])
        kind = "drop" if direction == _DOWN else "spike" if width <= 6 else "level_shift"
        evidence = (
            Evidence(
                "observed_vs_expected",
                {
                    "observed": observed,
                    "expected": round(expected, 2),
                    "seasonal_expected": round(baseline, 2),
                    "ratio": round((observed + 1.0) / (expected + 1.0), 3),
                    "z": round(z, 2),
                    "hours": float(width),
                    "shape": kind,
                },
            ),
            Evidence("partner_metrics", partner_evidence(lifts)),
            Evidence(
                "peer_percentile",
                {
                    "percentile": percentile,
                    "cohort": cohorts.label(i),
                    "cohort_accounts": float(len(cohorts.members(i))),
                    "accounts": float(panel.n_accounts),
                },
            ),
            Evidence(
                "significance",
                {
                    "p_value": float(f"{p_value:.3g}"),
                    "fdr_q": float(f"{fdr_q:.3g}"),
                    "fdr_alpha": cfg.fdr_alpha,
                    "tests": float(panel.n_accounts * len(cfg.metrics)),
                },
            ),
            Evidence(
                "platform_factor",
                {"mean": round(float(base.platform[start:stop].mean()), 3)},
            ),
            Evidence("stl_confirmation", stl_values),
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
            explanation=_explain(metric, account, kind, observed, expected, width, lifts),
            evidence=evidence,
        )


@dataclass(frozen=True, slots=True)
class _PooledPartners:
    """A metric's partners pooled, against what the metric's own expectation implies.

    Each partner's lift is judged against its own seasonal expectation, smoothed by one
    event; at a quiet hour of a small account that smoothing caps the lift sparse partners
    can show far below a burst's (a celebrity share brings 30x the account's attention at
    once, at night 100x the seasonal level, and its five extra clicks and comments look like
    a 4x lift). Pooled, and measured against the metric's expectation converted at the
    account's usual partner rates, those few events show the burst for what it is.
    """

    cs: FloatArray  # (n, judged + 1) running sums of the partners' pooled counts
    rate: FloatArray  # (n,) partner events per metric event in the history

    @classmethod
    def of(
        cls, panel: Panel, metric: str, partners: tuple[str, ...], base: SeasonalBaseline
    ) -> _PooledPartners | None:
        if not partners:
            return None
        hist = slice(base.history_start, base.history_end)
        j = panel.judge_from
        own = panel.metric(metric)[:, hist].sum(axis=1)
        theirs = np.empty(panel.n_accounts)
        cs = np.empty((panel.n_accounts, panel.n_buckets - j + 1))
        # Pooled a block of accounts at a time: the whole pooled panel is never needed, only
        # its history totals and its judged running sums. Partners are added in order, as
        # one sum over them would, so the totals are the same to the last bit.
        for a in range(0, panel.n_accounts, _POOL_ROWS):
            b = min(a + _POOL_ROWS, panel.n_accounts)
            pooled = panel.metric(partners[0])[a:b].copy()
            for p in partners[1:]:
                pooled += panel.metric(p)[a:b]
            theirs[a:b] = pooled[:, hist].sum(axis=1)
            cs[a:b] = prefix_sums(pooled[:, j:])
        rate = np.divide(theirs, own, out=np.zeros_like(theirs), where=own > 0)
        return cls(cs, rate)

    def rows(self, a: int, b: int) -> _PooledPartners:
        """The same for accounts [a, b) alone (views, not copies)."""
        return _PooledPartners(self.cs[a:b], self.rate[a:b])

    def lift(self, mu: FloatArray, width: int) -> FloatArray:
        """Proportional lift of every `width`-hour window, given the metric's window sums."""
        return proportional_lift(window_sums(self.cs, width, 0), mu * self.rate[:, None])

    def window_lift(self, i: int, a: int, b: int, mu: float) -> float:
        """The same for account `i`'s window [a, b) of judged buckets."""
        observed = np.array([self.cs[i, b] - self.cs[i, a]])
        return float(proportional_lift(observed, np.array([mu * self.rate[i]]))[0])


def _judged_mu(base: SeasonalBaseline, judge_from: int) -> FloatArray:
    return base.mu[:, judge_from:]


def _window_z(
    base: SeasonalBaseline,
    direction: int,
    obs: FloatArray,
    exp: FloatArray,
    excess: FloatArray,
    rows: npt.NDArray[np.intp],
    full_lift: float,
) -> tuple[FloatArray, FloatArray]:
    """z of windows' excess (in `direction`) and their effect weight; windows flattened."""
    z = excess / np.sqrt(base.variance(exp, rows))
    ratio = (obs + 1.0) / (exp + 1.0) if direction == _UP else (exp + 1.0) / (obs + 1.0)
    return np.asarray(z, dtype=np.float64), lift_weight(ratio, full_lift)


def _stl_expected(
    series: FloatArray, base: SeasonalBaseline, start: int, stop: int
) -> float | None:
    """Expected window total from a robust STL fit of the history, times the platform factor."""
    hist_end = base.history_end
    if hist_end < _STL_MIN_HISTORY or hist_end > start:
        return None
    fit = STL(series[:hist_end], period=24, robust=True).fit()
    level = float(fit.trend[-1])
    last_cycle = np.asarray(fit.seasonal[-24:], dtype=np.float64)
    offsets = (np.arange(start, stop) - hist_end) % 24
    expected = np.maximum(level + last_cycle[offsets], 0.0) * base.platform[start:stop]
    return float(expected.sum())


def _explain(
    metric: str,
    account: str,
    kind: str,
    observed: float,
    expected: float,
    width: int,
    lifts: dict[str, float],
) -> str:
    label = metric_label(metric)
    partners = describe_partners(lifts)
    span = fmt_hours(width)
    if kind == "spike":
        return (
            f"{label} of {account} jumped to {fmt_count(observed)} in {span} against about "
            f"{fmt_count(expected)} expected for those hours, {partners}."
        )
    if kind == "drop":
        return (
            f"{label} of {account} fell to {fmt_count(observed)} in {span} against about "
            f"{fmt_count(expected)} expected for those hours, {partners}."
        )
    ratio = (observed + 1.0) / (expected + 1.0)
    return (
        f"{label} of {account} ran at {ratio:.1f}x its usual level over {span} "
        f"({fmt_count(observed)} against about {fmt_count(expected)} expected), {partners}."
    )
