"""moalab's ASGI layer in front of the Quart app: request targets without a path get
a plain 400, not Quart's IndexError (a 500 and a traceback in the log)."""

import json
import re
import socket

import pytest

from ..conftest import AUTH_HEADERS


def raw_request(port: int, head: bytes) -> bytes:
    """Send a raw HTTP request head; return the answer's head and body (as long as
    its Content-Length says)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head)
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += sock.recv(65536)
        length = re.search(rb"content-length: (\d+)", answer, re.IGNORECASE)
        while length and len(answer.partition(b"\r\n\r\n")[2]) < int(length[1]):
            answer += sock.recv(65536)
    return answer


@pytest.mark.parametrize("target", [b"?", b"?x=1", b"?token=abc"])
@pytest.mark.parametrize("websocket", [False, True], ids=["http", "websocket"])
def test_target_without_a_path_is_a_400(moalab_server, target, websocket):
    headers = [b"Host: 127.0.0.1", b"Connection: close",
               f"Authorization: {AUTH_HEADERS['Authorization']}".encode()]
    if websocket:
        headers[1:2] = [b"Connection: Upgrade", b"Upgrade: websocket",
                        b"Sec-WebSocket-Version: 13",
                        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="]
    before = moalab_server.log()
    answer = raw_request(moalab_server.port,
                         b"GET " + target + b" HTTP/1.1\r\n" + b"\r\n".join(headers) + b"\r\n\r\n")
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 400"), answer
    body = json.loads(rest.partition(b"\r\n\r\n")[2])
    assert body["error"]["type"] == "moalab.executor.errors.ProtocolError", body
    assert "starts with '/'" in body["error"]["message"], body
    # nothing went wrong on the server: no traceback logged
    logged = moalab_server.log()[len(before):]
    assert "Traceback" not in logged and "IndexError" not in logged, logged


def test_empty_target_is_a_400(moalab_server):
    answer = raw_request(moalab_server.port,
                         b"GET  HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400"), answer
    assert "IndexError" not in moalab_server.log()


def test_normal_targets_pass_through(moalab_server):
    answer = raw_request(moalab_server.port,
                         b"GET /health?x=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close"
                         b"\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200"), answer
    assert json.loads(answer.partition(b"\r\n\r\n")[2])["status"] == "ok"
