"""`moalab bench`: the executor benchmark suite.

The suite lives in the repository's ``benchmarks/`` directory (not installed
with the package: it needs a source checkout, and PyMoa's side runs in a
virtual environment of its own). This module defines the command's options,
finds that directory next to the moalab package or in the current directory,
and hands the options to ``benchmarks.runner``. Before the command runs, only the
names ``--only`` accepts are read from it (``benchmarks/common.py``: the standard
library only), so ``--help`` lists what the suite accepts.
"""

import argparse
import importlib.util
import sys
from pathlib import Path

__all__ = ("add_bench_arguments", "run_bench", "find_benchmarks", "subjects_help")

def subjects_help() -> str:
    """The ``--only`` names, as ``benchmarks/common.py`` defines them (the names its
    runner accepts: ``EXECUTORS`` and ``EXTRA_SUBJECTS``), or where to find them when
    no source checkout is found."""
    root = find_benchmarks()
    if root is None:
        return ("the names in benchmarks/common.py's EXECUTORS and EXTRA_SUBJECTS "
                "(a source checkout's)")
    # loaded by path, under a private name: benchmarks/ stays off sys.path until it runs
    spec = importlib.util.spec_from_file_location("_moalab_bench_names",
                                                  root / "benchmarks" / "common.py")
    common = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(common)
    return (f"{', '.join(common.EXECUTORS)} (executors, both sides); "
            f"{', '.join(common.EXTRA_SUBJECTS)} (moalab only: see benchmarks/README.md)")


def add_bench_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true",
                        help="small workloads, one run, a short table (a row per executor): "
                        "under a minute without --compare")
    parser.add_argument("--runs", type=int, metavar="N",
                        help="runs per library (default 3; 1 with --quick)")
    parser.add_argument("--compare", choices=["pymoa"],
                        help="also run the workloads through PyMoa (pymoa-remote 0.1.0, "
                        "installed into .bench/pymoa-venv on first use), alternating run by run")
    parser.add_argument("--only", metavar="NAMES", help=f"comma-separated subset of: {subjects_help()}")
    parser.add_argument("--load", type=int, default=0, metavar="N",
                        help="run N CPU-bound processes (a busy loop each) beside the whole "
                        "benchmark, as a camera or a GUI beside an experiment; stopped at "
                        "the end (default 0)")
    parser.add_argument("--json", type=Path, metavar="FILE",
                        help="write the summary as JSON (one object per executor and metric "
                        "with median, min and max over runs)")
    parser.add_argument("--plot", type=Path, metavar="FILE.png",
                        help='draw the comparison as a PNG (needs matplotlib: '
                        'pip install "moalab[bench]"; checked before the suite runs)')


def find_benchmarks() -> Path | None:
    """The repository root holding ``benchmarks/runner.py``, or None."""
    for root in (Path(__file__).resolve().parents[2], Path.cwd()):
        if (root / "benchmarks" / "runner.py").is_file():
            return root
    return None


def run_bench(args: argparse.Namespace) -> int:
    """Run the suite; return the exit code (2 when it cannot run)."""
    root = find_benchmarks()
    if root is None:
        print("moalab bench: benchmarks/ was not found beside the moalab package "
              f"({Path(__file__).resolve().parents[2]}) nor in the current directory "
              f"({Path.cwd()}); run it from a moalab source checkout", file=sys.stderr)
        return 2
    sys.path.insert(0, str(root))
    from benchmarks.runner import main

    return main(args)
