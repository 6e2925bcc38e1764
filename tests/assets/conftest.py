"""Fixtures of the storage tests: a real S3-compatible server (moto's) and a real
moalab-server on 127.0.0.1, and each back-end, fresh for every test."""

import contextlib
import importlib.util
import itertools
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from moalab.assets import AssetStorage, LocalStorage, RigStorage, S3Storage
from moalab.executor import WebSocketExecutor
from tests.conftest import ServerProcess, require, running_server

BUCKET = "moalab-assets-test"
CREDENTIALS = {"access_key_id": "testing", "secret_access_key": "testing", "region": "us-east-1"}
_prefixes = itertools.count()


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """The URL of a moto S3 server on 127.0.0.1 holding the bucket :data:`BUCKET`."""
    require(importlib.util.find_spec("moto.server") is not None and
            importlib.util.find_spec("flask") is not None,
            "moto[server] is not installed (pip install -e '.[test]')")
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        # moto checks no signature: a plain PUT makes the bucket
        httpx.put(f"{endpoint}/{BUCKET}").raise_for_status()
        yield endpoint
    finally:
        server.stop()


def s3_storage(endpoint: str, prefix: str, **options) -> S3Storage:
    return S3Storage(BUCKET, prefix=prefix, endpoint_url=endpoint, **CREDENTIALS, **options)


@pytest.fixture(scope="session")
def rig_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A moalab-server whose data folder is ``rig_server.data_dir`` (its store in
    ``data_dir/assets``)."""
    data_dir = tmp_path_factory.mktemp("rig-data")
    with running_server("--data-dir", str(data_dir)) as server:
        server.data_dir = data_dir
        yield server


class RigClient:
    """A trio loop in a thread of its own, running a WebSocketExecutor to a server:
    a RigStorage made there (:meth:`storage`) can be called from any thread, as the
    other back-ends are in the storage tests."""

    def __init__(self, port: int) -> None:
        self._ready = threading.Event()
        self._token: trio.lowlevel.TrioToken | None = None
        self._stop: trio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(port,), daemon=True)
        self._thread.start()
        if not self._ready.wait(30) or self._error is not None:
            raise RuntimeError(f"the rig client did not start: {self._error!r}")

    def _run(self, port: int) -> None:
        try:
            trio.run(self._main, port)
        except BaseException as error:  # noqa: BLE001 - reported by __init__
            self._error = error
            self._ready.set()

    async def _main(self, port: int) -> None:
        async with WebSocketExecutor("127.0.0.1", port) as self.executor:
            self._token, self._stop = trio.lowlevel.current_trio_token(), trio.Event()
            self._ready.set()
            await self._stop.wait()

    def storage(self, **options: Any) -> RigStorage:
        """A new RigStorage over the executor (made in its loop)."""
        return trio.from_thread.run_sync(lambda: RigStorage(self.executor, **options),
                                         trio_token=self._token)

    def close(self) -> None:
        trio.from_thread.run_sync(self._stop.set, trio_token=self._token)
        self._thread.join(10)


@pytest.fixture(scope="session")
def rig_client(rig_server: ServerProcess) -> Iterator[RigClient]:
    client = RigClient(rig_server.port)
    try:
        yield client
    finally:
        client.close()


def empty_rig_storage(client: RigClient, **options: Any) -> RigStorage:
    """A RigStorage of the rig client's server, its store emptied first."""
    storage = client.storage(**options)
    for key in storage.list():
        storage.delete(key)
    return storage


def rig_store_folder(server: ServerProcess) -> Path:
    return server.data_dir / "assets"


@pytest.fixture(params=["local", "s3", "rig"])
def storage(request, tmp_path_factory: pytest.TempPathFactory) -> AssetStorage:
    """Each back-end in turn, empty: a LocalStorage folder, an S3Storage under a
    prefix of its own in the shared bucket, or the RigStorage of a moalab-server
    (emptied)."""
    if request.param == "local":
        return LocalStorage(tmp_path_factory.mktemp("store"))
    if request.param == "rig":
        return empty_rig_storage(request.getfixturevalue("rig_client"))
    endpoint = request.getfixturevalue("s3_endpoint")
    return s3_storage(endpoint, f"test-{next(_prefixes)}")


class StallingProxy:
    """A TCP proxy to ``target`` that forwards the first ``limit`` bytes clients send
    (over all connections) and then stops reading: an upload through it hangs half
    way, like a network that died. ``stalled`` is set when that happens."""

    def __init__(self, target: tuple[str, int], limit: int) -> None:
        self.target, self.limit, self.sent = target, limit, 0
        self.stalled = threading.Event()
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._closing = threading.Event()
        self._sockets: list[socket.socket] = []
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self._sockets += [client, upstream]
            for source, sink, counted in ((client, upstream, True), (upstream, client, False)):
                thread = threading.Thread(target=self._pipe, args=(source, sink, counted),
                                          daemon=True)
                thread.start()
                self._threads.append(thread)

    def _pipe(self, source: socket.socket, sink: socket.socket, counted: bool) -> None:
        try:
            while not self._closing.is_set():
                data = source.recv(65536)
                if not data:
                    return
                if counted:
                    with self._lock:
                        room = self.limit - self.sent
                        self.sent += min(len(data), max(room, 0))
                    if room <= len(data):
                        sink.sendall(data[:max(room, 0)])
                        self.stalled.set()
                        self._closing.wait()
                        return
                sink.sendall(data)
        except OSError:
            return

    def close(self) -> None:
        self._closing.set()
        self._listener.close()
        for end in self._sockets:
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in recv
            end.close()
        for thread in self._threads[1:]:
            thread.join(5)
