"""A gate's wait is woken by values, a pause and cancellation (no cancel scope around it)."""

import trio

from moalab import DigitalGateStage, VirtualDigitalChannel


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
