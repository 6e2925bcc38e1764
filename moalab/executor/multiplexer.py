"""RequestMux: many requests in flight on one frame transport, matched by request id.

Callers send requests (written by the caller itself when the connection is idle,
else queued for a sender task that writes a burst at a time) and wait for their
replies; cancelling a caller sends a cancel for its request. Generator streams get
their items with credit granted back as they are read. Replies are dispatched from
the receiver (see :class:`~moalab.executor.link.LinkSupervisor`); property updates go
to ``on_update``.
"""

import collections
import logging
import math
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import outcome
import trio

from ..core.clock import now
from .batching import receive_burst
from .codec import decode_exception, decode_many, encode
from .errors import ProtocolError
from .future import Future
from .messages import (Call, Cancel, Credit, Echo, End, Failed, Gen, Items, Message, Ok, Pong,
                       Update, parse_reply)

if TYPE_CHECKING:
    from .link import Transport

__all__ = ("DIRECT_FRAME_BYTES", "RemoteStream", "RequestMux")

logger = logging.getLogger("moalab.executor.remote")

DIRECT_FRAME_BYTES = 64 * 1024
"""The largest request frame a caller writes itself (see :meth:`RequestMux.request`)."""


class RemoteStream:
    """Items of one remote generator, with credit granted back as they are read."""

    def __init__(self, mux: "RequestMux", request_id: int, window: int) -> None:
        self.mux = mux
        self.request_id = request_id
        self.window = window
        self.items: collections.deque[Any] = collections.deque()
        self.ended = False
        self.error: BaseException | None = None
        self.event = trio.Event()
        self._read = 0

    def feed(self, items: list[Any]) -> None:
        self.items.extend(items)
        self.event.set()

    def end(self, error: BaseException | None = None) -> None:
        """End the stream, with ``error`` (None: its clean end)."""
        self.ended = True
        self.error = error
        self.event.set()

    async def receive_batch(self) -> list[Any]:
        while not self.items:
            if self.ended:
                if self.error is not None:
                    raise self.error
                raise StopAsyncIteration
            self.event = trio.Event()
            await self.event.wait()
        batch = list(self.items)
        self.items.clear()
        self._read += len(batch)
        if self._read >= self.window // 2 and not self.ended:
            self.mux.send(Credit(self.request_id, self._read))
            self._read = 0
        await trio.lowlevel.checkpoint()
        return batch


class RequestMux:
    """Requests and their replies over the transport :meth:`open` gives, in the trio
    thread.

    ``not_running()`` is the error a request raises while there is no connection;
    ``describe()`` names the executor in log messages.
    ``keep_calls``: calls in flight when the link is lost are kept to be sent again
    (:meth:`resend_kept`), not failed. ``on_update(update)`` mirrors an
    :class:`~moalab.executor.messages.Update`.
    """

    def __init__(self, not_running: Callable[[], Exception], on_update: Callable[[Update], Any],
                 describe: Callable[[], str], keep_calls: bool = False) -> None:
        self._not_running = not_running
        self._on_update = on_update
        self.keep_calls = keep_calls
        self._describe = describe
        self._transport: Transport | None = None
        self._send_now: Callable[[bytes], int | None] | None = None  # the transport's
        self._join_concurrent = False  # the transport's (see _send_request)
        self._out_send: trio.MemorySendChannel | None = None
        self._queued = 0  # frames queued for the sender and not yet written
        self._send_lock = trio.StrictFIFOLock()  # held while frames are being written
        self._next_id = 0
        self._pending: dict[int, Future] = {}
        self._streams: dict[int, RemoteStream] = {}
        self._kept: dict[int, Call] = {}  # calls to send again after a reconnect

    # -------------------------------------------------------------- connection

    def open(self, transport: "Transport") -> trio.MemoryReceiveChannel:
        """Send over ``transport`` from now on; returns the queue :meth:`run_sender`
        writes."""
        self._transport = transport
        self._send_now = getattr(transport, "send_now", None)
        self._join_concurrent = getattr(transport, "join_concurrent", False)
        self._out_send, out_receive = trio.open_memory_channel(math.inf)
        self._queued = 0
        return out_receive

    def close(self) -> None:
        """No connection any more: requests raise ``not_running()``."""
        self._out_send = None
        self._transport = None

    async def run_sender(self, receive: trio.MemoryReceiveChannel) -> None:
        """Write queued frames, a burst at a time (a task of the connection)."""
        transport = self._transport
        while True:
            frames = await receive_burst(receive)
            async with self._send_lock:
                await transport.send_frames(frames)
            self._queued -= len(frames)

    def receive(self, frame: bytes) -> None:
        """Dispatch the messages of a frame from the far side."""
        for value in decode_many(frame):
            try:
                reply = parse_reply(value)
            except ProtocolError as exc:  # one bad message must not end the connection
                logger.warning("%s: a message from the far side is ignored: %s",
                               self._describe(), exc)
                continue
            self._dispatch(reply)

    def _dispatch(self, reply: Message) -> None:
        kind = type(reply)
        if kind is Ok or kind is Failed:
            future = self._pending.pop(reply.id, None)
            if future is not None:
                future.set(outcome.Value(reply.ok) if kind is Ok
                           else outcome.Error(decode_exception(reply.error)))
                return
        if kind is Update:
            self._on_update(reply)
            return
        if kind is Pong:
            return
        stream = self._streams.get(reply.id)
        if stream is None:
            return
        if kind is Items:
            stream.feed(reply.items)
        elif kind is End:
            stream.end()
        elif kind is Failed:
            stream.end(decode_exception(reply.error))

    def fail_all(self, error: BaseException) -> None:
        """Fail every request and stream in flight with ``error``."""
        self._kept.clear()
        pending, self._pending = self._pending, {}
        for future in pending.values():
            future.set(outcome.Error(error))
        self._fail_streams(error)

    def fail_all_but_kept(self, error: BaseException) -> None:
        """Fail what is in flight with ``error``, except the calls kept to be sent again."""
        for request_id in [i for i in self._pending if i not in self._kept]:
            self._pending.pop(request_id).set(outcome.Error(error))
        self._fail_streams(error)

    def _fail_streams(self, error: BaseException) -> None:
        streams, self._streams = self._streams, {}
        for stream in streams.values():
            stream.end(error)

    def resend_kept(self) -> None:
        """Send the kept calls again, in the order they were first sent."""
        for request_id in sorted(self._kept):
            if request_id in self._pending:
                self.send(self._kept[request_id])

    # ---------------------------------------------------------------- requests

    def send(self, msg: Message) -> None:
        """Queue ``msg`` for the sender; raises ``not_running()`` without a connection."""
        self._queue_frame(encode(msg.to_wire()))

    def _queue_frame(self, frame: bytes) -> None:
        if self._out_send is None:
            raise self._not_running()
        self._out_send.send_nowait(frame)
        self._queued += 1

    def new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    async def _send_request(self, frame: bytes) -> None:
        """Send ``frame`` from the calling task when the connection is idle and the frame
        small (no task switch to the sender), else queue it for the sender. A transport
        whose far side pays much per message (``join_concurrent = True``: a WebSocket
        message through hypercorn and Quart) has requests queued while others are in
        flight too: the sender writes concurrent callers' requests in one message,
        which the far side answers as one burst (8 callers over WebSocket: 1.6x the
        calls per second of each request written alone; a child process, no gain).

        The caller's write is shielded: a cancel in the middle of a message would leave
        half of it on the stream and break the connection for every caller. A large
        frame (whose write may take a while) goes through the sender task, which no
        caller's cancel reaches. A transport's ``send_now(frame)`` (see
        :meth:`~moalab.executor.framing.FramedStream.send_now`), when it has one, writes
        the frame without waiting: nothing to shield unless the kernel left a part."""
        if (self._out_send is None or len(frame) > DIRECT_FRAME_BYTES
                or self._send_lock.locked() or self._queued
                or (self._join_concurrent and len(self._pending) > 1)):
            self._queue_frame(frame)
            return
        left = None if self._send_now is None else self._send_now(frame)
        if left == 0:
            return  # written whole, nothing awaited: no other task wrote meanwhile
        lock = self._send_lock
        lock.acquire_nowait()  # free, as checked: no scheduler round (``async with`` takes one)
        try:
            with trio.CancelScope(shield=True):
                # what send_now left of it goes first in any send
                await self._transport.send_frames([] if left else [frame])
        finally:
            lock.release()

    async def request(self, msg: Message) -> Any:
        """Send ``msg`` (its id set here) and return its reply's value, or raise its
        error; a cancel of the caller sends a cancel for it."""
        await trio.lowlevel.checkpoint_if_cancelled()
        request_id = msg.id = self.new_id()
        future = self._pending[request_id] = Future()
        if self.keep_calls and type(msg) is Call:
            self._kept[request_id] = msg
        try:
            await self._send_request(encode(msg.to_wire()))
        except BaseException:
            del self._pending[request_id]
            self._kept.pop(request_id, None)
            raise

        def cancel() -> None:
            if self._pending.pop(request_id, None) is not None and self._out_send is not None:
                self.send(Cancel(request_id))

        try:
            return await future.wait(cancel)
        finally:
            self._kept.pop(request_id, None)

    @asynccontextmanager
    async def stream(self, request: Gen) -> AsyncIterator[RemoteStream]:
        """Send ``request`` (its id set here) and give its items as they come; leaving
        the block early cancels the stream on the far side."""
        request_id = request.id = self.new_id()
        stream = self._streams[request_id] = RemoteStream(self, request_id, request.credit)
        try:
            self.send(request)
            yield stream
        finally:
            self._streams.pop(request_id, None)
            if not stream.ended and self._out_send is not None:
                self.send(Cancel(request_id))

    async def echo_clock(self) -> tuple[float, float, float, float]:
        """One clock echo: (sent, far side received, far side sent, received)."""
        # t0 is read once the connection is free, just before the request is written:
        # waiting behind other frames is not time on the wire
        request_id = self.new_id()
        future = self._pending[request_id] = Future()
        frame = encode(Echo(request_id).to_wire())
        try:
            async with self._send_lock:
                if self._out_send is None:
                    raise self._not_running()
                t0 = now()
                await self._transport.send_frames([frame])
        except BaseException:
            self._pending.pop(request_id, None)
            raise
        t1, t2 = await future.wait(lambda: self._pending.pop(request_id, None))
        return t0, t1, t2, now()
