"""A virtual-time run that can never go on ends with NothingToWaitFor, and only then."""

import asyncio
import socket
import threading
import time

import pytest
import trio
import trio.testing

from moalab import (
    Delay,
    Device,
    DigitalGateStage,
    MoaStage,
    NothingToWaitFor,
    RunGroup,
    ThreadExecutor,
    VirtualDigitalChannel,
    apply_executor,
    run,
    start,
)
from moalab.runner.stuck import _WATCH, IDLE_GRACE

# longer than the grace period: a wake-up from outside comes after the watch first looks
LATE = IDLE_GRACE + 0.5


def gate_tree(beam, delay=5.0):
    root = MoaStage(name="root")
    root.add_stage(Delay(name="warm up", delay=delay))
    root.add_stage(DigitalGateStage(name="wait_press", device=beam, exit_state=True))
    return root


def dry_clock():
    return trio.testing.MockClock(autojump_threshold=0)


@pytest.mark.parametrize("clock", [dry_clock, lambda: trio.testing.MockClock(rate=100)],
                         ids=["dry-run", "speed-100"])
def test_a_gate_on_a_device_nothing_updates_ends_the_run(clock):
    beam = VirtualDigitalChannel(name="beam")
    started = time.monotonic()
    handle = run(gate_tree(beam), clock=clock())
    took = time.monotonic() - started
    assert handle.status == "failed"
    assert isinstance(handle.error, NothingToWaitFor)
    message = str(handle.error)
    assert "'root/wait_press' (for beam.state)" in message
    assert "Give it to the run's devices" in message
    assert IDLE_GRACE <= took < IDLE_GRACE + 15
    # the delay before the gate passed in virtual time, then the tree was cleaned up
    log = handle.log
    assert (log[log.name == "warm up"].timestamp.max() >= 5.0)
    assert not any(stage.active for stage in handle.root.iterate_stages())


def test_a_pumped_device_keeps_the_run_going():
    beam = VirtualDigitalChannel(name="beam", interval=(3.0, 3.0))
    handle = run(gate_tree(beam), devices=[beam], clock=dry_clock())
    assert handle.status == "done", handle.error


class ThreadWait(MoaStage):
    """Waits for a trio.to_thread call that takes real time."""

    async def do_trial(self):
        await trio.to_thread.run_sync(time.sleep, LATE)


def test_a_thread_in_flight_may_wake_the_run():
    root = MoaStage(name="root")
    root.add_stage(ThreadWait(name="in a thread"))
    handle = run(root, clock=dry_clock())
    assert handle.status == "done", handle.error


class SlowLever(Device):
    """A lever whose read, run by a ThreadExecutor, takes real time."""

    @apply_executor
    def read_slowly(self):
        time.sleep(LATE)
        return self.now(), threading.current_thread().name


class ReadLever(MoaStage):
    async def do_trial(self):
        self.result = await self.lever.read_slowly()


def test_an_executor_call_in_flight_may_wake_the_run():
    executor = ThreadExecutor(name="lever thread")
    lever = SlowLever(name="lever", executor=executor)
    root = MoaStage(name="root")
    root.add_stage(Delay(name="warm up", delay=12))
    read = ReadLever(name="read", lever=lever)
    root.add_stage(read)
    handle = run(root, devices=[lever], executors=[executor], clock=dry_clock())
    assert handle.status == "done", handle.error
    # Device.now() in the worker thread read the run's virtual clock
    assert read.result == (12.0, "lever thread")


def test_a_socket_may_wake_the_run():
    # a device pumped from a socket; the other end writes in real time, later
    near, far = socket.socketpair()

    class SocketBeam(VirtualDigitalChannel):
        async def pump_state(self):
            sock = trio.socket.from_stdlib_socket(near)
            while await sock.recv(1):
                self.update(state=True)

    beam = SocketBeam(name="beam")
    writer = threading.Timer(LATE, far.send, (b"x",))
    writer.start()
    try:
        handle = run(gate_tree(beam, delay=1), devices=[beam], clock=dry_clock())
    finally:
        writer.join()
        near.close()
        far.close()
    assert handle.status == "done", handle.error


class PauseTheRun(MoaStage):
    async def do_trial(self):
        self.parent.pause(by="test")


def test_a_paused_run_waits_for_its_resume():
    root = MoaStage(name="root")
    root.add_stage(PauseTheRun(name="pause"))
    root.add_stage(Delay(name="after the pause", delay=5))
    handle = start(root, clock=dry_clock())
    deadline = time.monotonic() + 10
    while handle.status != "paused":
        assert time.monotonic() < deadline, handle
        time.sleep(0.01)
    time.sleep(LATE)
    assert handle.status == "paused"
    handle.resume()
    assert handle.wait(timeout=30).status == "done", handle.error


def test_on_an_asyncio_loop_the_host_may_wake_the_run():
    # a notebook cell may set the device the gate waits for
    async def main():
        beam = VirtualDigitalChannel(name="beam")
        handle = start(gate_tree(beam, delay=1), clock=dry_clock())
        await asyncio.sleep(LATE)
        assert handle.status == "running" and handle.current_path == ("root/wait_press",)
        beam.update(state=True)
        await handle.wait(timeout=30)
        return handle

    handle = asyncio.run(main())
    assert handle.status == "done", handle.error


def test_on_a_real_clock_nothing_is_watched():
    beam = VirtualDigitalChannel(name="beam")
    handle = start(gate_tree(beam, delay=0.01))
    time.sleep(LATE)
    assert handle.status == "running"
    handle.stop()
    assert handle.wait(timeout=30).status == "stopped"


def test_the_runs_of_a_group_share_one_watch():
    # one watch per trio run: it outlives a run that ends first, and goes with the last
    async def main():
        async with RunGroup() as group:
            short = MoaStage(name="short")
            short.add_stage(Delay(name="wait", delay=1))
            done = group.start(short)
            stuck = group.start(gate_tree(VirtualDigitalChannel(name="beam"), delay=5))
            await done.ended.wait()
            assert _WATCH.get() is not None and _WATCH.get().users == 1
        assert _WATCH.get() is None
        return done, stuck

    done, stuck = trio.run(main, clock=dry_clock())
    assert done.status == "done", done.error
    assert isinstance(stuck.error, NothingToWaitFor), stuck.error
