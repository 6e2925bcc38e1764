"""``--load N``: CPU-bound processes beside the benchmark, as a lab PC runs a camera or
a GUI beside the experiment (issue 19).

Each is a ``python -c`` busy loop. It ignores Ctrl-C (the terminal sends it to the
whole process group: the bench stops its load itself, in order, after its sides),
reports its CPU time when terminated, and ends on its own if the bench dies without
stopping it (its parent changes).
"""

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ("BUSY_LOOP", "cpu_load")

BUSY_LOOP = """\
import os, signal, sys, time
parent = os.getppid()
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(print(time.process_time(), flush=True)))
while os.getppid() == parent:
    for _ in range(1_000_000):
        pass
"""
"""One load process: spins until terminated (it prints its CPU seconds) or orphaned."""

STOP_TIMEOUT = 5.0
"""Seconds a load process gets to exit after SIGTERM before it is killed."""


def _stop(process: subprocess.Popen[str]) -> float | None:
    """Terminate and join ``process``; its CPU seconds, or None if it had to be killed
    or printed none."""
    process.terminate()
    try:
        out, _ = process.communicate(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        return None
    try:
        return float(out.split()[-1])
    except (IndexError, ValueError):
        return None


@contextmanager
def cpu_load(processes: int) -> Iterator[dict[str, Any]]:
    """Run ``processes`` busy loops for the ``with`` block; yields the load's record for
    the summary's meta (``processes``, ``pids``; ``cpu_s``, each one's CPU seconds, is
    filled in when they have stopped). They are stopped and joined however the block
    ends, Ctrl-C included. ``processes`` of 0 starts nothing.
    """
    if processes < 0:
        raise ValueError(f"--load {processes}: give 0 or more CPU-bound processes")
    started: list[subprocess.Popen[str]] = []
    record: dict[str, Any] = {"processes": processes, "pids": [], "cpu_s": []}
    try:
        for _ in range(processes):
            started.append(subprocess.Popen([sys.executable, "-c", BUSY_LOOP],
                                            stdout=subprocess.PIPE, text=True))
        record["pids"] = [p.pid for p in started]
        if started:
            print(f"load: {processes} CPU-bound process(es) beside the benchmark "
                  f"(pids {', '.join(map(str, record['pids']))})", file=sys.stderr, flush=True)
        yield record
    finally:
        record["cpu_s"] = [_stop(p) for p in started]
        if started:
            cpu = ", ".join("killed" if s is None else f"{s:.1f}" for s in record["cpu_s"])
            print(f"load: stopped and joined (CPU s each: {cpu})", file=sys.stderr, flush=True)
