"""ObjectMirror: the far side's objects an executor created or attached, mirrored here.

It creates (or attaches to), deletes and, after a reconnection, restores the far
side's instances through a request function of the executor's, whatever its
transport (frames or REST), and applies the far side's property updates in order
of their seq, a ``timestamp`` converted to this process's experiment clock.
"""

import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from ..core.errors import InvalidArgument
from ..core.realtime import fail_after_real
from .clock import LocalClock, RemoteClock
from .errors import UnknownObject
from .messages import Create, Delete, Message, Update
from .registry import class_path

__all__ = ("ObjectMirror", "object_name")

logger = logging.getLogger("moalab.executor.remote")

CLEAN_UP_TIMEOUT = 2.0
"""Real seconds a stop gives the deletion of a run's objects: the link may be down or
the far side stuck, and a stop must end (the server deletes them later itself)."""


def object_name(obj: Any) -> str:
    """``obj``'s name, which a remote object needs; :class:`InvalidArgument` if it has none."""
    name = getattr(obj, "name", "")
    if not name:
        raise InvalidArgument(
            f"a {type(obj).__name__} needs a name to run remotely: create it with name=..."
        )
    return name


Requester = Callable[[Message, bool], Awaitable[Any]]
"""``request(message, wait_link)``: send a request, return its reply's value."""


class ObjectMirror:
    """The objects created or attached through ``request``, by name; ``clock`` converts
    their timestamps. Used in the trio thread."""

    def __init__(self, request: Requester, clock: RemoteClock | LocalClock) -> None:
        self._request = request
        self.clock = clock
        self.objects: dict[str, Any] = {}
        self._seqs: dict[str, int] = {}  # last update applied, by object name

    async def create(self, obj: Any, wait_link: bool = True) -> bool:
        """Create ``obj`` on the far side (same class, name and constructor arguments), or
        attach to the instance of that name; mirror its properties. Returns whether it
        was created (False: attached)."""
        reply = await self._request(Create(None, object_name(obj), class_path(type(obj)),
                                           getattr(obj, "init_kwargs", {})), wait_link)
        self.objects[obj.name] = obj
        self._seqs[obj.name] = reply.get("seq", -1)
        self._apply(obj, {k: v for k, v in reply["props"].items() if k != "name"}, False)
        return reply["created"]

    async def delete(self, obj: Any) -> None:
        """Delete the far side's ``obj``; it is no longer mirrored."""
        await self._request(Delete(None, object_name(obj)), True)
        self.objects.pop(obj.name, None)

    def forget(self) -> None:
        """Mirror nothing any more (a new connection watches no object yet: each is
        created or attached again on its first call)."""
        self.objects.clear()
        self._seqs.clear()

    async def restore(self) -> None:
        """After a reconnection: create the far side's instances again (the far side may
        have lost them), without waiting for the link (it is being restored)."""
        for obj in list(self.objects.values()):
            await self.create(obj, wait_link=False)

    async def delete_all(self, where: str, connected: bool) -> None:
        """Delete every mirrored object on the far side: within :data:`CLEAN_UP_TIMEOUT`
        real seconds, all at once, even in a cancelled stop; a failure is logged
        (``where`` names the executor and namespace), not raised. ``connected``: whether
        the link is up (if not, nothing is sent)."""
        if not self.objects:
            return
        objects, self.objects = self.objects, {}
        if not connected:
            logger.warning("%s: the link is down at the stop; the server deletes %s when "
                           "its grace time is over", where, ", ".join(map(repr, objects)))
            return
        try:
            with trio.CancelScope(shield=True), fail_after_real(CLEAN_UP_TIMEOUT):
                async with trio.open_nursery() as nursery:
                    for obj in objects.values():
                        nursery.start_soon(self._delete_quietly, obj, where)
        except trio.TooSlowError:
            logger.warning("%s: deleting the run's objects took over %g s; the server "
                           "deletes those left when its grace time is over", where,
                           CLEAN_UP_TIMEOUT)

    async def _delete_quietly(self, obj: Any, where: str) -> None:
        """Delete ``obj`` on the far side; log why not if that fails."""
        try:
            await self._request(Delete(None, object_name(obj)), True)
        except UnknownObject:  # deleted already (by another executor of the run)
            logger.debug("%s: %r was deleted already", where, obj.name)
        except Exception as exc:
            logger.warning("%s: deleting %r failed (%s: %s); the server deletes it when "
                           "its grace time is over", where, obj.name, type(exc).__name__, exc)

    def apply(self, update: Update) -> None:
        """Mirror an update of the far side's, unless it is not mirrored here or was
        applied already (an update can arrive by two paths)."""
        obj = self.objects.get(update.obj)
        if obj is None or update.seq <= self._seqs.get(update.obj, -1):
            return
        self._seqs[update.obj] = update.seq
        self._apply(obj, update.props, update.event)

    def _apply(self, obj: Any, props: dict, event: bool) -> None:
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
