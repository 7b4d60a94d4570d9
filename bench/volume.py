"""Alert volume on clean simulated traffic: what on-call would see from one scheduled run.

    python -m bench.volume [--accounts 10000 100000] [--seed 5] [--dst 0]
                           [--event-accounts 3000]

The simulator's organic traffic alone (no fraud, no hard negatives; `--dst 1` adds a
daylight-saving change in the judged day) for 14 days of history and the judged day, as a
scheduled run reads it (24 hours judged against the 14 days before). Every alert is false.
Three rules side by side, on the same panel and the same seasonal baselines:

- per-series 3-sigma: an alert for every account and metric with an hour beyond 3 sigma of
  its seasonal baseline (what a naive rule would page);
- the statistical detectors with their score gates but no false discovery control;
- the statistical detectors as shipped (Benjamini-Hochberg across accounts on calibrated
  p-values, after the platform-wide factor and partner metrics).

The event-reading detectors (`detectors.EVENT_DETECTORS`) need raw events, which do not fit in
memory at 100k accounts: `--event-accounts` simulates that many accounts with events (no fraud,
but the hard negatives and shared household and public devices, `shared_devices=0.1`) and
runs them on the judged day's events, shipped and without false discovery control.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from datetime import UTC, datetime, timedelta

import numpy as np

import detectors
from detectors._baseline import panel_baseline
from detectors.findings import BUCKET_SECONDS, Finding, Panel
from detectors.streaming_detector import StreamingDetector, panel_scores
from server.simulator import SimulationConfig, simulate, simulate_counts

HISTORY_DAYS = 14
JUDGED_HOURS = 24


def clean_panel(accounts: int, seed: int, dst: int) -> Panel:
    days = HISTORY_DAYS + 1
    config = SimulationConfig(
        seed=seed,
        accounts=accounts,
        days=days,
        start=datetime(2026, 11, 2, tzinfo=UTC) - timedelta(days=1),
        fraud_accounts_per_pattern=0,
        hard_negatives=False,
        dst_shift_hours=dst,
        dst_day=days - 1,
    )
    counts = simulate_counts(config)
    t0 = int(config.start.timestamp())
    times = (t0 + np.arange(config.hours) * BUCKET_SECONDS).astype("datetime64[s]")
    return Panel(counts.account_ids, times, counts.values, judge_from=config.hours - JUDGED_HOURS)


def three_sigma_alerts(panel: Panel, metrics: tuple[str, ...]) -> int:
    """Account-metric series with any judged hour beyond 3 sigma of the seasonal baseline."""
    flagged = 0
    j = panel.judge_from
    for metric in metrics:
        z = panel_baseline(panel, metric).bucket_z(panel.metric(metric))[:, j:]
        flagged += int((np.abs(z) > 3.0).any(axis=1).sum())
    return flagged


def unique_alerts(findings: list[Finding]) -> int:
    return len({(f.detector, f.key) for f in findings})


def without_fdr() -> list[detectors.StatisticalDetector]:
    """The registered detectors with false discovery control switched off (alpha = 1)."""
    out: list[detectors.StatisticalDetector] = []
    for detector in detectors.default_detectors():
        cfg = detector.config
        if hasattr(cfg, "fdr_alpha"):
            detector = type(detector)(dataclasses.replace(cfg, fdr_alpha=1.0))  # type: ignore[arg-type]
        out.append(detector)
    return out


def run(
    panel: Panel, chosen: list[detectors.StatisticalDetector]
) -> tuple[int, float, dict[str, int]]:
    began = time.perf_counter()
    per: dict[str, int] = {}
    total = 0
    for detector in chosen:
        found = unique_alerts(list(detector.detect(panel)))
        per[detector.name] = found
        total += found
    return total, time.perf_counter() - began, per


def streaming_alone(panel: Panel, raw: bool) -> None:
    """The NAB-scored scorer inside the `streaming` detector: how many series its screen
    passes to it and, with `raw`, how many series the scorer alone alerts on in the judged
    window (it runs on every series then: about 3 ms each)."""
    detector = StreamingDetector()
    began = time.perf_counter()
    screened = detector.screen(panel)
    print(
        f"  streaming: {sum(len(r) for r in screened.values())} series screened in for the "
        f"scorer in {time.perf_counter() - began:.1f} s"
    )
    if not raw:
        return
    level = detector.config.streaming.alert_level
    for metric in detector.config.metrics:
        began = time.perf_counter()
        parts = panel_scores(panel, metric, detector.config.streaming)
        alerting = int((parts.score[:, panel.judge_from :] >= level).any(axis=1).sum())
        print(
            f"    NAB scorer alone, {metric}: {alerting:,} of {panel.n_accounts:,} series alert "
            f"in the judged window ({time.perf_counter() - began:.0f} s)"
        )


def event_alerts(accounts: int, seed: int) -> None:
    """The event-reading detectors on one clean day of `accounts` accounts, with events."""
    built = time.perf_counter()
    config = SimulationConfig(
        seed=seed, accounts=accounts, fraud_accounts_per_pattern=0, shared_devices=0.1
    )
    sim = simulate(config)
    end = int(config.end.timestamp())
    events = sim.events.where(sim.events.times >= end - JUDGED_HOURS * BUCKET_SECONDS)
    print(
        f"{accounts:,} accounts with events: simulated in {time.perf_counter() - built:.0f} s, "
        f"{len(events):,} events in the judged day"
    )
    for detector in detectors.default_event_detectors():
        began = time.perf_counter()
        found = unique_alerts(list(detector.detect(events)))
        seconds = time.perf_counter() - began
        loose = type(detector)(
            dataclasses.replace(detector.config, alpha=0.999, min_neglog10_p=0.0)
        )
        unguarded = unique_alerts(list(loose.detect(events)))
        unfocused = type(detector)(dataclasses.replace(loose.config, min_focus=0.0))
        any_focus = unique_alerts(list(unfocused.detect(events)))
        print(
            f"  {detector.name}: {found} alerts in {seconds:.1f} s "
            f"({1000 * found / accounts:.3f} per 1,000 account-days); "
            f"{unguarded} without false discovery control, {any_focus} without that "
            "and the actor focus gate"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, nargs="*", default=[10_000, 100_000])
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--dst", type=int, default=0, help="daylight-saving shift in hours")
    parser.add_argument(
        "--event-accounts",
        type=int,
        nargs="*",
        default=[],
        help="also run the event-reading detectors on clean traffic of this many accounts",
    )
    parser.add_argument(
        "--streaming-raw",
        action="store_true",
        help="also run the streaming detector's scorer alone on every series (slow)",
    )
    args = parser.parse_args()
    for accounts in args.event_accounts:
        event_alerts(accounts, args.seed)
    command = f"python -m bench.volume {' '.join(sys.argv[1:])}".rstrip()
    rows = []
    for accounts in args.accounts:
        built = time.perf_counter()
        panel = clean_panel(accounts, args.seed, args.dst)
        print(
            f"{accounts:,} accounts: clean panel simulated in {time.perf_counter() - built:.0f} s"
        )
        account_days = accounts * JUDGED_HOURS / 24.0
        shipped, seconds, per = run(panel, detectors.default_detectors())
        print(f"  shipped detectors: {shipped} alerts in {seconds:.1f} s {per}")
        gated, _, per_gated = run(panel, without_fdr())
        print(f"  without FDR control: {gated} alerts {per_gated}")
        metrics = detectors.SeasonalBaselineConfig().metrics
        naive = three_sigma_alerts(panel, metrics)
        print(f"  per-series 3-sigma: {naive} alerts")
        streaming_alone(panel, args.streaming_raw)
        rows.append((accounts, account_days, naive, gated, shipped, per))
        del panel
    print(f"\n```\n{command}\n```\n")
    print(
        "| accounts (one run, 24 h judged) | per-series 3-sigma | detectors without FDR "
        "| detectors with BH FDR (shipped) | shipped per 1,000 account-days |"
    )
    print("| ---: | ---: | ---: | ---: | ---: |")
    for accounts, days, naive, gated, shipped, _ in rows:
        print(
            f"| {accounts:,} | {naive:,} | {gated:,} | {shipped:,} | {1000 * shipped / days:.3f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
