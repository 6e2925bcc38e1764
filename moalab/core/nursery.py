"""A trio nursery whose single failure comes out with its own type.

Since trio 0.25 a nursery wraps every child exception in an exception group,
and each enclosing nursery wraps it again. A stage tree nests nurseries, so a
``ValueError`` raised deep in a tree would surface as a group of groups. Here a
group whose only non-cancellation leaf is one exception is unwrapped to it.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio

__all__ = ("open_nursery", "unwrap_group", "leaves")


def leaves(exc: BaseException) -> list[BaseException]:
    """The exceptions ``exc`` carries: itself, or each leaf of an exception group."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for sub in exc.exceptions for leaf in leaves(sub)]
    return [exc]


def unwrap_group(group: BaseExceptionGroup) -> BaseException:
    """Return the one exception ``group`` stands for, or ``group`` itself.

    Cancellations are dropped when another exception is present; a group of
    only cancellations stands for its first.
    """
    carried = leaves(group)
    failures = [leaf for leaf in carried if not isinstance(leaf, trio.Cancelled)]
    if len(failures) == 1:
        return failures[0]
    if not failures:
        return carried[0]
    return group


@asynccontextmanager
async def open_nursery() -> AsyncIterator[trio.Nursery]:
    """Like :func:`trio.open_nursery`, but re-raise a lone failure unwrapped."""
    try:
        async with trio.open_nursery() as nursery:
            yield nursery
    except BaseExceptionGroup as group:
        exc = unwrap_group(group)
        if exc is group:
            raise
        raise exc from None
