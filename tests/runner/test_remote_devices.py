"""moalab.run with devices on remote executors made outside the run: their far-side
instances are created by their first calls, and pumped devices are mirrored."""

import pytest
import trio

import moalab
from moalab import Delay, MoaStage, Run, RunState, VirtualDigitalChannel
from moalab.executor import AsyncThreadExecutor, WebSocketExecutor
from moalab.executor.dummy import DummyRemoteExecutor
from moalab.executor.process import ProcessExecutor

from tests.conftest import running_server


class WriteThenWait(MoaStage):
    """Writes its ``line`` high, remembers what the mirror says (``seen``), then waits a
    little."""

    seen = None

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
    root = WriteThenWait(line=line, name="root")
    handle = moalab.run(root, devices=[line], executors=[executor])
    assert handle.error is None
    assert root.seen is True
    # the far side's pump read the line many times in 0.5 s, each read mirrored here
    assert len(updates) > 5 and updates[-1] > updates[0] > 0


class Pellet(MoaStage):
    """Drives its ``motor`` high then low each trial."""

    async def do_trial(self):
        await self.motor.write_state(True)
        await trio.sleep(0.05)
        await self.motor.write_state(False)


async def test_pause_rides_out_a_lost_link_with_devices_made_outside_the_run():
    """A device made before the run, on an executor only the run enters (no
    ensure_remote_instance): kill -9 the server during the trials and start it again:
    the tree pauses while the link is down, then its objects are made again (in the
    run's namespace) and it completes."""
    with running_server() as first:
        port = first.port
        executor = WebSocketExecutor(port=port, clock_sync=None, on_lost="pause",
                                     heartbeat=(0.2, 1.5))
        motor = VirtualDigitalChannel(name="motor", executor=executor)
        trial = MoaStage(name="trial", repeat=4, stages=[
            Pellet(motor=motor, name="pellet"), Delay(delay=0.3, name="iti")])
        root = MoaStage(name="root", stages=[trial])
        run = Run(root, devices=[motor], executors=[executor])
        async with trio.open_nursery() as nursery:
            nursery.start_soon(run.execute)
            with trio.fail_after(30):
                while trial.count < 1:
                    await trio.sleep(0.01)
            first.process.kill()
            first.process.wait()
            with trio.fail_after(30):
                while executor.connected:
                    await trio.sleep(0.01)
                while root.run_state is not RunState.PAUSED:
                    await trio.sleep(0.01)
            with running_server("--port", str(port)):
                with trio.fail_after(60):
                    while run.status not in ("done", "failed"):
                        await trio.sleep(0.05)
    assert run.error is None and run.status == "done"
    assert trial.count + 1 == 4 and motor.state is False
    assert not executor.connected  # the run stopped the executor it started


class WriteOnce(MoaStage):
    """Writes its ``line`` high."""

    async def do_trial(self):
        await self.line.write_state(True)


@pytest.mark.parametrize("make", [AsyncThreadExecutor, DummyRemoteExecutor],
                         ids=["async_thread", "dummy"])
async def test_an_executor_its_caller_started_is_left_running_by_the_run(make):
    """Nested in the caller's ``async with executor``, the run neither moves the
    executor to its namespace nor stops it: the caller's calls after the run work."""
    executor = make()
    line = VirtualDigitalChannel(name="line", executor=executor)
    async with executor:
        await line.write_state(False)
        run = Run(WriteOnce(line=line, name="root"), devices=[line], executors=[executor])
        await run.execute()
        assert run.error is None and run.status == "done"
        await line.write_state(False)  # the run stopped it here before
        assert line.state is False and executor.running
    assert not executor.running
