"""The far side's call path: a typed request in, its replies out to a sink.

One :class:`RequestHandler` serves one client: a WebSocket or process-executor
session (:mod:`moalab.executor.session`, which adds the frames, the reader and
the sender), or one REST request (:mod:`moalab.server.app`, which turns the HTTP
request into a message and the reply into the HTTP response). It resolves the
target, runs the call (an async one as a task; a sync one in its object's
thread, in arrival order; a non-blocking one at once, when none of the client's
calls on its object are queued or running), flushes the object's updates before
the reply, and sends the reply or the error to its :class:`ReplySink`.
"""

import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import outcome
import trio

from ..core.clock import now
from ..core.dispatch import is_nonblocking
from ..core.errors import MoaError
from .batching import chunk_items
from .codec import encode_exception
from .errors import ProtocolError
from .messages import (Call, Cancel, Create, Credit, Delete, Echo, End, Failed, Gen, Items,
                       List, Ok, Ping, Pong, Reply, Request, RequestId)
from .registry import ObjectRegistry, RemoteObject
from .stream import ItemBuffer

__all__ = ("RequestHandler", "ReplySink", "Backlog", "FailureReport", "resolve", "CALLS_AHEAD",
           "MAX_BATCH")

MAX_BATCH = 512
"""Most items in one stream reply."""

CALLS_AHEAD = 4
"""Sync calls of a client on one object handed to the object's thread before their
replies: enough that the thread never waits for the next one; and while the sink's
backlog is over its limit, none more, so a client that does not read has no device
work for it without bound (a frame of calls with big results would pile up all
their replies)."""


class Backlog:
    """Bytes waiting in one direction of a connection. :meth:`wait` waits while more
    than ``limit`` wait, then until half of them are gone (one wake-up, not one per
    frame)."""

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


class ReplySink(Protocol):
    """Where a handler's replies go (trio thread): a connection's send queue, or one
    REST request's reply. It watches the objects its client creates, too."""

    backlog: Backlog
    """Bytes of replies waiting for the client: over its limit, the handler holds back."""

    def send(self, reply: Reply, copy_arrays: bool = True) -> None:
        """Queue ``reply``; ``copy_arrays=False``: its arrays may be sent from where they
        lie (stream items, which their generator handed over)."""

    def on_update(self, name: str, seq: int, props: dict, event: bool) -> None:
        """A watched object's property changes."""


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


_KIND = {Call: "call", Gen: "generator"}  # the exposed kind each request runs


class _Calls:
    """The sync calls of one client on one object: how many are in its thread, and
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


def resolve(registry: ObjectRegistry, namespace: str,
            request: Call | Gen) -> tuple[RemoteObject, Callable[..., Any]]:
    """The object of ``namespace`` and the undecorated method that ``request`` names;
    raises :class:`~moalab.executor.errors.UnknownObject` or
    :class:`~moalab.executor.errors.NotAllowed`."""
    remote = registry.get(request.obj, namespace)
    return remote, remote.method(request.method, _KIND[type(request)])


class RequestHandler:
    """Runs one client's requests against ``registry``, in ``namespace``, replying to
    ``sink``; async calls and streams run in ``nursery``. ``clock`` stamps clock
    echoes; ``failures`` says how failed requests are reported.

    :meth:`handle` raises for a request refused at once (a bad field, an unknown
    object, a method not exposed, an id in flight); a call's or stream's own failure
    comes to the sink as :class:`Failed`. Trio thread only. :meth:`close` at the
    client's end.
    """

    def __init__(self, registry: ObjectRegistry, sink: ReplySink, nursery: trio.Nursery,
                 namespace: str = "", clock: Callable[[], float] = now,
                 failures: FailureReport = FailureReport()) -> None:
        self.registry = registry
        self.namespace = namespace
        self.clock = clock
        self.failures = failures
        self.sink = sink
        self._replies = sink.backlog
        self._nursery = nursery
        self._scopes: dict[Any, trio.CancelScope] = {}
        self._jobs: dict[Any, Any] = {}  # sync calls in their object's thread
        self._calls: dict[RemoteObject, _Calls] = {}
        self._calls_of: dict[Any, _Calls] = {}  # sync calls in a thread or waiting
        self._credits: dict[Any, _Credit] = {}
        self._watching: set[RemoteObject] = set()

    def handle(self, request: Request, received_at: float) -> None:
        """Act on ``request`` (received at ``received_at``, on :attr:`clock`)."""
        _HANDLERS[type(request)](self, request, received_at)

    def streaming(self, request_id: RequestId) -> bool:
        """Whether ``request_id`` names a stream of this client's that is running."""
        return request_id in self._credits

    def resume(self) -> None:
        """Hand calls held back by a full backlog to their threads (the sink drained)."""
        for calls in [*self._calls.values()]:
            self._start_calls(calls)

    def close(self) -> None:
        """The client is gone: drop its calls not yet run and their replies, stop
        watching its objects (the caller cancels the nursery's tasks)."""
        for job in self._jobs.values():
            job.abandon()
        self._jobs.clear()
        for calls in self._calls.values():
            calls.waiting.clear()  # a job's reply callback may keep them reachable
        self._calls.clear()
        self._calls_of.clear()
        for remote in self._watching:
            remote.watchers.discard(self.sink)
        self._watching.clear()
        # its namespace was in use until now: an idle one's grace starts here
        self.registry.touch(self.namespace)

    # ------------------------------------------------------------------ replies

    def _send_error(self, request_id: RequestId, exc: BaseException, request: str) -> None:
        self.sink.send(Failed(request_id, self.failures.describe(exc, request)))

    def _reply(self, request_id: RequestId, remote: RemoteObject, method: str,
               result: outcome.Outcome) -> None:
        remote.flush()  # property changes the call made reach the client before its reply
        if isinstance(result, outcome.Value):
            self.sink.send(Ok(request_id, result.value))
        else:
            self._send_error(request_id, result.error,
                             f"call {remote.name}.{method} (request {request_id!r})")

    # -------------------------------------------------------------------- calls

    def _check_new(self, request_id: RequestId) -> None:
        if request_id in self._scopes or request_id in self._calls_of or (
                request_id in self._credits):
            raise ProtocolError(f"request id {request_id!r} is already in flight: give "
                                "each request an id of its own")

    def _call(self, request: Call, _: float) -> None:
        request_id, method, args, kwargs = (request.id, request.method, request.args,
                                            request.kwargs)
        self._check_new(request_id)
        remote, fn = resolve(self.registry, self.namespace, request)
        if inspect.iscoroutinefunction(fn):
            ticket = remote.start_ticket()
            # registered now: a cancel may arrive before the task starts
            scope = self._scopes[request_id] = trio.CancelScope()
            self._nursery.start_soon(self._run_async, request_id, scope, ticket, fn, remote,
                                     method, args, kwargs)
            return
        calls = self._calls.get(remote)
        if calls is None:
            if (is_nonblocking(getattr(type(remote.obj), method))
                    and self._replies.size <= self._replies.limit):
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
        there and while the replies' backlog has room."""
        remote = calls.remote
        while (calls.waiting and calls.in_thread < CALLS_AHEAD
               and self._replies.size <= self._replies.limit):
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

    def _call_ended(self, calls: _Calls, request_id: RequestId) -> None:
        self._calls_of.pop(request_id, None)
        if self._jobs.pop(request_id, None) is not None:
            calls.in_thread -= 1

    def _call_done(self, calls: _Calls, request_id: RequestId, method: str,
                   result: outcome.Outcome) -> None:
        self._call_ended(calls, request_id)
        self._reply(request_id, calls.remote, method, result)
        self._start_calls(calls)

    async def _run_async(self, request_id: RequestId, scope: trio.CancelScope,
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

    # ------------------------------------------------------------------ streams

    def _gen(self, request: Gen, _: float) -> None:
        request_id = request.id
        self._check_new(request_id)
        remote, _ = resolve(self.registry, self.namespace, request)
        self._credits[request_id] = _Credit(request.credit)
        # registered now: the client's cancel may come in the same frame
        scope = self._scopes[request_id] = trio.CancelScope()
        self._nursery.start_soon(self._stream, request_id, scope, remote, request.method,
                                 request.args, request.kwargs)

    async def _stream(self, request_id: RequestId, scope: trio.CancelScope,
                      remote: RemoteObject, method: str, args: list, kwargs: dict) -> None:
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

    async def _pump(self, request_id: RequestId, items: ItemBuffer, credit: _Credit) -> None:
        while True:
            available = await credit.available()
            try:
                batch = await items.receive_batch(min(available, MAX_BATCH))
            except StopAsyncIteration:
                self.sink.send(End(request_id))
                return
            credit.credit -= len(batch)
            for chunk in chunk_items(batch):
                self.sink.send(Items(request_id, chunk), copy_arrays=False)
            await self._replies.wait()

    def _credit(self, request: Credit, _: float) -> None:
        credit = self._credits.get(request.id)
        if credit is not None:
            credit.add(request.n)

    def _cancel(self, request: Cancel, _: float) -> None:
        request_id = request.id
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

    # ---------------------------------------------------------------- objects

    def _create(self, request: Create, _: float) -> None:
        remote, created = self.registry.create(request.name, request.cls, request.kwargs,
                                               self.namespace)
        remote.watchers.add(self.sink)
        self._watching.add(remote)
        self.sink.send(Ok(request.id, {"created": created, "props": remote.snapshot(),
                                       "seq": remote.seq}))

    def _delete(self, request: Delete, _: float) -> None:
        remote = self.registry.get(request.name, self.namespace)
        remote.watchers.discard(self.sink)
        self._watching.discard(remote)
        self.registry.delete(request.name, self.namespace)
        self.sink.send(Ok(request.id, None))

    def _list(self, request: List, _: float) -> None:
        self.sink.send(Ok(request.id, self.registry.describe()))

    def _ping(self, request: Ping, _: float) -> None:
        self.sink.send(Pong())

    def _echo(self, request: Echo, received_at: float) -> None:
        self.sink.send(Ok(request.id, [received_at, self.clock()]))


_HANDLERS: dict[type, Callable[[RequestHandler, Any, float], None]] = {
    Call: RequestHandler._call, Gen: RequestHandler._gen, Credit: RequestHandler._credit,
    Cancel: RequestHandler._cancel, Create: RequestHandler._create,
    Delete: RequestHandler._delete, List: RequestHandler._list, Ping: RequestHandler._ping,
    Echo: RequestHandler._echo,
}
"""The handling of each request type."""
