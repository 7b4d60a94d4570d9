"""Detection quality on the simulator: precision and recall per pattern, hard negatives, FP rate.

    python -m bench.quality [--tuning-seeds 7 11 3] [--held-out-seeds 101 102 103 104]
                            [--sizes 300 1000] [--subtle 0.05] [--shared-devices 0.1]

For every seed and size the simulator plants every fraud pattern (blatant to subtle, plus one
extra case per volumetric pattern of `--subtle` times the account's normal volume) and every
hard negative (organic viral bursts, a platform-wide holiday, celebrity shares, consented
onboarding; with `--shared-devices`, households and public computers carrying several actors
on one client, some households all engaging with one favourite account). The detectors run
in-process on the simulated panel and events, as `server.detection.DetectionRunner` runs them
(every statistical and graph detector, the last 72 hours judged against the days before,
graph and event-reading statistical detectors on the judged window's events), and their
findings become alerts as the alert book makes them (one per detector and key). The tuning
seeds are the ones the detectors were adjusted on; the held-out table is the one that counts.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import detectors
import graphs
from detectors.corroborate import fold_second_opinions
from detectors.findings import BUCKET_SECONDS, PATTERNS, EventFrame, Finding, Panel
from server.evaluation import Evaluation, evaluate
from server.simulator import WINDOW_HOURS, Simulation, SimulationConfig, simulate, to_panel


@dataclass(slots=True)
class Alert:
    """What server.evaluation reads of an alert."""

    account_id: str
    detector: str
    member_ids: Sequence[str]
    target_ids: Sequence[str]


@dataclass(slots=True)
class Run:
    seed: int
    accounts: int
    evaluation: Evaluation
    false_alerts: int
    account_days: float
    seconds: float
    false_examples: list[str] = field(default_factory=list)
    missed_cases: list[str] = field(default_factory=list)
    # Detector -> alerts touching no planted fraud (hard negatives included).
    false_by_detector: Counter[str] = field(default_factory=Counter)
    # Detector -> all its alerts, and the planted cases only it found (for --by-detector).
    alerts_by_detector: Counter[str] = field(default_factory=Counter)
    only_by_detector: Counter[str] = field(default_factory=Counter)


def panel_of(sim: Simulation, judged_hours: int = WINDOW_HOURS) -> Panel:
    """The simulation's points as the store would serve them: every account, every hour."""
    return to_panel(sim, judged_hours)


def judged_events(sim: Simulation, judged_hours: int = WINDOW_HOURS) -> EventFrame:
    """The events of the judged window, as the detection run reads them."""
    end = int(sim.config.end.timestamp())
    start = end - judged_hours * BUCKET_SECONDS
    return sim.events.where((sim.events.times >= start) & (sim.events.times < end))


def detect(panel: Panel, events: EventFrame) -> list[Finding]:
    """Every registered detector, statistical on the panel and graph on the events."""
    found: list[Finding] = []
    for stat in detectors.default_detectors():
        found.extend(stat.detect(panel))
    for on_events in detectors.default_event_detectors():
        found.extend(on_events.detect(events))
    for graph in graphs.default_detectors():
        found.extend(graph.detect(events))
    return fold_second_opinions(found)  # as the service's runner does


def alerts_of(findings: Sequence[Finding]) -> list[Alert]:
    """One alert per detector and key, as the alert book dedupes them."""
    seen: dict[tuple[str, str], Alert] = {}
    for f in findings:
        seen.setdefault(
            (f.detector, f.key), Alert(f.subject, f.detector, f.member_ids, f.target_ids)
        )
    return list(seen.values())


def run_one(config: SimulationConfig) -> Run:
    began = time.perf_counter()
    sim = simulate(config)
    findings = detect(panel_of(sim), judged_events(sim))
    alerts = alerts_of(findings)
    evaluation = evaluate(alerts, sim.truth)
    fraud = sim.fraud_accounts()
    members = {m for c in sim.truth if c.is_fraud for m in c.member_ids}
    false = [
        a
        for a in alerts
        if a.account_id not in fraud
        and fraud.isdisjoint(a.target_ids)
        and members.isdisjoint(a.member_ids)
    ]
    by_key = {(f.detector, f.subject): f for f in findings}
    examples = [
        f"{a.account_id} {a.detector}/{by_key[(a.detector, a.account_id)].pattern} "
        f"score {by_key[(a.detector, a.account_id)].score:.2f}"
        for a in false
    ]
    missed = [
        f"{c.pattern} {c.account_ids[:3]}: {c.description}"
        for c in sim.truth
        if c.is_fraud
        and not any(
            a.account_id in c.account_ids
            or not set(c.account_ids).isdisjoint(a.target_ids)
            or not set(c.member_ids).isdisjoint(a.member_ids)
            for a in alerts
        )
    ]
    finders = [
        {
            a.detector
            for a in alerts
            if a.account_id in c.account_ids
            or not set(c.account_ids).isdisjoint(a.target_ids)
            or not set(c.member_ids).isdisjoint(a.member_ids)
        }
        for c in sim.truth
        if c.is_fraud
    ]
    return Run(
        alerts_by_detector=Counter(a.detector for a in alerts),
        only_by_detector=Counter(next(iter(f)) for f in finders if len(f) == 1),
        false_by_detector=Counter(a.detector for a in false),
        missed_cases=missed,
        seed=config.seed,
        accounts=config.accounts,
        evaluation=evaluation,
        false_alerts=len(false),
        account_days=config.accounts * WINDOW_HOURS / 24.0,
        seconds=time.perf_counter() - began,
        false_examples=examples,
    )


def detector_table(runs: list[Run]) -> str:
    """Markdown: alerts per detector, those on no planted fraud, and cases only it found."""
    alerts: Counter[str] = Counter()
    false: Counter[str] = Counter()
    only: Counter[str] = Counter()
    for r in runs:
        alerts.update(r.alerts_by_detector)
        false.update(r.false_by_detector)
        only.update(r.only_by_detector)
    lines = [
        "| detector | alerts | on no planted fraud | fraud cases only it found |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, count in alerts.most_common():
        lines.append(f"| {name} | {count} | {false[name]} | {only[name]} |")
    return "\n".join(lines)


def table(title: str, runs: list[Run]) -> str:
    """Markdown: recall per pattern over all runs, precision, hard negatives, FP rate."""
    cases = {p: 0 for p in PATTERNS}
    found = {p: 0 for p in PATTERNS}
    for r in runs:
        for pattern, score in r.evaluation.per_pattern.items():
            cases[pattern] += score.cases
            found[pattern] += score.found
    alerts = sum(r.evaluation.alerts for r in runs)
    true = sum(r.evaluation.true_alerts for r in runs)
    hn = sum(r.evaluation.hard_negative_alerts for r in runs)
    false = sum(r.false_alerts for r in runs)
    days = sum(r.account_days for r in runs)
    seeds = sorted({r.seed for r in runs})
    sizes = sorted({r.accounts for r in runs})
    lines = [
        f"**{title}** (seeds {', '.join(map(str, seeds))}; "
        f"{', '.join(f'{s:,}' for s in sizes)} accounts; {len(runs)} runs)",
        "",
        "| pattern | cases | found | recall |",
        "| --- | ---: | ---: | ---: |",
    ]
    for p in PATTERNS:
        recall = found[p] / cases[p] if cases[p] else 1.0
        lines.append(f"| {p} | {cases[p]} | {found[p]} | {recall:.2f} |")
    all_cases, all_found = sum(cases.values()), sum(found.values())
    lines.append(f"| **all** | {all_cases} | {all_found} | {all_found / all_cases:.2f} |")
    precision = true / alerts if alerts else 1.0
    lines += [
        "",
        "| precision | alerts | on planted fraud | on hard negatives | false alerts "
        "| false alerts / 1,000 account-days |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
        f"| {precision:.3f} | {alerts} | {true} | {hn} | {false} | {1000 * false / days:.2f} |",
    ]
    by_detector: Counter[str] = Counter()
    for r in runs:
        by_detector.update(r.false_by_detector)
    if by_detector:
        statistical = {*detectors.STATISTICAL_DETECTORS, *detectors.EVENT_DETECTORS}
        lines.append(
            "\nAlerts on no planted fraud, by detector: "
            + ", ".join(
                f"{name} ({'statistical' if name in statistical else 'graph'}) {count}"
                for name, count in by_detector.most_common()
            )
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tuning-seeds", type=int, nargs="*", default=[7, 11, 3])
    parser.add_argument("--held-out-seeds", type=int, nargs="*", default=[101, 102, 103, 104])
    parser.add_argument("--sizes", type=int, nargs="+", default=[300, 1000])
    parser.add_argument("--subtle", type=float, default=0.05)
    parser.add_argument(
        "--shared-devices",
        type=float,
        default=0.0,
        help="share of organic actors on a household device (0.1 is realistic; 0: none)",
    )
    parser.add_argument("--fraud-per-pattern", type=int, default=3)
    parser.add_argument("-v", "--verbose", action="store_true", help="list every miss")
    parser.add_argument(
        "--by-detector", action="store_true", help="also tabulate the alerts of each detector"
    )
    args = parser.parse_args()
    print(f"command: python -m bench.quality {' '.join(sys.argv[1:])}".rstrip())
    for title, seeds in (
        ("tuning seeds", args.tuning_seeds),
        ("held-out seeds", args.held_out_seeds),
    ):
        if not seeds:
            continue
        runs = []
        for seed in seeds:
            for size in args.sizes:
                config = SimulationConfig(
                    seed=seed,
                    accounts=size,
                    fraud_accounts_per_pattern=args.fraud_per_pattern,
                    subtle_fraud=args.subtle,
                    shared_devices=args.shared_devices,
                )
                run = run_one(config)
                runs.append(run)
                missed = [p for p, s in run.evaluation.per_pattern.items() if s.found < s.cases]
                print(
                    f"  seed {seed} accounts {size}: {run.evaluation.summary()}; "
                    f"{run.false_alerts} false alerts; {run.seconds:.1f} s"
                    + (f"; missed {missed}" if missed else "")
                )
                if args.verbose:
                    for hit in run.evaluation.hard_negative_hits:
                        print(f"    hard negative: {hit}")
                    for example in run.false_examples:
                        print(f"    false: {example}")
                    for case in run.missed_cases:
                        print(f"    missed: {case}")
        print()
        print(table(title, runs))
        if args.by_detector:
            print()
            print(detector_table(runs))
        print(f"\nmedian run {statistics.median(r.seconds for r in runs):.1f} s\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
