"""Errors of executors and remote objects."""

from ..core.errors import MoaError

__all__ = (
    "ExecutorError",
    "ExecutorNotRunning",
    "ExecutorTimeout",
    "RemoteError",
    "ConnectionLost",
    "ProtocolError",
    "NotAllowed",
    "UnknownObject",
    "AuthenticationError",
)


class ExecutorError(MoaError):
    """Something went wrong moving a call to or from an executor."""


class ExecutorNotRunning(ExecutorError):
    """A call was made on an executor that is not started (or already stopped)."""


class ExecutorTimeout(ExecutorError, TimeoutError):
    """A call did not finish within its timeout. An async method was cancelled where it
    awaited; a sync one cannot be interrupted: it runs on in its worker until it
    returns, and its object's next calls wait for it (the message says which)."""


class RemoteError(ExecutorError):
    """An exception raised on the far side whose type is not available here.

    ``remote_type`` is its ``module.QualName``; ``remote_traceback`` the
    traceback text from the far side.
    """

    def __init__(self, message: str, remote_type: str = "", remote_traceback: str = "") -> None:
        super().__init__(message)
        self.remote_type = remote_type
        self.remote_traceback = remote_traceback


class ConnectionLost(ExecutorError):
    """The connection to the far side broke; calls in flight fail with this."""


class ProtocolError(ExecutorError):
    """A message that does not follow the moalab wire protocol."""


class NotAllowed(ExecutorError, PermissionError):
    """The far side refused: a class outside the allowed modules, or a method that is
    not exposed with ``apply_executor`` / ``apply_generator_executor``."""


class UnknownObject(ExecutorError, LookupError):
    """No object of that name exists on the far side."""


class AuthenticationError(ExecutorError, PermissionError):
    """The server refused the connection or request: a missing or wrong token."""
