"""Executors: run device methods in a thread, a process, or on a remote server."""

from ..core.dispatch import ExecutorContext, apply_executor, apply_generator_executor
from ..core.lazy import lazy_names
from .clock import ClockNotAligned, ClockSync, LocalClock, RemoteClock
from .errors import (
    AuthenticationError,
    ConnectionLost,
    ExecutorError,
    ExecutorNotRunning,
    ExecutorTimeout,
    NotAllowed,
    ProtocolError,
    RemoteError,
)
from .dummy import DummyRemoteExecutor
from .executor import Executor
from .process import MultiprocessSocketExecutor, ProcessExecutor
from .remote import FarSideExecutor, RemoteExecutor
from .thread import AsyncThreadExecutor, ThreadExecutor

_LAZY = {"RestExecutor": "rest", "WebSocketExecutor": "websocket"}
"""The network executors, imported on first use: their clients (h11, trio-websocket)
would add ~0.15 s to every ``import moalab``."""


__getattr__ = lazy_names(__name__, _LAZY)


__all__ = (
    "apply_executor",
    "apply_generator_executor",
    "Executor",
    "ExecutorContext",
    "ThreadExecutor",
    "AsyncThreadExecutor",
    "FarSideExecutor",
    "RemoteExecutor",
    "DummyRemoteExecutor",
    "ProcessExecutor",
    "MultiprocessSocketExecutor",
    "WebSocketExecutor",
    "RestExecutor",
    "ClockSync",
    "RemoteClock",
    "LocalClock",
    "ClockNotAligned",
    "ExecutorError",
    "AuthenticationError",
    "ExecutorNotRunning",
    "ExecutorTimeout",
    "RemoteError",
    "ConnectionLost",
    "ProtocolError",
    "NotAllowed",
)
