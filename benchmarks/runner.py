"""Orchestrates ``moalab bench``: runs each side in its own interpreter, run by run.

Each run starts ``python -m benchmarks.moalab_side`` (moalab's environment)
and, with ``--compare pymoa``, ``benchmarks/pymoa_side.py`` in PyMoa's virtual
environment, alternating which goes first; then it summarises medians over
the runs, prints the table, and writes JSON and a plot on request.
"""

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from .common import EXECUTORS, EXTRA_SUBJECTS
from .load import cpu_load
from .report import plot, plot_unavailable, summarize
from .table import format_table

__all__ = ("main", "run")

REPO = Path(__file__).resolve().parents[1]
SIDE_TIMEOUT = {"quick": 300.0, "full": 1800.0}


def _run_side(command: list[str], timeout: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="moalab-bench-") as tmp:
        out = Path(tmp) / "side.json"
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
        completed = subprocess.run(command + ["--out", str(out)], cwd=REPO, env=env,
                                   timeout=timeout)
        if completed.returncode != 0 or not out.exists():
            raise RuntimeError(f"{' '.join(command)} failed with exit code {completed.returncode}")
        return json.loads(out.read_text())


def _git_state() -> str:
    """The commit measured, with '+dirty' when moalab/ has uncommitted changes."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, text=True,
                              capture_output=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "moalab", "benchmarks"],
                               cwd=REPO, text=True, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty.strip() else "")


def run(options: argparse.Namespace) -> dict[str, Any]:
    """Run the suite as ``options`` say; return the summary."""
    subjects = list(EXECUTORS + EXTRA_SUBJECTS)
    if options.only:
        subjects = [s.strip() for s in options.only.split(",") if s.strip()]
        unknown = set(subjects) - set(EXECUTORS + EXTRA_SUBJECTS)
        if unknown:
            raise ValueError(f"--only: unknown name(s) {', '.join(sorted(unknown))}; choose from "
                             + ", ".join(EXECUTORS + EXTRA_SUBJECTS))
    runs = options.runs or (1 if options.quick else 3)
    if runs < 1:
        raise ValueError(f"--runs {runs}: give at least 1")
    mode = "quick" if options.quick else "full"
    quick = ["--quick"] if options.quick else []
    commands = {"moalab": [sys.executable, "-m", "benchmarks.moalab_side", *quick,
                           "--subjects", ",".join(subjects)]}
    pymoa_executors = [s for s in subjects if s in EXECUTORS]
    if options.compare == "pymoa" and pymoa_executors:
        from .pymoa_env import ensure_pymoa_venv

        python = ensure_pymoa_venv()
        commands["pymoa"] = [str(python), str(REPO / "benchmarks" / "pymoa_side.py"), *quick,
                             "--executors", ",".join(pymoa_executors)]
    results: dict[str, list[dict[str, Any]]] = {library: [] for library in commands}
    with cpu_load(options.load) as load:
        for i in range(runs):
            order = list(commands) if i % 2 == 0 else list(commands)[::-1]
            for library in order:
                print(f"run {i + 1}/{runs}: {library}", file=sys.stderr, flush=True)
                results[library].append(_run_side(commands[library], SIDE_TIMEOUT[mode]))
    versions = {f"{library}_version": r[0]["version"] for library, r in results.items()}
    loads = {  # the 1-minute load average when each run started and ended
        library: [[run["info"].get(key, [None])[0] for key in ("loadavg_start", "loadavg_end")]
                  for run in side_runs]
        for library, side_runs in results.items()
    }
    meta = {"mode": mode, "runs": runs, "compare": options.compare, **versions,
            "python": platform.python_version(), "platform": platform.platform(),
            "cpus": os.cpu_count(), "commit": _git_state(), "load": load,
            "loadavg_1min_start_end": loads,
            "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds")}
    return summarize(results, meta)


def main(options: argparse.Namespace) -> int:
    missing = options.plot and plot_unavailable()
    if missing:
        print(f"moalab bench: {missing}", file=sys.stderr)
        return 2
    try:
        summary = run(options)
    except (ValueError, RuntimeError, subprocess.SubprocessError) as exc:
        print(f"moalab bench: {exc}", file=sys.stderr)
        return 2
    print(format_table(summary))
    if options.json:
        options.json.write_text(json.dumps(summary, indent=1))
        print(f"\nJSON written to {options.json}")
    if options.plot:
        try:
            plot(summary, str(options.plot))
        except RuntimeError as exc:
            print(f"moalab bench: {exc}", file=sys.stderr)
            return 2
        print(f"plot written to {options.plot}")
    return 1 if summary["errors"] else 0


if __name__ == "__main__":
    from moalab.cli.bench import add_bench_arguments

    parser = argparse.ArgumentParser(prog="python -m benchmarks.runner")
    add_bench_arguments(parser)
    sys.exit(main(parser.parse_args()))
