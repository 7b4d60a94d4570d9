"""Follower gains followed by purges: the signature of bought followers.

Pattern sought: fake_followers. Bought followers arrive in a burst and then leave in a
burst, either removed by the platform's own spam sweeps or churning as the seller's
accounts are recycled. An organic burst keeps most of its followers: unfollows after it
rise only with the usual churn. Every account and every gain window is screened at once;
a running max finds, for each gain, the strongest later unfollow window.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from detectors._baseline import BaselineConfig, SeasonalBaseline, panel_baseline
from detectors._common import (
    FloatArray,
    anomalous_run,
    anomalous_span,
    bucket_iso,
    fmt_count,
    fmt_hours,
    forward_max,
    metric_finding,
    normal_neglog10_sf,
    prefix_sums,
    significance_score,
    window_sums,
)
from detectors._partners import partner_evidence, partner_lift
from detectors.cohort import window_percentile
from detectors.fdr import bh_adjusted, corrected, count_neglog10_p
from detectors.findings import Evidence, Finding, Panel

logger = logging.getLogger(__name__)

_BLOCK_ROWS = 256  # accounts screened at a time: a block's window arrays fit in cache


@dataclass(frozen=True, slots=True)
class FollowPurgeConfig:
    """Thresholds of the gain-then-purge detector."""

    gain_window_hours: int = 12
    purge_window_hours: int = 24
    min_lag_hours: int = 12  # from gain window start to purge window start; >= gain window
    max_lag_hours: int = 7 * 24
    min_gain: float = 30.0  # extra follows below this are never a finding
    min_share: float = 0.2  # the purge must undo at least this share of the gain
    full_share: float = 0.6  # undoing this share or more counts fully
    significance_half: float = 12.0  # -log10(p) of the weaker of gain and purge for half score
    churn_slack: float = 2.0  # unfollows up to this x usual churn of concurrent follows are normal
    edge_z: float = 3.0  # per-bucket excess marking where the gain and the purge began
    min_score: float = 0.5
    fdr_alpha: float = 0.01  # Benjamini-Hochberg false discovery rate across accounts
    baseline: BaselineConfig = field(default_factory=BaselineConfig)


class FollowPurgeDetector:
    """Accounts whose follower gains were largely undone by an unfollow wave days later."""

    name: ClassVar[str] = "follow_purge"

    def __init__(self, config: FollowPurgeConfig | None = None) -> None:
        cfg = config or FollowPurgeConfig()
        if min(cfg.gain_window_hours, cfg.purge_window_hours) < 1:
            raise ValueError("windows must be at least one hour")
        # Overlapping gain and purge windows would pair a burst with its own churn.
        if not cfg.gain_window_hours <= cfg.min_lag_hours <= cfg.max_lag_hours:
            raise ValueError("need gain_window_hours <= min_lag_hours <= max_lag_hours")
        if not 0.0 < cfg.min_share <= cfg.full_share:
            raise ValueError("need 0 < min_share <= full_share")
        if not 0.0 <= cfg.min_score <= 1.0:
            raise ValueError("min_score must be in [0, 1]")
        self.config = cfg

    def detect(self, panel: Panel) -> list[Finding]:
        cfg = self.config
        t = panel.n_buckets
        if (
            panel.n_accounts == 0
            or "follows" not in panel.values
            or "unfollows" not in panel.values
            or t < cfg.gain_window_hours + cfg.min_lag_hours + cfg.purge_window_hours
            or panel.judge_from >= t
        ):
            return []
        follows = panel.metric("follows")
        unfollows = panel.metric("unfollows")
        base_f = panel_baseline(panel, "follows", cfg.baseline)
        base_u = panel_baseline(panel, "unfollows", cfg.baseline)
        churn = _churn_ratio(follows, unfollows, base_f.history_end)
        # Every step is per account: a block of accounts at a time keeps the dozen window
        # arrays of the screen in cache instead of streaming each one through memory.
        n = panel.n_accounts
        top = np.empty(n)
        best_gain = np.empty(n, dtype=np.intp)
        for a in range(0, n, _BLOCK_ROWS):
            b = min(a + _BLOCK_ROWS, n)
            top[a:b], best_gain[a:b] = self._screen(panel, a, b, base_f, base_u, churn)

        described = [
            self._describe(
                panel, int(i), int(best_gain[i]), float(top[i]), base_f, base_u, churn[i]
            )
            for i in np.flatnonzero(top >= cfg.min_score)
        ]
        # Benjamini-Hochberg across every account of the run; each account's best pair of
        # windows corrected for the gain windows searched.
        tests = -(-t // cfg.gain_window_hours)
        q = corrected(np.array([d[1] for d in described]), tests)
        fdr = bh_adjusted(q, n)
        findings = [
            replace(
                finding,
                evidence=(
                    *finding.evidence,
                    Evidence(
                        "significance",
                        {
                            "p_value": float(f"{10.0**-qi:.3g}"),
                            "fdr_q": float(f"{fi:.3g}"),
                            "fdr_alpha": cfg.fdr_alpha,
                            "tests": float(n),
                        },
                    ),
                ),
            )
            for (finding, _), qi, fi in zip(described, q, fdr, strict=True)
            if fi <= cfg.fdr_alpha
        ]
        findings.sort(key=lambda f: f.score, reverse=True)
        return findings

    def _screen(
        self,
        panel: Panel,
        a: int,
        b: int,
        base_f: SeasonalBaseline,
        base_u: SeasonalBaseline,
        churn: FloatArray,
    ) -> tuple[FloatArray, npt.NDArray[np.intp]]:
        """Accounts [a, b): the best gain window's score and start of each."""
        cfg = self.config
        # Running sums once each: gain and concurrent-follow windows share the follows'.
        cs_f, cs_mu_f = prefix_sums(panel.metric("follows")[a:b]), prefix_sums(base_f.mu[a:b])
        cs_u = prefix_sums(panel.metric("unfollows")[a:b])
        cs_mu_u = prefix_sums(base_u.mu[a:b])
        gain, gain_mu = _excess_windows(cs_f, cs_mu_f, cfg.gain_window_hours)
        removed, removed_mu = _excess_windows(cs_u, cs_mu_u, cfg.purge_window_hours)
        removed_sd = np.sqrt(base_u.variance(removed_mu, slice(a, b)))
        del removed_mu
        # Unfollows that ride along with concurrent new follows are ordinary churn (a viral
        # burst brings both at once); a purge is unfollows while follows run as usual.
        concurrent, _ = _excess_windows(cs_f, cs_mu_f, cfg.purge_window_hours)
        del cs_f, cs_mu_f, cs_u, cs_mu_u
        np.maximum(concurrent, 0.0, out=concurrent)
        concurrent *= cfg.churn_slack * churn[a:b, None]
        removed -= concurrent
        del concurrent
        z_removed = removed / removed_sd
        del removed_sd
        # Only purges that begin in the judged buckets are flagged; gains may lie in history.
        removed[:, : panel.judge_from] = -np.inf
        z_removed[:, : panel.judge_from] = -np.inf

        lo, hi, n_gain = cfg.min_lag_hours, cfg.max_lag_hours, gain.shape[1]
        best_removed = _fit(forward_max(removed, lo, hi), n_gain)
        best_z = _fit(forward_max(z_removed, lo, hi), n_gain)
        del removed, z_removed
        usable = (gain > 0) & np.isfinite(best_removed)
        share = np.divide(best_removed, gain, out=np.zeros_like(gain), where=usable)
        ok = (gain >= cfg.min_gain) & (share >= cfg.min_share) & np.isfinite(best_z)
        # The costly normal tails only where a gain and a purge both qualify: a few cells.
        rows, cols = np.nonzero(ok)
        gain_ok = gain[rows, cols]
        gain_sd = np.sqrt(base_f.variance(gain_mu[rows, cols], rows + a))
        q = np.minimum(
            normal_neglog10_sf(gain_ok / gain_sd), normal_neglog10_sf(best_z[rows, cols])
        )
        score = np.zeros_like(gain)
        score[rows, cols] = significance_score(q, cfg.significance_half) * np.minimum(
            share[rows, cols] / cfg.full_share, 1.0
        )
        best_gain = np.argmax(score, axis=1)
        return score[np.arange(b - a), best_gain], best_gain

    def _describe(
        self,
        panel: Panel,
        i: int,
        g: int,
        score: float,
        base_f: SeasonalBaseline,
        base_u: SeasonalBaseline,
        churn: float,
    ) -> tuple[Finding, float]:
        """The finding and its calibrated -log10 p (the weaker of gain and purge)."""
        cfg = self.config
        follows = panel.metric("follows")[i]
        unfollows = panel.metric("unfollows")[i]
        mu_f = base_f.mu_row(i)
        mu_u = base_u.mu_row(i)
        wg, wp = cfg.gain_window_hours, cfg.purge_window_hours
        # The purge window the screen paired with this gain, found again for this one account.
        first_p = max(g + cfg.min_lag_hours, panel.judge_from)
        last_p = min(g + cfg.max_lag_hours, panel.n_buckets - wp)

        def ride_along(p: int) -> float:
            """Unfollows explained as usual churn of the follows arriving in window p."""
            extra = follows[p : p + wp].sum() - mu_f[p : p + wp].sum()
            return float(cfg.churn_slack * churn * max(extra, 0.0))

        excess_u = np.array(
            [
                unfollows[p : p + wp].sum() - mu_u[p : p + wp].sum() - ride_along(p)
                for p in range(first_p, last_p + 1)
            ]
        )
        p = first_p + int(np.argmax(excess_u))

        z_f = base_f.row_z(follows, i)
        z_u = base_u.row_z(unfollows, i)
        # The gain is the whole contiguous run of excess follows around the gain window.
        gain_onset, gain_end = anomalous_run(z_f, g + int(np.argmax(z_f[g : g + wg])), cfg.edge_z)
        gain_first, gain_last = min(gain_onset, g), max(gain_end, g + wg - 1)
        purge_first, purge_last, _ = anomalous_span(z_u, p, p + wp, cfg.edge_z)
        gained = float(
            follows[gain_first : gain_last + 1].sum() - mu_f[gain_first : gain_last + 1].sum()
        )
        purged = float(unfollows[p : p + wp].sum())
        expected_u = float(mu_u[p : p + wp].sum())
        explained = ride_along(p)
        removed = purged - expected_u - explained
        share = removed / gained if gained > 0 else 0.0
        lag_hours = purge_first - gain_onset
        gain_hours = gain_end - gain_onset + 1
        account = str(panel.account_ids[i])
        gain_span = slice(gain_first, gain_last + 1)
        follows_in_gain = float(follows[gain_span].sum())
        expected_f = float(mu_f[gain_span].sum())
        rows = np.array([i])
        q_gain = count_neglog10_p(
            np.array([follows_in_gain]),
            np.array([expected_f]),
            base_f.count_variance(np.array([expected_f]), rows),
        )[0]
        expected_purge = expected_u + explained
        q_purge = count_neglog10_p(
            np.array([purged]),
            np.array([expected_purge]),
            base_u.count_variance(np.array([expected_purge]), rows),
        )[0]
        partners = {
            m: round(
                float(
                    partner_lift(
                        np.array([panel.metric(m)[i, gain_span].sum()]),
                        np.array([panel_baseline(panel, m, cfg.baseline).mu[i, gain_span].sum()]),
                    )[0]
                ),
                3,
            )
            for m in ("impressions", "clicks")
            if m in panel.values
        }

        evidence = (
            Evidence(
                "gain_then_purge",
                {
                    "gained": round(gained, 1),
                    "removed": round(removed, 1),
                    "share": round(share, 3),
                    "lag_hours": float(lag_hours),
                    "gain_start": bucket_iso(panel.bucket_times, gain_onset),
                    "purge_start": bucket_iso(panel.bucket_times, purge_first),
                },
            ),
            Evidence(
                "observed_vs_expected",
                {
                    "unfollows": purged,
                    "expected_unfollows": round(expected_u, 2),
                    "churn_of_concurrent_follows": round(explained, 2),
                    "follows_in_gain": follows_in_gain,
                    "expected_follows": round(expected_f, 2),
                },
            ),
            Evidence("partner_metrics", partner_evidence(partners)),
            Evidence(
                "peer_percentile",
                window_percentile(
                    panel, "follows", base_f.mu, i, gain_first, gain_last + 1, higher=True
                ),
            ),
        )
        explanation = (
            f"{account} gained {fmt_count(gained)} extra followers in {fmt_hours(gain_hours)} "
            f"from {bucket_iso(panel.bucket_times, gain_onset)} and lost "
            f"{fmt_count(removed)} of them ({share:.0%}) {lag_hours / 24:.1f} days later, "
            f"against about {fmt_count(expected_u)} unfollows expected in that time."
        )
        # Keyed by the gain: the same bought followers, whenever the purge is seen.
        finding = metric_finding(
            self.name,
            panel,
            account,
            "unfollows",
            onset=gain_onset,
            first=purge_first,
            last=purge_last,
            score=score,
            observed=purged,
            expected=expected_u,
            explanation=explanation,
            evidence=evidence,
            pattern="fake_followers",
            key_metric="follows",
        )
        return finding, float(min(q_gain, q_purge))


def _excess_windows(
    cs_x: FloatArray, cs_mu: FloatArray, width: int
) -> tuple[FloatArray, FloatArray]:
    """Excess over the baseline of every `width`-hour window, and the baseline's window sums.

    `cs_x` and `cs_mu` are running sums (`prefix_sums`) of the counts and of the baseline.
    """
    mu_sum = window_sums(cs_mu, width, 0)
    excess = window_sums(cs_x, width, 0) - mu_sum
    return np.asarray(excess, dtype=np.float64), np.asarray(mu_sum, dtype=np.float64)


def _churn_ratio(follows: FloatArray, unfollows: FloatArray, hist_end: int) -> FloatArray:
    """Each account's usual unfollows per follow, small accounts pulled to the platform's."""
    f = follows[:, :hist_end].sum(axis=1)
    u = unfollows[:, :hist_end].sum(axis=1)
    active = f >= 20
    platform = float(np.median(u[active] / f[active])) if active.sum() >= 10 else 0.3
    prior = 20.0
    return np.asarray(np.clip((u + prior * platform) / (f + prior), 0.0, 1.0), dtype=np.float64)


def _fit(a: FloatArray, columns: int) -> FloatArray:
    """`a` cut or padded with -inf to `columns` columns, aligning purge and gain starts."""
    if a.shape[1] >= columns:
        return a[:, :columns]
    pad = np.full((a.shape[0], columns - a.shape[1]), -np.inf)
    return np.concatenate([a, pad], axis=1)
