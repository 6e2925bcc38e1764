"""The moalab exception hierarchy, rooted in :class:`MoaError`."""

__all__ = ("MoaError", "InvalidArgument", "StageStateError", "NothingToWaitFor", "error_text")


class MoaError(Exception):
    """Base of every error moalab raises on purpose."""


class InvalidArgument(MoaError, ValueError):
    """A value given to moalab (argument, flag, config key, message) is not accepted.

    The message names the object, the bad value and what would be accepted.
    """


class StageStateError(MoaError, RuntimeError):
    """A stage was asked to do something its run state does not allow."""


class NothingToWaitFor(MoaError, RuntimeError):
    """A run in virtual time can never go on: its stages wait, but no task can run,
    no timer is pending and nothing outside the run (a thread, a process, a socket)
    may wake it. The message names the waiting stages."""


def error_text(error: BaseException) -> str:
    """``'Type: message'`` of ``error``, as a record or a session stores it."""
    return f"{type(error).__name__}: {error}"
