"""WebSocketExecutor: device methods on a moalab-server, over one WebSocket."""

from typing import Any
from urllib.parse import urlencode

import trio

from ..core.errors import InvalidArgument
from ..core.realtime import fail_after_real
from .clock import ClockSync
from .codec import encode
from .endpoint import TOKEN_ENV, ServerEndpoint
from .errors import AuthenticationError, ConnectionLost
from .messages import Echo
from .remote import RemoteExecutor, Transport
from .session import NAMESPACE_PARAM
from .ws_connection import WebSocketConnection, connect_websocket, open_socket_stream

__all__ = ("WebSocketExecutor",)

POLICY_VIOLATION = 1008  # the close code of a WebSocket without the right token

BAD_REQUEST = 4400
"""The close code of a WebSocket the server refuses for its request (a namespace it
does not accept); the close reason says why."""


class WebSocketExecutor(RemoteExecutor):
    """Runs device methods on a ``moalab-server`` at ``server:port``, over WebSocket.

    Many calls share the connection at once; see :class:`RemoteExecutor` for
    ``clock_sync`` (the server's clock is aligned with this one) and the
    ``options`` for lost links (``on_lost``, ``reconnect``, ``heartbeat``). The
    server's ``token`` defaults to ``$MOALAB_TOKEN``; ``tls``/``ca_file``: wss.
    ``namespace``: where its objects live on the server (see
    :class:`RemoteExecutor`), sent as ``/ws?namespace=...`` when it is not ``""``.
    """

    def __init__(self, server: str = "127.0.0.1", port: int = 5000,
                 timeout: float | None = None, stream_window: int = 1024,
                 clock_sync: ClockSync | None = ClockSync(), token: str | None = None,
                 tls: bool = False, ca_file: str | None = None,
                 namespace: str | None = None, **options: Any) -> None:
        super().__init__(timeout, stream_window, clock_sync, namespace=namespace, **options)
        self.endpoint = ServerEndpoint(server, port, token, tls, ca_file)
        self.url = self.endpoint.url("ws", "/ws")

    def _describe(self) -> str:
        return f"WebSocketExecutor({self.url})"

    async def _connect(self, nursery: trio.Nursery) -> Transport:
        endpoint = self.endpoint
        headers = [(k.encode(), v.encode()) for k, v in endpoint.headers().items()]
        limit = self.heartbeat[1]
        try:
            with fail_after_real(limit):
                return await self._open(headers)
        except trio.TooSlowError:
            raise ConnectionLost(
                f"cannot connect to moalab-server at {self.url}: no answer within {limit:g} s "
                "(the dead time, heartbeat[1]); is the link up?") from None

    async def _open(self, headers: list[tuple[bytes, bytes]]) -> Transport:
        endpoint = self.endpoint
        stream = None
        try:
            stream = await open_socket_stream(endpoint.server, endpoint.port)
            if endpoint.ssl_context is not None:
                # our own handshake first: a certificate that fails to verify raises here
                stream = trio.SSLStream(stream, endpoint.ssl_context,
                                        server_hostname=endpoint.server)
                await stream.do_handshake()
            query = f"?{urlencode({NAMESPACE_PARAM: self.namespace})}" if self.namespace else ""
            connection = await connect_websocket(
                stream, f"{endpoint.host}:{endpoint.port}", f"/ws{query}", headers,
                "the server")
        except BaseException as exc:
            if stream is not None:
                await trio.aclose_forcefully(stream)
            if not isinstance(exc, OSError | trio.BrokenResourceError | ConnectionLost):
                raise
            raise ConnectionLost(
                f"cannot connect to moalab-server at {self.url}: "
                f"{endpoint.describe_error(exc)}; is the server running (moalab-server "
                "--host ... --port ...), reachable, and is its certificate trusted?"
            ) from exc
        # one round trip before anything else: a refused token fails the start itself
        try:
            await connection.send_frames([encode(Echo(0).to_wire())])
            if await connection.receive_frame() is None:
                raise self._refusal(connection)
        except BaseException:
            await trio.aclose_forcefully(connection)  # the close frame, if it can go
            raise
        return connection

    def _refusal(self, connection: WebSocketConnection) -> Exception:
        """The error of a connection the server closed at once, by its close code."""
        reason = connection.close_reason
        if connection.close_code == POLICY_VIOLATION:
            return AuthenticationError(
                f"moalab-server at {self.url} refused the connection ({reason}): give the "
                f"server's token (token=... or {TOKEN_ENV})")
        if connection.close_code == BAD_REQUEST:
            return InvalidArgument(f"moalab-server at {self.url} refused the connection: "
                                   f"{reason}")
        return ConnectionLost(f"moalab-server at {self.url} closed the connection at once"
                              + (f" (code {connection.close_code}: {reason})" if reason else ""))
