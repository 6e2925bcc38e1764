"""Device, channel and port interfaces: properties, updates, channel names, errors."""

import math

import pytest
import trio

from moalab import (
    ADCPort,
    AnalogChannel,
    AnalogPort,
    ChannelBase,
    Device,
    DigitalChannel,
    DigitalPort,
    InvalidArgument,
    VirtualADCPort,
    VirtualAnalogPort,
    VirtualDigitalChannel,
    VirtualDigitalPort,
)


class Thermometer(Device):
    from moalab.core.events import NumericProperty

    temperature = NumericProperty(0.0)


def test_update_sets_timestamp_and_state_before_dispatching():
    device = Thermometer(name="thermo")
    seen = []

    def on_update(obj, arg):
        seen.append((obj, arg, obj.timestamp, obj.temperature))

    device.fbind("on_data_update", on_update)
    device.update(timestamp=12.5, temperature=37.2)
    assert seen == [(device, device, 12.5, 37.2)]


async def test_update_timestamp_defaults_to_experiment_time(autojump_clock):
    device = Thermometer(name="thermo")
    await trio.sleep(42)
    device.update(temperature=1.0)
    assert device.timestamp == 42


def test_device_state_is_bindable():
    device = Thermometer(name="thermo")
    changes = []
    device.fbind("temperature", lambda obj, value: changes.append(value))
    device.fbind("timestamp", lambda obj, value: changes.append(("t", value)))
    device.update(timestamp=1, temperature=20)
    device.update(timestamp=2, temperature=20)  # unchanged value: no property event
    assert changes == [("t", 1), 20, ("t", 2)]


def test_init_kwargs_are_kept_without_executor():
    device = Thermometer(name="thermo", temperature=3.0, executor=object(), room="lab 2")
    assert device.init_kwargs == {"name": "thermo", "temperature": 3.0, "room": "lab 2"}
    assert device.room == "lab 2"  # an unknown keyword becomes an attribute
    assert device.executor is not None


async def test_interfaces_say_what_is_not_implemented():
    with pytest.raises(NotImplementedError, match="Thermometer has no pump_state"):
        await Thermometer(name="t").pump_state()
    with pytest.raises(NotImplementedError, match="cannot be read"):
        await ChannelBase(name="c").read_state()
    with pytest.raises(NotImplementedError, match="DigitalChannel cannot be written"):
        await DigitalChannel(name="d").write_state(True)
    with pytest.raises(NotImplementedError, match="AnalogChannel cannot be written"):
        await AnalogChannel(name="a").write_state(1.0)
    with pytest.raises(NotImplementedError, match="cannot be written"):
        await DigitalPort(name="p", channel_names=["x"]).write_state("x", True)
    with pytest.raises(NotImplementedError, match="cannot be written"):
        await AnalogPort(name="p", channel_names=["x"]).write_state("x", 1.0)


def test_channel_states_start_unknown():
    assert DigitalChannel(name="d").state is None
    assert AnalogChannel(name="a").state is None


def test_port_channel_names_become_bindable_properties():
    port = DigitalPort(name="io", channel_names=["beam", "lever"])
    assert port.channel_names == ["beam", "lever"]
    assert port.channel_states() == {"beam": None, "lever": None}
    changes = []
    port.fbind("lever", lambda obj, value: changes.append(value))
    port.update(lever=True)
    assert changes == [True]
    assert port.channel_states() == {"beam": None, "lever": True}
    assert port.init_kwargs["channel_names"] == ["beam", "lever"]
    # the channels are logged by default
    assert {"beam", "lever"} <= set(port.logged_names)


def test_port_channel_values_are_per_instance():
    first = DigitalPort(name="a", channel_names=["beam"])
    second = DigitalPort(name="b", channel_names=["beam"])
    changes = []
    second.fbind("beam", lambda obj, value: changes.append(value))
    first.update(beam=True)
    assert (first.beam, second.beam) == (True, None)
    assert changes == []
    second.update(beam=False)
    assert (first.beam, second.beam) == (True, False)
    assert changes == [False]


def test_port_channel_declared_by_the_class():
    from moalab.core.events import BooleanProperty

    class LeverPort(VirtualDigitalPort):
        lever = BooleanProperty(False)

    port = LeverPort(name="io", channel_names=["lever", "light"])
    assert port.lever is False and port.light is None


@pytest.mark.parametrize("name", ["update", "name", "timestamp", "channel_names", "dispatch",
                                  "write_states", "pump_state"])
def test_port_rejects_a_channel_name_the_port_uses(name):
    with pytest.raises(InvalidArgument, match=f"channel name '{name}' is already an attribute"):
        VirtualDigitalPort(name="io", channel_names=[name])
    # the class is unharmed: its methods and properties still work
    port = VirtualDigitalPort(name="io", channel_names=["beam"])
    port.update(beam=True)
    assert port.beam is True and port.name == "io"


def test_port_rejects_a_channel_name_that_is_no_identifier():
    with pytest.raises(InvalidArgument, match="'beam 1' is not a valid identifier"):
        DigitalPort(name="io", channel_names=["beam 1"])


async def test_virtual_ports_reject_unknown_channels():
    digital = VirtualDigitalPort(name="io", channel_names=["beam"])
    with pytest.raises(InvalidArgument, match="port 'io' has no channel 'door'"):
        await digital.write_states(high=["beam"], low=["door"])
    assert digital.beam is None  # nothing was written
    analog = VirtualAnalogPort(name="dac", channel_names=["left"])
    with pytest.raises(InvalidArgument, match="has no channel 'right'"):
        await analog.write_states(right=1.0)
    with pytest.raises(InvalidArgument, match="has no channel 'right'"):
        await analog.write_state("right", 1.0)


def test_port_subclass_reuses_a_channel_name_of_its_base():
    # the base class got a 'shared' property for its instance; the subclass still works
    DigitalPort(name="base", channel_names=["shared"])
    port = VirtualDigitalPort(name="sub", channel_names=["shared"])
    changes = []
    port.fbind("shared", lambda obj, value: changes.append(value))
    port.update(shared=True)
    assert changes == [True]


# ---------------------------------------------------------- constructor arguments

@pytest.mark.parametrize("make, fragments", [
    (lambda: VirtualDigitalPort(name="p", channel_name=["a"]),
     ["VirtualDigitalPort 'p': unknown argument channel_name=['a']", "'channel_names'"]),
    (lambda: Device(name="d", rng=1), ["Device 'd': unknown argument rng=1", "accepts"]),
    # a user's device cannot replace the machinery it inherits
    (lambda: Thermometer(name="t", on_data_update=print),
     ["Thermometer 't'", "on_data_update", "already an attribute of Thermometer"]),
    (lambda: Thermometer(name="t", update=None), ["update=None", "already an attribute"]),
    (lambda: Thermometer(name="t", temprature=3), ["did you mean 'temperature'"]),
])
def test_unknown_arguments_are_refused(make, fragments):
    with pytest.raises(InvalidArgument) as info:
        make()
    for fragment in fragments:
        assert fragment in str(info.value)


REFUSED = [
    # (factory, what the message names)
    (lambda: VirtualDigitalChannel(name="v", interval=5), "interval=5"),
    (lambda: VirtualDigitalChannel(name="v", interval=("a", "b")), "interval=('a', 'b')"),
    (lambda: VirtualDigitalChannel(name="v", interval=(1, 2, 3)), "interval=(1, 2, 3)"),
    (lambda: VirtualDigitalChannel(name="v", rng=7), "rng=7"),
    (lambda: VirtualADCPort(name="v", block_size=2.5), "block_size=2.5"),
    (lambda: VirtualADCPort(name="v", block_size="10"), "block_size='10'"),
    (lambda: VirtualADCPort(name="v", noise=-0.1), "noise=-0.1"),
    (lambda: VirtualADCPort(name="v", frequency=math.inf), "frequency=inf"),
    (lambda: VirtualADCPort(name="v", seed="abc"), "seed='abc'"),
    (lambda: VirtualADCPort(name="v", seed=-1), "seed=-1"),
    (lambda: ADCPort(name="v", frequency=-1), "frequency=-1"),
    (lambda: ADCPort(name="v", bit_depth=0), "bit_depth=0"),
    (lambda: ADCPort(name="v", bit_depth=65), "bit_depth=65"),
    (lambda: ADCPort(name="v", bit_depth=12.5), "bit_depth=12.5"),
    (lambda: ADCPort(name="v", num_channels=0), "num_channels=0"),
    (lambda: ADCPort(name="v", scale=0), "scale=0"),
    (lambda: ADCPort(name="v", offset=math.nan), "offset=nan"),
    (lambda: ADCPort(name="v", active_channels=5), "active_channels=5"),
    # a string is iterable: 'ab' used to make the channels 'a' and 'b'
    (lambda: VirtualDigitalPort(name="v", channel_names="ab"), "channel_names='ab'"),
    (lambda: VirtualAnalogPort(name="v", channel_names=5), "channel_names=5"),
]


@pytest.mark.parametrize("make, named", REFUSED, ids=[named for _, named in REFUSED])
def test_bad_values_are_refused_naming_the_device(make, named):
    with pytest.raises(InvalidArgument) as info:
        make()
    message = str(info.value)
    assert " 'v': " in message and named in message and "; give " in message


def test_adc_settings_are_checked_when_set_later():
    adc = ADCPort(name="adc")
    with pytest.raises(InvalidArgument, match="ADCPort 'adc': scale=0 is not accepted"):
        adc.scale = 0
    assert adc.scale == 1.0
