"""The devices of PyMoa's remote-execution sample, in a module a server can import.

A server imports device classes only from modules it allows; this one is part
of moalab (``moalab.examples.remote_devices``), which a moalab-server always
allows.
"""

import random
from time import perf_counter

import trio

from moalab import DigitalChannel
from moalab.executor import apply_executor


class VirtualDevice(DigitalChannel):
    def executor_callback(self, return_value):
        self.state, self.timestamp = return_value
        self.dispatch('on_data_update', self)

    @apply_executor(callback=executor_callback)
    def write_state(self, state: bool, **kwargs):
        return state, perf_counter()

    async def pump_state(self):
        # "reads" the beam: random levels written through the executor
        while True:
            await trio.sleep(random.random() * 10 + 1)
            await self.write_state(random.random() >= 0.5)
