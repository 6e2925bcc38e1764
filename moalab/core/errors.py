"""The moalab exception hierarchy, rooted in :class:`MoaError`."""

__all__ = ("MoaError", "InvalidArgument", "StageStateError")


class MoaError(Exception):
    """Base of every error moalab raises on purpose."""


class InvalidArgument(MoaError, ValueError):
    """A value given to moalab (argument, flag, config key, message) is not accepted.

    The message names the object, the bad value and what would be accepted.
    """


class StageStateError(MoaError, RuntimeError):
    """A stage was asked to do something its run state does not allow."""
