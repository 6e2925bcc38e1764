"""Running experiments: the one run path, its record stream, and runs in the background."""

from .experiment import has_pump, run_experiment
from .handle import RunHandle
from .launch import run, start
from .run import Run, RunGroup
from .stream import RecordStream, SinkDetached

__all__ = ("run_experiment", "has_pump", "start", "run", "RunHandle", "Run", "RunGroup",
           "RecordStream", "SinkDetached")
