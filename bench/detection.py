"""One detection pass over N accounts x 6 metrics x 14 days hourly, beside a per-series STL loop.

    python -m bench.detection [--accounts 10000 100000] [--repeats 3] [--stl-sample 300]

The panel is synthetic seasonal count data (daily and weekly cycles, heavy-tailed account
sizes, correlated partner metrics) built in memory, so this measures the detectors alone, not
the store. The baseline, measured in the same run, is what per-series modelling would cost:
statsmodels STL (period 24) fitted series by series on a random sample, extrapolated to every
series of the panel. Figures are medians of `--repeats` passes, each on a freshly built panel
(detectors share baselines per panel, so a reused panel would flatter them).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta

import numpy as np
from statsmodels.tsa.seasonal import STL

import detectors
from detectors.findings import METRICS, Panel

HOURS = 14 * 24
JUDGED_HOURS = 24


def synthetic_panel(accounts: int, seed: int = 3) -> Panel:
    rng = np.random.default_rng(seed)
    start = datetime(2026, 11, 2, tzinfo=UTC)
    hours = np.arange(HOURS)
    daily = 1 + 0.6 * np.sin(2 * np.pi * (hours % 24 - 6) / 24)
    weekly = 1 + 0.15 * np.cos(2 * np.pi * hours / (24 * 7))
    size = rng.lognormal(3.0, 1.2, accounts)[:, None]
    level = size * daily * weekly * rng.gamma(20, 1 / 20, (accounts, HOURS))
    impressions = rng.poisson(level * 30).astype(np.float64)
    rates = {"clicks": 0.05, "follows": 0.004, "shares": 0.004, "comments": 0.006}
    values = {"impressions": impressions}
    for metric, rate in rates.items():
        values[metric] = rng.binomial(impressions.astype(np.int64), rate).astype(np.float64)
    values["unfollows"] = rng.poisson(values["follows"] * 0.1 + 0.05).astype(np.float64)
    times = np.array(
        [np.datetime64((start + timedelta(hours=int(h))).replace(tzinfo=None), "s") for h in hours]
    )
    return Panel(
        account_ids=np.char.add("acct_", np.arange(accounts).astype(str)),
        bucket_times=times,
        values={m: values[m] for m in METRICS},
        judge_from=HOURS - JUDGED_HOURS,
    )


def time_detectors(panel: Panel) -> dict[str, float]:
    seconds = {}
    for detector in detectors.default_detectors():
        began = time.perf_counter()
        detector.detect(panel)
        seconds[detector.name] = time.perf_counter() - began
    return seconds


def stl_seconds_per_series(panel: Panel, sample: int, seed: int = 5) -> float:
    rng = np.random.default_rng(seed)
    rows = rng.choice(panel.n_accounts, size=min(sample, panel.n_accounts), replace=False)
    series = [panel.metric(m)[r] for r in rows for m in ("impressions", "follows")]
    began = time.perf_counter()
    for values in series:
        STL(values, period=24).fit()
    return (time.perf_counter() - began) / len(series)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--stl-sample", type=int, default=300)
    args = parser.parse_args()
    print(f"panel: accounts x {len(METRICS)} metrics x {HOURS} hours; last {JUDGED_HOURS} judged")
    for accounts in args.accounts:
        built = time.perf_counter()
        panel = synthetic_panel(accounts)
        build_seconds = time.perf_counter() - built
        runs = []
        for repeat in range(args.repeats):
            # A fresh panel each pass: detectors remember baselines per panel, and a scheduled
            # run never sees the same panel twice.
            if repeat:
                panel = synthetic_panel(accounts)
            runs.append(time_detectors(panel))
        per_detector = {name: statistics.median(r[name] for r in runs) for name in runs[0]}
        total = statistics.median(sum(r.values()) for r in runs)
        stl = stl_seconds_per_series(panel, args.stl_sample)
        stl_all = stl * accounts * len(METRICS)
        print(f"\n{accounts:,} accounts (panel built in {build_seconds:.1f} s)")
        for name, seconds in per_detector.items():
            print(f"  {name:<22} {seconds:8.2f} s")
        rate = accounts * len(METRICS) / total
        print(f"  {'all detectors':<22} {total:8.2f} s   ({rate:,.0f} series/s)")
        print(
            f"  baseline: STL per series {stl * 1000:.1f} ms -> {stl_all:,.0f} s for all "
            f"{accounts * len(METRICS):,} series; detectors are {stl_all / total:,.0f}x faster"
        )
        del panel
    return 0


if __name__ == "__main__":
    sys.exit(main())
