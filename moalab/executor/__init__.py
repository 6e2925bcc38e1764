"""Executors: run device methods in a thread, a process, or on a remote server."""

from ..core.dispatch import ExecutorContext, apply_executor, apply_generator_executor
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
from .remote import RemoteExecutor
from .rest import RestExecutor
from .thread import AsyncThreadExecutor, ThreadExecutor
from .websocket import WebSocketExecutor

__all__ = (
    "apply_executor",
    "apply_generator_executor",
    "Executor",
    "ExecutorContext",
    "ThreadExecutor",
    "AsyncThreadExecutor",
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
