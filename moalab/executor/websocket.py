"""WebSocketExecutor: device methods on a moalab-server, over one WebSocket."""

import trio
from trio_websocket import ConnectionClosed, HandshakeError, connect_websocket_url

from ..core.errors import InvalidArgument
from .clock import ClockSync
from .errors import ConnectionLost
from .remote import RemoteExecutor, Transport

__all__ = ("WebSocketExecutor",)

MAX_MESSAGE = 256 * 1024 * 1024


class _WebSocketTransport:
    def __init__(self, ws: object) -> None:
        self.ws = ws
        self._closing = False
        self._closed = trio.Event()

    async def send_frames(self, frames: list[bytes]) -> None:
        # messages joined end to end: one WebSocket message per burst
        await self.ws.send_message(b"".join(frames))

    async def receive_frame(self) -> bytes | None:
        try:
            return await self.ws.get_message()
        except ConnectionClosed:
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


def server_url(server: str, port: int, scheme: str, path: str = "") -> str:
    """``scheme://server:port/path``, bracketing IPv6 addresses."""
    if not isinstance(port, int) or not 0 < port < 65536:
        raise InvalidArgument(f"port={port!r} is not accepted: give the server's TCP port")
    host = f"[{server}]" if ":" in server and not server.startswith("[") else server
    return f"{scheme}://{host}:{port}{path}"


class WebSocketExecutor(RemoteExecutor):
    """Runs device methods on a ``moalab-server`` at ``server:port``, over WebSocket.

    Many calls share the connection at once; see :class:`RemoteExecutor` (also for
    ``clock_sync``: the server's clock is aligned with this one).
    """

    def __init__(self, server: str = "127.0.0.1", port: int = 5000,
                 timeout: float | None = None, stream_window: int = 1024,
                 clock_sync: ClockSync | None = ClockSync()) -> None:
        super().__init__(timeout, stream_window, clock_sync)
        self.url = server_url(server, port, "ws", "/ws")

    def _describe(self) -> str:
        return f"WebSocketExecutor({self.url})"

    async def _connect(self, nursery: trio.Nursery) -> Transport:
        try:
            ws = await connect_websocket_url(nursery, self.url, max_message_size=MAX_MESSAGE)
        except (OSError, HandshakeError) as exc:
            raise ConnectionLost(
                f"cannot connect to moalab-server at {self.url}: {exc}; is the server running "
                "(moalab-server --host ... --port ...) and reachable?"
            ) from exc
        return _WebSocketTransport(ws)
