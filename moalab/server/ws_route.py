"""The ``/ws`` endpoint: a :class:`~moalab.executor.session.Session` on the ASGI
WebSocket itself.

It is served ahead of the Quart app (its ``asgi_app`` wrapped, see :func:`serve_ws`),
not as a Quart route: Quart's WebSocket wrapper puts a task of its own between
hypercorn's events and the handler, and sends a signal per message, both ways. Here
hypercorn's receive and send are the session's: one task switch fewer a request.
"""

from collections.abc import Callable
from urllib.parse import parse_qs

from ..core.errors import InvalidArgument
from ..executor.batching import join_frames
from ..executor.codec import Frame
from ..executor.registry import ObjectRegistry, check_namespace
from ..executor.session import NAMESPACE_PARAM, FailureReport, Session
from ..executor.websocket import BAD_REQUEST, POLICY_VIOLATION
from .asgi import ASGIApp, Receive, Scope, Send
from .token import bearer_token, token_matches

__all__ = ("WS_PATH", "serve_ws")

WS_PATH = "/ws"
"""The path of the WebSocket endpoint."""

def _query(scope: Scope, name: str) -> str | None:
    values = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    return values[name][0] if name in values else None


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def serve_ws(app: ASGIApp, registry: ObjectRegistry, clock: Callable[[], float],
             failures: FailureReport, token: str | None, sessions: set[Session]) -> ASGIApp:
    """``app`` with :data:`WS_PATH` served by a session of its own per connection
    (``sessions`` holds the live ones): with a ``token``, a connection that does not
    bring it (``Authorization: Bearer``, or ``?token=``) is accepted, then closed
    with :data:`POLICY_VIOLATION`; a namespace :func:`check_namespace` refuses is
    closed with :data:`BAD_REQUEST` and the reason. Other requests go to ``app``."""

    async def close(send: Send, code: int, reason: str) -> None:
        await send({"type": "websocket.accept"})  # so the client reads the close's code
        # a close reason holds at most 123 bytes
        reason = reason.encode()[:123].decode(errors="ignore")
        await send({"type": "websocket.close", "code": code, "reason": reason})

    async def connection(scope: Scope, receive: Receive, send: Send) -> None:
        if (await receive())["type"] != "websocket.connect":
            return
        if token is not None:
            given = bearer_token(_header(scope, b"authorization"))
            if not token_matches(token, given or _query(scope, "token")):
                await close(send, POLICY_VIOLATION, "missing or wrong token")
                return
        try:
            namespace = check_namespace(_query(scope, NAMESPACE_PARAM) or "")
        except InvalidArgument as exc:
            await close(send, BAD_REQUEST, str(exc))
            return
        await send({"type": "websocket.accept"})

        async def send_frames(frames: list[Frame]) -> None:
            # frames joined end to end: few WebSocket messages per burst
            for message in join_frames(frames):
                await send({"type": "websocket.send", "bytes": message})

        async def receive_frame() -> bytes | None:
            while True:
                event = await receive()
                kind = event["type"]
                if kind == "websocket.receive":
                    # a text message (no bytes) is taken as its UTF-8 bytes
                    data = event.get("bytes")
                    if data is None:
                        data = (event.get("text") or "").encode()
                    return data
                if kind == "websocket.disconnect":
                    return None

        session = Session(registry, send_frames, clock, failures=failures, namespace=namespace)
        sessions.add(session)
        try:
            await session.serve(receive_frame)
        finally:
            sessions.discard(session)

    async def asgi_app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope.get("path") == WS_PATH:
            await connection(scope, receive, send)
        else:
            await app(scope, receive, send)

    return asgi_app
