"""Gate stages wait on device properties directly, in virtual time, without Kivy's clock."""

import pytest
import trio

from moalab import (
    AnalogGateStage,
    DigitalGateStage,
    InvalidArgument,
    MemoryLogger,
    VirtualAnalogChannel,
    VirtualDigitalChannel,
    VirtualDigitalPort,
)


async def script(device, steps, name="state") -> None:
    """Set the device's ``name`` to each value at each absolute virtual time."""
    for t, value in steps:
        await trio.sleep_until(t)
        device.update(**{name: value})


async def run_gate(gate, device, steps, name="state") -> float:
    """Run ``gate`` beside a scripted device; return the virtual time the gate ended."""
    async with trio.open_nursery() as nursery:
        nursery.start_soon(script, device, steps, name)
        await gate.run_stage()
        end = trio.current_time()
        nursery.cancel_scope.cancel()
    return end


def digital(state=False):
    device = VirtualDigitalChannel(name="beam")
    device.state = state
    return device


async def test_digital_gate_exits_on_the_exit_state(autojump_clock):
    device = digital(False)
    gate = DigitalGateStage(name="gate", device=device, exit_state=True)
    logger = MemoryLogger()
    logger.add_logged_instance(gate, logged_names=["state"])
    end = await run_gate(gate, device, [(1, False), (2.5, True), (4, False)])
    assert end == 2.5
    assert str(gate.run_state) == "done"
    # the state rows: the value on entry, then the exiting value
    state_rows = [r for r in logger.rows if r.trigger == "state" and r.item == "state"]
    assert [(r.timestamp, r.value) for r in state_rows] == [(0, False), (2.5, True)]


async def test_the_gate_logs_the_value_it_saw(autojump_clock):
    # with its default logged names: the state row holds the state, not the trial count
    device = digital(False)
    gate = DigitalGateStage(name="wait_press", device=device, exit_state=True)
    logger = MemoryLogger()
    logger.add_logged_instance(gate)
    await run_gate(gate, device, [(2, True)])
    assert [(r.timestamp, r.name, r.trigger, r.item, r.value) for r in logger.rows
            if r.trigger == "state"] == [
        (0, "wait_press", "state", "state", False), (2, "wait_press", "state", "state", True),
    ]


async def test_digital_gate_on_low(autojump_clock):
    device = digital(True)
    gate = DigitalGateStage(name="gate", device=device, exit_state=False)
    assert await run_gate(gate, device, [(3, False)]) == 3


async def test_use_initial_true_exits_on_a_passing_value_at_start(autojump_clock):
    device = digital(True)
    gate = DigitalGateStage(name="gate", device=device, exit_state=True, use_initial=True)
    assert await run_gate(gate, device, [(5, False)]) == 0


async def test_use_initial_false_needs_a_transition(autojump_clock):
    device = digital(True)
    gate = DigitalGateStage(name="gate", device=device, exit_state=True, use_initial=False)
    assert await run_gate(gate, device, [(1, False), (2, True)]) == 2

    # a low value on entry: the first high counts
    device.state = False
    start = trio.current_time()
    assert await run_gate(gate, device, [(start + 4, True)]) == start + 4


async def test_use_initial_false_applies_to_every_trial(autojump_clock):
    device = digital(False)
    gate = DigitalGateStage(name="gate", device=device, exit_state=True, use_initial=False,
                            repeat=2)
    logger = MemoryLogger()
    logger.add_logged_instance(gate)
    # high at 1 ends trial 0; it stays high, so trial 1 waits for low -> high
    end = await run_gate(gate, device, [(1, True), (5, False), (6, True)])
    assert end == 6
    assert [r.timestamp for r in logger.rows if r.trigger == "on_trial_end"] == [1, 6]


async def test_hold_time_requires_the_value_to_be_held(autojump_clock):
    device = digital(False)
    gate = DigitalGateStage(name="gate", device=device, exit_state=True, hold_time=2)
    # high for 1 s does not count; high from 3 on is held until 5
    end = await run_gate(gate, device, [(1, True), (2, False), (3, True), (10, False)])
    assert end == 5


async def test_hold_time_with_an_initial_passing_value(autojump_clock):
    device = digital(True)
    gate = DigitalGateStage(name="gate", device=device, exit_state=True, hold_time=2)
    assert await run_gate(gate, device, []) == 2


async def test_analog_gate_range(autojump_clock):
    device = VirtualAnalogChannel(name="pressure")
    assert device.state is None  # unknown does not pass
    gate = AnalogGateStage(name="gate", device=device, min=0.4, max=0.6)
    end = await run_gate(gate, device, [(1, 0.1), (2, 0.7), (3, 0.6), (9, 0.0)])
    assert end == 3
    assert gate.state == 0.6


async def test_analog_gate_hold_keeps_counting_within_the_range(autojump_clock):
    device = VirtualAnalogChannel(name="pressure")
    device.state = 0.0
    gate = AnalogGateStage(name="gate", device=device, min=0.4, max=0.6, hold_time=3)
    # 0.45 -> 0.55 stays in range: the hold started at 1 is not reset
    end = await run_gate(gate, device, [(1, 0.45), (2, 0.55), (3, 0.5), (10, 0.0)])
    assert end == 4


async def test_gate_watches_only_its_property(autojump_clock):
    port = VirtualDigitalPort(name="io", channel_names=["beam", "lever"])
    gate = DigitalGateStage(name="gate", device=port, state_prop="lever", exit_state=True)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(gate.run_stage)
        await trio.sleep(1)
        await port.write_states(high=["beam"])
        await trio.sleep(1)
        assert gate.active
        await port.write_states(high=["lever"])
    assert trio.current_time() == 2
    assert str(gate.run_state) == "done"


async def test_gate_stops_listening_after_it_ends(autojump_clock):
    device = digital(False)
    gate = DigitalGateStage(name="gate", device=device, exit_state=True)
    await run_gate(gate, device, [(1, True)])
    await device.write_state(False)
    assert gate.state is True


async def test_paused_gate_does_not_exit_until_resumed(autojump_clock):
    device = digital(False)
    gate = DigitalGateStage(name="gate", device=device, exit_state=True)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(gate.run_stage)
        await trio.sleep(1)
        gate.pause()
        await device.write_state(True)
        await trio.sleep(10)
        assert gate.active and gate.paused
        gate.resume()
    # the value current at the resume counts
    assert trio.current_time() == 11
    assert str(gate.run_state) == "done"


async def test_paused_gate_ignores_a_pulse_it_missed(autojump_clock):
    device = digital(False)
    gate = DigitalGateStage(name="gate", device=device, exit_state=True)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(gate.run_stage)
        await trio.sleep(1)
        gate.pause()
        await device.write_state(True)
        await trio.sleep(1)
        await device.write_state(False)
        await trio.sleep(1)
        gate.resume()
        await trio.sleep(5)
        assert gate.active
        await device.write_state(True)
    assert trio.current_time() == 8


async def test_gate_without_device_or_property_fails(autojump_clock):
    with pytest.raises(InvalidArgument, match="has no device"):
        await DigitalGateStage(name="gate").run_stage()
    gate = DigitalGateStage(name="gate", device=digital(), state_prop="colour")
    with pytest.raises(InvalidArgument, match="no property 'colour'"):
        await gate.run_stage()
    assert str(gate.run_state) == "failed" and not gate.active


async def test_gates_need_no_kivy_clock(autojump_clock):
    from kivy.clock import Clock

    device = digital(False)
    gate = DigitalGateStage(name="gate", device=device, exit_state=True, hold_time=1)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(gate.run_stage)
        await trio.sleep(1)
        await device.write_state(True)
        # nothing ticks Kivy's clock here: the gate must not have scheduled on it
        assert Clock.get_events() == []
    assert trio.current_time() == 2
    assert Clock.get_events() == []
