"""RestExecutor's HTTP client (moalab.executor.http_client) against a real moalab-server:
HTTP/1.1 on one kept-alive connection, each request in one write, a large body
streamed, an oversized one answered 413, and calls, streams and updates through it."""

import httpcore
import httpx
import pytest
import trio

from moalab.executor.http_client import WRITE_BUFFER, JoinedWritesTransport
from moalab.executor.rest import RestExecutor
from moalab.server.config import DEFAULT_MAX_MESSAGE

from ..conftest import AUTH_HEADERS
from .conftest import unique_name
from .devices import Probe


class _CountingStream(httpcore.AsyncNetworkStream):
    """A real trio connection that counts the writes it is given."""

    def __init__(self, stream: httpcore.AsyncNetworkStream, writes: list[int]) -> None:
        self._stream, self._writes = stream, writes

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._writes.append(len(buffer))
        await self._stream.write(buffer, timeout)

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._stream.read(max_bytes, timeout)

    async def aclose(self) -> None:
        await self._stream.aclose()

    def get_extra_info(self, info: str):
        return self._stream.get_extra_info(info)


class _CountingBackend(httpcore.TrioBackend):
    """trio's backend, counting connections and each one's writes."""

    def __init__(self) -> None:
        self.connections: list[list[int]] = []

    async def connect_tcp(self, *args, **kwargs) -> _CountingStream:
        self.connections.append([])
        return _CountingStream(await super().connect_tcp(*args, **kwargs),
                               self.connections[-1])


def _client(server, backend: _CountingBackend) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=server.url, headers=AUTH_HEADERS, timeout=30,
                             transport=JoinedWritesTransport(network_backend=backend))


async def test_each_request_is_one_write_on_one_http11_connection(moalab_server):
    backend = _CountingBackend()
    name = unique_name("http")
    async with _client(moalab_server, backend) as client:
        created = await client.post("/api/objects", json={
            "name": name, "cls": "tests.executor.devices:Probe", "kwargs": {}})
        assert created.status_code == 201, created.text
        for i in range(3):
            reply = await client.post(f"/api/objects/{name}/call/echo",
                                      json={"args": [i], "kwargs": {}})
            assert reply.json()["result"] == [[i], {}]
            assert reply.http_version == "HTTP/1.1"
        assert (await client.delete(f"/api/objects/{name}")).status_code == 200
    # head and JSON body of each of the five requests went in one write, all on the
    # one kept-alive connection (httpx alone writes the head and the body apart: 10)
    assert len(backend.connections) == 1
    assert len(backend.connections[0]) == 5


async def test_a_large_body_streams_and_an_oversized_one_gets_413(moalab_server):
    backend = _CountingBackend()
    name = unique_name("http")
    text = "x" * (3 * WRITE_BUFFER)
    async with _client(moalab_server, backend) as client:
        await client.post("/api/objects", json={
            "name": name, "cls": "tests.executor.devices:Probe", "kwargs": {}})
        try:
            reply = await client.post(f"/api/objects/{name}/call/echo",
                                      json={"args": [text], "kwargs": {}})
            assert reply.json()["result"] == [[text], {}]
            # not held until the reply is read: written as it came
            assert len(backend.connections[0]) >= 2
        finally:
            await client.delete(f"/api/objects/{name}")
    # the server answers before the body's end and closes: the answer is read, not
    # the failed write of what was still held (its own client: the connection is spent)
    async with _client(moalab_server, backend) as client:
        oversized = await client.post("/api/objects", content=b"x" * (DEFAULT_MAX_MESSAGE + 1),
                                      headers={"Content-Type": "application/json"})
        assert oversized.status_code == 413, oversized.text[:200]


async def test_rest_executor_calls_streams_and_updates_through_it(moalab_server):
    executor = RestExecutor("127.0.0.1", moalab_server.port)
    probe = Probe(name=unique_name("http"), executor=executor)
    async with executor:
        await executor.ensure_remote_instance(probe)
        assert await probe.echo("one", key=2) == [["one"], {"key": 2}]
        async with probe.count(5) as items:
            assert [item async for item in items] == [0, 1, 2, 3, 4]
        await probe.set_value(7)
        assert probe.value == 7
        await executor.delete_remote_instance(probe)


async def test_a_call_after_an_oversized_one_is_answered(moalab_server):
    # the 413 comes before the body's end: the server closes that connection, so the
    # next call does not wait behind the unread rest (it hung for ever before)
    executor = RestExecutor("127.0.0.1", moalab_server.port)
    probe = Probe(name=unique_name("http"), executor=executor)
    async with executor:
        await executor.ensure_remote_instance(probe)
        with pytest.raises(Exception, match="413"):
            await probe.echo("x" * (DEFAULT_MAX_MESSAGE + 1))
        with trio.fail_after(20):
            assert await probe.echo(1) == [[1], {}]
        await executor.delete_remote_instance(probe)
