"""Streams of generator items handed to a trio task from another thread or loop.

:class:`ItemBuffer` is a bounded buffer: the producer (any thread) takes one
permit per item, so a slow reader holds the generator back, and wakes the
reader only when it is waiting; a fast stream costs a few microseconds per item
instead of a thread hand-off each. :class:`ThreadStream` runs a sync generator
in a thread of its own that fills such a buffer, and joins it at the end.
"""

import collections
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

import outcome
import trio

from ..core.realtime import run_in_thread
from .future import Future, Outbox

__all__ = ("ItemBuffer", "ThreadStream", "fill_from_async", "DEFAULT_BUFFER")

DEFAULT_BUFFER = 1024
STOP_TIMEOUT = 1.0
"""Real seconds a :class:`ThreadStream`'s end waits for its generator to stop."""

logger = logging.getLogger("moalab.executor.stream")


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
        self._outbox = Outbox()
        self._waiter: Future | None = None  # the reader's, while it waits
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
        # with the lock held: one wake-up for each wait of the reader
        waiter, self._waiter = self._waiter, None
        if waiter is not None:
            self._outbox.send(waiter.set, outcome.Value(None))  # unwrapped once: a new one

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
                if self._items or self._finished:
                    break
                self._waiter = waiter = Future()
            await waiter.wait()
        items = self._items
        if not items:  # only the reader takes items: the producer finished
            if self._error is not None:
                raise self._error
            raise StopAsyncIteration
        batch = [items.popleft() for _ in range(min(len(items), max_items))]
        self._space.release(len(batch))
        await trio.lowlevel.checkpoint()
        return batch

    @property
    def finished(self) -> bool:
        """Whether the producer called :meth:`finish`."""
        return self._finished


class ThreadStream:
    """Iterate ``fn(*args, **kwargs)`` (a sync generator) in a thread of its own.

    ``async with ThreadStream(...) as buffer`` starts it and gives the
    :class:`ItemBuffer` to read; leaving the block makes the generator close at
    its next item, and waits for its thread to end, at most :data:`STOP_TIMEOUT`
    seconds: a generator blocked longer (between two items) is logged and its
    thread left to end at its next item.
    """

    def __init__(self, fn: Callable[..., Iterator[Any]], args: tuple = (),
                 kwargs: dict | None = None, capacity: int = DEFAULT_BUFFER) -> None:
        self._fn, self._args, self._kwargs = fn, args, kwargs or {}
        self._capacity = capacity

    async def __aenter__(self) -> ItemBuffer:
        self.buffer = ItemBuffer(self._capacity)
        self._thread = threading.Thread(target=self._produce, name="moalab-stream",
                                        daemon=True)
        self._thread.start()
        return self.buffer

    async def __aexit__(self, *exc: object) -> None:
        self.buffer.stop()
        thread = self._thread
        if not self.buffer.finished:
            # shielded: a stream often ends by cancellation, its thread still joined;
            # in a thread, in real time (the run's clock may be virtual)
            with trio.CancelScope(shield=True):
                await run_in_thread(thread.join, STOP_TIMEOUT)
        if not self.buffer.finished:
            logger.warning(
                "the generator %s did not stop within %g s of its stream's end (it blocks "
                "between two items); its thread %r is left to end at its next item",
                self._fn.__qualname__, STOP_TIMEOUT, thread.name)
            return
        thread.join()  # at most the moment from its finish() to its end

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

