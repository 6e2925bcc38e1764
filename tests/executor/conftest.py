"""Executors of every kind, started per test, and devices created on them."""

import itertools
import os
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import trio

from moalab.executor import AsyncThreadExecutor, Executor, ThreadExecutor
from moalab.executor.dummy import DummyRemoteExecutor
from moalab.executor.process import ProcessExecutor
from moalab.executor.rest import RestExecutor
from moalab.executor.websocket import WebSocketExecutor

from ..conftest import REPO
from .devices import Probe

LOCAL = ("thread", "async_thread")
REMOTE = ("dummy", "process", "websocket", "rest")
SERVED = ("websocket", "rest")
ALL = LOCAL + REMOTE
ASYNC_CAPABLE = ("async_thread",) + REMOTE

# A ProcessExecutor serves the same session and registry as the DummyRemoteExecutor,
# over a socket as the WebSocketExecutor does, and each start costs about a second:
# tests of protocol logic that transport does not change leave it out.
ALL_BUT_PROCESS = tuple(kind for kind in ALL if kind != "process")
REMOTE_BUT_PROCESS = tuple(kind for kind in REMOTE if kind != "process")
ASYNC_BUT_PROCESS = tuple(kind for kind in ASYNC_CAPABLE if kind != "process")

STREAM_WINDOW = 64
"""A small window, so long streams exercise the credit the client grants back."""

_names = itertools.count()


def kinds_and_methods(kinds: tuple[str, ...], methods: tuple[str, ...]) -> pytest.MarkDecorator:
    """Parametrize ``kind`` (indirectly) and ``method`` with every pair that can run:
    a ThreadExecutor runs only sync methods, so no ``async_*`` method is paired with it."""
    pairs = [(kind, method) for kind in kinds for method in methods
             if not (kind == "thread" and method.startswith("async"))]
    return pytest.mark.parametrize("kind, method", pairs, indirect=["kind"])


def unique_name(prefix: str = "dev") -> str:
    # unique across the session: tests share one moalab-server
    return f"{prefix}-{os.getpid()}-{next(_names)}"


def new_executor(kind: str, port: int | None = None, **kwargs) -> Executor:
    if kind == "thread":
        return ThreadExecutor(**kwargs)
    if kind == "async_thread":
        return AsyncThreadExecutor(**kwargs)
    if kind == "dummy":
        return DummyRemoteExecutor(stream_window=STREAM_WINDOW, **kwargs)
    if kind == "process":
        return ProcessExecutor(stream_window=STREAM_WINDOW, **kwargs)
    if kind == "websocket":
        return WebSocketExecutor("127.0.0.1", port, stream_window=STREAM_WINDOW, **kwargs)
    if kind == "rest":
        return RestExecutor("127.0.0.1", port, **kwargs)
    raise ValueError(kind)


@pytest.fixture(autouse=True)
def _repo_importable(monkeypatch):
    # ProcessExecutor children inherit the environment: let them import tests.*
    path = os.environ.get("PYTHONPATH", "")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), path])))


class Kind(str):
    """An executor kind, knowing the server port when it needs one."""

    port: int | None = None

    def make(self, **kwargs) -> Executor:
        return new_executor(self, self.port, **kwargs)


def _kind(request) -> Kind:
    kind = Kind(request.param)
    if kind in SERVED:
        kind.port = request.getfixturevalue("moalab_server").port
    return kind


@pytest.fixture(params=ALL)
def kind(request) -> Kind:
    return _kind(request)


@pytest.fixture(params=ASYNC_CAPABLE)
def async_kind(request) -> Kind:
    return _kind(request)


@pytest.fixture(params=REMOTE)
def remote_kind(request) -> Kind:
    return _kind(request)


async def _started(kind: Kind) -> AsyncIterator[Executor]:
    executor = kind.make()
    async with executor:
        yield executor


@pytest.fixture
async def executor(kind) -> AsyncIterator[Executor]:
    async for executor in _started(kind):
        yield executor


@pytest.fixture
async def async_executor(async_kind) -> AsyncIterator[Executor]:
    async for executor in _started(async_kind):
        yield executor


@pytest.fixture
async def remote_executor(remote_kind) -> AsyncIterator[Executor]:
    async for executor in _started(remote_kind):
        yield executor


DeviceFactory = Callable[..., Awaitable[Probe]]


def device_factory(executor: Executor) -> DeviceFactory:
    async def new_device(cls=Probe, **kwargs):
        device = cls(name=unique_name(cls.__name__), executor=executor, **kwargs)
        await executor.ensure_remote_instance(device)
        return device

    return new_device


@pytest.fixture
def new_device(executor) -> DeviceFactory:
    return device_factory(executor)


@pytest.fixture
def new_async_device(async_executor) -> DeviceFactory:
    return device_factory(async_executor)


@pytest.fixture
def new_remote_device(remote_executor) -> DeviceFactory:
    return device_factory(remote_executor)


async def wait_until(predicate: Callable[[], Awaitable[bool] | bool], timeout: float = 10,
                     interval: float = 0.02) -> None:
    """Poll ``predicate`` (sync or async) until it is true; fail after ``timeout`` s."""
    with trio.fail_after(timeout):
        while True:
            result = predicate()
            if not isinstance(result, bool):
                result = await result
            if result:
                return
            await trio.sleep(interval)
