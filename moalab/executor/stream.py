"""Streams of generator items handed to a trio task from another thread or loop.

:class:`ItemBuffer` is a bounded buffer: the producer (any thread) takes one
permit per item, so a slow reader holds the generator back, and wakes the
reader only when it is waiting; a fast stream costs a few microseconds per item
instead of a thread hand-off each. :class:`ThreadStream` runs a sync generator
in a thread of its own that fills such a buffer.
"""

import collections
import threading
from collections.abc import Callable, Iterator
from typing import Any

import trio

__all__ = ("ItemBuffer", "ThreadStream", "fill_from_async", "receive_burst", "DEFAULT_BUFFER")

DEFAULT_BUFFER = 1024


class ItemBuffer:
    """A bounded buffer from producers in any thread to one reader in a trio task.

    Create it in the reader's trio thread. Producer side: :meth:`reserve` (or
    :meth:`try_reserve`) then :meth:`put`, and :meth:`finish` once. Reader side:
    :meth:`receive_batch`, :meth:`stop`.
    """

    def __init__(self, capacity: int = DEFAULT_BUFFER) -> None:
        self._items: collections.deque[Any] = collections.deque()
        self._space = threading.Semaphore(capacity)
        self._lock = threading.Lock()
        self._token = trio.lowlevel.current_trio_token()
        self._event: trio.Event | None = None
        self._finished = False
        self._error: BaseException | None = None
        self.stopped = False

    # ---------------------------------------------------------------- producer

    def reserve(self) -> None:
        """Block until there is room for one more item."""
        self._space.acquire()

    def try_reserve(self) -> bool:
        """Take room for one more item if there is some; return whether it did."""
        return self._space.acquire(blocking=False)

    def put(self, item: Any) -> None:
        """Add an item (after reserving room for it)."""
        with self._lock:
            self._items.append(item)
            self._notify()

    def finish(self, error: BaseException | None = None) -> None:
        """End the stream, with the generator's exception if it raised one."""
        with self._lock:
            self._finished = True
            self._error = error
            self._notify()

    def _notify(self) -> None:
        # with the lock held
        if self._event is not None:
            try:
                self._token.run_sync_soon(self._wake)
            except trio.RunFinishedError:
                pass

    def _wake(self) -> None:
        event, self._event = self._event, None
        if event is not None:
            event.set()

    # ------------------------------------------------------------------ reader

    def stop(self) -> None:
        """Tell the producer to stop (it checks :attr:`stopped` before each item)."""
        self.stopped = True
        self._space.release()  # unblock a producer waiting for room

    async def receive_batch(self, max_items: int = 1 << 30) -> list[Any]:
        """Wait for at least one item and return up to ``max_items`` of them.

        Raises ``StopAsyncIteration`` at the end, or the generator's exception.
        """
        while True:
            with self._lock:
                if self._items:
                    break
                if self._finished:
                    if self._error is not None:
                        raise self._error
                    raise StopAsyncIteration
                self._event = event = trio.Event()
            await event.wait()
        items = self._items
        batch = [items.popleft() for _ in range(min(len(items), max_items))]
        self._space.release(len(batch))
        await trio.lowlevel.checkpoint()
        return batch


class ThreadStream:
    """Iterate ``fn(*args, **kwargs)`` (a sync generator) in a thread of its own.

    ``async with ThreadStream(...) as buffer`` starts it and gives the
    :class:`ItemBuffer` to read; leaving the block makes the generator close at
    its next item.
    """

    def __init__(self, fn: Callable[..., Iterator[Any]], args: tuple = (),
                 kwargs: dict | None = None, capacity: int = DEFAULT_BUFFER) -> None:
        self._fn, self._args, self._kwargs = fn, args, kwargs or {}
        self._capacity = capacity

    async def __aenter__(self) -> ItemBuffer:
        self.buffer = ItemBuffer(self._capacity)
        trio.lowlevel.start_thread_soon(self._produce, lambda _: None, name="moalab-stream")
        return self.buffer

    async def __aexit__(self, *exc: object) -> None:
        self.buffer.stop()

    def _produce(self) -> None:
        buffer = self.buffer
        error = None
        try:
            generator = self._fn(*self._args, **self._kwargs)
            try:
                for item in generator:
                    buffer.reserve()
                    if buffer.stopped:
                        break
                    buffer.put(item)
            finally:
                close = getattr(generator, "close", None)
                if close is not None:
                    close()
        except BaseException as exc:
            error = exc
        buffer.finish(error)


async def fill_from_async(generator: Any, buffer: ItemBuffer) -> None:
    """Feed ``buffer`` from an async generator, in the producer's trio loop."""
    error = None
    try:
        async for item in generator:
            if not buffer.try_reserve():
                await trio.to_thread.run_sync(buffer.reserve)
            if buffer.stopped:
                break
            buffer.put(item)
    except Exception as exc:
        error = exc
    finally:
        await generator.aclose()
        buffer.finish(error)


async def receive_burst(receive: trio.MemoryReceiveChannel) -> list[Any]:
    """Wait for one item of ``receive``, then take every item already waiting: a
    sender task writes them in one go."""
    items = [await receive.receive()]
    while True:
        try:
            items.append(receive.receive_nowait())
        except trio.WouldBlock:
            return items
