"""apply_executor and apply_generator_executor: move device methods to an executor."""

import inspect
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import partial, wraps
from typing import Any

import trio

from .executor import call_callback, current_executor

__all__ = ("apply_executor", "apply_generator_executor", "exposed_kind", "EXPOSED_ATTR")

EXPOSED_ATTR = "__moalab_exposed__"
"""Set on decorated methods: 'call' or 'generator'. Only such methods can be called
remotely."""


def exposed_kind(method: Any) -> str | None:
    """'call' or 'generator' for a decorated method, else None."""
    return getattr(method, EXPOSED_ATTR, None)


def apply_executor(func: Callable[..., Any] | None = None, callback: Any = None) -> Any:
    """Decorate a device method (sync or async) so calls run on the device's executor.

    The decorated method is always awaited: ``await dev.write_state(True)``. The
    executor is the device's ``executor``, else the innermost
    :class:`ExecutorContext`, else none (a direct call). ``callback`` (a method
    or its name) is called in the caller's trio task with the return value.
    """
    if func is None:
        return partial(apply_executor, callback=callback)
    is_async = inspect.iscoroutinefunction(func)

    @wraps(func)
    async def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        executor = current_executor(self)
        if executor is not None:
            return await executor.execute(self, func, args, kwargs, callback)
        result = func(self, *args, **kwargs)
        if is_async:
            result = await result
        call_callback(self, callback, result)
        return result

    setattr(wrapper, EXPOSED_ATTR, "call")
    return wrapper


def apply_generator_executor(func: Callable[..., Any] | None = None, callback: Any = None) -> Any:
    """Decorate a device generator method (sync or async) so it runs on the executor.

    Use it as ``async with dev.generate_data(n) as items: async for item in
    items: ...``. Items are pushed by the executor through a bounded buffer
    (a slow reader holds the generator back); ``callback`` is called with each
    item in the reading task; leaving the block stops the generator on the far
    side.
    """
    if func is None:
        return partial(apply_generator_executor, callback=callback)

    @wraps(func)
    def wrapper(self: Any, *args: Any, **kwargs: Any
                ) -> AbstractAsyncContextManager[AsyncIterator[Any]]:
        executor = current_executor(self)
        if executor is not None:
            return executor.execute_generator(self, func, args, kwargs, callback)
        return _direct_generator(self, func, args, kwargs, callback)

    setattr(wrapper, EXPOSED_ATTR, "generator")
    return wrapper


@asynccontextmanager
async def _direct_generator(obj: Any, func: Callable[..., Any], args: tuple, kwargs: dict,
                            callback: Any) -> AsyncIterator[AsyncIterator[Any]]:
    generator = func(obj, *args, **kwargs)

    async def items() -> AsyncIterator[Any]:
        if inspect.isasyncgen(generator):
            async for item in generator:
                call_callback(obj, callback, item)
                yield item
        else:
            for item in generator:
                # a checkpoint per item keeps a long sync generator cancellable
                await trio.lowlevel.checkpoint()
                call_callback(obj, callback, item)
                yield item

    iterator = items()
    try:
        yield iterator
    finally:
        await iterator.aclose()
        if inspect.isasyncgen(generator):
            await generator.aclose()
        else:
            generator.close()
