"""The ``/ws`` endpoint served on a plain TCP connection's socket, without hypercorn.

Hypercorn carries a WebSocket message through its reader task, its HTTP/1.1 and
WebSocket protocol layers and a channel to the app's task, and the reply back
through them under a lock: on this stack that path, not moalab's session, was most
of a call's time on the server. Here the session's task reads the socket, wsproto
parses the frames, and a reply is written at once by the task that made it (the
connection of :mod:`moalab.executor.ws_connection`, as the client has it).

A connection is routed here by its first bytes, read without taking them
(``MSG_PEEK``): a ``GET`` of :data:`~moalab.server.ws_route.WS_PATH` asking for a
WebSocket upgrade. Any other goes to hypercorn untouched.
"""

import logging
import socket

import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, RejectConnection, Request
from wsproto.utilities import RemoteProtocolError

from ..core.memory import release_free_memory
from ..executor.errors import ProtocolError
from ..executor.ws_connection import WebSocketConnection, socket_stream
from .ws_route import WS_PATH, Refusal, WsEndpoint

__all__ = ("HEAD_TIMEOUT", "is_ws_upgrade", "serve_direct")

logger = logging.getLogger("moalab.server")

HEAD_BYTES = 16 * 1024
"""The most of a request's head looked at to route it."""
HEAD_TIMEOUT = 10.0
"""Seconds a connection gets to send the head of its first request (to route it, and
to finish a WebSocket handshake)."""
_FIRST_PEEK_AGAIN = 0.001
"""Seconds before the second look at a head that came in part; each wait after it is
twice the one before, up to :data:`_LAST_PEEK_AGAIN`: a head that comes in several
writes is routed within a few ms, and one that stalls costs a few dozen wake-ups."""
_LAST_PEEK_AGAIN = 0.25


def _verdict(head: bytes) -> bool | None:
    """Whether ``head`` (a connection's first bytes) is a ``GET`` of :data:`WS_PATH` with
    an ``Upgrade: websocket`` header; None while that cannot be told yet."""
    if not b"GET /".startswith(head[:5]):
        return False
    line, ended, headers = head.partition(b"\r\n")
    if not ended:
        return None if len(head) < HEAD_BYTES else False
    target = line[4:].partition(b" ")[0]
    if target.partition(b"?")[0] != WS_PATH.encode():
        return False
    if b"\r\n\r\n" not in head:
        return None if len(head) < HEAD_BYTES else False
    return any(name.strip().lower() == b"upgrade" and value.strip().lower() == b"websocket"
               for name, _, value in (h.partition(b":") for h in headers.split(b"\r\n")))


async def is_ws_upgrade(sock: trio.socket.SocketType) -> bool:
    """Whether the request waiting on ``sock`` is a WebSocket upgrade of :data:`WS_PATH`,
    told from its first bytes (left unread), as soon as they tell; False if they do
    not within :data:`HEAD_TIMEOUT` seconds, or the connection ends."""
    wait = _FIRST_PEEK_AGAIN
    with trio.move_on_after(HEAD_TIMEOUT):
        while True:
            try:
                head = await sock.recv(HEAD_BYTES, socket.MSG_PEEK)  # waits for the first
            except OSError:
                return False
            verdict = _verdict(head) if head else False
            if verdict is not None:
                return verdict
            # readable until read: look for the rest of the head less and less often
            await trio.sleep(wait)
            wait = min(2 * wait, _LAST_PEEK_AGAIN)
    return False


async def serve_direct(stream: trio.SocketStream, endpoint: WsEndpoint,
                       max_message: int) -> None:
    """Serve the WebSocket whose upgrade request is waiting on ``stream``: the handshake
    (a refused connection is accepted, then closed with its refusal's code; a broken
    request gets wsproto's 400), then a session of ``endpoint``. Never raises but
    ``trio.Cancelled``: an error is logged and ends this connection only."""
    connection = request = None
    try:
        ws = WSConnection(ConnectionType.SERVER)
        with trio.move_on_after(HEAD_TIMEOUT):
            request = await _handshake(stream, ws)
        if request is None:
            return
        await stream.send_all(ws.send(AcceptConnection()))
        admitted = endpoint.admit(request.target.partition("?")[2].encode("latin-1"),
                                  request.extra_headers)
        connection = WebSocketConnection(socket_stream(stream), ws,
                                         f"client {_peer(stream)}", max_message)
        if isinstance(admitted, Refusal):
            await connection.send_close(admitted.code, admitted.reason)
            return
        try:
            await endpoint.run(admitted, connection.send_frames, connection.receive_frame,
                               connection.send_now)
        except* (ProtocolError, trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # a message too big or a broken frame (closed on it), or the client went
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass  # the client went
    except Exception:
        logger.exception("the WebSocket of client %s failed", _peer(stream))
    finally:
        with trio.CancelScope(shield=True):
            if connection is not None:
                with trio.move_on_after(1.0):
                    await connection.aclose()
            await trio.aclose_forcefully(stream)
        release_free_memory()  # what the connection held (a backlog of replies) is not kept


async def _handshake(stream: trio.SocketStream, ws: WSConnection) -> Request | None:
    """Read the upgrade request, and not a byte more (wsproto's server end would drop
    what came behind it: the client's first messages); None (after refusing it) if it
    is not a WebSocket handshake wsproto accepts."""
    sock = stream.socket
    head = await sock.recv(HEAD_BYTES, socket.MSG_PEEK)  # whole: is_ws_upgrade saw it
    end = head.find(b"\r\n\r\n")
    if end < 0:
        return None
    try:
        ws.receive_data(await sock.recv(end + 4))
        for event in ws.events():
            if isinstance(event, Request):
                return event
    except RemoteProtocolError as exc:
        if isinstance(exc.event_hint, RejectConnection):
            await stream.send_all(ws.send(exc.event_hint))
    return None


def _peer(stream: trio.SocketStream) -> str:
    try:
        host, port, *_ = stream.socket.getpeername()
    except OSError:
        return "(gone)"
    return f"{host}:{port}"
