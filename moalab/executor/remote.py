"""RemoteExecutor: the client side of the moalab wire protocol, over any frame transport.

It composes three parts: a :class:`~moalab.executor.link.LinkSupervisor` keeps the
connection up (heartbeats, reconnection, lost-link policies), a
:class:`~moalab.executor.multiplexer.RequestMux` matches many requests in flight on
it by id, and an :class:`~moalab.executor.mirror.ObjectMirror` mirrors the far
side's objects. The link's tasks are trio system tasks, so the executor works with
plain ``start_executor`` / ``stop_executor`` calls.
"""

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import trio

from ..core.dispatch import read_items
from ..core.errors import InvalidArgument
from ..core.memory import keep_large_buffers
from .clock import LOCAL_CLOCK, ClockSync, RemoteClock
from .errors import ExecutorError, ExecutorNotRunning
from .executor import Executor
from .link import LOST_POLICIES, LinkSupervisor, Transport
from .messages import Call, Gen, List, Message
from .mirror import ObjectMirror, object_name
from .multiplexer import RequestMux
from .registry import check_namespace

__all__ = ("LOST_POLICIES", "FarSideExecutor", "RemoteExecutor", "Transport")


class FarSideExecutor(Executor):
    """Base of executors whose methods run on the far side (a server, a child process),
    whatever the transport: the namespace, the clock alignment and the mirrored
    remote objects (see :class:`RemoteExecutor` for ``clock_sync`` and ``namespace``).

    Subclasses implement :meth:`_request`, :meth:`_running`, :attr:`connected`,
    :meth:`get_echo_clock` and the executor's start and stop, and call
    :meth:`_delete_run_objects` in their stop.
    """

    supports_coroutine = True

    _far_side_shared = True
    """Whether the far side's objects outlive this executor's connection (a server's
    do), so that a stop deletes a run's objects there."""

    def __init__(self, timeout: float | None = None,
                 clock_sync: ClockSync | None = ClockSync(),
                 namespace: str | None = None) -> None:
        super().__init__(timeout)
        self._namespace_given = namespace is not None
        self._namespace = "" if namespace is None else check_namespace(namespace)
        self._namespace_of_run = False  # given by use_namespace: its objects end with it
        self.clock = LOCAL_CLOCK if clock_sync is None else RemoteClock(clock_sync)
        self.mirror = ObjectMirror(self._request, self.clock)
        self._attaching: dict[str, trio.Event] = {}  # first calls creating an object, by name

    def _describe(self) -> str:
        return type(self).__name__

    connected = False
    """Whether the link is up."""

    def _running(self) -> bool:
        """Whether the executor runs (started, not stopping)."""
        raise NotImplementedError

    @property
    def running(self) -> bool:
        """Whether the executor is started and not stopping (its link supervised)."""
        return self._running()

    async def _request(self, msg: Message, wait_link: bool = True) -> Any:
        """Send request ``msg`` and return its reply's value (or raise its error);
        ``wait_link``: first wait for a link that is down, as the executor's policy
        says."""
        raise NotImplementedError

    async def get_echo_clock(self) -> tuple[float, float, float, float]:
        """One clock echo: (sent, far side received, far side sent, received)."""
        raise NotImplementedError

    def _stop_reason(self) -> BaseException | None:
        """Why the executor stopped by itself, if it did (its connection's end)."""
        return None

    def _not_running(self) -> ExecutorNotRunning:
        reason = self._stop_reason()
        return ExecutorNotRunning(
            f"{self._describe()} is not running: start it with `async with executor` or "
            "`await executor.start_executor()`" + (f" (it stopped: {reason})" if reason else ""))

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
        if self._running():
            raise ExecutorError(
                f"{self._describe()} runs in namespace {self._namespace!r}: it cannot move "
                f"to namespace {name!r} while running; stop it first, or give each run an "
                "executor of its own"
            )
        self._namespace = name
        self._namespace_of_run = bool(name)

    async def _delete_run_objects(self) -> None:
        """Delete the far side's objects this executor created or attached, when they are
        in a run's namespace (see :meth:`ObjectMirror.delete_all`). Called by a stop."""
        if self._namespace_of_run and self._far_side_shared:
            await self.mirror.delete_all(
                f"{self._describe()} in namespace {self._namespace!r}", self.connected)

    # ---------------------------------------------------------- remote objects

    async def ensure_remote_instance(self, obj: Any) -> bool:
        """Create ``obj`` on the far side (same class, name and constructor arguments),
        or attach to the existing instance of that name in :attr:`namespace`; mirror its
        properties here.

        Not needed before calls: the first call or stream of an object not mirrored
        yet does this itself (see :meth:`_attach`). Call it to create an object ahead
        of its first call, or to learn whether it was there.

        Returns whether it was created (False: attached). Raises what the far side's
        create raised (:class:`~moalab.executor.errors.NotAllowed`,
        :class:`~moalab.InvalidArgument`), :class:`ExecutorNotRunning` when the
        executor is not running."""
        return await self.mirror.create(obj)

    async def _attach(self, obj: Any) -> None:
        """Create or attach ``obj``'s far-side instance (:meth:`ensure_remote_instance`)
        on its first call or stream, once however many tasks call it at once; the
        others wait for that one. Raises what the create raised (to each caller
        whose own attempt failed)."""
        name = obj.name
        while name not in self.mirror.objects:
            pending = self._attaching.get(name)
            if pending is not None:  # another task creates it: wait, then look again
                await pending.wait()
                continue
            pending = self._attaching[name] = trio.Event()
            try:
                await self.ensure_remote_instance(obj)
            finally:
                del self._attaching[name]
                pending.set()

    async def delete_remote_instance(self, obj: Any) -> None:
        """Delete the far side's ``obj`` of :attr:`namespace` (not one of another); a
        later call of it creates it again."""
        await self.mirror.delete(obj)

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
        return await self._request(List(None))


class RemoteExecutor(FarSideExecutor):
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

    A device's far-side instance is created (or attached to, if the far side has
    one of its name and class) on its first call or stream through the executor,
    and its properties are mirrored from then on (:meth:`ensure_remote_instance`
    does it ahead of time); later calls cost no extra round.

    ``namespace`` is where the executor's objects live on a server (see
    ``moalab.executor.registry``): clients of one namespace share its objects,
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

    def __init__(self, timeout: float | None = None, stream_window: int = 1024,
                 clock_sync: ClockSync | None = ClockSync(), on_lost: str = "fail",
                 reconnect: bool = True, heartbeat: tuple[float, float] = (0.5, 2.5),
                 namespace: str | None = None) -> None:
        super().__init__(timeout, clock_sync, namespace)
        if stream_window < 2:
            raise InvalidArgument(f"stream_window={stream_window!r} is not accepted: give >= 2")
        self.stream_window = stream_window
        self._mux = RequestMux(self._not_running, self.mirror.apply, self._describe,
                               keep_calls=on_lost != "fail")
        self.link = LinkSupervisor(self._mux, self._connect, self._on_connected,
                                   self._describe, on_lost, reconnect, heartbeat)

    # ------------------------------------------------------------- connection

    async def _connect(self, nursery: trio.Nursery) -> Transport:
        """Open the connection; ``nursery`` lives as long as the connection."""
        raise NotImplementedError

    @property
    def on_lost(self) -> str:
        """What calls do while the link is down: ``'fail'``, ``'retry'`` or ``'pause'``."""
        return self.link.on_lost

    @property
    def reconnect(self) -> bool:
        """Whether a lost link is reconnected (with backoff: 0.1 s, doubling up to 5 s
        between attempts), as given to the constructor; False: the executor stops
        when the link is lost."""
        return self.link.reconnect

    @property
    def heartbeat(self) -> tuple[float, float]:
        """``(interval, dead_after)`` seconds, as given to the constructor: a ping every
        ``interval``; no word from the far side for ``dead_after`` marks the link lost."""
        return self.link.heartbeat

    @property
    def connected(self) -> bool:
        """Whether the link is up."""
        return self.link.connected

    def _running(self) -> bool:
        return self.link.running

    def _stop_reason(self) -> BaseException | None:
        return self.link.lost

    def add_link_listener(self, listener: Callable[[bool], Any]) -> None:
        """Call ``listener(True)`` when the link comes back, ``listener(False)`` when it
        is lost (in the trio thread)."""
        self.link.add_listener(listener)

    def remove_link_listener(self, listener: Callable[[bool], Any]) -> None:
        """Stop calling ``listener``, one :meth:`add_link_listener` added (the same
        object); raises :class:`ValueError` if it was not added. Call it in the trio
        thread."""
        self.link.remove_listener(listener)

    async def start_executor(self) -> None:
        if self._running():
            return
        keep_large_buffers()  # received frames and arrays reuse memory (no page faults)
        self.mirror.forget()  # a new connection (a new child): nothing is watched there yet
        await self.link.start()
        await self.clock.wait_aligned()  # the first probes, so timestamps align from the start

    async def stop_executor(self) -> None:
        await self.link.stop(self._delete_run_objects)

    async def _on_connected(self, nursery: trio.Nursery, reconnection: bool) -> None:
        """The connection serves: after a reconnection, create the remote instances
        again (the far side may have lost them), then send the calls that were in
        flight (``retry`` and ``pause`` policies); align the clock while it lasts."""
        if reconnection:
            await self.mirror.restore()
            self._mux.resend_kept()
        nursery.start_soon(self.clock.run, self.get_echo_clock)

    # --------------------------------------------------------------- requests

    async def _request(self, msg: Message, wait_link: bool = True) -> Any:
        if wait_link and not self.link.connected:
            await self.link.wait_up()
        return await self._mux.request(msg)

    async def _execute(self, obj: Any, fn: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
        name = object_name(obj)
        if name not in self.mirror.objects:  # its first call: create it there first
            await self._attach(obj)
        return await self._request(Call(None, name, fn.__name__, list(args), kwargs))

    @asynccontextmanager
    async def execute_generator(self, obj: Any, fn: Callable[..., Any], args: tuple = (),
                                kwargs: dict | None = None, callback: Any = None
                                ) -> AsyncIterator[AsyncIterator[Any]]:
        name = object_name(obj)
        if name not in self.mirror.objects:
            await self._attach(obj)
        request = Gen(None, name, fn.__name__, list(args), kwargs or {}, self.stream_window)
        async with self._mux.stream(request) as stream, \
                read_items(obj, callback, stream) as items:
            yield items

    async def get_echo_clock(self) -> tuple[float, float, float, float]:
        return await self._mux.echo_clock()
