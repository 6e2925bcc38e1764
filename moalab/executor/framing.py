"""Length-prefixed frames over a byte stream (TCP), for process executors."""

import struct

import trio

from .errors import ProtocolError

__all__ = ("FramedStream", "MAX_FRAME")

_HEADER = struct.Struct(">I")
MAX_FRAME = 256 * 1024 * 1024
_CHUNK = 256 * 1024


class FramedStream:
    """Frames on a :class:`trio.abc.Stream`: a 4-byte big-endian length, then the frame.

    :meth:`send_frames` writes several frames in one ``send_all``;
    :meth:`receive_frame` returns None at the end of the stream.
    """

    def __init__(self, stream: trio.abc.Stream, max_frame: int = MAX_FRAME) -> None:
        self.stream = stream
        self.max_frame = max_frame
        self._buffer = bytearray()
        self._send_lock = trio.StrictFIFOLock()

    async def send_frames(self, frames: list[bytes]) -> None:
        data = b"".join(part for frame in frames for part in (_HEADER.pack(len(frame)), frame))
        async with self._send_lock:
            await self.stream.send_all(data)

    async def _fill(self, size: int) -> bool:
        while len(self._buffer) < size:
            chunk = await self.stream.receive_some(_CHUNK)
            if not chunk:
                return False
            self._buffer += chunk
        return True

    async def receive_frame(self) -> bytes | None:
        if not await self._fill(_HEADER.size):
            return None
        (length,) = _HEADER.unpack_from(self._buffer)
        if length > self.max_frame:
            raise ProtocolError(f"frame of {length} bytes is over the limit of {self.max_frame}")
        if not await self._fill(_HEADER.size + length):
            return None
        frame = bytes(self._buffer[_HEADER.size:_HEADER.size + length])
        del self._buffer[:_HEADER.size + length]
        return frame

    async def aclose(self) -> None:
        await self.stream.aclose()
