"""Device classes for the executor and server tests.

This module is importable as ``tests.executor.devices`` both here and in the
processes the tests start (``moalab-server --allow tests.executor.devices``, a
ProcessExecutor child). The bookkeeping a test reads back (``stats``,
``calls``) lives on the far-side object and is read through exposed methods.
"""

import os
import threading
import time
from time import perf_counter
from typing import Any

import numpy as np
import trio

from moalab import Device, DigitalChannel
from moalab.core.events import NumericProperty, StringProperty
from moalab.executor import apply_executor, apply_generator_executor


class ProbeError(Exception):
    """A custom exception importable on both sides."""


class VirtualDevice(DigitalChannel):
    """The seed's remote-execution sample, as written there."""

    def executor_callback(self, return_value):
        self.state, self.timestamp = return_value
        self.dispatch("on_data_update", self)

    @apply_executor(callback=executor_callback)
    def write_state(self, state: bool, **kwargs):
        return state, perf_counter()


class Probe(Device):
    """A device whose exposed methods sleep, count, stream and fail on demand."""

    value = NumericProperty(0)
    label = StringProperty("")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stats = {"produced": 0, "gen_closed": 0, "async_started": 0,
                      "async_cancelled": 0, "async_finished": 0, "sync_started": 0}
        self.calls: list[Any] = []
        self.items_seen: list[Any] = []  # filled by the item callback, on the calling side
        self.results_seen: list[Any] = []

    # --------------------------------------------------------------- callbacks

    def on_item(self, item: Any) -> None:
        self.items_seen.append(item)

    def on_result(self, result: Any) -> None:
        self.results_seen.append(result)

    # ------------------------------------------------------------------- calls

    @apply_executor(callback=on_result)
    def echo(self, *args: Any, **kwargs: Any) -> list:
        return [list(args), kwargs]

    @apply_executor
    def ramp(self, n: int) -> np.ndarray:
        return np.arange(n, dtype=np.float32)

    @apply_executor
    async def async_add(self, a: float, b: float) -> float:
        await trio.sleep(0)
        return a + b

    @apply_executor
    def where(self) -> list:
        """The process and thread the call ran in."""
        return [os.getpid(), threading.get_ident()]

    @apply_executor
    def sleep(self, seconds: float) -> float:
        self.stats["sync_started"] += 1
        time.sleep(seconds)
        return seconds

    @apply_executor
    async def async_sleep(self, seconds: float) -> float:
        self.stats["async_started"] += 1
        try:
            await trio.sleep(seconds)
        except trio.Cancelled:
            self.stats["async_cancelled"] += 1
            raise
        self.stats["async_finished"] += 1
        return seconds

    @apply_executor
    def record(self, i: Any) -> None:
        self.calls.append(i)

    @apply_executor
    async def async_record(self, i: Any) -> None:
        self.calls.append(i)

    @apply_executor
    def get_calls(self) -> list:
        return list(self.calls)

    @apply_executor
    def get_stats(self) -> dict:
        return dict(self.stats)

    @apply_executor
    async def peek_stats(self) -> dict:
        """``stats`` without waiting behind the object's queue of sync calls."""
        return dict(self.stats)

    @apply_executor
    def set_value(self, value: float) -> None:
        self.update(value=value)

    @apply_executor
    async def tick(self, n: int, interval: float) -> int:
        """Change ``value`` ``n`` times, ``interval`` seconds apart (a server-side pump)."""
        for i in range(1, n + 1):
            await trio.sleep(interval)
            self.update(value=i)
        return n

    @apply_executor
    def fail_value(self, message: str) -> None:
        raise ValueError(message)

    @apply_executor
    def fail_custom(self, message: str) -> None:
        raise ProbeError(message)

    @apply_executor
    def fail_unknown(self) -> None:
        class LocalOnlyError(Exception):
            pass

        raise LocalOnlyError("a type the caller cannot import")

    @apply_executor
    def _private(self) -> None:
        """Decorated, but private: remote callers are refused."""

    def not_exposed(self) -> str:
        return "not exposed"

    # -------------------------------------------------------------- generators

    @apply_generator_executor(callback=on_item)
    def count(self, n: int):
        for i in range(n):
            yield i

    @apply_generator_executor
    def ramps(self, n: int, size: int):
        for i in range(n):
            yield np.full(size, i, dtype=np.int16)

    @apply_generator_executor(callback=on_item)
    async def async_count(self, n: int):
        for i in range(n):
            await trio.sleep(0)
            yield i

    @apply_generator_executor
    def endless(self, size: int = 0, interval: float = 0.0):
        """Items ``[i, payload]`` for ever; counts what it produced and when it closed."""
        payload = "x" * size
        i = 0
        try:
            while True:
                if interval:
                    time.sleep(interval)
                self.stats["produced"] += 1
                yield [i, payload]
                i += 1
        finally:
            self.stats["gen_closed"] += 1

    @apply_generator_executor
    async def async_endless(self, size: int = 0, interval: float = 0.0):
        payload = "x" * size
        i = 0
        try:
            while True:
                await trio.sleep(interval)
                self.stats["produced"] += 1
                yield [i, payload]
                i += 1
        finally:
            self.stats["gen_closed"] += 1

    @apply_generator_executor
    def count_then_fail(self, n: int):
        yield from range(n)
        raise ValueError(f"stopped after {n}")


class OtherProbe(Device):
    """A second allowed class, for a name clash with :class:`Probe`."""

    @apply_executor
    def echo(self, x: Any) -> Any:
        return x
