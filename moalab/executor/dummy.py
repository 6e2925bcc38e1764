"""DummyRemoteExecutor: the whole remote path (encode, registry, decode) in-process."""

import math

import trio

from .codec import Frame, frame_bytes
from .registry import ObjectRegistry
from .remote import RemoteExecutor, Transport
from .session import Session

__all__ = ("DummyRemoteExecutor",)


class _MemoryTransport:
    """Frames through memory channels: one end for the client, one for the session."""

    def __init__(self, send: trio.MemorySendChannel, receive: trio.MemoryReceiveChannel) -> None:
        self._send, self._receive = send, receive

    async def send_frames(self, frames: list[Frame]) -> None:
        for frame in frames:
            self._send.send_nowait(frame_bytes(frame))

    async def receive_frame(self) -> bytes | None:
        try:
            return await self._receive.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            return None

    async def aclose(self) -> None:
        await self._send.aclose()


class DummyRemoteExecutor(RemoteExecutor):
    """Runs calls through the remote protocol and an object registry of its own, in
    this process: for tests and for measuring the protocol's cost without a
    transport. Objects are created in its registry on their first call (or by
    :meth:`ensure_remote_instance`). Its clock is this process's: conversions are
    the identity."""

    def __init__(self, timeout: float | None = None, stream_window: int = 1024) -> None:
        super().__init__(timeout, stream_window, clock_sync=None)
        self.registry = ObjectRegistry(allow_all=True)

    async def _connect(self, nursery: trio.Nursery) -> Transport:
        to_server_send, to_server_receive = trio.open_memory_channel(math.inf)
        to_client_send, to_client_receive = trio.open_memory_channel(math.inf)
        server_end = _MemoryTransport(to_client_send, to_server_receive)
        session = Session(self.registry, server_end.send_frames)
        nursery.start_soon(session.serve, server_end.receive_frame)
        return _MemoryTransport(to_server_send, to_client_receive)

    async def stop_executor(self) -> None:
        await super().stop_executor()
        self.registry.close()
