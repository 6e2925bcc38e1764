"""Executors: run device methods in a thread, a process, or on a remote server."""

from ..core.dispatch import ExecutorContext, apply_executor, apply_generator_executor
from .errors import (
    ConnectionLost,
    ExecutorError,
    ExecutorNotRunning,
    ExecutorTimeout,
    NotAllowed,
    ProtocolError,
    RemoteError,
)
from .executor import Executor
from .thread import AsyncThreadExecutor, ThreadExecutor

__all__ = (
    "apply_executor",
    "apply_generator_executor",
    "Executor",
    "ExecutorContext",
    "ThreadExecutor",
    "AsyncThreadExecutor",
    "ExecutorError",
    "ExecutorNotRunning",
    "ExecutorTimeout",
    "RemoteError",
    "ConnectionLost",
    "ProtocolError",
    "NotAllowed",
)
