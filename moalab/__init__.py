"""moalab: an async, trio-based runtime for behavioural and neuroscience experiments.

Write an experiment as a tree of :class:`MoaStage`, drive :class:`Device`
objects from it, run it with :class:`Run` (or :func:`run` / :func:`start`), which
records everything it does as a stream of records (:class:`Record`) to sinks
such as the loggers, and move device methods to threads, processes or a
Raspberry Pi with executors.
"""

from .core.lazy import lazy_names

__version__ = "0.1.0"

_MODULES = {
    **dict.fromkeys(("ClockOrigin", "now"), "core.clock"),
    **dict.fromkeys(("ExecutorContext", "apply_executor", "apply_generator_executor"),
                    "core.dispatch"),
    **dict.fromkeys(("InvalidArgument", "MoaError", "NothingToWaitFor", "StageStateError"),
                    "core.errors"),
    "Loggable": "core.loggable",
    **dict.fromkeys(("Change", "DeviceUpdate", "Record", "RunEnd", "RunStart", "StageEnd",
                     "StageStart", "TrialEnd", "TrialStart", "UserEvent"), "core.records"),
    **dict.fromkeys(("ADCPort", "AnalogChannel", "AnalogPort", "Channel", "ChannelBase",
                     "Device", "DigitalChannel", "DigitalPort", "GPIODigitalInput",
                     "GPIODigitalOutput", "GPIODigitalPort", "GPIOError", "GPIOPWMOutput",
                     "Port", "VirtualADCPort", "VirtualAnalogChannel", "VirtualAnalogPort",
                     "VirtualDigitalChannel", "VirtualDigitalPort"), "device"),
    **dict.fromkeys(("AsyncThreadExecutor", "AuthenticationError", "ConnectionLost",
                     "DummyRemoteExecutor", "Executor", "ExecutorError", "ExecutorTimeout",
                     "MultiprocessSocketExecutor", "NotAllowed", "ProcessExecutor",
                     "RemoteError", "RestExecutor", "ThreadExecutor", "WebSocketExecutor"),
                    "executor"),
    **dict.fromkeys(("HDF5Logger", "LogRow", "MemoryLogger", "MemorySink", "ObjectLogger",
                     "PythonLogger", "RecordSink", "SimpleCSVLogger", "SimpleTerminalLogger",
                     "TreeSink"), "log"),
    **dict.fromkeys(("Run", "RunGroup", "RunHandle", "SinkDetached", "run", "run_experiment",
                     "start"), "runner"),
    **dict.fromkeys(("AnalogGateStage", "Delay", "DigitalGateStage", "GateStage",
                     "GaussianRandomDelay", "MoaStage", "RandomDelay", "RunState",
                     "UniformRandomDelay"), "stage"),
    "InheritedAssets": "export",
}
"""Each public name and the subpackage (or module) holding it, imported on first use:
``import moalab`` itself imports nothing, so a command of the lab (``moalab subject
add``) does not pay for trio, numpy and Kivy (~0.5 s), nor a rig for the lab's
database."""


__getattr__ = lazy_names(__name__, _MODULES)


def __dir__() -> list[str]:
    return sorted({*globals(), *_MODULES})


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
