"""Running experiments: a stage tree with its devices, executors and loggers."""

from .experiment import has_pump, run_experiment
from .handle import RunHandle, run, start

__all__ = ("run_experiment", "has_pump", "start", "run", "RunHandle")
