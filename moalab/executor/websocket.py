"""WebSocketExecutor: device methods on a moalab-server, over one WebSocket."""

from typing import Any
from urllib.parse import urlencode

import trio
from trio_websocket import ConnectionClosed, HandshakeError, wrap_client_stream

from ..core.errors import InvalidArgument
from ..core.realtime import fail_after_real
from .batching import join_frames
from .clock import ClockSync
from .codec import encode
from .endpoint import TOKEN_ENV, ServerEndpoint
from .errors import AuthenticationError, ConnectionLost
from .framing import write_at_once
from .messages import Echo
from .remote import RemoteExecutor, Transport
from .session import NAMESPACE_PARAM

__all__ = ("WebSocketExecutor",)

POLICY_VIOLATION = 1008  # the close code of a WebSocket without the right token

BAD_REQUEST = 4400
"""The close code of a WebSocket the server refuses for its request (a namespace it
does not accept); the close reason says why."""

MAX_MESSAGE = 256 * 1024 * 1024

RECEIVE_BYTES = 1 << 20
"""Bytes read from the socket at once. trio-websocket reads 4 KiB by default: an array
stream then ran at 150 MB/s, against 500 MB/s with 1 MiB reads (same machine)."""


class _SocketStream(trio.abc.HalfCloseableStream):
    """A trio TCP stream whose writes go out at once when the kernel takes them whole
    (see :func:`~moalab.executor.framing.write_at_once`): one scheduler round less a
    call. (trio's ``SocketStream`` cannot be subclassed.)"""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.socket = stream.socket

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        rest = write_at_once(self.socket, data)
        if rest:
            await self.stream.send_all(rest)

    async def wait_send_all_might_not_block(self) -> None:
        await self.stream.wait_send_all_might_not_block()

    async def send_eof(self) -> None:
        await self.stream.send_eof()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        return await self.stream.receive_some(max_bytes)

    async def aclose(self) -> None:
        await self.stream.aclose()


class _WebSocketTransport:
    def __init__(self, ws: object, url: str) -> None:
        self.ws = ws
        self.url = url
        self._closing = False
        self._closed = trio.Event()

    async def send_frames(self, frames: list[bytes]) -> None:
        # frames joined end to end: few WebSocket messages per burst
        try:
            for message in join_frames(frames):
                await self.ws.send_message(message)
        except ConnectionClosed:
            pass  # the receiver reports the closing, with its reason

    async def receive_frame(self) -> bytes | None:
        try:
            return await self.ws.get_message()
        except ConnectionClosed as exc:
            if exc.reason.code == POLICY_VIOLATION:
                raise AuthenticationError(
                    f"moalab-server at {self.url} refused the connection "
                    f"({exc.reason.reason}): give the server's token (token=... or "
                    f"{TOKEN_ENV})") from None
            if exc.reason.code == BAD_REQUEST:
                raise InvalidArgument(f"moalab-server at {self.url} refused the connection: "
                                      f"{exc.reason.reason}") from None
            if self._closing:
                # our close ends get_message at once, but the close handshake still
                # needs the connection's reader: returning would cancel it
                await self._closed.wait()
            return None

    async def aclose(self) -> None:
        self._closing = True
        try:
            await self.ws.aclose()
        finally:
            self._closed.set()


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
                return await self._open(nursery, headers)
        except trio.TooSlowError:
            raise ConnectionLost(
                f"cannot connect to moalab-server at {self.url}: no answer within {limit:g} s "
                "(the dead time, heartbeat[1]); is the link up?") from None

    async def _open(self, nursery: trio.Nursery, headers: list[tuple[bytes, bytes]]
                    ) -> Transport:
        endpoint = self.endpoint
        stream = None
        try:
            stream = _SocketStream(await trio.open_tcp_stream(endpoint.server, endpoint.port))
            if endpoint.ssl_context is not None:
                # our own handshake: a certificate that fails to verify raises here
                # (inside trio-websocket it would leave the connection hanging)
                stream = trio.SSLStream(stream, endpoint.ssl_context,
                                        server_hostname=endpoint.server)
                await stream.do_handshake()
            query = f"?{urlencode({NAMESPACE_PARAM: self.namespace})}" if self.namespace else ""
            ws = await wrap_client_stream(
                nursery, stream, f"{endpoint.host}:{endpoint.port}", f"/ws{query}",
                max_message_size=MAX_MESSAGE, extra_headers=headers,
                receive_buffer_size=RECEIVE_BYTES)
        except BaseException as exc:
            if stream is not None:
                await trio.aclose_forcefully(stream)
            if not isinstance(exc, OSError | trio.BrokenResourceError | HandshakeError):
                raise
            raise ConnectionLost(
                f"cannot connect to moalab-server at {self.url}: "
                f"{endpoint.describe_error(exc)}; is the server running (moalab-server "
                "--host ... --port ...), reachable, and is its certificate trusted?"
            ) from exc
        transport = _WebSocketTransport(ws, self.url)
        # one round trip before anything else: a refused token fails the start itself
        await transport.send_frames([encode(Echo(0).to_wire())])
        if await transport.receive_frame() is None:
            raise ConnectionLost(f"moalab-server at {self.url} closed the connection at once")
        return transport
