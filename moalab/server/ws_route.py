"""The ``/ws`` endpoint: who may open it, and a
:class:`~moalab.executor.session.Session` per connection.

:class:`WsEndpoint` holds what both ways of serving it share: the admission (token,
namespace) and the session. A plain TCP connection is served on its socket directly
(:mod:`moalab.server.ws_direct`); over TLS, hypercorn's ASGI events carry it
(:func:`serve_ws`, ahead of the Quart app: Quart's WebSocket wrapper puts a task of
its own between hypercorn's events and the handler, and a signal per message).
"""

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import parse_qs

from ..core.errors import InvalidArgument
from ..executor.batching import join_frames
from ..executor.codec import Frame
from ..executor.registry import ObjectRegistry, check_namespace
from ..executor.session import NAMESPACE_PARAM, FailureReport, Session
from ..executor.websocket import BAD_REQUEST, POLICY_VIOLATION
from .asgi import ASGIApp, Receive, Scope, Send
from .token import bearer_token, token_matches

__all__ = ("WS_PATH", "WsEndpoint", "Refusal", "serve_ws")

WS_PATH = "/ws"
"""The path of the WebSocket endpoint."""


@dataclass(frozen=True)
class Refusal:
    """Why a WebSocket is closed right after its accept: a close ``code`` and ``reason``
    (at most 123 bytes, as a close frame holds), which the client reads."""

    code: int
    reason: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "reason", self.reason.encode()[:123].decode(errors="ignore"))


@dataclass
class WsEndpoint:
    """The ``/ws`` endpoint of one server: its sessions run against ``registry``;
    with a ``token``, a connection must bring it (``Authorization: Bearer``, or
    ``?token=``), else it is refused with :data:`POLICY_VIOLATION`; a namespace that
    :func:`check_namespace` refuses, with :data:`BAD_REQUEST` and the reason.
    :attr:`sessions` holds the live sessions (``/health`` counts them)."""

    registry: ObjectRegistry
    clock: Callable[[], float]
    failures: FailureReport
    token: str | None
    sessions: set[Session] = field(default_factory=set)

    def admit(self, query_string: bytes, headers: Iterable[tuple[bytes, bytes]]
              ) -> str | Refusal:
        """The namespace of a connection with this query string and these headers,
        or the :class:`Refusal` it gets."""
        query = parse_qs(query_string.decode("latin-1"), keep_blank_values=True)
        if self.token is not None:
            authorization = next((value.decode("latin-1") for key, value in headers
                                  if key.lower() == b"authorization"), None)
            given = bearer_token(authorization) or query.get("token", [None])[0]
            if not token_matches(self.token, given):
                return Refusal(POLICY_VIOLATION, "missing or wrong token")
        try:
            return check_namespace(query.get(NAMESPACE_PARAM, [""])[0])
        except InvalidArgument as exc:
            return Refusal(BAD_REQUEST, str(exc))

    async def run(self, namespace: str, send_frames: Callable[[list[Frame]], Awaitable[None]],
                  receive_frame: Callable[[], Awaitable[bytes | None]],
                  send_now: Callable[[Frame], int | None] | None = None) -> None:
        """Serve an admitted connection until it ends (see :class:`Session`)."""
        session = Session(self.registry, send_frames, self.clock, failures=self.failures,
                          namespace=namespace, send_now=send_now)
        self.sessions.add(session)
        try:
            await session.serve(receive_frame)
        finally:
            self.sessions.discard(session)


def serve_ws(app: ASGIApp, endpoint: WsEndpoint) -> ASGIApp:
    """``app`` with :data:`WS_PATH` served by ``endpoint`` on hypercorn's ASGI events
    (a refused connection is accepted, then closed with its refusal's code). Other
    requests go to ``app``."""

    async def connection(scope: Scope, receive: Receive, send: Send) -> None:
        if (await receive())["type"] != "websocket.connect":
            return
        await send({"type": "websocket.accept"})  # a refused client reads the close's code
        admitted = endpoint.admit(scope.get("query_string", b""), scope.get("headers", ()))
        if isinstance(admitted, Refusal):
            await send({"type": "websocket.close", "code": admitted.code,
                        "reason": admitted.reason})
            return

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

        await endpoint.run(admitted, send_frames, receive_frame)

    async def asgi_app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope.get("path") == WS_PATH:
            await connection(scope, receive, send)
        else:
            await app(scope, receive, send)

    return asgi_app
