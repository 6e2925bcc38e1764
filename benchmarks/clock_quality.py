"""Remote clock alignment quality: the aligned error against a known truth.

The far side (a real ``moalab-server``, or a ProcessExecutor child) runs on a
skewed clock (offset 3000 s, drift 40 ppm; ``MOALAB_CLOCK_SKEW``), so the true
mapping is known and the error of each conversion can be measured; see
``tests/executor/clock_rig.py``, whose :func:`measure_alignment` does the work
(this module needs a source checkout, as the whole suite does). Cases:

- loopback: WebSocket, REST and process executors straight to the far side
  (goal: below 50 us);
- proxy: WebSocket and REST through ``tests/executor/proxy.py``'s jittery TCP
  proxy, 1.5 ms out and 0.3 ms back plus heavy-tailed jitter (goal: below
  max(100 us, best round trip / 2): the asymmetry cannot be seen by any probe).

For each, ten times a second after a warm-up second, the error of converting
the current time and the uncertainty the executor reports for it.

``python -m benchmarks.clock_quality [--quick] [--json FILE]`` prints a table;
``await run_clock_quality(quick)`` returns the rows for the suite.
"""

import argparse
import json
import os
import secrets
import sys
from typing import Any

import trio

__all__ = ("CASES", "run_clock_quality", "format_clock_table")

CASES = (
    ("websocket", False),
    ("process", False),
    ("rest", False),
    ("websocket", True),
    ("rest", True),
)
"""(transport, through the proxy) pairs measured."""


async def run_clock_quality(quick: bool = False) -> list[dict[str, Any]]:
    """One row of :func:`measure_alignment` statistics per case, in :data:`CASES`' order:
    one case after another, about 7 s each; with ``quick``, all side by side in about
    3 s (its one warm-up second, then ten samples each: a smoke run, whose cases share
    the CPU)."""
    from tests.executor.clock_rig import measure_alignment

    if not quick:
        return [await measure_alignment(transport, proxy, duration=6.0)
                for transport, proxy in CASES]
    rows: list[dict[str, Any]] = [{} for _ in CASES]

    async def measure(i: int, transport: str, proxy: bool) -> None:
        rows[i] = await measure_alignment(transport, proxy, duration=2.0)

    async with trio.open_nursery() as nursery:
        for i, (transport, proxy) in enumerate(CASES):
            nursery.start_soon(measure, i, transport, proxy)
    return rows


def format_clock_table(rows: list[dict[str, Any]]) -> str:
    head = ("case", "rtt p50", "best rtt", "error p50", "error p99", "error max",
            "uncertainty", "within", "goal", "met", "drift err")
    lines = [" | ".join(f"{h:>11}" for h in head)]
    for r in rows:
        case = f"{r['transport']}{'+proxy' if r['proxy'] else ''}"
        cells = (case, *(f"{r[k]:.0f} us" for k in (
            "round_trip_p50_us", "best_round_trip_us", "error_p50_us", "error_p99_us",
            "error_max_us", "uncertainty_p50_us")),
            f"{r['within_uncertainty']:.0%}", f"{r['goal_us']:.0f} us",
            "yes" if r["goal_met"] else "NO", f"{r['drift_error_ppm']:+.1f} ppm")
        lines.append(" | ".join(f"{c:>11}" for c in cells))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.clock_quality",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="the cases side by side, 2 s each, instead of 6 s one after another")
    parser.add_argument("--json", metavar="FILE", help="write the rows as JSON")
    args = parser.parse_args(argv)
    # the servers it starts and its executors share this token: a server would
    # otherwise bring the token kept under the home, which the executors do not know
    os.environ.setdefault("MOALAB_TOKEN", secrets.token_hex(16))
    rows = trio.run(run_clock_quality, args.quick)
    print(format_clock_table(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
    return 0 if all(r["goal_met"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
