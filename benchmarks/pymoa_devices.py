"""The benchmark device, written for PyMoa (imported by PyMoa's servers by module name).

Runs in PyMoa's virtual environment only. Mirrors ``moalab_devices.BenchDevice``
method for method. PyMoa's wire format is JSON (with a side channel for bytes),
so remote array streams yield ``ndarray.tobytes()`` and the client wraps them
back with ``np.frombuffer``; local executors yield the arrays themselves.
"""

import time

import numpy as np
import trio
from pymoa_remote.client import apply_executor, apply_generator_executor


class BenchDevice:
    """PyMoa flavour of the benchmark device."""

    _config_props_ = ()

    @apply_executor
    def read_value(self, x):
        return x + 1

    @apply_executor
    async def read_value_async(self, x):
        return x + 1

    @apply_generator_executor
    def generate_items(self, n):
        for i in range(n):
            yield i

    @apply_generator_executor
    def generate_arrays(self, n, floats, as_bytes=False):
        array = np.ones(floats)
        for _ in range(n):
            yield array.tobytes() if as_bytes else array

    @apply_generator_executor
    def generate_paced(self, n, interval):
        for i in range(n):
            time.sleep(interval)
            yield i

    @apply_generator_executor
    async def generate_paced_async(self, n, interval):
        for i in range(n):
            await trio.sleep(interval)
            yield i
