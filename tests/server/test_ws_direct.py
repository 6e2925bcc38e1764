"""Plain ``/ws`` connections are served on their sockets, ahead of hypercorn, routed by
their first bytes; everything else still reaches hypercorn, and nothing a client sends
while being routed crashes the server."""

import socket
import time

import trio

from moalab.executor.codec import decode_many, encode
from moalab.server.ws_direct import HEAD_TIMEOUT, is_ws_upgrade

from ..conftest import AUTH_HEADERS, TaskSteps
from .test_asgi import raw_request

KEY = b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="


def upgrade(target: bytes = b"/ws", key: bool = True) -> bytes:
    headers = [b"Host: 127.0.0.1", b"Connection: Upgrade", b"Upgrade: websocket",
               b"Sec-WebSocket-Version: 13", *([KEY] if key else []),
               f"Authorization: {AUTH_HEADERS['Authorization']}".encode()]
    return b"GET " + target + b" HTTP/1.1\r\n" + b"\r\n".join(headers) + b"\r\n\r\n"


def answer_head(sock: socket.socket) -> bytes:
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = sock.recv(65536)
        if not chunk:
            break
        answer += chunk
    return answer.partition(b"\r\n\r\n")[0].lower()


def test_a_plain_ws_upgrade_is_answered_by_moalab_and_other_requests_by_hypercorn(
        moalab_server):
    with socket.create_connection(("127.0.0.1", moalab_server.port), timeout=10) as sock:
        sock.sendall(upgrade(b"/ws?namespace=direct"))
        head = answer_head(sock)
    assert head.startswith(b"http/1.1 101"), head
    assert b"hypercorn" not in head, head  # wsproto's handshake: no server header
    health = raw_request(moalab_server.port, b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                             b"Connection: close\r\n\r\n").lower()
    assert health.startswith(b"http/1.1 200") and b"server: hypercorn" in health, health


def test_an_upgrade_sent_in_pieces_is_still_served(moalab_server):
    request = upgrade()
    with socket.create_connection(("127.0.0.1", moalab_server.port), timeout=10) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for start in range(0, len(request), 40):  # the head in pieces, 20 ms apart
            sock.sendall(request[start:start + 40])
            time.sleep(0.02)
        head = answer_head(sock)
    assert head.startswith(b"http/1.1 101") and b"hypercorn" not in head, head


async def test_a_head_that_stalls_is_looked_at_less_and_less_often(autojump_clock):
    """A client that stops in the middle of a ``GET /ws`` head wakes the router a few
    dozen times in :data:`HEAD_TIMEOUT` (it woke every 2 ms: 5,000 times), then is
    handed on; one whose head ends late is routed soon after it ends."""
    client, server = trio.socket.socketpair()
    with client, server:
        request = upgrade()
        await client.send(request[:30])
        steps = TaskSteps(trio.lowlevel.current_task())
        trio.lowlevel.add_instrument(steps)
        try:
            start = trio.current_time()
            assert not await is_ws_upgrade(server)
        finally:
            trio.lowlevel.remove_instrument(steps)
        assert trio.current_time() - start >= HEAD_TIMEOUT
        assert steps.steps < 100, steps.steps

        async def finish_late() -> None:
            await trio.sleep(3.0)
            await client.send(request[30:])

        async with trio.open_nursery() as nursery:
            nursery.start_soon(finish_late)
            start = trio.current_time()
            assert await is_ws_upgrade(server)
        assert trio.current_time() - start < 3.5


def test_a_broken_upgrade_gets_a_400_and_the_server_serves_on(moalab_server):
    before = moalab_server.log()
    with socket.create_connection(("127.0.0.1", moalab_server.port), timeout=10) as sock:
        sock.sendall(upgrade(key=False))  # no Sec-WebSocket-Key: not a WebSocket handshake
        head = answer_head(sock)
    assert head.startswith(b"http/1.1 400"), head
    for junk in (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(40),  # TLS hello
                 b"\r\n\r\n"):
        with socket.create_connection(("127.0.0.1", moalab_server.port), timeout=10) as sock:
            sock.sendall(junk)
            sock.shutdown(socket.SHUT_WR)  # and no more: routed as the bytes there are
            answer_head(sock)
    health = raw_request(moalab_server.port, b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                             b"Connection: close\r\n\r\n")
    assert health.startswith(b"HTTP/1.1 200"), health
    assert moalab_server.process.poll() is None, moalab_server.log()
    assert "Traceback" not in moalab_server.log()[len(before):], moalab_server.log()


def test_a_message_sent_right_behind_the_upgrade_is_answered(moalab_server):
    payload = encode({"id": 7, "op": "list"})
    mask = b"\x01\x02\x03\x04"
    frame = (bytes([0x82, 0x80 | len(payload)]) + mask
             + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
    with socket.create_connection(("127.0.0.1", moalab_server.port), timeout=10) as sock:
        sock.sendall(upgrade() + frame)  # one write: the request comes with the handshake
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer.partition(b"\r\n\r\n")[2]) < 2:
            answer += sock.recv(65536)
        head, _, data = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        while len(data) < 4:
            data += sock.recv(65536)
        assert data[0] == 0x82, data[:4]  # one binary frame, unmasked, its length after
        length, start = data[1] & 0x7F, 2
        if length == 126:
            length, start = int.from_bytes(data[2:4], "big"), 4
        assert length < 65536, data[:4]
        while len(data) < start + length:
            data += sock.recv(65536)
    reply, = decode_many(data[start:start + length])
    assert reply["id"] == 7 and "error" not in reply, reply
