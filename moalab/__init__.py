"""moalab: an async, trio-based runtime for behavioural and neuroscience experiments.

Write an experiment as a tree of :class:`MoaStage`, drive :class:`Device`
objects from it, record everything with loggers, and move device methods to
threads, processes or a Raspberry Pi with executors.
"""

from .core.clock import now
from .core.dispatch import ExecutorContext, apply_executor, apply_generator_executor
from .core.errors import InvalidArgument, MoaError, StageStateError
from .core.loggable import Loggable
from .device import (
    ADCPort,
    AnalogChannel,
    AnalogPort,
    Channel,
    ChannelBase,
    Device,
    DigitalChannel,
    DigitalPort,
    Port,
    VirtualADCPort,
    VirtualAnalogChannel,
    VirtualAnalogPort,
    VirtualDigitalChannel,
    VirtualDigitalPort,
)
from .executor import (
    AsyncThreadExecutor,
    ConnectionLost,
    DummyRemoteExecutor,
    Executor,
    ExecutorError,
    ExecutorTimeout,
    MultiprocessSocketExecutor,
    NotAllowed,
    ProcessExecutor,
    RemoteError,
    RestExecutor,
    ThreadExecutor,
    WebSocketExecutor,
)
from .log import (
    LogRow,
    MemoryLogger,
    ObjectLogger,
    PythonLogger,
    SimpleCSVLogger,
    SimpleTerminalLogger,
)
from .stage import (
    AnalogGateStage,
    Delay,
    DigitalGateStage,
    GateStage,
    GaussianRandomDelay,
    MoaStage,
    RandomDelay,
    RunState,
    UniformRandomDelay,
)

__version__ = "0.1.0"

__all__ = (
    "now",
    "MoaError",
    "InvalidArgument",
    "StageStateError",
    "Loggable",
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
    "LogRow",
    "ObjectLogger",
    "SimpleCSVLogger",
    "SimpleTerminalLogger",
    "PythonLogger",
    "MemoryLogger",
    "MoaStage",
    "RunState",
    "Delay",
    "RandomDelay",
    "UniformRandomDelay",
    "GaussianRandomDelay",
    "GateStage",
    "DigitalGateStage",
    "AnalogGateStage",
    "apply_executor",
    "apply_generator_executor",
    "ExecutorContext",
    "Executor",
    "ThreadExecutor",
    "AsyncThreadExecutor",
    "DummyRemoteExecutor",
    "ProcessExecutor",
    "MultiprocessSocketExecutor",
    "WebSocketExecutor",
    "RestExecutor",
    "ExecutorError",
    "ExecutorTimeout",
    "RemoteError",
    "ConnectionLost",
    "NotAllowed",
)
