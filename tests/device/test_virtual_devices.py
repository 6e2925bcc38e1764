"""Virtual devices: writes, random reads, and pumps that stop when cancelled."""

import random

import numpy as np
import pytest
import trio

from moalab import (
    InvalidArgument,
    VirtualADCPort,
    VirtualAnalogChannel,
    VirtualAnalogPort,
    VirtualDigitalChannel,
    VirtualDigitalPort,
)


def updates_of(device) -> list[float]:
    """Record the experiment time of each on_data_update of ``device``."""
    times: list[float] = []
    device.fbind("on_data_update", lambda obj, arg: times.append(obj.timestamp))
    return times


async def test_virtual_digital_channel_write(autojump_clock):
    device = VirtualDigitalChannel(name="motor")
    times = updates_of(device)
    await trio.sleep(3)
    await device.write_state(1)
    assert device.state is True
    assert device.timestamp == 3
    await trio.sleep(0.2)
    await device.write_state(False)
    assert device.state is False
    assert times == [3, 3.2]


async def test_virtual_digital_port_write(autojump_clock):
    port = VirtualDigitalPort(name="io", channel_names=["a", "b", "c"])
    times = updates_of(port)
    await trio.sleep(1)
    await port.write_states(high=["a", "c"], low=["b"])
    assert port.channel_states() == {"a": True, "b": False, "c": True}
    await port.write_state("a", False)
    assert port.a is False
    assert times == [1, 1]


async def test_virtual_analog_devices_write(autojump_clock):
    channel = VirtualAnalogChannel(name="dac")
    await channel.write_state(2)
    assert channel.state == 2.0 and isinstance(channel.state, float)
    port = VirtualAnalogPort(name="dacs", channel_names=["x", "y"])
    times = updates_of(port)
    await port.write_states(x=0.5, y=1)
    await port.write_state("y", 0.25)
    assert port.channel_states() == {"x": 0.5, "y": 0.25}
    assert times == [0, 0]


async def test_reads_are_reproducible_with_rng():
    first = VirtualDigitalPort(name="a", channel_names=["x", "y"], rng=random.Random(5))
    second = VirtualDigitalPort(name="b", channel_names=["x", "y"], rng=random.Random(5))
    seen = []
    for _ in range(10):
        await first.read_state()
        await second.read_state()
        assert first.channel_states() == second.channel_states()
        seen.append(tuple(first.channel_states().values()))
    assert len(set(seen)) > 1  # the values do change
    channel = VirtualAnalogChannel(name="a", rng=random.Random(1))
    await channel.read_state()
    assert 0 <= channel.state < 1


@pytest.mark.parametrize("make", [
    lambda **kw: VirtualDigitalChannel(name="d", **kw),
    lambda **kw: VirtualDigitalPort(name="dp", channel_names=["x"], **kw),
    lambda **kw: VirtualAnalogChannel(name="a", **kw),
    lambda **kw: VirtualAnalogPort(name="ap", channel_names=["x"], **kw),
], ids=["digital", "digital-port", "analog", "analog-port"])
async def test_random_pumps_read_at_intervals_until_cancelled(autojump_clock, make):
    device = make(rng=random.Random(0), interval=(2, 3))
    times = updates_of(device)
    with trio.move_on_after(100) as scope:
        await device.pump_state()
    assert scope.cancelled_caught
    assert trio.current_time() == 100
    assert 33 <= len(times) <= 50
    gaps = np.diff([0.0, *times])
    assert all(2 <= gap <= 3 for gap in gaps)


@pytest.mark.parametrize("make", [
    lambda: VirtualDigitalChannel(name="d", interval=(0, 0)),
    lambda: VirtualAnalogPort(name="ap", channel_names=["x"], interval=(0, 0)),
    lambda: VirtualADCPort(name="adc", frequency=1e9, block_size=1),
], ids=["digital", "analog-port", "adc"])
async def test_pumps_without_waiting_are_still_cancellable(make):
    """A pump whose reads are always due must still let a real-clock deadline cancel it."""
    device = make()
    times = updates_of(device)
    with trio.move_on_after(0.1) as scope:
        await device.pump_state()
    assert scope.cancelled_caught
    assert len(times) > 0


def test_pump_interval_is_validated():
    for interval in [(-1, 2), (3, 2)]:
        with pytest.raises(InvalidArgument, match="interval="):
            VirtualDigitalChannel(name="d", interval=interval)
    device = VirtualDigitalChannel(name="d", interval=(1, 2))
    assert device.init_kwargs["interval"] == (1, 2)


async def test_gate_on_a_pumped_device(autojump_clock):
    """A gate exits on a pumped virtual device (the seed's pattern with the library's device)."""
    from moalab import DigitalGateStage

    beam = VirtualDigitalChannel(name="beam", rng=random.Random(4), interval=(1, 2))
    beam.state = False
    gate = DigitalGateStage(name="gate", device=beam, exit_state=True, use_initial=False,
                            repeat=5)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(beam.pump_state)
        await gate.run_stage()
        nursery.cancel_scope.cancel()
    assert str(gate.run_state) == "done" and gate.state is True
    assert trio.current_time() >= 5


async def test_adc_pump_produces_blocks_until_cancelled(autojump_clock):
    adc = VirtualADCPort(name="adc", num_channels=3, active_channels=[True, False, True],
                         frequency=1000, block_size=100, seed=1)
    blocks = []
    adc.fbind("on_data_update",
              lambda obj, arg: blocks.append((obj.timestamp, obj.raw_data, obj.data)))
    with trio.move_on_after(1.05) as scope:
        await adc.pump_state()
    assert scope.cancelled_caught
    # a block every 0.1 s, stamped with the time of its last sample (ts_idx)
    assert adc.ts_idx == 99
    assert [t for t, _, _ in blocks] == pytest.approx([0.1 * k - 0.001 for k in range(1, 11)])
    for _, raw, data in blocks:
        assert [len(r) for r in raw] == [100, 0, 100]
        assert [len(d) for d in data] == [100, 0, 100]
        for r, d in zip(raw, data):
            assert np.all(r < 2**16)
            np.testing.assert_array_equal(d, adc.to_data(r))


async def test_adc_blocks_continue_the_signal(autojump_clock):
    """Consecutive blocks are consecutive samples: together they are one clean sine."""
    adc = VirtualADCPort(name="adc", frequency=200, block_size=50, noise=0, seed=0,
                         scale=2, offset=1)
    blocks = []
    adc.fbind("on_data_update", lambda obj, arg: blocks.append(obj.data[0]))
    with trio.move_on_after(1.01):
        await adc.pump_state()
    samples = np.concatenate(blocks)
    assert len(samples) == 200
    # the input range is [-1, 1); the sine spans 90 % of it
    expected = 0.9 * np.sin(2 * np.pi * np.arange(200) / 200)
    np.testing.assert_allclose(samples, expected, atol=2 / 2**16 + 1e-9)


async def test_adc_signal_fits_its_input_range():
    """With the default scale and offset the virtual sine is not clipped at the range."""
    adc = VirtualADCPort(name="adc", frequency=100, block_size=100, seed=3)
    adc.read_block()  # one second: a full period of channel 0
    raw = adc.raw_data[0]
    top = 2**adc.bit_depth - 1
    assert np.mean(raw == 0) < 0.05 and np.mean(raw == top) < 0.05
    low, high = -adc.offset, adc.scale - adc.offset
    data = adc.data[0]
    mid = (low + high) / 2
    assert data.min() < mid - 0.3 * (high - low) and data.max() > mid + 0.3 * (high - low)


def test_adc_conversion_round_trips():
    adc = VirtualADCPort(name="adc", bit_depth=12, scale=10, offset=5)
    values = np.array([-5, -2.5, 0, 2.5, 4.99])
    raw = adc.to_raw(values)
    assert raw.tolist() == [0, 1024, 2048, 3072, 4092]
    np.testing.assert_allclose(adc.to_data(raw), values, atol=10 / 2**12)
    assert adc.to_raw(np.array([-100, 100])).tolist() == [0, 4095]  # clipped


def test_adc_arguments_are_validated():
    with pytest.raises(InvalidArgument, match="active_channels has 1 entries"):
        VirtualADCPort(name="adc", num_channels=2, active_channels=[True])
    with pytest.raises(InvalidArgument, match="block_size=0"):
        VirtualADCPort(name="adc", block_size=0)
    with pytest.raises(InvalidArgument, match="frequency must be above 0"):
        VirtualADCPort(name="adc", frequency=0)
    adc = VirtualADCPort(name="adc", num_channels=2)
    assert adc.active == [True, True]


def test_devices_can_be_created_again_from_init_kwargs():
    """init_kwargs re-create a device elsewhere (what executors send to a remote side)."""
    devices = [
        VirtualDigitalChannel(name="d", interval=(1, 2)),
        VirtualDigitalPort(name="dp", channel_names=["x", "y"], interval=(0, 1)),
        VirtualAnalogPort(name="ap", channel_names=["z"]),
        VirtualADCPort(name="adc", num_channels=2, frequency=500, block_size=25, noise=0.5,
                       seed=9, scale=2, offset=1),
    ]
    for device in devices:
        copy = type(device)(**device.init_kwargs)
        assert copy.init_kwargs == device.init_kwargs
        for attr in ("name", "interval", "channel_names", "num_channels", "frequency",
                     "block_size", "noise", "scale", "offset"):
            assert getattr(copy, attr, None) == getattr(device, attr, None), attr
    adc, copy = devices[-1], type(devices[-1])(**devices[-1].init_kwargs)
    adc.read_block()
    copy.read_block()
    np.testing.assert_array_equal(adc.raw_data[0], copy.raw_data[0])  # same seed
