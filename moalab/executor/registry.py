"""The far side's objects: created by class path from allowed modules, held by
namespace and name.

A registry serves every connection of a server (or a process executor's child).
Each client works in one namespace (``""``, the shared one, unless it names
another): two namespaces may each hold an object named ``lever``, and a client
sees only the objects of its own (listing shows them all). Each object gets a
worker thread for its sync methods, and its Kivy property changes and
``on_data_update`` events are forwarded to the sessions that watch it.

A namespace other than ``""`` is a run's, or one its clients share by intent:
:meth:`ObjectRegistry.idle_namespaces` finds those nobody has used for a while, for
a server to delete (a client that died cannot delete its objects); never ``""``.
"""

import importlib
import importlib.util
import inspect
import logging
import re
import reprlib
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import trio

from ..core.arguments import constructor_parameters, declared_arguments
from ..core.errors import InvalidArgument
from ..device.device import Device
from .codec import encode
from ..core.dispatch import exposed_kind
from .errors import NotAllowed, UnknownObject
from .ordering import ArrivalOrder
from .stream import ItemBuffer, ThreadStream, fill_from_async
from .worker import WorkerThread

__all__ = ("SERVER_DATA_DIR", "ObjectRegistry", "RemoteObject", "check_namespace", "class_path",
           "encodable")

# moalab's modules that define devices a client may create: its device library, a
# rig's asset folder (moalab.assets.rig) and the guide's remote sample
# (examples/remote_sugar_pellet.py creates it on a server); not the rest of moalab,
# whose modules (examples, cli) run code when imported
ALWAYS_ALLOWED = ("moalab.device", "moalab.assets.rig", "moalab.examples.remote_devices")
SERVER_DATA_DIR = "server_data_dir"
"""A constructor parameter the registry fills with its own data folder (a Path, or None
if it has none); a client that sends it is refused, so it never picks where an object
writes on the server."""
CLOSE_TIMEOUT = 1.0
"""Real seconds :meth:`ObjectRegistry.close` (a server's end) waits in all for the
threads of its objects to end; deleting one object never waits."""
_MAIN_ALIAS = "__moalab_main__"
_NOT_MIRRORED = {"executor"}
_NAMESPACE = re.compile(r"[A-Za-z0-9._-]{0,64}")
logger = logging.getLogger("moalab.executor.registry")
_SHORT = reprlib.Repr()  # a bad value in a message, abbreviated
_SHORT.maxstring = _SHORT.maxother = 24


def check_namespace(namespace: Any) -> str:
    """Return ``namespace`` if it can name a namespace: at most 64 ASCII letters,
    digits, '-', '_' or '.' (``""`` is the shared one); else raise
    :class:`InvalidArgument`."""
    if not (isinstance(namespace, str) and _NAMESPACE.fullmatch(namespace)):
        # short enough for a WebSocket's close reason (123 bytes), however long the value
        raise InvalidArgument(
            f"namespace={_SHORT.repr(namespace)} is not accepted: give at most 64 ASCII "
            "letters, digits, '-', '_' or '.' ('': shared)"
        )
    return namespace


def _label(name: str, namespace: str) -> str:
    """An object's name for messages, with its namespace unless it is the shared one."""
    return f"{name!r} in namespace {namespace!r}" if namespace else repr(name)


def class_path(cls: type) -> str:
    """``module:QualName`` of a class, as sent in create requests."""
    return f"{cls.__module__}:{cls.__qualname__}"


def encodable(value: Any) -> bool:
    """Whether ``value`` can travel (see :mod:`moalab.executor.codec`)."""
    try:
        encode(value)
    except Exception:
        return False
    return True


class RemoteObject:
    """An object held by a registry: the instance, its namespace, its worker thread and
    its watchers."""

    def __init__(self, name: str, obj: Any, namespace: str = "") -> None:
        self.name = name
        self.namespace = namespace
        self.obj = obj
        self.worker = WorkerThread(f"moalab-object-{namespace}/{name}" if namespace
                                   else f"moalab-object-{name}")
        self.watchers: set[Any] = set()  # with an on_update(name, seq, props, event)
        self._token = trio.lowlevel.current_trio_token()
        self._lock = threading.Lock()
        self._changes: dict[str, Any] = {}  # since the last on_data_update
        self._updates: list[tuple[dict[str, Any], bool]] = []  # closed by on_data_update
        self._seq = 0
        self._flush_scheduled = False
        self._uids: list[tuple[str, int]] = []
        self._start_order = ArrivalOrder()
        self._bind()

    def _bind(self) -> None:
        obj = self.obj
        for prop in obj.properties():
            if prop not in _NOT_MIRRORED:
                self._uids.append((prop, obj.fbind(prop, self._on_property, prop)))
        if "on_data_update" in getattr(obj, "__events__", ()):
            self._uids.append(("on_data_update", obj.fbind("on_data_update", self._on_event)))

    def unbind(self) -> None:
        for name, uid in self._uids:
            self.obj.unbind_uid(name, uid)
        self._uids.clear()

    def snapshot(self) -> dict[str, Any]:
        """The object's mirrored properties that can travel, by name."""
        values = {}
        for prop in self.obj.properties():
            value = getattr(self.obj, prop)
            if prop not in _NOT_MIRRORED and encodable(value):
                values[prop] = value
        return values

    # Changes may come from the object's worker thread or the trio thread: they are
    # collected under a lock and flushed from the trio thread, in order with replies.
    # Each on_data_update closes one update, so a burst of updates (edges of a pin)
    # reaches watchers update by update; only changes between two events merge.
    def _on_property(self, prop: str, _obj: Any, value: Any) -> None:
        with self._lock:
            self._changes[prop] = value
            self._schedule()

    def _on_event(self, *_: Any) -> None:
        with self._lock:
            self._updates.append((self._changes, True))
            self._changes = {}
            self._schedule()

    def _schedule(self) -> None:
        if not self._flush_scheduled and self.watchers:
            self._flush_scheduled = True
            try:
                self._token.run_sync_soon(self.flush)
            except trio.RunFinishedError:
                pass

    def flush(self) -> None:
        """Send pending updates to the watchers now (trio thread only).

        Each update carries a sequence number, so a watcher reached by two
        paths (a REST reply and the updates stream) can drop the repeat.
        """
        with self._lock:
            updates, self._updates = self._updates, []
            if self._changes:
                updates.append((self._changes, False))
                self._changes = {}
            self._flush_scheduled = False
        for props, event in updates:
            self._seq += 1
            for watcher in list(self.watchers):
                watcher.on_update(self.name, self._seq, props, event)

    @property
    def label(self) -> str:
        """The object's name for messages, with its namespace unless it is ``""``."""
        return _label(self.name, self.namespace)

    @property
    def seq(self) -> int:
        """The sequence number of the last update sent."""
        return self._seq

    def method(self, name: str, kind: str) -> Callable[..., Any]:
        """The undecorated function of exposed method ``name`` of kind 'call' or
        'generator'; raise :class:`NotAllowed` for anything else."""
        attr = getattr(type(self.obj), name, None) if not name.startswith("_") else None
        exposed = exposed_kind(attr)
        if exposed is None:
            raise NotAllowed(
                f"{type(self.obj).__name__} {self.label} has no method {name!r} exposed to "
                "remote callers (only methods decorated with apply_executor or "
                "apply_generator_executor are)"
            )
        if exposed != kind:
            other = "a generator: use it with `async with`" if exposed == "generator" else (
                "not a generator: await it")
            raise NotAllowed(f"{type(self.obj).__name__}.{name} is {other}")
        return attr.__wrapped__

    def start_ticket(self) -> Callable[[], Awaitable[None]]:
        """Take a place in this object's start order (trio thread, as a call
        arrives); await the returned function before running an async call, so
        async calls on one object start in arrival order (see :mod:`.ordering`)."""
        return self._start_order.take().wait

    @asynccontextmanager
    async def stream(self, method: str, args: list | tuple = (), kwargs: dict | None = None
                     ) -> AsyncIterator[ItemBuffer]:
        """Run exposed generator method ``method`` (a sync one in a thread of its own);
        yields the :class:`ItemBuffer` its items arrive in. Leaving stops it."""
        fn = self.method(method, "generator")
        if not inspect.isasyncgenfunction(fn):
            async with ThreadStream(fn, (self.obj, *args), kwargs) as buffer:
                yield buffer
            return
        buffer = ItemBuffer()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(fill_from_async, fn(self.obj, *args, **(kwargs or {})), buffer)
            try:
                yield buffer
            finally:
                buffer.stop()
                nursery.cancel_scope.cancel()

    def close(self) -> None:
        """Stop watching the object, stop its thread (it ends after its queued calls)
        and call the object's own ``close`` (a sync one) now, in the trio thread: a
        deleted device's pins are free when its delete is answered. The trio thread
        never waits for a device's call (:meth:`join` waits for the thread's end)."""
        self.unbind()
        self.worker.stop(join=False)
        close = getattr(self.obj, "close", None)
        if callable(close) and not inspect.iscoroutinefunction(close):
            close()

    def join(self, timeout: float) -> bool:
        """Wait, at most ``timeout`` seconds, for the thread of a closed object to end;
        False (and logged) if it still runs a call then: it ends when the call returns."""
        if self.worker.join(timeout):
            return True
        logger.warning(
            "%s %s: its thread %r still runs a call %g s after the object's delete; it "
            "ends when the call returns",
            type(self.obj).__name__, self.label, self.worker.name, timeout)
        return False


class ObjectRegistry:
    """The objects of a server, by ``(namespace, name)`` in :attr:`objects`.

    A namespace exists while it holds objects: objects outlive the sessions that
    created them (until deleted, or the registry closes), and so does their
    namespace; a server deletes those nobody uses (:meth:`idle_namespaces`), so
    a client that died does not leave its objects for good.

    Classes are imported only from moalab's device modules (``ALWAYS_ALLOWED``)
    and the modules in ``allow`` (a module allows its submodules too);
    ``allow_all`` lifts that (for a process executor's child, which serves only
    its own parent). Classes of ``__main__`` come from ``main_script`` if given
    (the parent's script, imported once under another name so its main block
    does not run). Only :class:`~moalab.Device` subclasses can be created, with
    only their declared properties and constructor parameters as arguments; a
    class with a :data:`SERVER_DATA_DIR` parameter gets ``data_dir``, the server's
    data folder (None: it has none), there.
    """

    def __init__(self, allow: Iterable[str] = (), allow_all: bool = False,
                 main_script: str | None = None, data_dir: Path | None = None) -> None:
        self.allow = tuple(ALWAYS_ALLOWED) + tuple(allow)
        self.allow_all = allow_all
        self.main_script = main_script
        self.data_dir = data_dir
        self.objects: dict[tuple[str, str], RemoteObject] = {}
        self._last_used: dict[str, float] = {}  # by namespace, time.monotonic()

    def _allowed(self, module: str) -> bool:
        return self.allow_all or any(
            module == allowed or module.startswith(allowed + ".") for allowed in self.allow
        )

    def resolve_class(self, path: str) -> type:
        """Import the class at ``module:QualName`` if its module is allowed."""
        if not isinstance(path, str) or ":" not in path:
            raise InvalidArgument(f"class path {path!r} is not of the form 'module:QualName'")
        module_name, qualname = path.split(":", 1)
        if module_name == "__main__" and not self.allow_all:
            raise NotAllowed(
                f"class {qualname} is defined in the client's main script, which the server "
                "cannot import: move it into a module importable on the server and start "
                "moalab-server with --allow <that module>"
            )
        if not self._allowed(module_name):
            # a user's package is allowed whole; of moalab, only the module named
            package = module_name.split(".")[0]
            hint = module_name if package == "moalab" else package
            raise NotAllowed(
                f"module {module_name!r} is not allowed on this server: start moalab-server "
                f"with --allow {hint} (allowed now: {', '.join(self.allow)})"
            )
        try:
            obj: Any = self._import(module_name)
            for part in qualname.split("."):
                obj = getattr(obj, part)
        except (ImportError, AttributeError) as exc:
            raise InvalidArgument(f"cannot import {path!r} on the server: {exc}") from None
        if not (isinstance(obj, type) and issubclass(obj, Device)):
            raise NotAllowed(f"{path!r} is not a moalab Device class; only devices can be created")
        return obj

    def _import(self, module_name: str) -> ModuleType:
        if module_name != "__main__" or self.main_script is None:
            return importlib.import_module(module_name)
        module = sys.modules.get(_MAIN_ALIAS)
        if module is None:
            spec = importlib.util.spec_from_file_location(_MAIN_ALIAS, self.main_script)
            module = importlib.util.module_from_spec(spec)
            try:
                spec.loader.exec_module(module)
            except BaseException as exc:
                raise ImportError(
                    f"importing the main script {self.main_script} in the child process "
                    f"failed ({type(exc).__name__}: {exc}); put the script's run under "
                    "`if __name__ == '__main__':` (as multiprocessing needs too), or move the "
                    "class into a module"
                ) from None
            sys.modules[_MAIN_ALIAS] = module
        return module

    def get(self, name: str, namespace: str = "") -> RemoteObject:
        """The object ``name`` of ``namespace``; raise :class:`UnknownObject` if none."""
        try:
            return self.objects[namespace, name]
        except (KeyError, TypeError):
            raise UnknownObject(
                f"no object named {_label(name, namespace)} on the server; create it first "
                "(executor.ensure_remote_instance)"
            ) from None

    def create(self, name: str, cls_path: str, kwargs: dict[str, Any] | None = None,
               namespace: str = "") -> tuple[RemoteObject, bool]:
        """Create the object in ``namespace``, or attach to the existing one of that
        name and class there.

        Returns ``(object, created)``. Must run in the server's trio thread.
        """
        if not isinstance(name, str) or not name:
            raise InvalidArgument(f"object name {name!r} is not accepted: give a non-empty string")
        check_namespace(namespace)
        self.touch(namespace)
        existing = self.objects.get((namespace, name))
        if existing is not None:
            if class_path(type(existing.obj)) != cls_path:
                raise InvalidArgument(
                    f"an object named {existing.label} already exists on the server with "
                    f"class {class_path(type(existing.obj))}, not {cls_path}: use another name"
                )
            return existing, False
        cls = self.resolve_class(cls_path)
        if kwargs is not None and not isinstance(kwargs, dict):
            raise InvalidArgument(f"constructor arguments must be a map, not {kwargs!r}")
        self._check_arguments(cls, kwargs or {})
        arguments = {**(kwargs or {}), "name": name}
        if SERVER_DATA_DIR in constructor_parameters(cls):
            arguments[SERVER_DATA_DIR] = self.data_dir
        obj = cls(**arguments)
        remote = self.objects[namespace, name] = RemoteObject(name, obj, namespace)
        remote.worker.start()
        return remote, True

    @staticmethod
    def _check_arguments(cls: type, kwargs: dict[Any, Any]) -> None:
        """Refuse constructor arguments other than ``cls``'s declared properties and
        constructor parameters: an attribute a client could set otherwise (``rng``,
        ``on_data_update``, ``__dict__``) would change how the object behaves; nor
        :data:`SERVER_DATA_DIR`, the server's to give."""
        if SERVER_DATA_DIR in kwargs:
            raise NotAllowed(
                f"{cls.__name__} cannot be created with argument {SERVER_DATA_DIR!r}="
                f"{_SHORT.repr(kwargs[SERVER_DATA_DIR])}: the server gives its own data folder "
                "there (moalab-server --data-dir); leave the argument out")
        accepted = declared_arguments(cls) - _NOT_MIRRORED - {SERVER_DATA_DIR}
        refused = [key for key in kwargs if key not in accepted]
        if refused:
            raise NotAllowed(
                f"{cls.__name__} cannot be created with argument(s) "
                f"{', '.join(map(repr, refused))}: a remote create accepts only its declared "
                f"properties and constructor parameters ({', '.join(sorted(accepted))}); "
                "to send another setting, declare it as a property or a constructor parameter"
            )

    def delete(self, name: str, namespace: str = "") -> None:
        """Close and forget the object ``name`` of ``namespace`` (only that one); forgotten
        even if its ``close`` raises (its thread is stopped by then), which then
        propagates."""
        remote = self.get(name, namespace)
        try:
            remote.close()
        finally:
            del self.objects[namespace, name]

    def namespaces(self) -> set[str]:
        """The namespaces that hold objects."""
        return {namespace for namespace, _ in self.objects}

    def touch(self, namespace: str) -> None:
        """Note that a client uses ``namespace`` now: it made a request there, or stopped
        watching one of its objects (see :meth:`idle_namespaces`)."""
        self._last_used[namespace] = time.monotonic()

    def idle_namespaces(self, grace: float) -> list[str]:
        """The namespaces other than ``""`` unused for at least ``grace`` seconds: none of
        their objects had a watcher (a session, an update stream, a REST call in
        progress) and no request came (:meth:`touch`); for the caller to delete
        (:meth:`delete_namespace`).

        A namespace is in use while a watcher is seen here, and the end of a watch
        touches it: one is idle no sooner than ``grace`` after its last client left,
        and later by at most the time between two calls, so a client that reconnects
        within ``grace`` finds its objects. Call it every so often, in the server's
        trio thread.
        """
        now = time.monotonic()
        watched: dict[str, bool] = {}
        for (namespace, _), remote in self.objects.items():
            if namespace:
                watched[namespace] = watched.get(namespace, False) or bool(remote.watchers)
        for namespace in [n for n in self._last_used if n not in watched]:
            del self._last_used[namespace]  # no objects left there (or the shared one)
        idle = []
        for namespace, in_use in watched.items():
            if in_use:
                self._last_used[namespace] = now
            elif now - self._last_used.setdefault(namespace, now) >= grace:
                idle.append(namespace)
        return idle

    def delete_namespace(self, namespace: str) -> int:
        """Delete every object of ``namespace`` and return how many there were. Each is
        deleted even if another's ``close`` raises; the first such error propagates."""
        names = [name for ns, name in self.objects if ns == namespace]
        self._last_used.pop(namespace, None)
        error: Exception | None = None
        for name in names:
            try:
                self.delete(name, namespace)
            except Exception as exc:  # the others go too: a namespace is not half deleted
                error = error or exc
        if error is not None:
            raise error
        return len(names)

    def describe(self) -> list[dict[str, Any]]:
        """Namespace, name, class and watcher count of every object, of every namespace."""
        return [
            {"namespace": namespace, "name": name, "class": class_path(type(remote.obj)),
             "watchers": len(remote.watchers)}
            for (namespace, name), remote in self.objects.items()
        ]

    def close(self) -> None:
        """Delete every object, then wait for their threads to end: at most
        :data:`CLOSE_TIMEOUT` seconds in all (a thread still in a call is logged)."""
        closed = list(self.objects.values())
        for namespace, name in list(self.objects):
            try:
                self.delete(name, namespace)
            except Exception:  # noqa: BLE001 - the server ends: the others close all the same
                logger.exception("closing %s %s failed", namespace, name)
        deadline = time.monotonic() + CLOSE_TIMEOUT
        for remote in closed:
            remote.join(max(0.0, deadline - time.monotonic()))
