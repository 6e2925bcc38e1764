"""Fixtures of the storage tests: a real S3-compatible server (moto's) on 127.0.0.1,
and each back-end, fresh for every test."""

import contextlib
import importlib.util
import itertools
import socket
import threading
from collections.abc import Iterator

import httpx
import pytest

from moalab.assets import AssetStorage, LocalStorage, S3Storage
from tests.conftest import require

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


@pytest.fixture(params=["local", "s3"])
def storage(request, tmp_path_factory: pytest.TempPathFactory) -> AssetStorage:
    """Each back-end in turn, empty: a LocalStorage folder, or an S3Storage under a
    prefix of its own in the shared bucket."""
    if request.param == "local":
        return LocalStorage(tmp_path_factory.mktemp("store"))
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
