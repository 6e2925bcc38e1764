"""moalab: an async, trio-based runtime for behavioural and neuroscience experiments.

Write an experiment as a tree of :class:`MoaStage`, drive :class:`Device`
objects from it, run it with :class:`Run` (or :func:`run` / :func:`start`), which
records everything it does as a stream of records (:class:`Record`) to sinks
such as the loggers, and move device methods to threads, processes or a
Raspberry Pi with executors.
"""

from .core.clock import ClockOrigin, now
from .core.dispatch import ExecutorContext, apply_executor, apply_generator_executor
from .core.errors import InvalidArgument, MoaError, NothingToWaitFor, StageStateError
from .core.lazy import lazy_names
from .core.loggable import Loggable
from .core.records import (
    Change,
    DeviceUpdate,
    Record,
    RunEnd,
    RunStart,
    StageEnd,
    StageStart,
    TrialEnd,
    TrialStart,
    UserEvent,
)
from .device import (
    ADCPort,
    AnalogChannel,
    AnalogPort,
    Channel,
    ChannelBase,
    Device,
    DigitalChannel,
    DigitalPort,
    GPIODigitalInput,
    GPIODigitalOutput,
    GPIODigitalPort,
    GPIOError,
    GPIOPWMOutput,
    Port,
    VirtualADCPort,
    VirtualAnalogChannel,
    VirtualAnalogPort,
    VirtualDigitalChannel,
    VirtualDigitalPort,
)
from .executor import (
    AsyncThreadExecutor,
    AuthenticationError,
    ConnectionLost,
    DummyRemoteExecutor,
    Executor,
    ExecutorError,
    ExecutorTimeout,
    MultiprocessSocketExecutor,
    NotAllowed,
    ProcessExecutor,
    RemoteError,
    ThreadExecutor,
)
from .log import (
    LogRow,
    MemoryLogger,
    MemorySink,
    ObjectLogger,
    PythonLogger,
    RecordSink,
    SimpleCSVLogger,
    SimpleTerminalLogger,
    TreeSink,
)
from .runner import Run, RunGroup, RunHandle, SinkDetached, run, run_experiment, start
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

_LAZY = {
    "InheritedAssets": "moalab.export",
    "HDF5Logger": "moalab.log.hdf5",
    "RestExecutor": "moalab.executor.rest",
    "WebSocketExecutor": "moalab.executor.websocket",
}
"""Names imported on first use: the lab layer (its database's SQLAlchemy and Alembic
would add ~0.7 s to every ``import moalab``, a rig's included), the HDF5 log (h5py, of
the ``data`` extra: 25-50 ms, and not installed on every rig), and the network
executors (h11 and trio-websocket: ~0.15 s)."""


__getattr__ = lazy_names(__name__, _LAZY)


__all__ = (
    "now",
    "ClockOrigin",
    "start",
    "run",
    "RunHandle",
    "Run",
    "RunGroup",
    "run_experiment",
    "Record",
    "RunStart",
    "StageStart",
    "StageEnd",
    "TrialStart",
    "TrialEnd",
    "DeviceUpdate",
    "Change",
    "UserEvent",
    "RunEnd",
    "RecordSink",
    "MemorySink",
    "TreeSink",
    "SinkDetached",
    "MoaError",
    "InvalidArgument",
    "StageStateError",
    "NothingToWaitFor",
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
    "GPIODigitalInput",
    "GPIODigitalOutput",
    "GPIODigitalPort",
    "GPIOPWMOutput",
    "GPIOError",
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
    "AuthenticationError",
    "NotAllowed",
    "InheritedAssets",
    "HDF5Logger",
)
