"""RemoteExecutor: the client side of the moalab wire protocol, over any transport.

Many calls are in flight on one connection at once, matched by request id.
Cancelling a calling task sends a cancel for its request. A background task
(a trio system task, so the executor works with plain ``start_executor`` /
``stop_executor`` calls) sends queued frames (coalesced) and dispatches
replies, stream items and property updates of remote objects.
"""

import collections
import logging
import math
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from time import perf_counter
from typing import Any, Protocol

import outcome
import trio

from ..core.clock import now
from ..core.dispatch import read_items
from ..core.errors import InvalidArgument
from ..core.memory import keep_large_buffers
from ..core.nursery import open_nursery
from ..core.realtime import fail_after_real
from .batching import receive_burst
from .clock import LOCAL_CLOCK, ClockSync, RemoteClock
from .codec import decode_exception, decode_many, encode
from .errors import ConnectionLost, ExecutorError, ExecutorNotRunning, UnknownObject
from .executor import Executor
from .future import Future
from .registry import check_namespace, class_path

__all__ = ("RemoteExecutor", "Transport", "LOST_POLICIES")


logger = logging.getLogger("moalab.executor.remote")

_CLOSE_TIMEOUT = 2.0  # for the close handshake of a stop
_CLEAN_UP_TIMEOUT = 2.0
"""Real seconds a stop gives the deletion of a run's objects: the link may be down or
the far side stuck, and a stop must end (the server deletes them later itself)."""
_ENDED_CLOSE_TIMEOUT = 0.2
"""For closing a connection that has ended: its link is marked down already, and a
close handshake on a dead socket cannot finish; longer would only delay the
reconnection."""
_BACKOFF = (0.1, 5.0)  # first and longest wait between reconnection attempts, seconds
LOST_POLICIES = ("fail", "retry", "pause")
DIRECT_FRAME_BYTES = 64 * 1024
"""The largest request frame a caller writes itself (see ``_send_request``)."""


async def _close_quietly(transport: "Transport") -> None:
    try:
        await transport.aclose()
    except Exception:  # closing a broken connection may fail; it is closed either way
        pass


class Transport(Protocol):
    """A connection carrying whole frames."""

    async def send_frames(self, frames: list[bytes]) -> None: ...

    async def receive_frame(self) -> bytes | None:
        """The next frame, or None when the connection closed."""

    async def aclose(self) -> None: ...


class _RemoteStream:
    """Items of one remote generator, with credit granted back as they are read."""

    def __init__(self, executor: "RemoteExecutor", request_id: int, window: int) -> None:
        self.executor = executor
        self.request_id = request_id
        self.window = window
        self.items: collections.deque[Any] = collections.deque()
        self.ended = False
        self.error: BaseException | None = None
        self.event = trio.Event()
        self._read = 0

    def feed(self, msg: dict) -> None:
        if "items" in msg:
            self.items.extend(msg["items"])
        elif "end" in msg:
            self.ended = True
        else:
            self.ended = True
            self.error = decode_exception(msg.get("error"))
        self.event.set()

    def fail(self, error: BaseException) -> None:
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
            self.executor._send({"op": "credit", "id": self.request_id, "n": self._read})
            self._read = 0
        await trio.lowlevel.checkpoint()
        return batch


class RemoteExecutor(Executor):
    """Base of executors whose methods run on the far side of a connection.

    Subclasses implement :meth:`_connect`. ``stream_window`` is how many
    generator items may be on their way before the reader takes them.

    ``clock_sync`` says how the far side's clock is aligned with this one while
    the executor runs (see :mod:`moalab.executor.clock`; None: it is this
    machine's clock, use the identity). Mirrored ``timestamp`` properties of
    remote objects are converted to this process's experiment clock, the far
    side's value kept in ``remote_timestamp``. Values a method returns are
    never converted: convert times among them with :meth:`to_local`.

    A lost connection is noticed by heartbeats (a ping every
    ``heartbeat[0]`` seconds; no word from the far side for ``heartbeat[1]``
    seconds means the link is dead: it is marked down at once, before the
    connection is closed), then the executor reconnects with backoff
    (``reconnect``) and creates its remote instances again. ``on_lost`` says
    what calls do meanwhile: ``'fail'`` (calls in flight and new ones raise
    :class:`ConnectionLost`), ``'retry'`` (they wait for the link, then are sent
    again: a call in flight may so run twice), or ``'pause'`` (as retry, and
    :func:`~moalab.run_experiment` pauses the stage tree until the link is back).
    Streams in flight always fail. Listeners added with
    :meth:`add_link_listener` are called with True/False as the link comes and goes.

    ``namespace`` is where the executor's objects live on a server (see
    :mod:`moalab.executor.registry`): clients of one namespace share its objects,
    two namespaces each have their own ``lever``. None: ``""``, the shared
    namespace, unless a run gives its own (:meth:`use_namespace`); an explicit
    namespace, ``""`` too, stays whatever the run. A process executor's child
    serves only its parent: its objects are its own in any namespace.

    A clean stop deletes the objects the executor created or attached in a run's
    namespace (one :meth:`use_namespace` gave), so they do not outlive the run on
    the server: at best effort, within a few real seconds (a failure is logged to
    ``moalab.executor.remote``, not raised; the server deletes a namespace nobody
    uses after a grace time anyway). Objects of a namespace given to the
    constructor stay, shared by intent. After the stop, :meth:`use_namespace` may
    give it the next run's namespace.
    """

    supports_coroutine = True

    _heartbeats = True
    """Whether the transport is one connection that pings can keep watch on."""

    _far_side_shared = True
    """Whether the far side's objects outlive this executor's connection (a server's
    do), so that a stop deletes a run's objects there."""

    def __init__(self, timeout: float | None = None, stream_window: int = 1024,
                 clock_sync: ClockSync | None = ClockSync(), on_lost: str = "fail",
                 reconnect: bool = True, heartbeat: tuple[float, float] = (0.5, 2.5),
                 namespace: str | None = None) -> None:
        super().__init__(timeout)
        if stream_window < 2:
            raise InvalidArgument(f"stream_window={stream_window!r} is not accepted: give >= 2")
        if on_lost not in LOST_POLICIES:
            raise InvalidArgument(f"on_lost={on_lost!r} is not accepted: use one of "
                                  f"{', '.join(LOST_POLICIES)}")
        interval, dead_after = heartbeat
        if not 0 < interval < dead_after:
            raise InvalidArgument(f"heartbeat={heartbeat!r} is not accepted: give (interval, "
                                  "dead_after) seconds with 0 < interval < dead_after")
        self.stream_window = stream_window
        self._namespace_given = namespace is not None
        self._namespace = "" if namespace is None else check_namespace(namespace)
        self._namespace_of_run = False  # given by use_namespace: its objects end with it
        self.on_lost = on_lost
        self.reconnect = reconnect
        self.heartbeat = (interval, dead_after)
        self.connected = False
        self._link_up = trio.Event()
        self._link_listeners: list[Callable[[bool], Any]] = []
        self._inflight: dict[int, dict] = {}  # requests to send again after a reconnect
        self._last_heard = 0.0
        self.clock = LOCAL_CLOCK if clock_sync is None else RemoteClock(clock_sync)
        self._transport: Transport | None = None
        self._scope: trio.CancelScope | None = None
        self._stopped: trio.Event | None = None
        self._next_id = 0
        self._pending: dict[int, Future] = {}
        self._streams: dict[int, _RemoteStream] = {}
        self._objects: dict[str, Any] = {}
        self._seqs: dict[str, int] = {}  # last update applied, by object name
        self._out_send: trio.MemorySendChannel | None = None
        self._send_lock = trio.StrictFIFOLock()  # held while frames are being written
        self._lost: BaseException | None = None

    # ------------------------------------------------------------- connection

    async def _connect(self, nursery: trio.Nursery) -> Transport:
        """Open the connection; ``nursery`` lives as long as the connection."""
        raise NotImplementedError

    def _describe(self) -> str:
        return type(self).__name__

    @property
    def namespace(self) -> str:
        """The namespace the executor's objects live in (``""``: the shared one)."""
        return self._namespace

    def use_namespace(self, name: str) -> None:
        """Use namespace ``name`` (a run's), unless one was given to the constructor.

        Raises :class:`InvalidArgument` for a name :func:`check_namespace` refuses,
        and :class:`ExecutorError` if the namespace would change while the executor
        runs (its objects are in the other one).
        """
        name = check_namespace(name)
        if self._namespace_given or name == self._namespace:
            return
        if self._scope is not None:
            raise ExecutorError(
                f"{self._describe()} runs in namespace {self._namespace!r}: it cannot move "
                f"to namespace {name!r} while running; stop it first, or give each run an "
                "executor of its own"
            )
        self._namespace = name
        self._namespace_of_run = bool(name)

    def add_link_listener(self, listener: Callable[[bool], Any]) -> None:
        """Call ``listener(True)`` when the link comes back, ``listener(False)`` when it
        is lost (in the trio thread)."""
        self._link_listeners.append(listener)

    def remove_link_listener(self, listener: Callable[[bool], Any]) -> None:
        self._link_listeners.remove(listener)

    def _set_link(self, up: bool) -> None:
        if up == self.connected:
            return
        self.connected = up
        if up:
            self._link_up.set()
        else:
            self._link_up = trio.Event()
        for listener in list(self._link_listeners):
            listener(up)

    async def start_executor(self) -> None:
        if self._scope is not None:
            return
        keep_large_buffers()  # received frames and arrays reuse memory (no page faults)
        started: Future = Future()
        self._scope = trio.CancelScope()
        self._stopped = trio.Event()
        self._lost = None
        trio.lowlevel.spawn_system_task(self._background, started, name=self._describe())
        try:
            await started.wait()
        except BaseException:
            self._scope = None
            raise
        await self.clock.wait_aligned()  # the first probes, so timestamps align from the start

    async def stop_executor(self) -> None:
        scope, self._scope = self._scope, None
        if scope is None:
            return
        await self._delete_run_objects()
        transport = self._transport
        if transport is not None:
            # close while the connection's tasks still run (a WebSocket close handshake
            # needs its reader); the receiver then ends
            with trio.move_on_after(_CLOSE_TIMEOUT):
                await _close_quietly(transport)
        scope.cancel()
        await self._stopped.wait()

    async def _delete_run_objects(self) -> None:
        """Delete the far side's objects this executor created or attached, when they are
        in a run's namespace: within :data:`_CLEAN_UP_TIMEOUT` real seconds, all at
        once, even in a cancelled stop; a failure is logged. Called by a stop."""
        if not (self._objects and self._namespace_of_run and self._far_side_shared):
            return
        objects, self._objects = self._objects, {}
        where = f"{self._describe()} in namespace {self._namespace!r}"
        if not self.connected:
            logger.warning("%s: the link is down at the stop; the server deletes %s when "
                           "its grace time is over", where, ", ".join(map(repr, objects)))
            return
        try:
            with trio.CancelScope(shield=True), fail_after_real(_CLEAN_UP_TIMEOUT):
                async with trio.open_nursery() as nursery:
                    for obj in objects.values():
                        nursery.start_soon(self._delete_quietly, obj, where)
        except trio.TooSlowError:
            logger.warning("%s: deleting the run's objects took over %g s; the server "
                           "deletes those left when its grace time is over", where,
                           _CLEAN_UP_TIMEOUT)

    async def _delete_quietly(self, obj: Any, where: str) -> None:
        """Delete ``obj`` on the far side; log why not if that fails."""
        try:
            await self.delete_remote_instance(obj)
        except UnknownObject:  # deleted already (by another executor of the run)
            logger.debug("%s: %r was deleted already", where, obj.name)
        except Exception as exc:
            logger.warning("%s: deleting %r failed (%s: %s); the server deletes it when "
                           "its grace time is over", where, obj.name, type(exc).__name__, exc)

    async def _background(self, started: Future) -> None:
        """Connect, serve the connection until it ends, reconnect (with backoff)."""
        backoff = _BACKOFF[0]
        try:
            with self._scope:
                while True:
                    came_up = trio.Event()
                    try:
                        await self._serve_connection(started, came_up)
                    except Exception as exc:  # a system task must not raise
                        self._lost = exc
                        if not started.done:  # the first connection failed: so does start
                            started.set(outcome.Error(exc))
                            return
                    if self._scope is None:  # a stop ended it: no lost link, no reconnection
                        return
                    if came_up.is_set():  # retry soon again
                        backoff = _BACKOFF[0]
                    self._connection_lost()  # if an error ended it, not yet done
                    if not self.reconnect:
                        return
                    await trio.sleep(backoff)
                    backoff = min(backoff * 2, _BACKOFF[1])
        finally:
            if not started.done:
                started.set(outcome.Error(ConnectionLost(f"{self._describe()} stopped")))
            self._inflight.clear()
            self._fail_all(ConnectionLost(f"{self._describe()} stopped"))
            self._set_link(False)
            self._link_up.set()  # calls waiting for the link: there will be none
            self._scope = None
            self._stopped.set()

    async def _serve_connection(self, started: Future, came_up: trio.Event) -> None:
        """Connect and serve the connection until it ends (the far side closed it, or
        was silent too long); ``came_up`` is set once the link is up."""
        async with open_nursery() as nursery:
            transport = self._transport = await self._connect(nursery)
            try:
                self._out_send, out_receive = trio.open_memory_channel(math.inf)
                self._last_heard = perf_counter()
                ended = trio.Event()
                nursery.start_soon(self._sender, transport, out_receive)
                nursery.start_soon(self._receive_until_closed, transport, ended)
                if self._heartbeats:
                    nursery.start_soon(self._watch_heartbeat, ended)
                # also ends a restore that waits on a link gone meanwhile
                nursery.start_soon(self._end_when, ended, nursery.cancel_scope)
                if started.done:  # a reconnection: the far side may have lost our objects
                    await self._restore()
                nursery.start_soon(self.clock.run, self.get_echo_clock)
                self._set_link(True)
                came_up.set()
                started.set(outcome.Value(None))
                await trio.sleep_forever()
            finally:
                self._out_send = None
                self._transport = None
                with trio.move_on_after(_ENDED_CLOSE_TIMEOUT, shield=True):
                    await _close_quietly(transport)

    async def _end_when(self, ended: trio.Event, connection: trio.CancelScope) -> None:
        """Once the connection has ended, mark the link down, then cancel the
        connection's tasks: a close handshake on a dead socket (seconds) comes after."""
        await ended.wait()
        if self._scope is not None:  # not a stop (stop_executor fails calls as stopped)
            self._connection_lost()
        connection.cancel()

    async def _receive_until_closed(self, transport: Transport, ended: trio.Event) -> None:
        try:
            await self._receiver(transport)
            self._lost = None
        except Exception as exc:
            self._lost = exc  # the reason calls fail with
            raise
        finally:
            ended.set()

    async def _watch_heartbeat(self, ended: trio.Event) -> None:
        """Ping every ``heartbeat[0]`` s; end the connection as soon as the far side
        has been silent for ``heartbeat[1]`` s: the watch wakes for the next ping or
        for that moment, whichever comes first. Silence is real time (a virtual clock
        must not make a live link look dead)."""
        interval, dead_after = self.heartbeat
        next_ping = perf_counter() + interval
        while True:
            t = perf_counter()
            silent = t - self._last_heard
            if silent >= dead_after:
                self._lost = ConnectionLost(
                    f"{self._describe()}: no word from the far side for {silent:.1f} s")
                ended.set()
                return
            if t >= next_ping:
                self._send({"op": "ping"})
                next_ping = t + interval
            await trio.sleep(min(next_ping, self._last_heard + dead_after) - t)

    def _connection_lost(self) -> None:
        """The link is down: fail or keep the calls in flight, as ``on_lost`` says."""
        self._set_link(False)
        error = ConnectionLost(
            f"connection of {self._describe()} lost"
            + (f": {type(self._lost).__name__}: {self._lost}" if self._lost else "")
            + ("; reconnecting" if self.reconnect else ""))
        if self.on_lost == "fail":
            self._inflight.clear()
            self._fail_all(error)
            return
        # calls wait to be sent again; anything else in flight fails
        for request_id in [i for i in self._pending if i not in self._inflight]:
            self._pending.pop(request_id).set(outcome.Error(error))
        streams, self._streams = self._streams, {}
        for stream in streams.values():
            stream.fail(error)

    def _fail_all(self, error: BaseException) -> None:
        pending, self._pending = self._pending, {}
        for future in pending.values():
            future.set(outcome.Error(error))
        streams, self._streams = self._streams, {}
        for stream in streams.values():
            stream.fail(error)

    async def _restore(self) -> None:
        """After a reconnection: create the remote instances again, then send the
        calls that were in flight (``retry`` and ``pause`` policies)."""
        for obj in list(self._objects.values()):
            await self._create(obj, wait_link=False)
        for request_id in sorted(self._inflight):
            if request_id in self._pending:
                self._send(self._inflight[request_id])

    async def _sender(self, transport: Transport, receive: trio.MemoryReceiveChannel) -> None:
        """Write queued frames, a burst at a time."""
        while True:
            frames = await receive_burst(receive)
            async with self._send_lock:
                await transport.send_frames(frames)

    async def _receiver(self, transport: Transport) -> None:
        while True:
            frame = await transport.receive_frame()
            if frame is None:
                return
            self._last_heard = perf_counter()
            for msg in decode_many(frame):
                self._dispatch(msg)

    def _dispatch(self, msg: Any) -> None:
        if not isinstance(msg, dict):
            return
        if msg.get("op") == "pong":
            return
        if msg.get("op") == "update":
            name = msg.get("obj")
            obj = self._objects.get(name)
            seq = msg.get("seq")
            if obj is not None and not self._seen(name, seq):
                self._apply_update(obj, msg.get("props") or {}, bool(msg.get("event")))
            return
        request_id = msg.get("id")
        future = self._pending.pop(request_id, None)
        if future is not None:
            if "error" in msg:
                future.set(outcome.Error(decode_exception(msg["error"])))
            else:
                future.set(outcome.Value(msg.get("ok")))
            return
        stream = self._streams.get(request_id)
        if stream is not None:
            stream.feed(msg)

    def _seen(self, name: str, seq: Any) -> bool:
        """Whether update ``seq`` of object ``name`` was applied already (an update can
        arrive by two paths); records it otherwise."""
        if not isinstance(seq, int):
            return False
        if seq <= self._seqs.get(name, -1):
            return True
        self._seqs[name] = seq
        return False

    def _apply_update(self, obj: Any, props: dict, event: bool) -> None:
        """Mirror the far side's property changes (and its on_data_update) here; a
        ``timestamp`` is converted to this process's experiment clock."""
        for name, value in props.items():
            if name == "remote_timestamp":  # the far side's own: not a time of this link
                continue
            if name == "timestamp" and isinstance(value, float | int) and value:
                value = self._local_timestamp(obj, value)  # 0.0 (never updated) stays
            try:
                setattr(obj, name, value)
            except Exception:  # a value the local property rejects: keep the rest
                pass
        if event:
            obj.dispatch("on_data_update", obj)

    def _local_timestamp(self, obj: Any, remote_ts: float) -> float:
        """Set ``obj.remote_timestamp`` (when it has one); ``remote_ts`` on the
        experiment clock, or NaN before the first successful probe."""
        if hasattr(obj, "remote_timestamp"):
            obj.remote_timestamp = remote_ts
        if not self.clock.aligned:
            return math.nan
        return self.clock.to_local(remote_ts)

    # --------------------------------------------------------------- requests

    def _send(self, msg: dict) -> None:
        self._queue_frame(encode(msg))

    def _queue_frame(self, frame: bytes) -> None:
        if self._out_send is None:
            raise ExecutorNotRunning(
                f"{self._describe()} is not running: start it with `async with executor` or "
                "`await executor.start_executor()`" + (f" (it stopped: {self._lost})"
                                                        if self._lost else "")
            )
        self._out_send.send_nowait(frame)

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    async def _send_request(self, msg: dict) -> None:
        """Send ``msg`` from the calling task when the connection is idle and the frame
        small (one task switch less than queueing it), else queue it for the sender.

        The caller's write is shielded: a cancel in the middle of a message would leave
        half of it on the stream and break the connection for every caller. A large
        frame (whose write may take a while) goes through the sender task, which no
        caller's cancel reaches."""
        out = self._out_send
        frame = encode(msg)
        if (out is None or len(frame) > DIRECT_FRAME_BYTES or self._send_lock.locked()
                or out.statistics().current_buffer_used):
            self._queue_frame(frame)
            return
        async with self._send_lock:
            with trio.CancelScope(shield=True):
                await self._transport.send_frames([frame])

    async def _wait_for_link(self) -> None:
        """While the link is down: wait for it (``retry``, ``pause``) or raise."""
        while self._scope is not None and not self.connected:
            if self.on_lost == "fail":
                raise ConnectionLost(f"{self._describe()} is not connected"
                                     + ("; reconnecting" if self.reconnect else ""))
            await self._link_up.wait()

    async def _request(self, msg: dict, wait_link: bool = True) -> Any:
        if wait_link:
            await self._wait_for_link()
        await trio.lowlevel.checkpoint_if_cancelled()
        request_id = msg["id"] = self._new_id()
        future = self._pending[request_id] = Future()
        if self.on_lost != "fail" and msg["op"] == "call":
            self._inflight[request_id] = msg
        try:
            await self._send_request(msg)
        except BaseException:
            del self._pending[request_id]
            self._inflight.pop(request_id, None)
            raise

        def cancel() -> None:
            if self._pending.pop(request_id, None) is not None and self._out_send is not None:
                self._send({"op": "cancel", "id": request_id})

        try:
            return await future.wait(cancel)
        finally:
            self._inflight.pop(request_id, None)

    @staticmethod
    def _name(obj: Any) -> str:
        name = getattr(obj, "name", "")
        if not name:
            raise InvalidArgument(
                f"a {type(obj).__name__} needs a name to run remotely: create it with name=..."
            )
        return name

    async def _execute(self, obj: Any, fn: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
        return await self._request({"op": "call", "obj": self._name(obj), "method": fn.__name__,
                                    "args": list(args), "kwargs": kwargs})

    @asynccontextmanager
    async def execute_generator(self, obj: Any, fn: Callable[..., Any], args: tuple = (),
                                kwargs: dict | None = None, callback: Any = None
                                ) -> AsyncIterator[AsyncIterator[Any]]:
        request_id = self._new_id()
        stream = self._streams[request_id] = _RemoteStream(self, request_id, self.stream_window)
        try:
            self._send({"op": "gen", "id": request_id, "obj": self._name(obj),
                        "method": fn.__name__, "args": list(args), "kwargs": kwargs or {},
                        "credit": self.stream_window})
            async with read_items(obj, callback, stream) as items:
                yield items
        finally:
            self._streams.pop(request_id, None)
            if not stream.ended and self._out_send is not None:
                self._send({"op": "cancel", "id": request_id})

    # ---------------------------------------------------------- remote objects

    def _class_path(self, obj: Any) -> str:
        return class_path(type(obj))

    async def ensure_remote_instance(self, obj: Any) -> bool:
        """Create ``obj`` on the far side (same class, name and constructor arguments),
        or attach to the existing instance of that name in :attr:`namespace`; mirror its
        properties here.

        Returns whether it was created (False: attached)."""
        return await self._create(obj)

    async def _create(self, obj: Any, wait_link: bool = True) -> bool:
        reply = await self._request({"op": "create", "name": self._name(obj),
                                     "cls": self._class_path(obj),
                                     "kwargs": getattr(obj, "init_kwargs", {})}, wait_link)
        self._objects[obj.name] = obj
        self._seqs[obj.name] = reply.get("seq", -1)
        self._apply_update(obj, {k: v for k, v in reply["props"].items() if k != "name"}, False)
        return reply["created"]

    async def delete_remote_instance(self, obj: Any) -> None:
        """Delete the far side's ``obj`` of :attr:`namespace` (not one of another)."""
        await self._request({"op": "delete", "name": self._name(obj)})
        self._objects.pop(obj.name, None)

    @asynccontextmanager
    async def remote_instance(self, obj: Any) -> AsyncIterator[Any]:
        """``async with executor.remote_instance(dev):`` creates it, deletes it after."""
        await self.ensure_remote_instance(obj)
        try:
            yield obj
        finally:
            with trio.CancelScope(shield=True):
                await self.delete_remote_instance(obj)

    async def list_remote_instances(self) -> list[dict[str, Any]]:
        """The far side's objects, of every namespace: namespace, name, class and
        watcher count of each."""
        return await self._request({"op": "list"})

    async def get_echo_clock(self) -> tuple[float, float, float, float]:
        # t0 is read once the connection is free, just before the request is written:
        # waiting behind other frames is not time on the wire
        request_id = self._new_id()
        future = self._pending[request_id] = Future()
        frame = encode({"op": "echo", "id": request_id})
        try:
            async with self._send_lock:
                if self._out_send is None:
                    self._send({})  # raises the not-running error
                t0 = now()
                await self._transport.send_frames([frame])
        except BaseException:
            self._pending.pop(request_id, None)
            raise
        t1, t2 = await future.wait(lambda: self._pending.pop(request_id, None))
        return t0, t1, t2, now()
