"""The sugar-pellet experiment of PyMoa's getting-started guide, on virtual devices.

Wait 20 s (habituation), then 2 trials of: wait for the photobeam to break
(go high), release a sugar pellet (motor high for 200 ms), wait a 20-40 s
inter-trial interval; then wait 15 s.

Run it with ``moalab run examples/sugar_pellet.py`` (add ``--dry-run`` to run
in virtual time, in well under a second), or ``python examples/sugar_pellet.py``.
"""

import random
from time import perf_counter

import trio

from moalab import (
    Delay,
    DigitalChannel,
    DigitalGateStage,
    MoaStage,
    SimpleTerminalLogger,
    UniformRandomDelay,
)


class VirtualDevice(DigitalChannel):
    async def write_state(self, state: bool, **kwargs):
        self.state = state
        self.timestamp = perf_counter()
        self.dispatch('on_data_update', self)

    async def pump_state(self):
        while True:
            await trio.sleep(random.random() * 10 + 1)
            await self.write_state(random.random() >= 0.5)


class SugarPalletStage(MoaStage):
    async def do_trial(self):
        await self.motor_device.write_state(True)
        await trio.sleep(0.2)
        await self.motor_device.write_state(False)


def build_root(photo_bream_device, motor_device):
    """The guide's stage tree, on the given devices (examples/remote_sugar_pellet.py
    builds it on remote ones)."""
    root = MoaStage(name='Root stage')
    trial = MoaStage(name='Trial', repeat=2)
    root.add_stage(Delay(delay=20, name='Habituation'))
    root.add_stage(trial)
    root.add_stage(Delay(delay=15, name='post delay'))
    trial.add_stage(DigitalGateStage(
        device=photo_bream_device, exit_state=True, name='photobeam_stage'))
    trial.add_stage(SugarPalletStage(
        motor_device=motor_device, name='sugar pallet stage', delay=0.2))
    trial.add_stage(UniformRandomDelay(min=20, max=40, name='ITI'))
    return root


photo_bream_device = VirtualDevice(name='photobeam_device')
motor_device = VirtualDevice(name='motor_device')
root = build_root(photo_bream_device, motor_device)

# `moalab run` reads these: the tree to run, and (as in PyMoa's guide) the devices
# whose pumps run beside it, each one recorded in the log
devices = [photo_bream_device]  # the devices whose pumps run: not the motor's


async def run_experiment():
    async with trio.open_nursery() as nursery:
        async def run_root_stage():
            # run the experiment stages, but when done also cancel reading the devices
            await root.run_stage()
            nursery.cancel_scope.cancel()

        # reads the photobeam device continuously
        nursery.start_soon(photo_bream_device.pump_state)
        # runs the experiment stages
        nursery.start_soon(run_root_stage)


if __name__ == '__main__':
    import sys

    import trio.testing

    logger = SimpleTerminalLogger()
    for stage in root.iterate_stages():
        logger.add_logged_instance(stage)
    # --dry-run: virtual time, the 95 s of delays pass at once
    clock = trio.testing.MockClock(autojump_threshold=0) if '--dry-run' in sys.argv else None
    trio.run(run_experiment, clock=clock)
