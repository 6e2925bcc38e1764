"""`moalab bench --quick` runs end to end and writes the promised JSON.

The one place the test suite runs the benchmarks; nothing here depends on a
timing. PyMoa is not compared (no --compare), so no virtual environment is made.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from benchmarks.common import EXECUTORS, EXTRA_SUBJECTS, METRICS  # noqa: E402

EXECUTOR_METRICS = {"exec_rate_hz", "concurrent_rate_hz", "stream_rate_hz", "array_stream_mb_s"}


@pytest.mark.timeout(420)
def test_bench_quick_writes_table_and_json(tmp_path):
    out = tmp_path / "bench.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(REPO), os.environ.get("PYTHONPATH", "")]))}
    completed = subprocess.run(
        [sys.executable, "-m", "moalab.cli.main", "bench", "--quick", "--json", str(out)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=400,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert "moalab bench" in completed.stdout
    assert "Goals" in completed.stdout

    summary = json.loads(out.read_text())
    assert set(summary) >= {"meta", "results", "skipped", "errors", "comparison", "goals"}
    assert summary["meta"]["mode"] == "quick"
    assert summary["meta"]["runs"] == 1
    assert summary["errors"] == []
    for row in summary["results"]:
        assert set(row) >= {"library", "executor", "metric", "unit", "median", "min", "max", "n"}
        assert row["library"] == "moalab"
        assert row["metric"] in METRICS
        assert row["min"] <= row["median"] <= row["max"]

    measured = {(r["executor"], r["metric"]) for r in summary["results"]}
    skipped = {r["executor"] for r in summary["skipped"] if r["metric"] == "*"}
    for executor in EXECUTORS:
        if executor in skipped:  # e.g. no moalab-server installed
            continue
        assert {(executor, m) for m in EXECUTOR_METRICS} <= measured, executor
    for subject in EXTRA_SUBJECTS:
        if subject == "clock":  # its rows are the executors it aligns through
            assert ("websocket_proxy", "clock_error_max_us") in measured
        else:
            assert any(e == subject for e, _ in measured), subject
    assert {g["metric"] for g in summary["goals"]} >= {"exec_rate_hz", "gate_latency_p99_us"}
    for goal in summary["goals"]:
        assert set(goal) >= {"goal", "value", "met"}
