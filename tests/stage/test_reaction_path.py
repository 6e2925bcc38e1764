"""A gate's reaction path: its wait is woken by values, a pause and cancellation (no
cancel scope around it), and a leaf's one trial runs in its stage's cancel scope; the
controls keep their meaning."""

import gc

import trio

from moalab import Delay, DigitalGateStage, MoaStage, VirtualDigitalChannel


def gate_on(device: VirtualDigitalChannel, **kwargs) -> DigitalGateStage:
    return DigitalGateStage(name="gate", device=device, exit_state=True, **kwargs)


async def test_a_pause_during_the_hold_restarts_it(autojump_clock):
    device = VirtualDigitalChannel(name="beam", state=False)
    gate = gate_on(device, hold_time=2)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(gate.run_stage)
        await trio.sleep(1)
        device.update(state=True)
        await trio.sleep(1)  # half the hold
        gate.pause()
        await trio.sleep(5)
        assert gate.active and gate.paused
        gate.resume()
    # the value still passes at the resume (t=7): a whole hold from there
    assert trio.current_time() == 9
    assert str(gate.run_state) == "done"


async def test_a_value_and_a_pause_in_one_round_do_not_exit(autojump_clock):
    device = VirtualDigitalChannel(name="beam", state=False)
    gate = gate_on(device)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(gate.run_stage)
        await trio.sleep(1)
        device.update(state=True)  # the gate's task is woken, but runs after the pause
        gate.pause()
        await trio.sleep(3)
        assert gate.active and gate.paused
        gate.resume()
    assert trio.current_time() == 4


async def test_stopping_a_waiting_gate_ends_it_and_unbinds_it(autojump_clock):
    device = VirtualDigitalChannel(name="beam", state=False)
    gate = gate_on(device)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(gate.run_stage)
        await trio.sleep(1)
        gate.stop_stage()
    assert trio.current_time() == 1
    assert gate.outcome == "stopped"
    device.update(state=True)
    assert gate.state is False  # no longer listening


def serial(*stages: MoaStage) -> MoaStage:
    return MoaStage(name="root", stages=stages)


async def test_stop_trial_of_a_one_trial_leaf_ends_it_done(autojump_clock):
    first, second = Delay(name="first", delay=10), Delay(name="second", delay=1)
    root = serial(first, second)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(root.run_stage)
        await trio.sleep(2)
        first.stop_trial()
    assert trio.current_time() == 3  # the next stage ran after it
    assert (first.trial_outcome, first.outcome) == ("stopped", "done")
    assert second.outcome == "done"


async def test_stop_trial_while_paused_ends_the_trial_at_the_resume(autojump_clock):
    delay = Delay(name="delay", delay=10)
    ended = []
    delay.fbind("on_trial_end", lambda *_: ended.append(trio.current_time()))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(delay.run_stage)
        await trio.sleep(2)
        delay.pause()
        delay.stop_trial()
        await trio.sleep(3)
        assert delay.active and delay.paused and not ended
        delay.resume()
    assert ended == [5] and trio.current_time() == 5
    assert (delay.trial_outcome, delay.outcome) == ("stopped", "done")


async def test_stop_stage_after_a_stop_trial_while_paused(autojump_clock):
    delay = Delay(name="delay", delay=10)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(delay.run_stage)
        await trio.sleep(2)
        delay.pause()
        delay.stop_trial()
        await trio.sleep(1)
        delay.stop_stage()
    assert trio.current_time() == 3
    assert (delay.trial_outcome, delay.outcome) == ("stopped", "stopped")


async def test_max_duration_of_a_one_trial_leaf(autojump_clock):
    delay = Delay(name="delay", delay=10, max_duration=4)
    await delay.run_stage()
    assert trio.current_time() == 4
    assert (delay.trial_outcome, delay.outcome) == ("cancelled", "done")


class StopsItself(MoaStage):
    """Stops itself (its stage, or its trial) in its last line, without a checkpoint after."""

    async def do_trial(self) -> None:
        await trio.sleep(1)
        if self.what == "stage":
            self.stop_stage()
        else:
            self.stop_trial()


async def test_serial_children_after_a_stopped_one_run(autojump_clock):
    first, second = Delay(name="first", delay=10), Delay(name="second", delay=10)
    third = Delay(name="third", delay=1)
    root = serial(first, second, third)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(root.run_stage)
        await trio.sleep(2)
        first.stop_stage()
        await trio.sleep(3)
        second.stop_trial()
    assert trio.current_time() == 6
    assert [s.outcome for s in (first, second, third)] == ["stopped", "done", "done"]
    assert second.trial_outcome == "stopped"
    assert root.outcome == "done"


async def test_a_stage_stopping_itself_in_its_last_line_does_not_stop_the_next(autojump_clock):
    for what, outcome in (("stage", "stopped"), ("trial", "done")):
        first, second = StopsItself(name="first", what=what), Delay(name="second", delay=2)
        root = serial(first, second)
        start = trio.current_time()
        await root.run_stage()
        assert trio.current_time() - start == 3
        assert (first.outcome, first.trial_outcome) == (outcome, "stopped")
        assert second.outcome == "done" and root.outcome == "done"


async def test_a_stop_from_on_trial_end_does_not_stop_the_next_stage(autojump_clock):
    # after the trial's last checkpoint: the stage ends normally with its scope cancelled
    first, second = Delay(name="first", delay=1), Delay(name="second", delay=2)
    first.fbind("on_trial_end", lambda *_: first.stop_stage())
    root = serial(first, second)
    await root.run_stage()
    assert trio.current_time() == 3
    assert (first.outcome, second.outcome, root.outcome) == ("stopped", "done", "done")


async def test_stopping_the_parent_stops_the_child_in_the_shared_scope(autojump_clock):
    first, second = Delay(name="first", delay=10), Delay(name="second", delay=10)
    root = serial(first, second)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(root.run_stage)
        await trio.sleep(2)
        root.stop_stage()
    assert trio.current_time() == 2
    assert (first.outcome, second.outcome, root.outcome) == ("cancelled", None, "stopped")


async def run_against(gate: DigitalGateStage, device: VirtualDigitalChannel, at: float) -> float:
    """Run ``gate`` while ``device`` goes high ``at`` seconds from now; the time it ended."""
    async with trio.open_nursery() as nursery:
        nursery.start_soon(gate.run_stage)
        await trio.sleep(at)
        device.update(state=True)
    return trio.current_time()


async def test_values_between_waits_are_dropped_and_one_binding_is_kept(autojump_clock):
    # the gate stays bound to its device between waits (no bind and unbind on the
    # reaction path): a value then is not queued for the next wait
    device = VirtualDigitalChannel(name="beam", state=False)
    observers = len(device.get_property_observers("state"))
    gate = gate_on(device, use_initial=False)
    assert await run_against(gate, device, 1) == 1
    for _ in range(1000):  # pulses while the gate does not wait: none is kept
        device.update(state=True)
        device.update(state=False)
    assert not gate._values.items
    start = trio.current_time()
    assert await run_against(gate, device, 4) == start + 4
    assert len(device.get_property_observers("state")) == observers + 1


async def test_a_gate_given_another_device_leaves_the_first(autojump_clock):
    first = VirtualDigitalChannel(name="beam", state=False)
    second = VirtualDigitalChannel(name="lever", state=False)
    observers = len(first.get_property_observers("state"))
    gate = gate_on(first)
    await run_against(gate, first, 1)
    first.update(state=False)
    gate.device = second
    async with trio.open_nursery() as nursery:
        nursery.start_soon(gate.run_stage)
        await trio.sleep(1)
        first.update(state=True)
        await trio.sleep(1)
        assert gate.active  # the first device no longer opens it
        second.update(state=True)
    assert str(gate.run_state) == "done"
    assert len(first.get_property_observers("state")) == observers


async def test_a_gate_that_is_gone_leaves_its_device(autojump_clock):
    device = VirtualDigitalChannel(name="beam", state=False)
    observers = len(device.get_property_observers("state"))
    gate = gate_on(device)
    await run_against(gate, device, 1)
    del gate
    gc.collect()
    assert len(device.get_property_observers("state")) == observers
