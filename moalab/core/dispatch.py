"""The seam between devices and executors: methods that can run elsewhere.

A device method decorated with :func:`apply_executor` (or
:func:`apply_generator_executor`) is dispatched, when called, to the device's
executor, else to the executor of the innermost :class:`ExecutorContext`, else
called directly. Devices need only this module; where and how a call runs is
the executor layer's business (:mod:`moalab.executor`). The decoration also
marks the method as callable by remote clients: a server exposes nothing else.
"""

import contextvars
import inspect
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import partial, wraps
from typing import Any, Protocol

import trio

from .errors import InvalidArgument

__all__ = (
    "apply_executor",
    "apply_generator_executor",
    "ExecutorContext",
    "current_executor",
    "call_callback",
    "exposed_kind",
    "is_nonblocking",
    "read_items",
    "Dispatcher",
    "EXPOSED_ATTR",
    "NONBLOCKING_ATTR",
)


class Dispatcher(Protocol):
    """What a decorated method needs of an executor."""

    async def execute(self, obj: Any, fn: Callable[..., Any], args: tuple = (),
                      kwargs: dict | None = None, callback: Any = None) -> Any: ...

    def execute_generator(self, obj: Any, fn: Callable[..., Any], args: tuple = (),
                          kwargs: dict | None = None, callback: Any = None
                          ) -> AbstractAsyncContextManager[AsyncIterator[Any]]: ...


_context_executor: contextvars.ContextVar["Dispatcher | None"] = contextvars.ContextVar(
    "moalab_executor", default=None
)


def current_executor(obj: Any) -> "Dispatcher | None":
    """The executor for ``obj``: its own ``executor``, else the one of the innermost
    :class:`ExecutorContext`, else None (a direct call)."""
    executor = getattr(obj, "executor", None)
    if executor is not None:
        return executor
    return _context_executor.get()


class ExecutorContext:
    """``with ExecutorContext(executor):`` runs decorated methods of objects that
    have no executor of their own on ``executor``, in this task and the tasks
    it starts."""

    def __init__(self, executor: Dispatcher) -> None:
        self.executor = executor
        self._token: contextvars.Token | None = None

    def __enter__(self) -> Dispatcher:
        self._token = _context_executor.set(self.executor)
        return self.executor

    def __exit__(self, *exc: object) -> None:
        _context_executor.reset(self._token)


def call_callback(obj: Any, callback: Callable[..., Any] | str | None, value: Any) -> None:
    """Call ``obj``'s ``callback`` with ``value``.

    ``callback`` is a method name or a function; a function is looked up on
    ``obj`` by name (so subclasses can override it) and otherwise called as
    ``callback(obj, value)``.
    """
    if callback is None:
        return
    name = callback if isinstance(callback, str) else callback.__name__
    method = getattr(obj, name, None)
    if method is not None:
        method(value)
    elif isinstance(callback, str):
        raise InvalidArgument(f"{type(obj).__name__} has no callback method {name!r}")
    else:
        callback(obj, value)


EXPOSED_ATTR = "__moalab_exposed__"
"""Set on decorated methods: 'call' or 'generator'. Only such methods can be called
remotely."""


def exposed_kind(method: Any) -> str | None:
    """'call' or 'generator' for a decorated method, else None."""
    return getattr(method, EXPOSED_ATTR, None)


NONBLOCKING_ATTR = "__moalab_nonblocking__"
"""Set (True) on methods decorated with ``apply_executor(blocking=False)``, and on the
functions they wrap (what an executor is handed)."""


def is_nonblocking(method: Any) -> bool:
    """Whether ``method`` (a decorated method, as found on its class, or the function it
    wraps) was declared with ``apply_executor(blocking=False)``."""
    return getattr(method, NONBLOCKING_ATTR, False)


def apply_executor(func: Callable[..., Any] | None = None, callback: Any = None,
                   blocking: bool = True) -> Any:
    """Decorate a device method (sync or async) so calls run on the device's executor.

    The decorated method is always awaited: ``await dev.write_state(True)``. The
    executor is the device's ``executor``, else the innermost
    :class:`ExecutorContext`, else none (a direct call). ``callback`` (a method
    or its name) is called in the caller's trio task with the return value.

    ``blocking=False`` declares a sync method that returns in microseconds and never
    sleeps or waits on I/O (a GPIO write, a cached read): a server (and a process
    executor's child) runs a remote call of it in its trio thread at once, without
    the hop to the object's worker thread, unless sync calls of the same connection
    on that object are still queued or running there (then it waits its turn, so
    one connection's calls keep their order; a REST call, which has no order, never
    waits). It may so run while another client's call runs in the object's thread.
    A method declared so that blocks stalls every client of the server while it
    runs. The thread executors (``ThreadExecutor``, ``AsyncThreadExecutor``) run it
    so too, in the caller's trio thread, unless calls of the object are queued or
    running in their thread. Raises :class:`~moalab.InvalidArgument` for
    ``blocking=False`` on an async method, at decoration.
    """
    if func is None:
        return partial(apply_executor, callback=callback, blocking=blocking)
    is_async = inspect.iscoroutinefunction(func)
    if is_async and not blocking:
        raise InvalidArgument(
            f"apply_executor(blocking=False) on async method {func.__qualname__}: only sync "
            "methods take it (an async one already runs in the server's trio thread); drop "
            "blocking=False")

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
    if not blocking:
        setattr(wrapper, NONBLOCKING_ATTR, True)
        setattr(func, NONBLOCKING_ATTR, True)  # executors get func, not the wrapper
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
async def read_items(obj: Any, callback: Any, source: Any) -> AsyncIterator[AsyncIterator[Any]]:
    """Turn a source with ``receive_batch()`` (raising ``StopAsyncIteration`` at the
    end) into an async iterator of items, calling ``obj``'s ``callback`` with each."""

    async def items() -> AsyncIterator[Any]:
        while True:
            try:
                batch = await source.receive_batch()
            except StopAsyncIteration:
                return
            for item in batch:
                call_callback(obj, callback, item)
                yield item

    iterator = items()
    try:
        yield iterator
    finally:
        await iterator.aclose()


class _GeneratorSource:
    """``receive_batch`` over a generator run in the reading task, an item at a time."""

    def __init__(self, generator: Any) -> None:
        self.generator = generator

    async def receive_batch(self) -> list[Any]:
        if inspect.isasyncgen(self.generator):
            return [await self.generator.__anext__()]
        # a checkpoint per item keeps a long sync generator cancellable
        await trio.lowlevel.checkpoint()
        try:
            return [next(self.generator)]
        except StopIteration:
            raise StopAsyncIteration from None


@asynccontextmanager
async def _direct_generator(obj: Any, func: Callable[..., Any], args: tuple, kwargs: dict,
                            callback: Any) -> AsyncIterator[AsyncIterator[Any]]:
    generator = func(obj, *args, **kwargs)
    try:
        async with read_items(obj, callback, _GeneratorSource(generator)) as items:
            yield items
    finally:
        if inspect.isasyncgen(generator):
            await generator.aclose()
        else:
            generator.close()
