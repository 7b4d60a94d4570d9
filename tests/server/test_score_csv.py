"""`engagewatch score-csv` on a real NAB series: every row scored, causally, by the library."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from detectors.streaming import StreamingConfig, causal_scores
from server.errors import InvalidArgument
from server.score_csv import score_csv_file, score_frame

REPO = Path(__file__).resolve().parents[2]
NAB_FILE = REPO.parent / "shared" / "nab" / "data" / "realAdExchange" / "exchange-2_cpc_results.csv"
PREFIX = 1200  # past the learning period (300 rows) and the labelled window (rows 244-406)


def engagewatch(*args: str) -> list[str]:
    """The installed console script (pyproject [project.scripts]), else the same entry point."""
    script = shutil.which("engagewatch")
    return [script, *args] if script else [sys.executable, "-m", "server.cli", *args]


def test_score_csv_cli_scores_a_nab_file_causally(tmp_path: Path) -> None:
    source = pd.read_csv(NAB_FILE)
    full_in, full_out = tmp_path / "series.csv", tmp_path / "scored.csv"
    prefix_in = tmp_path / "prefix.csv"
    shutil.copy(NAB_FILE, full_in)
    source.iloc[:PREFIX].to_csv(prefix_in, index=False)
    runs = [
        subprocess.Popen(c, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for c in (
            engagewatch("score-csv", str(full_in), "-o", str(full_out)),
            engagewatch("score-csv", str(prefix_in)),  # rewritten in place
        )
    ]
    for run in runs:
        _, err = run.communicate(timeout=120)
        assert run.returncode == 0, err

    scored = pd.read_csv(full_out)
    assert list(scored.columns) == ["timestamp", "value", "anomaly_score"]
    assert scored["timestamp"].tolist() == source["timestamp"].tolist()
    np.testing.assert_array_equal(scored["value"], source["value"])
    scores = scored["anomaly_score"].to_numpy()
    assert np.all((scores >= 0) & (scores <= 1))
    # The CLI is the library scorer with the file's timestamps, nothing else.
    stamps = pd.to_datetime(source["timestamp"]).to_numpy(dtype="datetime64[ns]")
    expected = causal_scores(source["value"].to_numpy(dtype=float), StreamingConfig(), stamps)
    np.testing.assert_allclose(scores, expected, rtol=1e-12, atol=0)
    assert np.count_nonzero(scores >= StreamingConfig().alert_level) >= 1
    prefix_scores = pd.read_csv(prefix_in)["anomaly_score"].to_numpy()
    np.testing.assert_allclose(prefix_scores, scores[:PREFIX], rtol=1e-12, atol=0)


def test_score_frame_rejects_what_it_cannot_read(tmp_path: Path) -> None:
    good = pd.DataFrame({"timestamp": ["2026-01-01 00:00:00"] * 3, "value": [1, 2, 3]})
    assert score_frame(good).shape == (3,)
    with pytest.raises(InvalidArgument, match="missing column"):
        score_frame(good.drop(columns="timestamp"))
    with pytest.raises(InvalidArgument, match="timestamp"):
        score_frame(good.assign(timestamp=["2026-01-01", "yesterday", "2026-01-03"]))
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,value\n2026-01-01 00:00:00,3\n2026-01-01 01:00:00,many\n")
    with pytest.raises(InvalidArgument, match=r"bad\.csv: non-numeric"):
        score_csv_file(bad, tmp_path / "out.csv")
