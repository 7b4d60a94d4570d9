"""Lockstep groups on the FRAUDAR / HoloScope protocol, and lockstep at 10M follows.

    python -m bench.graph [--backgrounds cl30k cl100k cl200k heavy100k] [--densities ...]
                          [--camouflage none random biased hijacked] [--timing none window
                          burst_drop] [--seeds BACKGROUND BLOCK]
    python -m bench.graph --scale 10000000

Accuracy: a 200 x 200 block injected at each density into 20k x 20k Chung-Lu backgrounds
(graphs/synthetic_blocks.py), with each camouflage and timing. The detector runs exactly as the
service runs it: `LockstepDetector().detect(EventFrame)` with the default config. F1 is over
actors and targets together: every reported group's members and targets against the block's
nodes (those with at least one block edge; a node the injection never touched is not in the
block). Clean backgrounds (no injection) must report no group.

Identifiable ceiling (printed beside each F, in brackets in the tables): the F of a detector that
reports exactly the block nodes that can be told from the background and nothing else
(`graphs.synthetic_blocks.identifiable`). Topology: the 2-core of the block's own edges; a node
with one block edge has the degree profile of any background node, and so does a node whose
block edges all lead to such nodes. With timing (`window`, `burst_drop`) the core grows, to a
fixed point, by every actor with a block follow of a kept target (that follow sits in the
target's delivery burst) and every target with two block follows or more, one from a kept actor
(that follow has company in time). A target reached by one block actor only stays out: its one
follow's time is independent of every other block follow. A block node has about
Poisson(200 d) block edges at density d, so at 0.01 about 31% of the truth has one block edge
and the ceilings are 0.73 (topology) and 0.89 (timing), below the goal of 0.95; at 0.02 the
topology ceiling is 0.94. The ceiling is node-level: it ignores whether the block as a whole
beats the background (at 0.005 it does not).

Farm excess (printed per topology cell, nats): how far the planted farm, refined by the
detector's own refinement as a seed would be, clears the topology test's bar (`farm_excess`).
Below 0 the test cannot tell the farm from what a scan finds in noise, and a 0 in the table is
the test's limit rather than the search's.

Held out: the tables use background seed 1 and block seed 2, which the detector was tuned on;
`--seeds 11 12` (or any other pair) draws backgrounds and blocks it has never seen.

Scale: a 10M-follow background (power-law actors and targets, follows over four weeks) with
five farms of different shape; wall time and peak traced memory of `detect` alone (the
EventFrame is built before measuring, as the store hands it over).
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
import tracemalloc
from collections import defaultdict

import numpy as np

from detectors.findings import EventFrame
from graphs.dense_blocks import refined_excess
from graphs.lockstep import LockstepDetector
from graphs.peeling import Block
from graphs.synthetic_blocks import (
    CAMOUFLAGES,
    DAY,
    SPAN,
    T0,
    TIMINGS,
    Edges,
    Injected,
    block_core,
    chung_lu,
    f1_nodes,
    identifiable,
    inject,
    to_event_frame,
)

BACKGROUNDS = {
    "cl30k": (30_000, False),
    "cl100k": (100_000, False),
    "cl200k": (200_000, False),
    "heavy100k": (100_000, True),
}
DENSITIES = (0.005, 0.01, 0.02, 0.03, 0.05, 0.10)


def accuracy(args: argparse.Namespace) -> None:
    detector = LockstepDetector()
    results: dict[tuple[str, str, str], dict[float, float]] = defaultdict(dict)
    ceilings: dict[tuple[str, str, str], dict[float, float]] = defaultdict(dict)
    for bg_name in args.backgrounds:
        n_edges, heavy = BACKGROUNDS[bg_name]
        bg = chung_lu(args.seeds[0], n_edges, heavy=heavy)
        began = time.perf_counter()
        clean = detector.detect(to_event_frame(bg))
        print(
            f"{bg_name}: clean background, {len(bg.actors)} follows -> {len(clean)} groups "
            f"({time.perf_counter() - began:.1f} s)",
            flush=True,
        )
        for cam, timing, density in itertools.product(args.camouflage, args.timing, args.densities):
            inj = inject(bg, args.seeds[1], density=density, camouflage=cam, timing=timing)
            findings = detector.detect(to_event_frame(inj.edges))
            actors = {m for f in findings for m in f.member_ids}
            targets = {t for f in findings for t in f.target_ids}
            f1 = f1_nodes(actors, targets, inj.true_actors, inj.true_targets)
            results[(bg_name, cam, timing)][density] = f1
            top_a, top_t = identifiable(inj, timing=timing != "none")
            ceiling = f1_nodes(top_a, top_t, inj.true_actors, inj.true_targets)
            ceilings[(bg_name, cam, timing)][density] = ceiling
            # The topology view's limit; the timing view's columns make another test.
            excess = f" farm excess={farm_excess(inj, detector):.0f}" if timing == "none" else ""
            print(
                f"  {cam:9s} {timing:10s} {density:<6} F={f1:.3f} ceiling={ceiling:.3f} "
                f"groups={len(findings)}{excess}",
                flush=True,
            )
    print()
    for bg_name in args.backgrounds:
        print(f"\n#### {bg_name}\n")
        print("| camouflage | timing | " + " | ".join(f"{d:g}" for d in args.densities) + " |")
        print("|---|---|" + "---|" * len(args.densities))
        for cam, timing in itertools.product(args.camouflage, args.timing):
            row, top = results[(bg_name, cam, timing)], ceilings[(bg_name, cam, timing)]
            cells = " | ".join(f"{row[d]:.2f} ({top[d]:.2f})" for d in args.densities)
            print(f"| {cam} | {timing} | {cells} |")


def farm_excess(inj: Injected, detector: LockstepDetector) -> float:
    """How far the planted farm, refined as a seed would be, clears the topology test's bar.

    The detector's own refinement and test (`dense_blocks.refined_excess`), seeded with the
    block's k-cores (k = 1, 2, 3: the whole block and its denser middles); the best is
    reported, in nats. At 0 or more a peel that led near the farm would report it; below 0
    the test itself cannot tell the farm from what a scan finds in noise, so F = 0 there is
    the test's limit rather than the search's.
    """
    edges = inj.edges
    cores = [Block(*block_core(inj, k)) for k in (1, 2, 3)]
    return refined_excess(
        edges.actors,
        edges.targets,
        edges.n_actors,
        edges.n_targets,
        detector.block_params("topology"),
        [b for b in cores if len(b.rows) and len(b.cols)],
    )


def scale_frame(n_edges: int, seed: int = 5) -> tuple[EventFrame, int]:
    """n_edges follows: a power-law background plus five farms (one of 5,000 accounts)."""
    rng = np.random.default_rng(seed)
    n_actors, n_targets = n_edges // 5, n_edges // 50
    farms: list[tuple[int, int, float]] = [
        (5000, 300, 0.5),  # larger than the old per-cell crowd cap
        (1000, 100, 0.3),  # rotating: a random 30% of the farm on each customer
        (300, 200, 0.05),
        (200, 50, 0.8),
        (100, 40, 0.9),
    ]
    farm_edges = sum(int(a * t * p) for a, t, p in farms)
    # Pareto tails with exponents 2.5 (actors) and 2.1 (targets): heavy, as follow graphs are.
    wa = (1.0 - rng.random(n_actors)) ** (-1.0 / 1.5)
    wt = (1.0 - rng.random(n_targets)) ** (-1.0 / 1.1)
    n_bg = n_edges - farm_edges
    a = rng.choice(n_actors, size=n_bg, p=wa / wa.sum())
    t = rng.choice(n_targets, size=n_bg, p=wt / wt.sum())
    times = T0 + rng.integers(0, SPAN, n_bg)
    parts_a, parts_t, parts_time = [a], [t], [times]
    next_actor = n_actors
    for size, n_cust, p in farms:
        customers = rng.choice(n_targets, size=n_cust, replace=False)
        hit = rng.random((size, n_cust)) < p
        ia, it = np.nonzero(hit)
        centre = T0 + rng.integers(DAY, SPAN - DAY, n_cust)
        parts_a.append(next_actor + ia)
        parts_t.append(customers[it])
        parts_time.append(centre[it] + rng.integers(0, 1800, len(ia)))
        next_actor += size
    edges = Edges(
        np.concatenate(parts_a),
        np.concatenate(parts_t),
        np.concatenate(parts_time),
        next_actor,
        n_targets,
        np.zeros(0, dtype=np.int64),
        np.zeros(0, dtype=np.int64),
    )
    return to_event_frame(edges), len(farms)


def scale(n_edges: int) -> None:
    began = time.perf_counter()
    frame, n_farms = scale_frame(n_edges)
    print(f"built {len(frame)} follows in {time.perf_counter() - began:.0f} s", flush=True)
    detector = LockstepDetector()
    # Timed without tracemalloc, which slows every allocation; memory from a second, traced run.
    began, cpu = time.perf_counter(), time.process_time()
    findings = detector.detect(frame)
    seconds, cpu_seconds = time.perf_counter() - began, time.process_time() - cpu
    tracemalloc.start()
    traced = detector.detect(frame)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    shapes = [(f.member_count, f.target_count) for f in findings]
    if shapes != [(f.member_count, f.target_count) for f in traced]:
        raise RuntimeError("the traced run found other groups than the timed run")
    print(
        f"lockstep on {len(frame):,} follows: {seconds:.1f} s ({cpu_seconds:.1f} s CPU), peak "
        f"traced memory {peak / 1e6:.0f} MB = {peak / len(frame):.0f} bytes per edge; "
        f"{len(findings)} groups (planted {n_farms}): " + ", ".join(f"{m}x{t}" for m, t in shapes)
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backgrounds", nargs="+", default=list(BACKGROUNDS))
    parser.add_argument("--densities", nargs="+", type=float, default=list(DENSITIES))
    parser.add_argument("--camouflage", nargs="+", default=list(CAMOUFLAGES))
    parser.add_argument("--timing", nargs="+", default=list(TIMINGS))
    parser.add_argument(
        "--seeds",
        nargs=2,
        type=int,
        default=[1, 2],
        metavar=("BACKGROUND", "BLOCK"),
        help="seeds of the backgrounds and of the block; 1 2 is the tables' (the detector was "
        "tuned on them), others are held out",
    )
    parser.add_argument("--scale", type=int, default=0, help="follows; runs the scale test")
    args = parser.parse_args(argv)
    if args.scale:
        scale(args.scale)
    else:
        accuracy(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
