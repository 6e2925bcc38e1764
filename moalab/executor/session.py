"""Session: the far side of one connection, speaking the moalab wire protocol.

A session works in its client's namespace (see :mod:`moalab.executor.registry`),
chosen when the connection opens: on a moalab-server, the query parameter
:data:`NAMESPACE_PARAM` of ``/ws`` (``/ws?namespace=run-3``; none: ``""``, the
shared namespace). Requests name objects of that namespace only; ``list`` shows
every namespace's.

Requests (client to server), each a map with ``op`` and a client-chosen ``id``
(their types, and the replies', are in :mod:`moalab.executor.messages`):

- ``call``   ``obj``, ``method``, ``args``, ``kwargs``: run an exposed method
- ``gen``    as ``call`` plus ``credit``: stream a generator method's items
- ``credit`` ``n``: the client read ``n`` more items of stream ``id``
- ``cancel``: cancel call or stream ``id``
- ``create`` ``name``, ``cls`` ('module:QualName'), ``kwargs``: create or attach
- ``delete`` ``name``; ``list``; ``echo`` (clock echo)

Replies: ``{id, ok: value}``, ``{id, error: {...}}``, and for streams
``{id, items: [...]}`` batches then ``{id, end: true}``. Updates of watched
objects: ``{op: 'update', obj, seq, props, event}``. Calls on one object start in
arrival order (sync ones run in order in the object's thread; a non-blocking one,
``apply_executor(blocking=False)``, runs at once in the trio thread when none of
the session's calls on its object are queued or running); calls on different
objects and streams run independently.

A frame holds at most :data:`~moalab.executor.codec.MAX_FRAME_MESSAGES`
requests (one error reply refuses a frame with more, and none of it runs). A
``credit`` or ``cancel`` is not answered; an error answers a malformed credit
only when it names a running stream (a request that is not a map, or whose id
is neither an integer nor a string, always gets one, naming no request).

The requests' handling is :class:`~moalab.executor.handler.RequestHandler`'s, which
the server's REST routes run too; a session adds the wire plumbing.
"""

import math
from collections.abc import Awaitable, Callable
from time import perf_counter
from typing import Any

import trio

from ..core.clock import now
from ..core.memory import keep_large_buffers
from .batching import receive_burst
from .codec import MAX_FRAME_MESSAGES, Frame, decode_many, encode, encode_parts, frame_size
from .handler import MAX_BATCH, Backlog, FailureReport, RequestHandler
from .messages import Credit, Failed, Reply, Update, parse_request, reply_id
from .registry import ObjectRegistry, encodable

__all__ = ("Session", "FailureReport", "MAX_BATCH", "NAMESPACE_PARAM")

NAMESPACE_PARAM = "namespace"
"""The query parameter naming a client's namespace: of ``/ws`` once, of every REST
request (see :func:`~moalab.executor.registry.check_namespace` for what it accepts)."""

QUEUE_LIMIT = 8 * 1024 * 1024
"""Bytes of replies and stream items waiting to be sent before the session stops
handling requests and producing items."""

READ_AHEAD = QUEUE_LIMIT
"""Bytes of requests read ahead of their handling. Reading goes on while replies wait
for a client that does not read them, so the end of its connection is seen then too
(a transport delivers it after the frames before it)."""

SLICE = 64
"""Requests of one frame handled between two checkpoints: however large a frame, the
server's other connections go on while it is handled."""

DEAD_AFTER = 15.0
"""Seconds of silence after which a client is taken for gone (clients ping each second)."""


class Session:
    """Serves one connection against ``registry``: the wire plumbing (frames, the
    reader, the sender, the backlogs) around a
    :class:`~moalab.executor.handler.RequestHandler`, the call path it shares with
    the server's REST routes. The session is the handler's reply sink.

    ``send_frames`` writes encoded frames to the connection (a frame may come in
    parts, see :data:`~moalab.executor.codec.Frame`); ``send_now``, when the
    connection has one (see :meth:`~moalab.executor.framing.FramedStream.send_now`),
    writes a reply at once while none waits before it, without the sender task's
    round; :meth:`serve`
    reads frames until the connection ends, then cancels what the session
    started. ``clock`` stamps clock echoes: the experiment clock of this process by
    default, the one its devices' timestamps are on. ``failures`` says how failed
    requests are reported (default: with their tracebacks, to a client of our own
    such as a process executor's parent; a server passes its own). ``namespace``:
    where the client's objects live (checked by the caller, with
    :func:`~moalab.executor.registry.check_namespace`).
    """

    def __init__(self, registry: ObjectRegistry,
                 send_frames: Callable[[list[Frame]], Awaitable[None]],
                 clock: Callable[[], float] = now, dead_after: float = DEAD_AFTER,
                 failures: FailureReport = FailureReport(), namespace: str = "",
                 send_now: Callable[[Frame], int | None] | None = None) -> None:
        keep_large_buffers()  # frames and arrays reuse memory (no page faults)
        self.registry = registry
        self.namespace = namespace
        self.clock = clock
        self.dead_after = dead_after
        self.failures = failures
        self._last_heard = perf_counter()
        self._send_frames = send_frames
        self._send_now = send_now
        self._nursery: trio.Nursery | None = None  # serve()'s
        self._out_send, self._out_receive = trio.open_memory_channel(math.inf)
        self._replies = self.backlog = Backlog(QUEUE_LIMIT)  # bytes waiting to be sent
        self._requests = Backlog(READ_AHEAD)  # bytes read, waiting to be handled
        self._frames: trio.MemoryReceiveChannel | None = None  # those frames, in serve()
        self._behind = 0  # frames read and not yet handled (queued, or being handled)
        self._handler: RequestHandler | None = None  # in serve()

    # ----------------------------------------------------------------- plumbing

    async def serve(self, receive: Callable[[], Awaitable[bytes | None]]) -> None:
        """Handle frames from ``receive`` (None at the end of the connection).

        A client silent for ``dead_after`` seconds (clients ping every second or
        so) is taken for gone: the connection ends and its work is cancelled. While
        more than :data:`QUEUE_LIMIT` bytes of replies wait for the client, its
        requests wait: first read ahead (:data:`READ_AHEAD`), then in the transport.
        """
        # bounded by self._requests: _read waits while it holds too much
        frames_send, self._frames = trio.open_memory_channel(math.inf)
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                self._handler = RequestHandler(self.registry, self, nursery, self.namespace,
                                               self.clock, self.failures)
                nursery.start_soon(self._sender)
                nursery.start_soon(self._watch_client, nursery.cancel_scope)
                nursery.start_soon(self._read, receive, frames_send, nursery.cancel_scope)
                while True:
                    messages, size, received_at = await self._frames.receive()
                    self._requests.remove(size)
                    await self._replies.wait()  # a client that does not read is not answered
                    await self._handle_messages(messages, received_at)
                    self._behind -= 1
        finally:
            if self._handler is not None:
                self._handler.close()
            self._release()

    def _release(self) -> None:
        """Drop the replies and requests nobody will handle now: a job that ran keeps
        its session reachable, by its reply callback, until its worker's next job."""
        # the last receiver closed: a channel drops what it holds
        self._out_receive.close()
        self._frames.close()

    async def _read(self, receive: Callable[[], Awaitable[bytes | None]],
                    frames: trio.MemorySendChannel, scope: trio.CancelScope) -> None:
        """Read frames and decode them; handle one at once when none is ahead of it,
        its replies' queue has room and it holds at most :data:`SLICE` requests (it
        is handled without a wait: one task switch fewer a request), else queue it in
        ``frames`` for :meth:`serve`, while fewer than :data:`READ_AHEAD` bytes wait
        there. At the end of the connection, end the session (its client is gone:
        nothing it sent is left to answer)."""
        while True:
            await self._requests.wait()
            frame = await receive()
            if frame is None:
                scope.cancel()
                return
            self._last_heard = perf_counter()
            received_at = self.clock()
            messages = self._decode(frame)
            if not self._behind and len(messages) <= SLICE and (
                    self._replies.size <= self._replies.limit):
                for msg in messages:
                    self.handle_message(msg, received_at)
                continue
            self._behind += 1
            self._requests.add(len(frame))
            frames.send_nowait((messages, len(frame), received_at))

    async def _watch_client(self, scope: trio.CancelScope) -> None:
        while perf_counter() - self._last_heard < self.dead_after:
            await trio.sleep(max(self.dead_after - (perf_counter() - self._last_heard), 0.01))
        scope.cancel()

    async def _sender(self) -> None:
        receive = self._out_receive
        while True:
            frames = await receive_burst(receive)
            await self._send_frames(frames)
            self._replies.remove(sum(map(frame_size, frames)))
            self._handler.resume()

    def _queue(self, frame: Frame) -> None:
        # none waits to be sent (queued, or being written): the frame may go at once
        unsent = (None if self._replies.size or self._send_now is None
                  else self._send_now(frame))
        if unsent == 0:
            return
        if unsent is None:
            self._replies.add(frame_size(frame))
            self._out_send.send_nowait(frame)
            return
        # the kernel left a part, which the connection's next send writes first: the
        # frames after it wait for that
        self._replies.add(unsent)
        self._nursery.start_soon(self._send_unsent, unsent)

    async def _send_unsent(self, size: int) -> None:
        await self._send_frames([])  # nothing but what send_now left, if the sender has not
        self._replies.remove(size)
        self._handler.resume()

    def send(self, reply: Reply, copy_arrays: bool = True) -> None:
        """Queue a reply to the client. ``copy_arrays=False``: its arrays are sent
        from where they lie, without a copy (stream items, which their generator
        handed over; a call's result is copied, its device may reuse the buffer)."""
        message = reply.to_wire()
        try:
            frame = encode(message) if copy_arrays else encode_parts(message)
        except Exception as exc:  # a value that cannot travel: tell the caller why
            request_id = getattr(reply, "id", None)
            frame = encode(Failed(request_id, self.failures.describe(
                exc, f"sending the reply to request {request_id!r}")).to_wire())
        self._queue(frame)

    def on_update(self, name: str, seq: int, props: dict, event: bool) -> None:
        message = Update(name, seq, props, event).to_wire()
        try:
            frame = encode(message)
        except Exception:  # a property holding something that cannot travel: skip it
            message["props"] = {k: v for k, v in props.items() if encodable(v)}
            frame = encode(message)
        self._queue(frame)

    # ----------------------------------------------------------------- requests

    async def handle_frame(self, frame: bytes, received_at: float) -> None:
        """Decode and act on the requests in a frame; errors become replies, never
        exceptions. A large frame is handled :data:`SLICE` requests at a time, with a
        checkpoint between slices, and waits while its replies fill the queue."""
        await self._handle_messages(self._decode(frame), received_at)

    def _decode(self, frame: bytes) -> list[Any]:
        """The requests in ``frame``; none if it cannot be decoded (its error is replied)."""
        try:
            return decode_many(frame, MAX_FRAME_MESSAGES)
        except Exception as exc:
            self._send_error(None, exc, "decoding a frame")
            return []

    async def _handle_messages(self, messages: list[Any], received_at: float) -> None:
        for start in range(0, len(messages), SLICE):
            if start:
                await trio.lowlevel.checkpoint()
                await self._replies.wait()
            for msg in messages[start:start + SLICE]:
                self.handle_message(msg, received_at)

    def handle_message(self, msg: Any, received_at: float) -> None:
        """Parse and act on one decoded request; a refusal becomes its error reply."""
        try:
            self._handler.handle(parse_request(msg), received_at)
        except Exception as exc:
            if not self._unanswered(msg):
                request_id = reply_id(msg)
                self._send_error(request_id, exc, f"request {request_id!r}")

    def _unanswered(self, msg: Any) -> bool:
        """Whether a refused ``msg`` goes unanswered: a credit with a well-formed id that
        names no running stream (a credit may cross its stream's end: nobody waits for
        an answer to it)."""
        request_id = msg.get("id") if isinstance(msg, dict) else None
        return (isinstance(msg, dict) and msg.get("op") == Credit.op
                and isinstance(request_id, int | str | None)
                and not self._handler.streaming(request_id))

    def _send_error(self, request_id: Any, exc: BaseException, request: str) -> None:
        self.send(Failed(request_id, self.failures.describe(exc, request)))
