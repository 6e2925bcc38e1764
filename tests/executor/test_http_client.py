"""RestExecutor's HTTP client (moalab.executor.http_client.HTTPClient) against a real
moalab-server: its pool of kept-alive connections, idle connections the server closed,
streamed (chunked) responses, ``Connection: close``, cancellation, transport errors."""

import socket

import pytest
import trio

from moalab.executor.http_client import MAX_IDLE, HTTPClient, TransportError

from ..conftest import AUTH_HEADERS, running_server
from .conftest import unique_name

PROBE = "tests.executor.devices:Probe"


async def _with_probe(client: HTTPClient) -> str:
    name = unique_name("client")
    created = await client.request("POST", "/api/objects",
                                   json={"name": name, "cls": PROBE, "kwargs": {}})
    assert created.status_code == 201, created.text
    return name


async def _echo(client: HTTPClient, name: str, value: object) -> object:
    reply = await client.request("POST", f"/api/objects/{name}/call/echo",
                                 json={"args": [value], "kwargs": {}})
    assert reply.status_code == 200, reply.text
    return reply.json()["result"]


async def test_concurrent_requests_get_a_connection_each_then_reuse_them(moalab_server):
    async with HTTPClient(moalab_server.url, headers=AUTH_HEADERS) as client:
        name = await _with_probe(client)
        first = client._idle[-1]
        assert await _echo(client, name, 1) == [[1], {}]
        assert client._idle == [first]  # sequential requests share one connection

        async def sleep() -> None:  # an async method: the calls run at once
            reply = await client.request("POST", f"/api/objects/{name}/call/async_sleep",
                                         json={"args": [0.1], "kwargs": {}})
            assert reply.status_code == 200, reply.text

        async with trio.open_nursery() as nursery:
            for _ in range(MAX_IDLE + 2):
                nursery.start_soon(sleep)
        # a connection each; the two past the cap were closed as they ended
        assert len(client._idle) == MAX_IDLE
        last = client._idle[-1]
        await _echo(client, name, 2)
        assert client._idle[-1] is last  # the last released goes first
        await client.request("DELETE", f"/api/objects/{name}")
    assert client._idle == []


async def test_an_idle_connection_the_server_closed_is_not_reused():
    # a restarted server (as its keep-alive timeout does) closed the kept connection:
    # the next request goes on a new one instead of failing on the dead one
    with running_server() as server:
        port = server.port
        client = HTTPClient(server.url, headers=AUTH_HEADERS)
        assert (await client.request("GET", "/api/objects")).status_code == 200
        stale = client._idle[-1]
    try:
        with running_server("--port", str(port)) as server:
            assert server.port == port
            with trio.fail_after(20):
                assert (await client.request("GET", "/api/objects")).status_code == 200
            assert client._idle[-1] is not stale and stale.broken
    finally:
        await client.aclose()


async def test_a_chunked_stream_is_read_as_it_comes_and_its_connection_kept(moalab_server):
    async with HTTPClient(moalab_server.url, headers=AUTH_HEADERS) as client:
        name = await _with_probe(client)
        path = f"/api/objects/{name}/stream/count"
        async with client.stream("POST", path, json={"args": [4], "kwargs": {}}) as response:
            assert response.status_code == 200
            assert response.headers["transfer-encoding"] == "chunked"
            lines = [line async for line in response.aiter_lines()]
        assert len(lines) >= 2 and all(lines)  # the items and the end mark, one a line
        assert len(client._idle) == 1  # read to its end: kept

        # left before its end: the rest of the body is unread, the connection closed
        async with client.stream("POST", path, json={"args": [1000], "kwargs": {}}) as response:
            async for _ in response.aiter_raw():
                break
        assert client._idle == []
        assert await _echo(client, name, 3) == [[3], {}]
        await client.request("DELETE", f"/api/objects/{name}")


async def test_connection_close_and_a_cancelled_request_drop_their_connection(moalab_server):
    async with HTTPClient(moalab_server.url, headers=AUTH_HEADERS) as client:
        name = await _with_probe(client)
        reply = await client.request("GET", "/api/objects", headers={"Connection": "close"})
        assert reply.status_code == 200
        assert client._idle == []

        with trio.move_on_after(0.05):
            await client.request("POST", f"/api/objects/{name}/call/sleep",
                                 json={"args": [0.2], "kwargs": {}})
            pytest.fail("the call was not cancelled")
        assert client._idle == []  # its answer would still come on it: never reused
        assert await _echo(client, name, 4) == [[4], {}]
        await client.request("DELETE", f"/api/objects/{name}")


async def test_a_refused_connection_raises_transport_error_with_its_reason():
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # bound, not listening: refused
        async with HTTPClient(f"http://127.0.0.1:{port}") as client:
            with pytest.raises(TransportError, match=f"cannot connect to 127.0.0.1:{port}: .+"):
                await client.request("GET", "/")


def test_a_base_url_or_a_header_it_cannot_send_is_refused():
    with pytest.raises(ValueError, match="base_url='ftp://x' is not accepted"):
        HTTPClient("ftp://x")
    client = HTTPClient("http://127.0.0.1:1", headers={"Authorization": "Bearer a\nb"})
    with pytest.raises(ValueError, match=r"GET /api is not accepted: Illegal header value"):
        client.build_request("GET", "/api")
