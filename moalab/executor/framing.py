"""Length-prefixed frames over a byte stream (TCP), for process executors."""

import errno
import os
import struct
from typing import NoReturn

import trio

from .batching import LARGE_PART_BYTES
from .codec import Frame, frame_size
from .errors import ProtocolError

__all__ = ("MAX_FRAME", "FramedStream", "pop_frames", "prefixed", "read_some", "take_lock",
           "write_at_once")

_HEADER = struct.Struct(">I")
MAX_FRAME = 256 * 1024 * 1024
_CHUNK = 256 * 1024


def prefixed(frame: Frame) -> list[bytes | memoryview]:
    """``frame`` with its length in front, as :class:`FramedStream` and :func:`pop_frames`
    read it: its parts, to send or join."""
    return [_HEADER.pack(frame_size(frame)), *([frame] if isinstance(frame, bytes) else frame)]


def write_at_once(socket: trio.socket.SocketType, data: bytes | memoryview
                  ) -> bytes | memoryview:
    """Write what the kernel takes of ``data`` at once to the (non-blocking) trio
    ``socket``; return the rest, for ``send_all``. A small frame nearly always goes
    whole: without the scheduler round trio's send takes after each write, one per
    call. A full or broken socket takes nothing here (``send_all`` waits or raises)."""
    fd = socket.fileno()  # -1 once closed: a number another file may reuse is never used
    if fd < 0:
        return data
    try:
        sent = os.write(fd, data)
    except OSError:
        return data
    return memoryview(data)[sent:] if sent < len(data) else b""


async def read_some(socket: trio.socket.SocketType, size: int) -> bytes:
    """Up to ``size`` bytes from the (non-blocking) trio ``socket``, b"" at its end: what
    ``SocketStream.receive_some`` returns, with its errors
    (:class:`trio.BrokenResourceError`, :class:`trio.ClosedResourceError`) and one
    checkpoint, read from the socket's file without its layers of wrappers. It waits
    for the socket before it reads, not after a read that found nothing: a call's reply
    is nearly never there yet (a failed read and its exception less), and data that is
    there costs a scheduler round either way."""
    while True:
        if socket.fileno() < 0:  # closed: -1, a number another file may reuse is never used
            raise trio.ClosedResourceError("this socket was already closed")
        await trio.lowlevel.wait_readable(socket)  # raises ClosedResourceError if closed
        try:
            return os.read(socket.fileno(), size)
        except BlockingIOError:
            pass
        except OSError as exc:
            _raise_stream_error(exc)


def _raise_stream_error(exc: OSError) -> NoReturn:
    """Raise the error trio's SocketStream raises for ``exc``."""
    if exc.errno == errno.EBADF:
        raise trio.ClosedResourceError("this socket was already closed") from None
    raise trio.BrokenResourceError(f"socket connection broken: {exc}") from exc


async def take_lock(lock: trio.StrictFIFOLock) -> None:
    """Take ``lock``: a free one without the scheduler round of ``async with``."""
    try:
        lock.acquire_nowait()
    except trio.WouldBlock:
        await lock.acquire()


def pop_frames(buffer: bytearray, max_frame: int = MAX_FRAME) -> list[bytes]:
    """Take the whole length-prefixed frames at the start of ``buffer`` out of it."""
    frames = []
    start = 0
    while len(buffer) - start >= _HEADER.size:
        (length,) = _HEADER.unpack_from(buffer, start)
        if length > max_frame:
            raise ProtocolError(f"frame of {length} bytes is over the limit of {max_frame}")
        end = start + _HEADER.size + length
        if len(buffer) < end:
            break
        frames.append(bytes(buffer[start + _HEADER.size:end]))
        start = end
    del buffer[:start]
    return frames


class FramedStream:
    """Frames on a :class:`trio.abc.Stream`: a 4-byte big-endian length, then the frame.

    :meth:`send_frames` writes several frames in one ``send_all``, and the large
    parts of a frame (arrays) as they lie in memory; :meth:`send_now` writes a small
    frame without waiting, from a function that must not wait;
    :meth:`receive_frame` returns None at the end of the stream.
    """

    def __init__(self, stream: trio.abc.Stream, max_frame: int = MAX_FRAME) -> None:
        self.stream = stream
        self.max_frame = max_frame
        self._socket = getattr(stream, "socket", None)  # a SocketStream's: read and written
        self._buffer = bytearray()
        self._send_lock = trio.StrictFIFOLock()
        self._unsent: bytes | memoryview = b""  # what send_now left: it goes first

    def send_now(self, frame: Frame) -> int | None:
        """Write ``frame`` at once, without waiting (no scheduler round, no task switch),
        if no send is under way and it is small (under ``LARGE_PART_BYTES``; a socket's
        stream only). Returns None if nothing was written (send it with
        :meth:`send_frames`), else how many of its bytes the kernel did not take at once
        (0: none): those go first at the next :meth:`send_frames`, which the caller
        must then make (``send_frames([])`` sends only them)."""
        if (self._socket is None or self._unsent or self._send_lock.locked()
                or not isinstance(frame, bytes) or len(frame) >= LARGE_PART_BYTES):
            return None
        self._unsent = write_at_once(self._socket, _HEADER.pack(len(frame)) + frame)
        return len(self._unsent)

    async def send_frames(self, frames: list[Frame]) -> None:
        lock = self._send_lock
        await take_lock(lock)
        try:
            if self._unsent:
                unsent, self._unsent = self._unsent, b""
                await self.stream.send_all(unsent)
            pending: list[bytes | memoryview] = []
            for frame in frames:
                for part in prefixed(frame):
                    if len(part) < LARGE_PART_BYTES:
                        pending.append(part)
                        continue
                    # a large part (arrays) goes out as it is: joining would copy it
                    await self._send(b"".join(pending))
                    pending = []
                    await self._send(part)
            if pending:
                await self._send(b"".join(pending))
        finally:
            lock.release()

    async def _send(self, data: bytes | memoryview) -> None:
        socket = self._socket
        rest = data if socket is None else write_at_once(socket, data)
        if rest:
            await self.stream.send_all(rest)

    async def _receive_some(self) -> bytes:
        socket = self._socket
        if socket is None:
            return await self.stream.receive_some(_CHUNK)
        return await read_some(socket, _CHUNK)

    async def _fill(self, size: int) -> bool:
        while len(self._buffer) < size:
            chunk = await self._receive_some()
            if not chunk:
                return False
            self._buffer += chunk
        return True

    async def receive_frame(self) -> bytes | None:
        if not self._buffer:
            chunk = await self._receive_some()
            if not chunk:
                return None
            if len(chunk) >= _HEADER.size:
                (length,) = _HEADER.unpack_from(chunk)
                if len(chunk) == _HEADER.size + length and length <= self.max_frame:
                    return chunk[_HEADER.size:]  # one read, one whole frame: no buffering
            self._buffer += chunk
        if not await self._fill(_HEADER.size):
            return None
        (length,) = _HEADER.unpack_from(self._buffer)
        if length > self.max_frame:
            raise ProtocolError(f"frame of {length} bytes is over the limit of {self.max_frame}")
        end = _HEADER.size + length
        if len(self._buffer) >= end:
            with memoryview(self._buffer) as view:
                frame = bytes(view[_HEADER.size:end])
            del self._buffer[:end]
            return frame
        # the rest of a large frame: received straight into a buffer of its size
        frame = bytearray(length)
        view = memoryview(frame)
        received = len(self._buffer) - _HEADER.size
        view[:received] = memoryview(self._buffer)[_HEADER.size:]
        self._buffer.clear()
        while received < length:
            count = await self._receive_into(view[received:])
            if not count:
                return None
            received += count
        return frame

    async def _receive_into(self, view: memoryview) -> int:
        socket = self._socket
        if socket is not None:  # a SocketStream: the kernel copies into the frame itself
            return await socket.recv_into(view)
        chunk = await self.stream.receive_some(min(len(view), _CHUNK))
        view[:len(chunk)] = chunk
        return len(chunk)

    async def aclose(self) -> None:
        await self.stream.aclose()
