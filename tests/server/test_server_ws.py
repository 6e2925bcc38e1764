"""moalab-server's WebSocket endpoint with raw frames: malformed input gets error
replies and leaves the server serving."""

import httpx
import pytest
import trio
from trio_websocket import open_websocket_url

from moalab.executor.codec import decode_many, encode
from moalab.executor.websocket import WebSocketExecutor
from tests.executor.devices import Probe
from ..conftest import AUTH_HEADERS, WS_AUTH_HEADERS

PROBE = "tests.executor.devices:Probe"
_count = iter(range(1_000_000))


@pytest.fixture
async def ws(moalab_server):
    async with open_websocket_url(f"ws://127.0.0.1:{moalab_server.port}/ws",
                                  extra_headers=WS_AUTH_HEADERS) as ws:
        yield ws


async def replies(ws, n: int = 1) -> list[dict]:
    """The next ``n`` replies (a message may hold several)."""
    received: list[dict] = []
    with trio.fail_after(10):
        while len(received) < n:
            received += decode_many(await ws.get_message())
    return received


async def request(ws, msg: dict) -> dict:
    await ws.send_message(encode(msg))
    reply, = await replies(ws)
    return reply


def error_of(reply: dict, error_type: str) -> dict:
    assert "error" in reply, reply
    assert reply["error"]["type"].endswith(error_type), reply
    return reply["error"]


async def test_malformed_frames_get_error_replies(ws, moalab_server):
    await ws.send_message(b"\xc1\xc1\xc1")  # never valid msgpack
    reply, = await replies(ws)
    assert reply["id"] is None
    error_of(reply, "ProtocolError")

    await ws.send_message(encode(5))  # valid msgpack, not a request
    error_of((await replies(ws))[0], "ProtocolError")

    await ws.send_message(encode({"id": 1, "op": "fly"}))
    reply, = await replies(ws)
    assert reply["id"] == 1
    assert "unknown op" in error_of(reply, "ProtocolError")["message"]

    reply = await request(ws, {"id": 2, "op": "call", "obj": 3, "method": "echo"})
    assert reply["id"] == 2
    assert "'obj'" in error_of(reply, "ProtocolError")["message"]

    # a text message: its bytes decode as 15 small integers, each refused
    await ws.send_message("text, not bytes")
    received = await replies(ws, 15)
    assert len(received) == 15 and all("error" in reply for reply in received)

    # still serving, on this connection and to others
    reply = await request(ws, {"id": 4, "op": "list"})
    assert reply["id"] == 4 and isinstance(reply["ok"], list)
    async with httpx.AsyncClient(base_url=moalab_server.url, headers=AUTH_HEADERS) as client:
        assert (await client.get("/health")).json()["status"] == "ok"


async def test_requests_joined_in_one_frame(ws):
    name = f"ws-probe-{next(_count)}"
    frame = b"".join(encode(msg) for msg in (
        {"id": 1, "op": "create", "name": name, "cls": PROBE},
        {"id": 2, "op": "call", "obj": name, "method": "echo", "args": [1]},
        {"id": 3, "op": "call", "obj": name, "method": "async_add", "args": [1, 2]},
    ))
    await ws.send_message(frame)
    by_id = {reply["id"]: reply for reply in await replies(ws, 3) if "id" in reply}
    assert by_id[1]["ok"]["created"] is True
    assert by_id[2]["ok"] == [[1], {}]
    assert by_id[3]["ok"] == 3


async def test_refusals_over_websocket(ws):
    name = f"ws-probe-{next(_count)}"
    assert "ok" in await request(ws, {"id": 1, "op": "create", "name": name, "cls": PROBE})
    error_of(await request(ws, {"id": 2, "op": "call", "obj": name, "method": "__init__"}),
             "NotAllowed")
    error_of(await request(ws, {"id": 3, "op": "gen", "obj": name, "method": "echo"}),
             "NotAllowed")
    error_of(await request(ws, {"id": 4, "op": "call", "obj": "nobody", "method": "echo"}),
             "UnknownObject")
    error_of(await request(ws, {"id": 5, "op": "create", "name": "x",
                                "cls": "tests.executor.forbidden_devices:ForbiddenProbe"}),
             "NotAllowed")


async def test_abandoned_connection_does_not_hurt_the_server(moalab_server):
    name = f"ws-probe-{next(_count)}"
    async with open_websocket_url(f"ws://127.0.0.1:{moalab_server.port}/ws",
                                  extra_headers=WS_AUTH_HEADERS) as ws:
        await request(ws, {"id": 1, "op": "create", "name": name, "cls": PROBE})
        await ws.send_message(encode({"id": 2, "op": "call", "obj": name,
                                      "method": "async_sleep", "args": [30]}))
        await ws.send_message(encode({"id": 3, "op": "gen", "obj": name, "method": "endless"}))
        await replies(ws)  # the first stream batch
    # the connection is gone: its call and stream were cancelled
    async with WebSocketExecutor("127.0.0.1", moalab_server.port) as executor:
        device = Probe(name=name, executor=executor)
        assert await executor.ensure_remote_instance(device) is False
        with trio.fail_after(10):
            while (stats := await device.peek_stats())["async_cancelled"] != 1 or \
                    stats["gen_closed"] != 1:
                await trio.sleep(0.05)


async def test_clock_echo(moalab_server):
    async with WebSocketExecutor("127.0.0.1", moalab_server.port) as executor:
        t0, t1, t2, t3 = await executor.get_echo_clock()
        assert t0 <= t3 and t1 <= t2
