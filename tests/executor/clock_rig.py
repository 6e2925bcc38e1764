"""A rig for measuring remote clock alignment on one machine, against the truth.

Every process here shares one clock, so the far side gets a skewed one
(``MOALAB_CLOCK_SKEW``, see :mod:`moalab.core.clock`): a real ``moalab-server``
(or ProcessExecutor child) whose experiment clock is ``offset + (1 + drift) *
perf_counter()``. The truth is then known exactly, and the aligned error of
a model at local time ``t`` is ``model.to_local(true_remote(t)) - t``.
:func:`measure_alignment` runs an alignment (optionally through the jittery
:class:`~tests.executor.proxy.DelayProxy`) and returns the error statistics;
the benchmark suite calls it too (``benchmarks/clock_quality.py``).

Only trio, numpy and moalab: no pytest.
"""

import os
import re
import signal
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter
from typing import Any, Iterator

import numpy as np
import trio

from moalab.core.clock import SKEW_ENV
from moalab.executor.clock import ClockSync
from moalab.executor.process import ProcessExecutor
from moalab.executor.remote import RemoteExecutor
from moalab.executor.rest import RestExecutor
from moalab.executor.websocket import WebSocketExecutor

from .proxy import Delay, open_delay_proxy

__all__ = ("Skew", "skewed_server", "skewed_environment", "measure_alignment", "FAST_SYNC",
           "PROXY_UP", "PROXY_DOWN")

REPO = Path(__file__).resolve().parents[2]
_LISTENING = re.compile(rb"listening on http://127\.0\.0\.1:(\d+)")

FAST_SYNC = ClockSync(probes=8, probe_spacing=0.001, interval=0.1, initial_bursts=5,
                      initial_interval=0.05, window=30.0)
"""Bursts ten times a second: a measurement in seconds, not minutes."""

PROXY_UP = Delay(base=0.0015, jitter=0.0003, alpha=1.5, cap=0.03)
PROXY_DOWN = Delay(base=0.0003, jitter=0.0002, alpha=1.2, cap=0.03)
"""The proxy's default delays: 1.5 ms out and 0.3 ms back (a 0.6 ms asymmetry bias,
which no probe can see), heavy-tailed jitter both ways."""


@dataclass(frozen=True)
class Skew:
    """A far clock: ``remote = offset + (1 + drift_ppm * 1e-6) * local``."""

    offset: float = 3000.0
    drift_ppm: float = 40.0

    @property
    def env(self) -> str:
        return f"{self.offset!r},{self.drift_ppm!r}"

    def to_remote(self, local: float) -> float:
        return self.offset + (1 + self.drift_ppm * 1e-6) * local

    def error(self, clock: Any, local: float | None = None) -> float:
        """The aligned error of ``clock`` at local time ``local`` (default now):
        its conversion of the true remote time minus the local time."""
        local = perf_counter() if local is None else local
        return clock.to_local(self.to_remote(local)) - local


def _environment(skew: Skew | None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
    if skew is None:
        env.pop(SKEW_ENV, None)
    else:
        env[SKEW_ENV] = skew.env
    return env


@contextmanager
def skewed_environment(skew: Skew) -> Iterator[None]:
    """Set ``MOALAB_CLOCK_SKEW`` in this process's environment for the block: a
    ProcessExecutor started in it has a child on the skewed clock (this process's
    own clock was fixed at import)."""
    old = os.environ.get(SKEW_ENV)
    os.environ[SKEW_ENV] = skew.env
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(SKEW_ENV, None)
        else:
            os.environ[SKEW_ENV] = old


@dataclass
class Server:
    port: int
    process: trio.Process


@asynccontextmanager
async def skewed_server(skew: Skew | None, port: int = 0,
                        allow: tuple[str, ...] = ("tests.executor.devices",)
                        ) -> AsyncIterator[Server]:
    """A ``moalab-server`` process on 127.0.0.1 whose clock is ``skew``; stopped
    (SIGTERM) at the end of the block."""
    command = [sys.executable, "-m", "moalab.cli.server", "--host", "127.0.0.1", "--port",
               str(port), "--graceful-timeout", "0.1"]
    for module in allow:
        command += ["--allow", module]
    with tempfile.TemporaryFile() as stderr:
        process = await trio.lowlevel.open_process(
            command, stdout=subprocess.PIPE, stderr=stderr, env=_environment(skew),
            cwd=str(REPO))
        try:
            output = b""
            with trio.fail_after(30):
                while (match := _LISTENING.search(output)) is None:
                    chunk = await process.stdout.receive_some(4096)
                    if not chunk:
                        stderr.seek(0)
                        raise RuntimeError(
                            f"moalab-server exited during start-up (code {await process.wait()}):"
                            f" {stderr.read().decode(errors='replace')[-2000:]}")
                    output += chunk
            yield Server(int(match[1]), process)
        finally:
            with trio.CancelScope(shield=True):
                if process.returncode is None:
                    process.send_signal(signal.SIGTERM)
                    with trio.move_on_after(10):
                        await process.wait()
                    if process.returncode is None:
                        process.kill()
                        await process.wait()
                await process.stdout.aclose()


def _executor(transport: str, port: int | None, sync: ClockSync) -> RemoteExecutor:
    if transport == "websocket":
        return WebSocketExecutor("127.0.0.1", port, clock_sync=sync)
    if transport == "rest":
        return RestExecutor("127.0.0.1", port, clock_sync=sync)
    if transport == "process":
        return ProcessExecutor(clock_sync=sync)
    raise ValueError(f"transport={transport!r}: give websocket, rest or process")


async def measure_alignment(transport: str = "websocket", proxy: bool = True,
                            duration: float = 6.0, warmup: float = 1.0,
                            skew: Skew = Skew(), sync: ClockSync = FAST_SYNC,
                            up: Delay = PROXY_UP, down: Delay = PROXY_DOWN,
                            seed: int | None = 0) -> dict[str, Any]:
    """Align with a far side on a skewed clock for ``duration`` seconds and return
    the aligned error statistics (microseconds unless named otherwise).

    ``transport``: websocket or rest (a moalab-server process, ``proxy``: through
    a :class:`DelayProxy` with ``up``/``down`` delays) or process (a
    ProcessExecutor child, never proxied). After ``warmup`` seconds the error
    and the reported uncertainty of a conversion at the current time are read
    ten times a second. ``goal_us`` is the issue's: 50 us without the proxy,
    max(100 us, best round trip / 2) through it. Runs inside trio.
    """
    if transport == "process":
        proxy = False
    samples: list[tuple[float, float]] = []
    async with AsyncExitStack() as stack:
        port = None
        if transport != "process":
            server = await stack.enter_async_context(skewed_server(skew))
            port = server.port
            if proxy:
                port = (await stack.enter_async_context(
                    open_delay_proxy(server.port, up=up, down=down, seed=seed))).port
        executor = _executor(transport, port, sync)
        with skewed_environment(skew) if transport == "process" else nullcontext():
            await executor.start_executor()  # a ProcessExecutor's child starts here
        stack.push_async_exit(executor)
        clock = executor.clock
        start = perf_counter()
        while (elapsed := perf_counter() - start) < duration:
            await trio.sleep(0.1)
            if elapsed >= warmup:
                t = perf_counter()
                samples.append((skew.error(clock, t), clock.uncertainty(t)))
        model = clock.model
        round_trips = np.array([s.round_trip for s in clock.samples])
    errors = np.abs(np.array([e for e, _ in samples]))
    bounds = np.array([u for _, u in samples])
    best = float(model.best_round_trip)
    goal = max(100e-6, best / 2) if proxy else 50e-6
    return {
        "transport": transport,
        "proxy": proxy,
        "duration_s": duration,
        "bursts": len({s.burst for s in clock.samples}),
        "probes": len(round_trips),
        "round_trip_p50_us": float(np.median(round_trips)) * 1e6,
        "best_round_trip_us": best * 1e6,
        "error_p50_us": float(np.median(errors)) * 1e6,
        "error_p99_us": float(np.percentile(errors, 99)) * 1e6,
        "error_max_us": float(errors.max()) * 1e6,
        "uncertainty_p50_us": float(np.median(bounds)) * 1e6,
        "within_uncertainty": float(np.mean(errors <= bounds)),
        "goal_us": goal * 1e6,
        "goal_met": bool(errors.max() <= goal),
        "drift_ppm": model.drift * 1e6,
        "drift_error_ppm": model.drift * 1e6 - skew.drift_ppm,
        "steps": len(clock.steps),
    }
