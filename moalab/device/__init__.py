"""Devices: the base class, channel and port interfaces, and virtual devices."""

from .adc import ADCPort
from .analog import AnalogChannel, AnalogPort
from .device import Device
from .digital import DigitalChannel, DigitalPort
from .gpio import GPIODigitalInput, GPIODigitalOutput, GPIODigitalPort, GPIOError, GPIOPWMOutput
from .port import Channel, ChannelBase, Port
from .virtual import (
    VirtualADCPort,
    VirtualAnalogChannel,
    VirtualAnalogPort,
    VirtualDigitalChannel,
    VirtualDigitalPort,
)

__all__ = (
    "Device",
    "ChannelBase",
    "Channel",
    "Port",
    "DigitalChannel",
    "DigitalPort",
    "AnalogChannel",
    "AnalogPort",
    "ADCPort",
    "VirtualDigitalChannel",
    "VirtualDigitalPort",
    "VirtualAnalogChannel",
    "VirtualAnalogPort",
    "VirtualADCPort",
    "GPIODigitalInput",
    "GPIODigitalOutput",
    "GPIODigitalPort",
    "GPIOPWMOutput",
    "GPIOError",
)
