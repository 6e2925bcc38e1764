"""moalab.run with devices on remote executors made outside the run: their far-side
instances are created by their first calls, and pumped devices are mirrored."""

import pytest

import moalab
from moalab import Delay, MoaStage, VirtualDigitalChannel
from moalab.executor.dummy import DummyRemoteExecutor
from moalab.executor.process import ProcessExecutor


class WriteThenWait(MoaStage):
    """Writes its line high, remembers what the mirror says, then waits a little."""

    def __init__(self, line, **kwargs):
        super().__init__(**kwargs)
        self.line = line
        self.seen = None

    async def do_trial(self):
        await self.line.write_state(True)
        self.seen = self.line.state
        await Delay(delay=0.5, name="wait").run_stage()


@pytest.mark.parametrize("make", [DummyRemoteExecutor, ProcessExecutor],
                         ids=["dummy", "process"])
def test_a_run_creates_its_remote_devices_and_mirrors_their_pumps(make):
    executor = make()
    line = VirtualDigitalChannel(name="line", executor=executor, interval=(0.01, 0.02))
    updates = []
    line.fbind("on_data_update", lambda *_: updates.append(line.timestamp))
    root = WriteThenWait(line, name="root")
    handle = moalab.run(root, devices=[line], executors=[executor])
    assert handle.error is None
    assert root.seen is True
    # the far side's pump read the line many times in 0.5 s, each read mirrored here
    assert len(updates) > 5 and updates[-1] > updates[0] > 0
