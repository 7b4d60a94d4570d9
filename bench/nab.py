"""NAB benchmark of `engagewatch score-csv`'s causal scorer.

    python -m bench.nab [--data ../shared/nab] [--out DIR] [--ablate] [--twofold]

Scores every series under DATA/data with `server.score_csv.score_frame` (the function behind
`engagewatch score-csv`), writes DIR/<category>/<name>.csv (NAB's results layout), runs the
shared `score.py --optimize` on DIR and prints the three profiles, then per-category scores at the
corpus-wide thresholds. `--ablate` re-scores with each part of the detector switched off and
prints the points each part earns; `--twofold` picks the config (from TUNING_GRID) and the
threshold on one half of the files and scores the other half with them (out-of-sample). The data
is read in place, never copied.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from detectors.streaming import StreamingConfig
from server.score_csv import score_frame

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "nab"
DEFAULT_OUT = REPO / "reports" / "nab"  # /reports/ is gitignored
PROFILES = ("standard", "reward_low_FP_rate", "reward_low_FN_rate")
# Each ablation switches one part off; the points lost are what that part earns.
ABLATIONS: dict[str, dict[str, Any]] = {
    "change view": {"use_difference": False},
    "seasonal (daily) view": {"use_seasonal": False},
    "likelihood": {"use_likelihood": False},
    "new-extreme rule": {"use_new_extreme": False},
    "slow seasonal extreme": {"slow_rows": 0},
    "cusum (sustained rise)": {"use_cusum": False},
    "quiet period": {"use_quiet_period": False},
    "quiet period's row floor": {"quiet_min_rows": 0},
    "break through the quiet": {"break_margin": float("inf")},
    "cusum's minimum run": {"cusum_min_rows": 0},
    "one-week cap on learning": {"learning_seconds": None},
    "weekly tier (below alert)": {"use_weekly_tier": False},
}
# The neighbourhood the defaults were tuned in: --twofold re-tunes over it on each half.
# slow_rows/slow_margin and cusum_clip/cusum_margin are not in it: they were chosen on the whole
# corpus (in-sample); cusum_threshold (Page's h) was set by the clean-traffic alert rate.
TUNING_GRID: list[dict[str, Any]] = [
    {"likelihood_short": short, "min_history": history, "surprise_cap": cap, "cusum_drift": drift}
    for short in (30, 45)
    for history in (200, 300)
    for cap in (12.0, 16.0)
    for drift in (1.0, 1.5)
]

FloatArray = npt.NDArray[np.float64]


def load_scorer(data_dir: Path) -> ModuleType:
    """The shared NAB scorer (score.py beside the data), imported from where it lies."""
    spec = importlib.util.spec_from_file_location("nab_score", data_dir / "score.py")
    if spec is None or spec.loader is None:
        raise FileNotFoundError(data_dir / "score.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["nab_score"] = module  # its dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def load_series(data_dir: Path) -> dict[str, pd.DataFrame]:
    """Every data file, keyed by its path relative to data/ (e.g. realTweets/x.csv)."""
    root = data_dir / "data"
    return {str(path.relative_to(root)): pd.read_csv(path) for path in sorted(root.glob("*/*.csv"))}


def score_corpus(
    series: Mapping[str, pd.DataFrame], config: StreamingConfig
) -> dict[str, FloatArray]:
    return {rel: score_frame(frame, config) for rel, frame in series.items()}


class Evaluator:
    """In-process NAB scoring with the shared scorer's own functions (labels loaded once)."""

    def __init__(self, data_dir: Path) -> None:
        self.nab = load_scorer(data_dir)
        self.profiles = self.nab.load_profiles(str(data_dir))
        windows = data_dir / "labels" / "combined_windows.json"
        self.labels = {lab.rel: lab for lab in self.nab.load_labels(str(data_dir), str(windows))}

    def corpus(self, scores: Mapping[str, FloatArray], files: Sequence[str]) -> Any:
        return self.nab.Corpus([self.nab.build_points(self.labels[r], scores[r]) for r in files])

    def normalized(self, corpus: Any, profile: str, threshold: float) -> float:
        weights = self.profiles[profile]
        null = -weights["fnWeight"] * corpus.n_windows_scorable
        perfect = weights["tpWeight"] * corpus.n_windows_total
        return float(100.0 * (self.raw(corpus, profile, threshold) - null) / (perfect - null))

    def raw(self, corpus: Any, profile: str, threshold: float) -> float:
        weights = self.profiles[profile]
        return float(
            self.nab.score_at(
                corpus.score,
                corpus.gwin,
                corpus.tp_base,
                corpus.fp_base,
                corpus.n_windows_scorable,
                threshold,
                weights,
            )["raw"]
        )

    def optimized(
        self, scores: Mapping[str, FloatArray], files: Sequence[str] | None = None
    ) -> dict[str, tuple[float, float]]:
        """Per profile: (best threshold, normalized score at it) over `files` (default all)."""
        corpus = self.corpus(scores, files or sorted(self.labels))
        out = {}
        for profile in PROFILES:
            threshold, _ = self.nab.optimise(corpus, self.profiles[profile])
            out[profile] = (threshold, self.normalized(corpus, profile, threshold))
        return out

    def two_fold(self, candidates: Sequence[Mapping[str, FloatArray]]) -> dict[str, float]:
        """Out-of-sample score: on one half of the files pick the best candidate (scores of one
        config each) and its threshold, score the other half with both, and the other way
        round; the raw scores of the two held-out halves are added and normalized over the
        whole corpus."""
        files = sorted(self.labels)
        halves = (files[0::2], files[1::2])  # alternate files: every category in both halves
        out = {}
        for profile in PROFILES:
            weights = self.profiles[profile]
            raw = 0.0
            for fit, held in (halves, halves[::-1]):
                fits = [self.nab.optimise(self.corpus(c, fit), weights) for c in candidates]
                best = int(np.argmax([fit_raw for _, fit_raw in fits]))
                threshold = fits[best][0]
                raw += self.raw(self.corpus(candidates[best], held), profile, threshold)
            whole = self.corpus(candidates[0], files)
            null = -weights["fnWeight"] * whole.n_windows_scorable
            perfect = weights["tpWeight"] * whole.n_windows_total
            out[profile] = 100.0 * (raw - null) / (perfect - null)
        return out

    def per_category(
        self, scores: Mapping[str, FloatArray], thresholds: Mapping[str, float]
    ) -> dict[str, dict[str, float]]:
        """Normalized score of each category at the corpus-wide threshold of each profile."""
        categories = sorted({rel.split("/")[0] for rel in self.labels})
        table: dict[str, dict[str, float]] = {}
        for category in categories:
            files = [rel for rel in sorted(self.labels) if rel.startswith(category + "/")]
            corpus = self.corpus(scores, files)
            if corpus.n_windows_total == 0:
                # No window: the score is just the false-positive cost; report raw.
                table[category] = {p: self.raw(corpus, p, thresholds[p]) for p in PROFILES}
            else:
                table[category] = {p: self.normalized(corpus, p, thresholds[p]) for p in PROFILES}
        return table


def write_results(
    series: Mapping[str, pd.DataFrame], scores: Mapping[str, FloatArray], out: Path
) -> None:
    for rel, frame in series.items():
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.assign(anomaly_score=scores[rel]).to_csv(path, index=False)


def _fmt(row: Mapping[str, float]) -> str:
    return " ".join(f"{row[p]:>9.2f}" for p in PROFILES)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--ablate", action="store_true")
    parser.add_argument("--twofold", action="store_true")
    args = parser.parse_args(argv)

    series = load_series(args.data)
    rows = sum(len(f) for f in series.values())
    config = StreamingConfig()
    started = time.perf_counter()
    scores = score_corpus(series, config)
    elapsed = time.perf_counter() - started
    print(f"scored {len(series)} files, {rows} rows in {elapsed:.1f} s ({config})")
    write_results(series, scores, args.out)
    print(f"results in {args.out}; shared scorer:")
    subprocess.run(
        [
            *(sys.executable, str(args.data / "score.py"), "--data", str(args.data)),
            *("--results", str(args.out), "--optimize"),
        ],
        check=True,
    )

    evaluator = Evaluator(args.data)
    best = evaluator.optimized(scores)
    thresholds = {p: best[p][0] for p in PROFILES}
    header = f"{'':<26}" + " ".join(f"{p[:9]:>9}" for p in ("standard", "low FP", "low FN"))
    print("\nper category at the corpus thresholds (no-window categories: raw FP cost)")
    print(header)
    for category, row in evaluator.per_category(scores, thresholds).items():
        print(f"{category:<26}{_fmt(row)}")
    if args.twofold:
        grid = [dataclasses.replace(config, **change) for change in TUNING_GRID]
        candidates = [score_corpus(series, c) for c in grid]
        print(f"\ntwo-fold over {len(grid)} configs (config and threshold chosen on one half")
        print("of the files, scored on the other; both ways)")
        print(header)
        print(f"{'threshold only':<26}{_fmt(evaluator.two_fold([scores]))}")
        print(f"{'config + threshold':<26}{_fmt(evaluator.two_fold(candidates))}")
    if args.ablate:
        full = {p: best[p][1] for p in PROFILES}
        print("\nablation: points lost when one part is switched off (in-sample, re-optimized)")
        print(header)
        print(f"{'full detector':<26}{_fmt(full)}")
        for name, change in ABLATIONS.items():
            ablated = evaluator.optimized(
                score_corpus(series, dataclasses.replace(config, **change))
            )
            lost = {p: full[p] - ablated[p][1] for p in PROFILES}
            print(f"{'- ' + name:<26}{_fmt(lost)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
