"""Session: the far side of one connection, speaking the moalab wire protocol.

A session works in its client's namespace (see :mod:`moalab.executor.registry`),
chosen when the connection opens: on a moalab-server, the query parameter
:data:`NAMESPACE_PARAM` of ``/ws`` (``/ws?namespace=run-3``; none: ``""``, the
shared namespace). Requests name objects of that namespace only; ``list`` shows
every namespace's.

Requests (client to server), each a map with ``op`` and a client-chosen ``id``:

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
requests (one error reply refuses a frame with more, and none of it runs).
"""

import inspect
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from time import perf_counter
from typing import Any

import outcome
import trio

from ..core.clock import now
from ..core.dispatch import is_nonblocking
from ..core.errors import MoaError
from ..core.memory import keep_large_buffers
from .batching import chunk_items, receive_burst
from .codec import (MAX_FRAME_MESSAGES, Frame, decode_many, encode, encode_exception,
                    encode_parts, frame_size)
from .errors import ProtocolError
from .registry import ObjectRegistry, RemoteObject, encodable
from .stream import ItemBuffer

__all__ = ("Session", "FailureReport", "MAX_BATCH", "NAMESPACE_PARAM")

NAMESPACE_PARAM = "namespace"
"""The query parameter naming a client's namespace: of ``/ws`` once, of every REST
request (see :func:`~moalab.executor.registry.check_namespace` for what it accepts)."""

MAX_BATCH = 512
"""Most items in one stream frame."""

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

CALLS_AHEAD = 4
"""Sync calls of a session on one object handed to the object's thread before their
replies: enough that the thread never waits for the next one; and while more than
:data:`QUEUE_LIMIT` bytes of replies wait, none more, so a client that does not
read has no device work for it without bound (a frame of calls with big results
would pile up all their replies)."""

DEAD_AFTER = 15.0
"""Seconds of silence after which a client is taken for gone (clients ping each second)."""


class _Backlog:
    """Bytes waiting in one direction of a session. :meth:`wait` waits while more than
    ``limit`` wait, then until half of them are gone (one wake-up, not one per frame)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self._lower = trio.Event()

    def add(self, n: int) -> None:
        self.size += n

    def remove(self, n: int) -> None:
        self.size -= n
        if self.size <= self.limit // 2:
            self._lower.set()

    async def wait(self) -> None:
        while self.size > self.limit:
            if self._lower.is_set():  # a new wait; waiters already waiting share it
                self._lower = trio.Event()
            await self._lower.wait()


@dataclass(frozen=True)
class FailureReport:
    """How a failed request is reported. Its client always gets the exception's type
    and message, its traceback only when ``tracebacks`` (a server's would show its
    files and code to whoever asks). ``log``, when given, gets the traceback of every
    failure but moalab's own refusals (a :class:`MoaError`: a bad request, an unknown
    object, a class not allowed), whose message says all there is."""

    tracebacks: bool = True
    log: logging.Logger | None = None

    def describe(self, exc: BaseException, request: str) -> dict[str, Any]:
        """The error of a reply to ``request`` (a few words naming it, for the log)."""
        if self.log is not None and not isinstance(exc, MoaError):
            self.log.warning("%s failed", request, exc_info=exc)
        return encode_exception(exc, self.tracebacks)


class _Calls:
    """The sync calls of one session on one object: how many are in its thread, and
    those waiting to go there, by request id, in arrival order."""

    __slots__ = ("remote", "in_thread", "waiting")

    def __init__(self, remote: RemoteObject) -> None:
        self.remote = remote
        self.in_thread = 0
        self.waiting: dict[Any, tuple[Callable, str, list, dict]] = {}


class _Credit:
    """How many more items the client is ready to take for one stream."""

    def __init__(self, credit: int) -> None:
        self.credit = credit
        self.event = trio.Event()

    def add(self, n: int) -> None:
        self.credit += n
        self.event.set()

    async def available(self) -> int:
        while self.credit <= 0:
            self.event = trio.Event()
            await self.event.wait()
        return self.credit


_STARTING = ("call", "gen")  # ops that put an id in flight (cancel and credit refer to one)


def _kwargs(msg: dict) -> dict[str, Any]:
    kwargs = _check(msg, "kwargs", dict, {})
    if not all(isinstance(key, str) for key in kwargs):
        raise ProtocolError("request field 'kwargs' must map names (strings) to values")
    return kwargs


def _check(msg: dict, key: str, kind: type | tuple, default: Any = ...) -> Any:
    value = msg.get(key, default)
    if value is ... or not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise ProtocolError(f"request field {key!r} must be a {names}, not {value!r}")
    return value


class Session:
    """Serves one connection against ``registry``.

    ``send_frames`` writes encoded frames to the connection (a frame may come in
    parts, see :data:`~moalab.executor.codec.Frame`); :meth:`serve`
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
                 failures: FailureReport = FailureReport(), namespace: str = "") -> None:
        keep_large_buffers()  # frames and arrays reuse memory (no page faults)
        self.registry = registry
        self.namespace = namespace
        self.clock = clock
        self.dead_after = dead_after
        self.failures = failures
        self._last_heard = perf_counter()
        self._send_frames = send_frames
        self._out_send, self._out_receive = trio.open_memory_channel(math.inf)
        self._replies = _Backlog(QUEUE_LIMIT)  # bytes waiting to be sent
        self._requests = _Backlog(READ_AHEAD)  # bytes read, waiting to be handled
        self._frames: trio.MemoryReceiveChannel | None = None  # those frames, in serve()
        self._scopes: dict[Any, trio.CancelScope] = {}
        self._jobs: dict[Any, Any] = {}  # sync calls in their object's thread
        self._calls: dict[RemoteObject, _Calls] = {}
        self._calls_of: dict[Any, _Calls] = {}  # sync calls in a thread or waiting
        self._credits: dict[Any, _Credit] = {}
        self._watching: set[RemoteObject] = set()
        self._nursery: trio.Nursery | None = None

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
                nursery.start_soon(self._sender)
                nursery.start_soon(self._watch_client, nursery.cancel_scope)
                nursery.start_soon(self._read, receive, frames_send, nursery.cancel_scope)
                while True:
                    frame, received_at = await self._frames.receive()
                    self._requests.remove(len(frame))
                    await self._replies.wait()  # a client that does not read is not answered
                    await self.handle_frame(frame, received_at)
        finally:
            for job in self._jobs.values():
                job.abandon()
            self._jobs.clear()
            for calls in self._calls.values():
                calls.waiting.clear()  # a job's reply callback may keep them reachable
            self._calls.clear()
            self._calls_of.clear()
            for remote in self._watching:
                remote.watchers.discard(self)
            # its namespace was in use until now: an idle one's grace starts here
            self.registry.touch(self.namespace)
            self._release()

    def _release(self) -> None:
        """Drop the replies and requests nobody will handle now: a job that ran keeps
        its session reachable, by its reply callback, until its worker's next job."""
        # the last receiver closed: a channel drops what it holds
        self._out_receive.close()
        self._frames.close()

    async def _read(self, receive: Callable[[], Awaitable[bytes | None]],
                    frames: trio.MemorySendChannel, scope: trio.CancelScope) -> None:
        """Read frames into ``frames`` while fewer than :data:`READ_AHEAD` bytes wait
        there; at the end of the connection, end the session (its client is gone:
        nothing it sent is left to answer)."""
        while True:
            await self._requests.wait()
            frame = await receive()
            if frame is None:
                scope.cancel()
                return
            self._last_heard = perf_counter()
            self._requests.add(len(frame))
            frames.send_nowait((frame, self.clock()))

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
            for calls in [*self._calls.values()]:
                self._start_calls(calls)

    def _queue(self, frame: Frame) -> None:
        self._replies.add(frame_size(frame))
        self._out_send.send_nowait(frame)

    def send(self, message: dict, copy_arrays: bool = True) -> None:
        """Queue a message to the client. ``copy_arrays=False``: its arrays are sent
        from where they lie, without a copy (stream items, which their generator
        handed over; a call's result is copied, its device may reuse the buffer)."""
        try:
            frame = encode(message) if copy_arrays else encode_parts(message)
        except Exception as exc:  # a value that cannot travel: tell the caller why
            frame = encode({"id": message.get("id"), "error": self.failures.describe(
                exc, f"sending the reply to request {message.get('id')!r}")})
        self._queue(frame)

    def _send_error(self, request_id: Any, exc: BaseException, request: str) -> None:
        self.send({"id": request_id, "error": self.failures.describe(exc, request)})

    def _reply(self, request_id: Any, remote: RemoteObject, method: str,
               result: outcome.Outcome) -> None:
        remote.flush()  # property changes the call made reach the client before its reply
        if isinstance(result, outcome.Value):
            self.send({"id": request_id, "ok": result.value})
        else:
            self._send_error(request_id, result.error,
                             f"call {remote.name}.{method} (request {request_id!r})")

    def on_update(self, name: str, seq: int, props: dict, event: bool) -> None:
        message = {"op": "update", "obj": name, "seq": seq, "props": props, "event": event}
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
        try:
            messages = decode_many(frame, MAX_FRAME_MESSAGES)
        except Exception as exc:
            self._send_error(None, exc, "decoding a frame")
            return
        for start in range(0, len(messages), SLICE):
            if start:
                await trio.lowlevel.checkpoint()
                await self._replies.wait()
            for msg in messages[start:start + SLICE]:
                self.handle_message(msg, received_at)

    def handle_message(self, msg: Any, received_at: float) -> None:
        request_id = None
        try:
            if not isinstance(msg, dict):
                raise ProtocolError(f"a request must be a map, not {type(msg).__name__}")
            request_id = msg.get("id")
            if not isinstance(request_id, int | str | None):
                request_id = None
                raise ProtocolError("a request id must be an integer or a string")
            op = msg.get("op")
            if op in _STARTING and request_id is not None and (
                    request_id in self._scopes or request_id in self._calls_of
                    or request_id in self._credits):
                raise ProtocolError(f"request id {request_id!r} is already in flight: give "
                                    "each request an id of its own")
            handler = getattr(self, f"_op_{op}", None) if isinstance(op, str) else None
            if handler is None:
                raise ProtocolError(
                    f"unknown op {op!r}: use call, gen, credit, cancel, create, delete, list, "
                    "echo or ping"
                )
            handler(request_id, msg, received_at)
        except Exception as exc:
            self._send_error(request_id, exc, f"request {request_id!r}")

    def _target(self, msg: dict, kind: str) -> tuple[RemoteObject, Callable, list, dict]:
        if msg.get("id") is None:
            raise ProtocolError(f"a {msg.get('op')} request needs an id to be answered by")
        remote = self.registry.get(_check(msg, "obj", str), self.namespace)
        fn = remote.method(_check(msg, "method", str), kind)
        return remote, fn, _check(msg, "args", list, []), _kwargs(msg)

    def _op_call(self, request_id: Any, msg: dict, _: float) -> None:
        remote, fn, args, kwargs = self._target(msg, "call")
        method = msg["method"]
        if inspect.iscoroutinefunction(fn):
            ticket = remote.start_ticket()
            # registered now: a cancel may arrive before the task starts
            scope = self._scopes[request_id] = trio.CancelScope()
            self._nursery.start_soon(self._run_async, request_id, scope, ticket, fn, remote,
                                     method, args, kwargs)
        else:
            calls = self._calls.get(remote)
            if calls is None:
                if (is_nonblocking(getattr(type(remote.obj), method))
                        and self._replies.size <= QUEUE_LIMIT):
                    # none of this client's calls on it queued or running: none to overtake
                    self._reply(request_id, remote, method,
                                outcome.capture(fn, remote.obj, *args, **kwargs))
                    return
                calls = self._calls[remote] = _Calls(remote)
            calls.waiting[request_id] = (fn, method, args, kwargs)
            self._calls_of[request_id] = calls
            self._start_calls(calls)

    def _start_calls(self, calls: _Calls) -> None:
        """Hand waiting sync calls to their object's thread, up to :data:`CALLS_AHEAD`
        there and while the replies' queue has room."""
        remote = calls.remote
        while (calls.waiting and calls.in_thread < CALLS_AHEAD
               and self._replies.size <= QUEUE_LIMIT):
            request_id = next(iter(calls.waiting))
            fn, method, args, kwargs = calls.waiting.pop(request_id)
            try:
                self._jobs[request_id] = remote.worker.submit(
                    fn, (remote.obj, *args), kwargs,
                    lambda result, request_id=request_id, method=method: self._call_done(
                        calls, request_id, method, result))
            except Exception as exc:  # its object deleted meanwhile
                self._call_ended(calls, request_id)
                self._send_error(request_id, exc, f"call {remote.name}.{method} "
                                                  f"(request {request_id!r})")
            else:
                calls.in_thread += 1
        if not calls.waiting and not calls.in_thread:
            self._calls.pop(remote, None)

    def _call_ended(self, calls: _Calls, request_id: Any) -> None:
        self._calls_of.pop(request_id, None)
        if self._jobs.pop(request_id, None) is not None:
            calls.in_thread -= 1

    def _call_done(self, calls: _Calls, request_id: Any, method: str,
                   result: outcome.Outcome) -> None:
        self._call_ended(calls, request_id)
        self._reply(request_id, calls.remote, method, result)
        self._start_calls(calls)

    async def _run_async(self, request_id: Any, scope: trio.CancelScope,
                         ticket: Callable[[], Awaitable[None]],
                         fn: Callable, remote: RemoteObject, method: str, args: list,
                         kwargs: dict) -> None:
        with scope:
            try:
                await ticket()
                result = await outcome.acapture(lambda: fn(remote.obj, *args, **kwargs))
            finally:
                del self._scopes[request_id]
        if not scope.cancel_called:  # a cancelled call's client no longer listens
            self._reply(request_id, remote, method, result)

    def _op_gen(self, request_id: Any, msg: dict, _: float) -> None:
        remote, _fn, args, kwargs = self._target(msg, "generator")
        method = msg["method"]
        self._credits[request_id] = _Credit(_check(msg, "credit", int, 64))
        # registered now: the client's cancel may come in the same frame
        scope = self._scopes[request_id] = trio.CancelScope()
        self._nursery.start_soon(self._stream, request_id, scope, remote, method, args, kwargs)

    async def _stream(self, request_id: Any, scope: trio.CancelScope, remote: RemoteObject,
                      method: str, args: list, kwargs: dict) -> None:
        credit = self._credits[request_id]
        with scope:
            try:
                async with remote.stream(method, args, kwargs) as items:
                    await self._pump(request_id, items, credit)
            except Exception as exc:
                self._send_error(request_id, exc,
                                 f"stream {remote.name}.{method} (request {request_id!r})")
            finally:
                del self._scopes[request_id]
                del self._credits[request_id]

    async def _pump(self, request_id: Any, items: ItemBuffer, credit: _Credit) -> None:
        while True:
            available = await credit.available()
            try:
                batch = await items.receive_batch(min(available, MAX_BATCH))
            except StopAsyncIteration:
                self.send({"id": request_id, "end": True})
                return
            credit.credit -= len(batch)
            for chunk in chunk_items(batch):
                self.send({"id": request_id, "items": chunk}, copy_arrays=False)
            await self._replies.wait()

    def _op_credit(self, request_id: Any, msg: dict, _: float) -> None:
        credit = self._credits.get(request_id)
        if credit is not None:
            credit.add(_check(msg, "n", int))

    def _op_cancel(self, request_id: Any, msg: dict, _: float) -> None:
        scope = self._scopes.get(request_id)
        if scope is not None:
            scope.cancel()
        calls = self._calls_of.get(request_id)
        if calls is not None:
            # waiting: it never goes to the thread; there: it is skipped or, already
            # running, its reply dropped
            calls.waiting.pop(request_id, None)
            job = self._jobs.get(request_id)
            if job is not None:
                job.abandon()
            self._call_ended(calls, request_id)
            self._start_calls(calls)

    def _op_create(self, request_id: Any, msg: dict, _: float) -> None:
        remote, created = self.registry.create(
            _check(msg, "name", str), _check(msg, "cls", str), _check(msg, "kwargs", dict, {}),
            self.namespace)
        remote.watchers.add(self)
        self._watching.add(remote)
        self.send({"id": request_id, "ok": {"created": created, "props": remote.snapshot(),
                                            "seq": remote.seq}})

    def _op_delete(self, request_id: Any, msg: dict, _: float) -> None:
        name = _check(msg, "name", str)
        self._watching.discard(self.registry.get(name, self.namespace))
        self.registry.delete(name, self.namespace)
        self.send({"id": request_id, "ok": None})

    def _op_list(self, request_id: Any, msg: dict, _: float) -> None:
        self.send({"id": request_id, "ok": self.registry.describe()})

    def _op_ping(self, request_id: Any, msg: dict, _: float) -> None:
        self.send({"op": "pong"})

    def _op_echo(self, request_id: Any, msg: dict, received_at: float) -> None:
        self.send({"id": request_id, "ok": [received_at, self.clock()]})
