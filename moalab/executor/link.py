"""LinkSupervisor: one connection to the far side kept up, in a trio system task.

It connects, serves the connection (a sender and a receiver task for the
:class:`~moalab.executor.multiplexer.RequestMux`, heartbeats), notices a lost
link, reconnects with backoff, and applies the lost-link policy (``fail``,
``retry``, ``pause``) to the requests in flight. Listeners hear the link come
and go.
"""

from collections.abc import Awaitable, Callable
from time import perf_counter
from typing import Any, Protocol

import outcome
import trio

from ..core.errors import InvalidArgument
from ..core.nursery import open_nursery
from .errors import ConnectionLost
from .future import Future
from .messages import Ping
from .multiplexer import RequestMux

__all__ = ("LOST_POLICIES", "LinkSupervisor", "Transport")

LOST_POLICIES = ("fail", "retry", "pause")
_CLOSE_TIMEOUT = 2.0  # for the close handshake of a stop
_ENDED_CLOSE_TIMEOUT = 0.2
"""For closing a connection that has ended: its link is marked down already, and a
close handshake on a dead socket cannot finish; longer would only delay the
reconnection."""
_BACKOFF = (0.1, 5.0)  # first and longest wait between reconnection attempts, seconds


class Transport(Protocol):
    """A connection carrying whole frames."""

    async def send_frames(self, frames: list[bytes]) -> None: ...

    async def receive_frame(self) -> bytes | None:
        """The next frame, or None when the connection closed."""

    async def aclose(self) -> None: ...


async def close_quietly(transport: Transport) -> None:
    """Close ``transport``; a broken connection may fail to close: it is closed anyway."""
    try:
        await transport.aclose()
    except Exception:  # closing a broken connection may fail; it is closed either way
        pass


class LinkSupervisor:
    """Keeps the connection of ``mux`` up while started.

    ``connect(nursery)`` opens a connection (``nursery`` lives as long as it);
    ``on_connected(nursery, reconnection)`` runs once it serves, before the link is
    marked up (a reconnection: restore the far side's state). ``describe()`` names
    the executor in messages. See :class:`~moalab.executor.remote.RemoteExecutor` for
    ``on_lost``, ``reconnect`` and ``heartbeat``; raises :class:`InvalidArgument`
    for values it does not accept. Runs in the trio thread.
    """

    def __init__(self, mux: RequestMux, connect: Callable[[trio.Nursery], Awaitable[Transport]],
                 on_connected: Callable[[trio.Nursery, bool], Awaitable[None]],
                 describe: Callable[[], str], on_lost: str = "fail", reconnect: bool = True,
                 heartbeat: tuple[float, float] = (0.5, 2.5)) -> None:
        if on_lost not in LOST_POLICIES:
            raise InvalidArgument(f"on_lost={on_lost!r} is not accepted: use one of "
                                  f"{', '.join(LOST_POLICIES)}")
        interval, dead_after = heartbeat
        if not 0 < interval < dead_after:
            raise InvalidArgument(f"heartbeat={heartbeat!r} is not accepted: give (interval, "
                                  "dead_after) seconds with 0 < interval < dead_after")
        self.mux = mux
        self._connect = connect
        self._on_connected = on_connected
        self._describe = describe
        self.on_lost = on_lost
        self.reconnect = reconnect
        self.heartbeat = (interval, dead_after)
        self.connected = False
        self.lost: BaseException | None = None
        """Why the last connection ended (None: it ended cleanly, or is up)."""
        self._link_up = trio.Event()
        self._listeners: list[Callable[[bool], Any]] = []
        self._last_heard = 0.0
        self._transport: Transport | None = None
        self._scope: trio.CancelScope | None = None
        self._stopped: trio.Event | None = None

    @property
    def running(self) -> bool:
        """Whether started and not stopping."""
        return self._scope is not None

    def add_listener(self, listener: Callable[[bool], Any]) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[bool], Any]) -> None:
        self._listeners.remove(listener)

    def _set_link(self, up: bool) -> None:
        if up == self.connected:
            return
        self.connected = up
        if up:
            self._link_up.set()
        else:
            self._link_up = trio.Event()
        for listener in list(self._listeners):
            listener(up)

    async def wait_up(self) -> None:
        """While the link is down: wait for it (``retry``, ``pause``) or raise
        :class:`ConnectionLost` (``fail``)."""
        while self._scope is not None and not self.connected:
            if self.on_lost == "fail":
                raise ConnectionLost(f"{self._describe()} is not connected"
                                     + ("; reconnecting" if self.reconnect else ""))
            await self._link_up.wait()

    async def start(self) -> None:
        """Connect (in a system task that keeps the link up); raise what the first
        connection failed with."""
        if self._scope is not None:
            return
        started: Future = Future()
        self._scope = trio.CancelScope()
        self._stopped = trio.Event()
        self.lost = None
        trio.lowlevel.spawn_system_task(self._background, started, name=self._describe())
        try:
            await started.wait()
        except BaseException:
            self._scope = None
            raise

    async def stop(self, before_close: Callable[[], Awaitable[None]]) -> None:
        """Stop: no reconnection from now on; await ``before_close()`` while the link
        still serves, close the connection, and wait for the system task's end."""
        scope, self._scope = self._scope, None
        if scope is None:
            return
        await before_close()
        transport = self._transport
        if transport is not None:
            # close while the connection's tasks still run (a WebSocket close handshake
            # needs its reader); the receiver then ends
            with trio.move_on_after(_CLOSE_TIMEOUT):
                await close_quietly(transport)
        scope.cancel()
        await self._stopped.wait()

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
                        self.lost = exc
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
            self.mux.fail_all(ConnectionLost(f"{self._describe()} stopped"))
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
                out_receive = self.mux.open(transport)
                self._last_heard = perf_counter()
                ended = trio.Event()
                nursery.start_soon(self.mux.run_sender, out_receive)
                nursery.start_soon(self._receive_until_closed, transport, ended)
                nursery.start_soon(self._watch_heartbeat, ended)
                # also ends a restore that waits on a link gone meanwhile
                nursery.start_soon(self._end_when, ended, nursery.cancel_scope)
                await self._on_connected(nursery, started.done)
                self._set_link(True)
                came_up.set()
                started.set(outcome.Value(None))
                await trio.sleep_forever()
            finally:
                self.mux.close()
                self._transport = None
                with trio.move_on_after(_ENDED_CLOSE_TIMEOUT, shield=True):
                    await close_quietly(transport)

    async def _end_when(self, ended: trio.Event, connection: trio.CancelScope) -> None:
        """Once the connection has ended, mark the link down, then cancel the
        connection's tasks: a close handshake on a dead socket (seconds) comes after."""
        await ended.wait()
        if self._scope is not None:  # not a stop (a stop fails calls as stopped)
            self._connection_lost()
        connection.cancel()

    async def _receive_until_closed(self, transport: Transport, ended: trio.Event) -> None:
        try:
            while True:
                frame = await transport.receive_frame()
                if frame is None:
                    break
                self._last_heard = perf_counter()
                self.mux.receive(frame)
            self.lost = None
        except Exception as exc:
            self.lost = exc  # the reason calls fail with
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
                self.lost = ConnectionLost(
                    f"{self._describe()}: no word from the far side for {silent:.1f} s")
                ended.set()
                return
            if t >= next_ping:
                self.mux.send(Ping())
                next_ping = t + interval
            await trio.sleep(min(next_ping, self._last_heard + dead_after) - t)

    def _connection_lost(self) -> None:
        """The link is down: fail or keep the calls in flight, as ``on_lost`` says."""
        self._set_link(False)
        error = ConnectionLost(
            f"connection of {self._describe()} lost"
            + (f": {type(self.lost).__name__}: {self.lost}" if self.lost else "")
            + ("; reconnecting" if self.reconnect else ""))
        if self.on_lost == "fail":
            self.mux.fail_all(error)
        else:
            self.mux.fail_all_but_kept(error)
