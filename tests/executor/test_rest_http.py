"""RestExecutor's HTTP client (moalab.executor.http_client) against a real moalab-server:
HTTP/1.1 on one kept-alive connection, each request in one write, a large body sent
whole, an oversized one answered 413, and calls, streams and updates through it."""

import pytest
import trio

from moalab.executor import http_client
from moalab.executor.http_client import HTTPClient
from moalab.executor.rest import RestExecutor
from moalab.server.config import DEFAULT_MAX_MESSAGE

from ..conftest import AUTH_HEADERS
from .conftest import unique_name
from .devices import Probe


@pytest.fixture
def writes(monkeypatch) -> list[int]:
    """The size of each write the client makes on a plain connection (its one path to
    the socket: ``write_at_once``, then ``send_all`` for what the kernel left)."""
    sizes: list[int] = []
    write_at_once = http_client.write_at_once

    def counted(socket, data):
        sizes.append(len(data))
        return write_at_once(socket, data)

    monkeypatch.setattr(http_client, "write_at_once", counted)
    return sizes


async def test_each_request_is_one_write_on_one_http11_connection(moalab_server, writes):
    name = unique_name("http")
    async with HTTPClient(moalab_server.url, headers=AUTH_HEADERS) as client:
        created = await client.request("POST", "/api/objects", json={
            "name": name, "cls": "tests.executor.devices:Probe", "kwargs": {}})
        assert created.status_code == 201, created.text
        for i in range(3):
            reply = await client.request("POST", f"/api/objects/{name}/call/echo",
                                         json={"args": [i], "kwargs": {}})
            assert reply.json()["result"] == [[i], {}]
        assert (await client.request("DELETE", f"/api/objects/{name}")).status_code == 200
        # all five on the one kept-alive connection
        assert len(client._idle) == 1
    # head and JSON body of each of the five requests went in one write
    assert len(writes) == 5


async def test_a_large_body_is_sent_and_an_oversized_one_gets_413(moalab_server, writes):
    name = unique_name("http")
    text = "x" * (4 * 1024 * 1024)  # more than the kernel takes at once: send_all sends the rest
    async with HTTPClient(moalab_server.url, headers=AUTH_HEADERS) as client:
        await client.request("POST", "/api/objects", json={
            "name": name, "cls": "tests.executor.devices:Probe", "kwargs": {}})
        try:
            reply = await client.request("POST", f"/api/objects/{name}/call/echo",
                                         json={"args": [text], "kwargs": {}})
            assert reply.json()["result"] == [[text], {}]
        finally:
            await client.request("DELETE", f"/api/objects/{name}")
        assert len(writes) == 3
        # the server answers before the body's end and closes (Connection: close): the
        # answer is read, not the failed write of the rest, and the connection is dropped
        oversized = await client.request("POST", "/api/objects",
                                         json="x" * (DEFAULT_MAX_MESSAGE + 1))
        assert oversized.status_code == 413, oversized.text[:200]
        assert client._idle == []
        assert (await client.request("GET", "/api/objects")).status_code == 200


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
