"""Coordinated sharing and shared-client detection over one large share stream (default 10M).

    python -m bench.graph_scale [--shares 10000000] [--detectors coordinated_sharing shared_client]

The stream is `graphs.synthetic.make_share_stream`: Zipf-popular posts shared over hours after
publication (the head posts draw several shares a second at their peak: the crowd that must not
be paired), with planted sharing rings (40 accounts, 30 posts each within 20 s, plus camouflage
shares of ordinary posts). The frame is built first and not timed; each detector then runs once
on it, timed, with tracemalloc tracing its allocations (numpy arrays included), so "peak" is
what the detector itself added on top of the frame. CPU seconds are printed beside wall
seconds: on a machine shared with other work they say what the detector would take alone.
maxrss is the whole process (frame, its generation and every detector) as the OS saw it.

Reference: CooRnet (the R package for coordinated link sharing) runs out of memory at 142k
shares on a 16 GB machine, because it materializes every pair of accounts that shared a link
within the coordination interval.
"""

from __future__ import annotations

import argparse
import gc
import resource
import sys
import time
import tracemalloc

import graphs
from detectors.findings import EventFrame
from graphs.synthetic import make_share_stream, member_f1

COORNET_REFERENCE = "CooRnet: out of memory at 142k shares on 16 GB"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shares", type=int, default=10_000_000)
    parser.add_argument("--rings", type=int, default=10)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--detectors", nargs="+", default=["coordinated_sharing", "shared_client"])
    args = parser.parse_args()

    began = time.perf_counter()
    stream = make_share_stream(args.shares, seed=args.seed, n_rings=args.rings)
    frame = stream.frame
    frame_bytes = sum(getattr(frame, f).nbytes for f in EventFrame.__dataclass_fields__)
    print(
        f"stream: {len(frame):,} shares built in {time.perf_counter() - began:.1f} s; "
        f"the frame holds {frame_bytes / 2**30:.2f} GiB (fixed-width UTF-32 id columns)"
    )
    gc.collect()

    for name in args.detectors:
        detector = graphs.GRAPH_DETECTORS[name]()
        tracemalloc.start()
        began, cpu_began = time.perf_counter(), time.process_time()
        findings = detector.detect(frame)
        seconds, cpu = time.perf_counter() - began, time.process_time() - cpu_began
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        f1s = [
            max((member_f1(set(f.member_ids), ring.members) for f in findings), default=0.0)
            for ring in stream.rings
        ]
        found = sum(f1 >= 0.9 for f1 in f1s)
        print(
            f"{name}: {seconds:.1f} s wall, {cpu:.1f} s CPU, peak {peak / 2**30:.2f} GiB traced "
            f"({peak / len(frame):.0f} B/share), {len(findings)} findings, "
            f"{found}/{len(stream.rings)} rings found with member F1 >= 0.9"
            + (f" (mean F1 {sum(f1s) / len(f1s):.2f})" if f1s else "")
        )
        gc.collect()
    maxrss_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"process maxrss {maxrss_gib:.2f} GiB (frame and generation included)")
    print(f"reference: {COORNET_REFERENCE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
