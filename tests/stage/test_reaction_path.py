"""A gate's reaction path: its wait is woken by values, a pause and cancellation (no
cancel scope around it), and a leaf's one trial runs in its stage's cancel scope; the
controls keep their meaning."""

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
