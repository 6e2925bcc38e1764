"""The executor workloads, written once against a small ``Subject`` interface.

Each side (``moalab_side``, ``pymoa_side``) wraps a device behind one executor
of its library in a subject; the same functions here then time it, so both
libraries run exactly the same loops. Needs only trio (present in both
environments).
"""

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from time import perf_counter
from typing import Any, Protocol

import trio

from .common import SideResults, Sizes, median, percentile

__all__ = ("Subject", "run_workloads", "concurrent_rate", "CONCURRENT_CALLERS")

CONCURRENT_CALLERS = 8
MEASURE_TIMEOUT = 120.0
"""A workload still running after this many seconds is abandoned as failed."""


class Subject(Protocol):
    """A device behind one executor, as the workloads see it."""

    name: str
    has_echo: bool
    has_streams: bool
    has_paced_stream: bool

    async def echo(self) -> float:
        """One clock echo; return its round trip in seconds."""

    async def call(self, x: int) -> Any:
        """Call the device's small method (returns ``x + 1``)."""

    def stream(self, n: int) -> AbstractAsyncContextManager[AsyncIterator[Any]]:
        """The device's generator of ``n`` small items."""

    def array_stream(self, n: int, floats: int
                     ) -> AbstractAsyncContextManager[AsyncIterator[Any]]:
        """The device's generator of ``n`` float64 numpy arrays of ``floats`` each
        (items arrive as numpy arrays)."""

    def paced_stream(self, n: int, interval: float
                     ) -> AbstractAsyncContextManager[AsyncIterator[Any]]:
        """The device's generator of ``n`` items, one every ``interval`` seconds."""


async def measure_lag(subject: Subject, sizes: Sizes) -> dict[str, float]:
    for _ in range(sizes.warmup):
        await subject.echo()
    samples: list[float] = []
    start = perf_counter()
    soft_end = start + sizes.time_cap
    hard_end = start + 4 * sizes.time_cap
    while len(samples) < sizes.lag_samples:
        samples.append(await subject.echo())
        now = perf_counter()
        if now > hard_end or (now > soft_end and len(samples) >= sizes.min_lag_samples):
            break
    return {"lag_p50_ms": percentile(samples, 50) * 1e3,
            "lag_p99_ms": percentile(samples, 99) * 1e3}


async def measure_exec_rate(subject: Subject, sizes: Sizes) -> dict[str, float]:
    result = await subject.call(41)
    if result != 42:
        raise AssertionError(f"{subject.name}: call(41) returned {result!r}, not 42")
    for i in range(sizes.warmup):
        await subject.call(i)
    n = 0
    start = perf_counter()
    end = start + sizes.time_cap
    while True:
        await subject.call(n)
        n += 1
        if perf_counter() >= end:
            break
    return {"exec_rate_hz": n / (perf_counter() - start)}


async def concurrent_rate(call: Callable[[int], Awaitable[Any]], duration: float) -> float:
    """Calls per second of :data:`CONCURRENT_CALLERS` tasks, task ``i`` awaiting
    ``call(i)`` over and over for ``duration`` seconds."""
    count = 0
    start = perf_counter()
    end = start + duration

    async def caller(i: int) -> None:
        nonlocal count
        while perf_counter() < end:
            await call(i)
            count += 1

    async with trio.open_nursery() as nursery:
        for i in range(CONCURRENT_CALLERS):
            nursery.start_soon(caller, i)
    return count / (perf_counter() - start)


async def measure_concurrent(subject: Subject, sizes: Sizes) -> dict[str, float]:
    return {"concurrent_rate_hz": await concurrent_rate(subject.call, sizes.time_cap)}


async def measure_stream(subject: Subject, sizes: Sizes) -> dict[str, float]:
    n = 0
    start = perf_counter()
    async with subject.stream(sizes.stream_items) as items:
        async for _ in items:
            n += 1
            if not n % 64 and perf_counter() - start > sizes.stream_cap:
                break
    elapsed = perf_counter() - start
    if not n:
        raise AssertionError(f"{subject.name}: the stream gave no item")
    return {"stream_rate_hz": n / elapsed}


async def measure_array_stream(subject: Subject, sizes: Sizes) -> dict[str, float]:
    n = nbytes = 0
    start = perf_counter()
    async with subject.array_stream(sizes.array_items, sizes.array_floats) as items:
        async for array in items:
            if array.size != sizes.array_floats:
                raise AssertionError(f"{subject.name}: got an array of {array.size} items, "
                                     f"not {sizes.array_floats}")
            n += 1
            nbytes += array.nbytes
            if perf_counter() - start > sizes.stream_cap:
                break
    return {"array_stream_mb_s": nbytes / (perf_counter() - start) / 1e6}


async def measure_call_during_stream(subject: Subject, sizes: Sizes) -> dict[str, float]:
    """Latency of calls started while a paced stream runs on the same object.

    A reader drains a stream of items paced ``paced_interval`` apart (about
    ``paced_duration`` long); once it is flowing, calls are made one after
    another, ``call_gap`` apart, until it ends. Only calls started before the
    stream ended count (a call that waits for the whole stream counts once).
    """
    latencies: list[float] = []
    n = max(1, round(sizes.paced_duration / sizes.paced_interval))
    for _ in range(sizes.paced_streams):
        flowing = trio.Event()
        ended = trio.Event()

        async def reader() -> None:
            async with subject.paced_stream(n, sizes.paced_interval) as items:
                async for _ in items:
                    flowing.set()
            ended.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(reader)
            await flowing.wait()
            while not ended.is_set():
                with trio.move_on_after(sizes.call_gap):
                    await ended.wait()
                if ended.is_set():
                    break
                start = perf_counter()
                await subject.call(1)
                latencies.append(perf_counter() - start)
    if not latencies:
        raise AssertionError(f"{subject.name}: no call was made during the stream")
    return {"call_during_stream_ms": median(latencies) * 1e3,
            "call_during_stream_max_ms": max(latencies) * 1e3}


async def run_workloads(subject: Subject, sizes: Sizes, results: SideResults,
                        skip: dict[str, str] | None = None,
                        only: tuple[str, ...] | None = None) -> None:
    """Run every workload on ``subject``, recording values, skips and failures.

    ``skip`` maps a workload name (lag, exec, concurrent, stream, array,
    during_stream) to the reason it does not apply to this subject; ``only``, if
    given, names the workloads to run: the others are neither run nor reported.
    """
    skip = dict(skip or {})
    if not subject.has_echo:
        skip.setdefault("lag", "no clock echo for a direct call")
    if not subject.has_streams:
        skip.setdefault("stream", "generators are not supported by this executor")
        skip.setdefault("array", "generators are not supported by this executor")
    if not subject.has_paced_stream:
        skip.setdefault("during_stream", "generators are not supported by this executor")
    workloads = (
        ("lag", measure_lag, ("lag_p50_ms", "lag_p99_ms")),
        ("exec", measure_exec_rate, ("exec_rate_hz",)),
        ("concurrent", measure_concurrent, ("concurrent_rate_hz",)),
        ("stream", measure_stream, ("stream_rate_hz",)),
        ("array", measure_array_stream, ("array_stream_mb_s",)),
        ("during_stream", measure_call_during_stream,
         ("call_during_stream_ms", "call_during_stream_max_ms")),
    )
    for key, measure, metrics in workloads:
        if only is not None and key not in only:
            continue
        if key in skip:
            for metric in metrics:
                results.skip(subject.name, skip[key], metric)
            continue
        try:
            with trio.fail_after(MEASURE_TIMEOUT):
                values = await measure(subject, sizes)
        except Exception as exc:
            for metric in metrics:
                results.error(subject.name, metric, exc)
            continue
        for metric, value in values.items():
            results.record(subject.name, metric, value)
