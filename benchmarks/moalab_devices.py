"""The benchmark device for moalab (a server allows it with ``--allow benchmarks``).

Mirrors ``pymoa_devices.BenchDevice`` method for method; each workload has a
sync and an async flavour (the async ones are used with AsyncThreadExecutor). One
method is moalab's own: ``read_value_nonblocking``, ``read_value`` declared
``blocking=False`` (the ``*_nb`` rows).
"""

import time
from collections.abc import AsyncIterator, Iterator

import numpy as np
import trio

from moalab import Device
from moalab.executor import apply_executor, apply_generator_executor

__all__ = ("BenchDevice",)


class BenchDevice(Device):
    """Small calls, item streams, numpy-array streams and paced streams."""

    @apply_executor
    def read_value(self, x: int) -> int:
        return x + 1

    @apply_executor
    async def read_value_async(self, x: int) -> int:
        return x + 1

    @apply_executor(blocking=False)
    def read_value_nonblocking(self, x: int) -> int:
        return x + 1

    @apply_generator_executor
    def generate_items(self, n: int) -> Iterator[int]:
        yield from range(n)

    @apply_generator_executor
    async def generate_items_async(self, n: int) -> AsyncIterator[int]:
        for i in range(n):
            yield i

    @apply_generator_executor
    def generate_arrays(self, n: int, floats: int) -> Iterator[np.ndarray]:
        array = np.ones(floats)
        for _ in range(n):
            yield array

    @apply_generator_executor
    async def generate_arrays_async(self, n: int, floats: int) -> AsyncIterator[np.ndarray]:
        array = np.ones(floats)
        for _ in range(n):
            yield array

    @apply_generator_executor
    def generate_paced(self, n: int, interval: float) -> Iterator[int]:
        for i in range(n):
            time.sleep(interval)
            yield i

    @apply_generator_executor
    async def generate_paced_async(self, n: int, interval: float) -> AsyncIterator[int]:
        for i in range(n):
            await trio.sleep(interval)
            yield i
