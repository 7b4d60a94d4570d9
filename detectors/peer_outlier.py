"""Accounts whose judged window looks unlike that of their peers, over many features at once.

Pattern sought: any of the fakes whose single-metric traces are each moderate but whose
combination is rare: growth against the account's own history in several metrics,
partner ratios that drifted, counts too regular, follows that keep getting undone.
Features are judged against accounts of similar size (volume bands), because small
accounts have noisier ratios than large ones.

Model: pyod's ECOD. It is parameter-free (no contamination guess shapes the score), fully
deterministic, linear in accounts and features, so it screens 100k accounts in well under a
second, and its per-feature tail probabilities say which features made an account an
outlier, which the evidence needs. IForest would add randomness, a tree count to tune and
no per-feature attribution.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from detectors._baseline import BaselineConfig, SeasonalBaseline, panel_baseline
from detectors._common import (
    FloatArray,
    anomalous_run,
    metric_finding,
    robust_sd,
)
from detectors._partners import partner_evidence, partner_lift
from detectors.findings import Evidence, Finding, Panel

logger = logging.getLogger(__name__)

_MIN_HISTORY = 24
_GROWTH_METRICS = ("follows", "unfollows", "clicks", "impressions", "shares", "comments")
_RATIOS = (
    ("clicks", ("impressions",)),
    ("follows", ("impressions",)),
    ("shares", ("comments", "clicks")),
    ("comments", ("impressions",)),
)
_DISPERSION_METRICS = ("clicks", "impressions", "follows")
_MIN_DISPERSION_HOURS = 12  # fewer hourly counts give no usable variance
_BLOCK_ROWS = 1024  # accounts pooled at a time: a block of the pooled panel fits in cache


@dataclass(frozen=True, slots=True)
class PeerOutlierConfig:
    """Thresholds of the peer outlier detector."""

    min_volume: float = 200.0  # events of all metrics in the judged window to be judged
    min_band_size: int = 100  # accounts per volume band
    max_bands: int = 5
    feature_z_half: float = 7.0  # robust z of the most suspicious feature giving half score
    outlier_z_half: float = 8.0  # robust z of the ECOD score within the band giving half score
    gate_z: float = 2.0  # the multivariate score opens from 1x to fully at 2x this feature z
    pseudo_count: float = 5.0  # added to counts before log ratios, so tiny counts stay calm
    min_rate: float = 3.0  # mean per hour below which hourly dispersion is not a feature
    min_score: float = 0.5
    edge_z: float = 3.0
    baseline: BaselineConfig = field(default_factory=BaselineConfig)


@dataclass(frozen=True, slots=True)
class _Feature:
    name: str
    metric: str
    label: str  # what a person calls the quantity, e.g. "clicks per impressions"
    sign: int  # +1: high values are suspicious, -1: low values are
    # Growth alone is what a viral post looks like: it informs the model, never scores alone.
    scored: bool = True
    floor: float = 0.1  # smallest spread assumed among peers, in log units


class PeerOutlierDetector:
    """Accounts that are multivariate outliers among accounts of similar size."""

    name: ClassVar[str] = "peer_outlier"

    def __init__(self, config: PeerOutlierConfig | None = None) -> None:
        cfg = config or PeerOutlierConfig()
        if cfg.min_band_size < 20 or cfg.max_bands < 1:
            raise ValueError("need min_band_size >= 20 and max_bands >= 1")
        if min(cfg.feature_z_half, cfg.outlier_z_half, cfg.gate_z) <= 0.0:
            raise ValueError("feature_z_half, outlier_z_half and gate_z must be positive")
        if cfg.pseudo_count <= 0.0:
            raise ValueError("pseudo_count must be positive")
        if not 0.0 <= cfg.min_score <= 1.0:
            raise ValueError("min_score must be in [0, 1]")
        self.config = cfg

    def detect(self, panel: Panel) -> list[Finding]:
        cfg = self.config
        j = panel.judge_from
        judged = panel.n_buckets - j
        if judged < 1 or j < _MIN_HISTORY or panel.n_accounts < cfg.min_band_size:
            logger.debug("peer_outlier needs history and at least %d accounts", cfg.min_band_size)
            return []
        baselines = {
            m: panel_baseline(panel, m, cfg.baseline) for m in _GROWTH_METRICS if m in panel.values
        }
        if not baselines:
            return []
        features, specs = _features(panel, baselines, cfg.pseudo_count, cfg.min_rate)
        volume_judged = sum(panel.metric(m)[:, j:].sum(axis=1) for m in baselines)
        volume_hist = sum(panel.metric(m)[:, :j].sum(axis=1) for m in baselines)
        band = _bands(np.log1p(volume_hist), cfg)

        sign = np.array([f.sign for f in specs], dtype=np.float64)
        scored = np.array([f.scored for f in specs])
        floors = np.array([f.floor for f in specs])
        score = np.zeros(panel.n_accounts)
        robust_z = np.zeros_like(features)
        medians = np.zeros_like(features)
        raw = np.zeros(panel.n_accounts)
        for b in np.unique(band):
            members = np.flatnonzero(band == b)
            x = features[members]
            med = np.median(x, axis=0)
            # Peers that barely differ must not turn a small difference into a huge z.
            spread = np.maximum(robust_sd(x, axis=0), floors)
            z = (x - med) / spread
            robust_z[members] = z
            medians[members] = med
            # Only the suspicious side of each feature counts: fewer clicks per impression
            # or a burstier hour is not what fakes look like.
            one_sided = np.maximum(z * sign[None, :], 0.0)
            from pyod.models.ecod import ECOD  # here: pyod pulls in sklearn, 2 s at import

            model = ECOD()
            model.fit(one_sided)
            o = np.asarray(model.decision_scores_, dtype=np.float64)
            raw[members] = o
            oz = np.maximum((o - np.median(o)) / max(float(robust_sd(o[None, :])[0]), 1e-9), 0.0)
            worst = one_sided[:, scored].max(axis=1)
            single = worst * worst / (worst * worst + cfg.feature_z_half**2)
            combined = oz * oz / (oz * oz + cfg.outlier_z_half**2)
            # Growth in every metric at once is what a viral post looks like, so the
            # multivariate score counts only once a partner, rhythm or churn feature is off.
            opened = np.clip((worst - cfg.gate_z) / cfg.gate_z, 0.0, 1.0)
            score[members] = np.maximum(single, combined * opened)
        score = np.where(volume_judged >= cfg.min_volume, score, 0.0)

        findings = [
            self._describe(
                panel,
                int(i),
                float(score[i]),
                features,
                robust_z,
                medians,
                raw,
                band,
                specs,
                baselines,
            )
            for i in np.flatnonzero(score >= cfg.min_score)
        ]
        findings.sort(key=lambda f: f.score, reverse=True)
        return findings

    def _describe(
        self,
        panel: Panel,
        i: int,
        score: float,
        features: FloatArray,
        robust_z: FloatArray,
        medians: FloatArray,
        raw: FloatArray,
        band: np.ndarray,
        specs: list[_Feature],
        baselines: dict[str, SeasonalBaseline],
    ) -> Finding:
        j = panel.judge_from
        sign = np.array([f.sign if f.scored else 0 for f in specs], dtype=np.float64)
        # Lead with the most suspicious feature, then whatever else stood out most.
        lead = int(np.argmax(robust_z[i] * sign))
        rest = [int(k) for k in np.argsort(-np.abs(robust_z[i])) if k != lead][:2]
        order = [lead, *rest]
        top = specs[int(order[0])]
        metric = top.metric
        account = str(panel.account_ids[i])
        members = band == band[i]
        percentile = 100.0 * float(np.mean(raw[members] < raw[i]))

        # Name the anomaly by where the leading metric's excess began, for a stable key.
        onset = j
        observed = float(panel.metric(metric)[i, j:].sum())
        expected = observed
        if metric in baselines:
            base = baselines[metric]
            expected = float(base.mu_row(i)[j:].sum())
            z_row = base.row_z(panel.metric(metric)[i], i)
            side = 1.0 if robust_z[i, lead] >= 0 else -1.0
            hot = np.flatnonzero(side * z_row[j:] >= self.config.edge_z)
            if hot.size:
                onset, _ = anomalous_run(side * z_row, j + int(hot[0]), self.config.edge_z)

        evidence: list[Evidence] = [
            Evidence(
                "peer_outlier",
                {
                    "ecod_score": round(float(raw[i]), 3),
                    "band_percentile": round(percentile, 2),
                    "band": float(band[i]),
                    "peers": float(members.sum()),
                },
            )
        ]
        parts = []
        for k in order:
            spec = specs[int(k)]
            evidence.append(
                Evidence(
                    f"feature:{spec.name}",
                    {
                        "value": round(float(features[i, k]), 3),
                        "peer_median": round(float(medians[i, k]), 3),
                        "robust_z": round(float(robust_z[i, k]), 2),
                    },
                )
            )
            parts.append(_phrase(spec, float(features[i, k]), float(medians[i, k])))
        evidence.append(
            Evidence(
                "observed_vs_expected",
                {"metric": metric, "observed": observed, "expected": round(expected, 2)},
            )
        )
        # The other growth metrics over the judged window against their seasonal expectation.
        lifts = {
            m: round(
                float(
                    partner_lift(
                        np.array([panel.metric(m)[i, j:].sum()]),
                        np.array([b.mu_row(i)[j:].sum()]),
                    )[0]
                ),
                3,
            )
            for m, b in baselines.items()
            if m != metric
        }
        evidence.append(Evidence("partner_metrics", partner_evidence(lifts)))
        evidence.append(
            Evidence(
                "peer_percentile",
                {
                    "percentile": round(percentile, 2),
                    "cohort": f"volume band {int(band[i]) + 1}/{int(band.max()) + 1}",
                    "cohort_accounts": float(members.sum()),
                },
            )
        )
        explanation = (
            f"{account} stands out among {int(members.sum())} accounts of similar size: "
            f"{'; '.join(parts)}."
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
            observed=observed,
            expected=expected,
            explanation=explanation,
            evidence=evidence,
            # A window-level detector cannot pin the hour an anomaly began, and the threshold
            # crossing of its onset moves with the baseline, so the key names the day.
            key_by_day=True,
        )


def _features(
    panel: Panel, baselines: dict[str, SeasonalBaseline], pseudo: float, min_rate: float
) -> tuple[FloatArray, list[_Feature]]:
    """(n, d) log-scale features of the judged window against history, and their names."""
    j = panel.judge_from
    hist_hours = j
    judged_hours = panel.n_buckets - j
    columns: list[FloatArray] = []
    specs: list[_Feature] = []
    for m, base in baselines.items():
        x = panel.metric(m)
        # Growth against the account's own seasonal expectation for these very hours.
        growth = (x[:, j:].sum(axis=1) + pseudo) / (base.mu[:, j:].sum(axis=1) + pseudo)
        columns.append(np.log(growth))
        specs.append(_Feature(f"growth_{m}", m, m, 1, scored=False))
    scale = judged_hours / hist_hours

    def log_change(num: list[FloatArray], den: list[FloatArray]) -> FloatArray:
        """Change of log(num / den) from history (scaled to the judged span) to now.

        `num` and `den` are each the sum of the metrics listed.
        """
        num_before, num_now = _split_sums(num, j)
        den_before, den_now = _split_sums(den, j)
        now = np.log((num_now + pseudo) / (den_now + pseudo))
        before = np.log((num_before * scale + pseudo) / (den_before * scale + pseudo))
        return np.asarray(now - before, dtype=np.float64)

    for m, partners in _RATIOS:
        present = [p for p in partners if p in panel.values]
        if m not in panel.values or not present:
            continue
        columns.append(log_change([panel.metric(m)], [panel.metric(p) for p in present]))
        label = f"{m} per {' and '.join(present)}"
        specs.append(_Feature(f"ratio_{m}_per_{'_'.join(present)}", m, label, 1))
    for m in _DISPERSION_METRICS:
        if m not in panel.values or judged_hours < _MIN_DISPERSION_HOURS:
            continue
        x = panel.metric(m)[:, j:]
        mean = x.mean(axis=1)
        # Sparse counts say nothing about rhythm: they get Poisson's neutral 1.
        disp = np.where(mean >= min_rate, x.var(axis=1, ddof=1) / np.maximum(mean, 1e-9), 1.0)
        columns.append(np.log(disp + 0.05))
        label = f"hourly {m} dispersion"
        specs.append(_Feature(f"dispersion_{m}", m, label, -1, floor=0.3))
    if "follows" in panel.values and "unfollows" in panel.values:
        columns.append(log_change([panel.metric("unfollows")], [panel.metric("follows")]))
        specs.append(_Feature("unfollow_per_follow", "unfollows", "unfollows per follow", 1))
    return np.column_stack(columns), specs


def _split_sums(arrays: list[FloatArray], j: int) -> tuple[FloatArray, FloatArray]:
    """Per account, the total of `arrays` summed over buckets [0, j) and [j, t).

    Several arrays are added a block of accounts at a time, in order, as one sum over them
    would: the same totals to the last bit, without a full-size pooled panel.
    """
    if len(arrays) == 1:
        return arrays[0][:, :j].sum(axis=1), arrays[0][:, j:].sum(axis=1)
    n = arrays[0].shape[0]
    before, now = np.empty(n), np.empty(n)
    for a in range(0, n, _BLOCK_ROWS):
        b = min(a + _BLOCK_ROWS, n)
        pooled = arrays[0][a:b].copy()
        for x in arrays[1:]:
            pooled += x[a:b]
        before[a:b] = pooled[:, :j].sum(axis=1)
        now[a:b] = pooled[:, j:].sum(axis=1)
    return before, now


def _phrase(spec: _Feature, value: float, peer_median: float) -> str:
    """One feature in words, e.g. 'clicks per impressions at 4.1x its usual level (peers 1.0x)'."""
    if spec.name.startswith("dispersion_"):
        return (
            f"{spec.label} (variance / mean) {np.exp(value) - 0.05:.2f} "
            f"(peers {np.exp(peer_median) - 0.05:.2f})"
        )
    return (
        f"{spec.label} at {np.exp(value):.1f}x its usual level (peers {np.exp(peer_median):.1f}x)"
    )


def _bands(volume: FloatArray, cfg: PeerOutlierConfig) -> np.ndarray:
    """Volume band of each account: quantile bands with at least min_band_size accounts."""
    bands = int(np.clip(len(volume) // cfg.min_band_size, 1, cfg.max_bands))
    edges = np.quantile(volume, np.linspace(0.0, 1.0, bands + 1)[1:-1])
    return np.asarray(np.searchsorted(edges, volume, side="right"), dtype=np.int64)
