"""WebSocketConnection: an end of a WebSocket on wsproto, with no task of its own.

Its reader is whoever calls :meth:`~WebSocketConnection.receive_frame` (the link's
receiver task): a reply wakes that task and then its caller, where a connection with
its own reader task (trio-websocket's) takes one scheduler round more, to hand each
message through a channel. A message is written by the sending task itself, at once
when the kernel takes it whole.
"""

import collections
from collections.abc import Sequence

import trio
from wsproto import ConnectionState, ConnectionType, WSConnection
from wsproto.events import (AcceptConnection, BytesMessage, CloseConnection, Ping,
                            RejectConnection, RejectData, Request, TextMessage)
from wsproto.utilities import ProtocolError as WsprotoError

from .batching import LARGE_PART_BYTES, join_frames
from .codec import Frame
from .errors import ConnectionLost, ProtocolError
from .framing import read_some, take_lock, write_at_once

__all__ = ("MAX_MESSAGE", "RECEIVE_BYTES", "WebSocketConnection", "connect_websocket",
           "open_socket_stream", "socket_stream")

MAX_MESSAGE = 256 * 1024 * 1024

RECEIVE_BYTES = 1 << 20
"""Bytes read from the socket at once. 4 KiB reads (trio-websocket's default) held an
array stream to 150 MB/s, against 500 MB/s with 1 MiB reads (same machine)."""

MESSAGE_TOO_BIG = 1009  # the close code of a message over the limit (RFC 6455)
_CLOSE_WAIT = 1.0
"""Seconds :meth:`WebSocketConnection.aclose` waits for the far side's close frame."""
_HANDSHAKE_BYTES = 64 * 1024
_REFUSAL_BYTES = 200  # of a refusal's body, in its error


class _SocketStream(trio.abc.HalfCloseableStream):
    """A trio TCP stream whose writes go out at once when the kernel takes them whole
    (see :func:`~moalab.executor.framing.write_at_once`): one scheduler round less a
    call; whose reads wait for the socket first (a reply is nearly never there yet:
    :func:`~moalab.executor.framing.read_some`). (trio's ``SocketStream`` cannot be
    subclassed.)"""

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
        return await read_some(self.socket, max_bytes or RECEIVE_BYTES)

    async def aclose(self) -> None:
        await self.stream.aclose()


def socket_stream(stream: trio.SocketStream) -> trio.abc.HalfCloseableStream:
    """``stream`` with small writes that take no scheduler round, and reads that wait
    for the socket first (a server's accepted connection, or a client's)."""
    return _SocketStream(stream)


async def open_socket_stream(host: str, port: int) -> trio.abc.HalfCloseableStream:
    """A TCP connection to ``host:port`` whose small writes take no scheduler round;
    raises ``OSError`` when it cannot connect."""
    return socket_stream(await trio.open_tcp_stream(host, port))


class WebSocketConnection:
    """An open WebSocket on ``stream``, a client's end (a
    :class:`~moalab.executor.link.Transport` whose frames travel joined in binary
    messages, :func:`~moalab.executor.batching.join_frames`) or a server's
    (:mod:`moalab.server.ws_direct`), as ``ws`` is.

    :meth:`receive_frame` is called by one task at a time (it reads the socket); any
    number of tasks send at once, each message written whole. Once the far side has
    closed, :attr:`close_code` and :attr:`close_reason` say how (1006: the stream
    ended without a close frame). ``name`` names the connection in messages. Runs in
    the trio thread.
    """

    join_concurrent = True
    """Concurrent callers' requests go in one message (see
    :meth:`~moalab.executor.multiplexer.RequestMux._send_request`): the server's cost
    is per message."""

    def __init__(self, stream: trio.abc.Stream, ws: WSConnection, name: str,
                 max_message: int = MAX_MESSAGE) -> None:
        self.stream = stream
        self.name = name
        self.max_message = max_message
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self._ws = ws
        self._messages: collections.deque[bytes] = collections.deque()
        self._parts: list[bytes] = []  # of a message that came in several events
        self._size = 0
        self._send_lock = trio.StrictFIFOLock()
        self._unsent: bytes | memoryview = b""  # what send_now left: it goes first
        self._receive_lock = trio.StrictFIFOLock()  # the receiver's, or a closing's
        self._closed = False  # no more bytes to read

    def send_now(self, frame: Frame) -> int | None:
        """Write ``frame`` as one message at once, without waiting (no scheduler round,
        no lock to take), if no send is under way and it is small (under
        ``LARGE_PART_BYTES``; not under TLS). Returns None if nothing was written (send
        it with :meth:`send_frames`), else how many bytes the kernel did not take at
        once (0: none): those go first at the next send, which the caller must then
        make (``send_frames([])`` sends only them). As
        :meth:`~moalab.executor.framing.FramedStream.send_now`."""
        socket = getattr(self.stream, "socket", None)  # a TLS stream has none
        if (socket is None or self._unsent or self._send_lock.locked()
                or self._ws.state is not ConnectionState.OPEN
                or not isinstance(frame, bytes) or len(frame) >= LARGE_PART_BYTES):
            return None
        self._unsent = write_at_once(socket, self._ws.send(BytesMessage(data=frame)))
        return len(self._unsent)

    async def send_frames(self, frames: list[Frame]) -> None:
        messages = join_frames(frames)
        if not messages and self._unsent:
            await self._write(b"")
        for message in messages:
            await self.send_message(message)

    async def send_message(self, data: bytes | str) -> None:
        """Send one message (binary, or text for a ``str``); on a closing or broken
        connection nothing: :meth:`receive_frame` reports the end."""
        if self._ws.state is ConnectionState.OPEN:
            await self._write(self._ws.send(
                TextMessage(data=data) if isinstance(data, str) else BytesMessage(data=data)))

    async def _write(self, data: bytes) -> None:
        lock = self._send_lock
        await take_lock(lock)
        try:
            # held until the last byte is written: a write the kernel does not take
            # whole waits in send_all, and no other message may start inside it
            if self._unsent:
                unsent, self._unsent = self._unsent, b""
                await self.stream.send_all(unsent)
            if data:
                await self.stream.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # the reader finds the end, and reports it
        finally:
            lock.release()

    async def send_close(self, code: int, reason: str = "") -> None:
        """Start the closing handshake with ``code`` and ``reason`` (nothing if it has
        started); :meth:`aclose` then waits for the far side's close."""
        if self._ws.state is ConnectionState.OPEN:
            await self._write(self._ws.send(CloseConnection(code, reason)))

    async def receive_frame(self) -> bytes | None:
        """The next message (the frames of the far side, joined), or None once the
        connection has closed. Raises :class:`ProtocolError` for a message over
        ``max_message`` bytes or a broken frame (the connection is closing then)."""
        while not self._messages:
            if self._closed:
                return None
            lock = self._receive_lock
            await take_lock(lock)
            try:
                await self._receive_some()
            finally:
                lock.release()
        return self._messages.popleft()

    async def _receive_some(self) -> None:
        """Read what the socket has, and handle its events (holding the receive lock)."""
        if self._closed:
            return
        try:
            data = await self.stream.receive_some(RECEIVE_BYTES)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            data = b""
        self._ws.receive_data(data or None)  # None: the stream ended
        await self._handle_events()

    async def _handle_events(self) -> None:
        """Take the messages of the bytes received, answer pings and closes."""
        ws = self._ws
        for event in ws.events():
            kind = type(event)
            if kind is BytesMessage or kind is TextMessage:
                data = event.data if kind is BytesMessage else event.data.encode()
                if self._size + len(data) > self.max_message:
                    await self._too_big()
                self._add_part(data, event.message_finished)
            elif kind is Ping:
                await self._write(ws.send(event.response()))
            elif kind is CloseConnection:
                await self._far_side_closed(event)
        if ws.state is ConnectionState.CLOSED:
            self._closed = True

    async def _too_big(self) -> None:
        self._parts.clear()
        self._size = 0
        await self.send_close(MESSAGE_TOO_BIG, "message too big")
        raise ProtocolError(
            f"a WebSocket message from {self.name} is over the limit of {self.max_message} "
            "bytes (max_message): the connection is closed")

    def _add_part(self, data: bytes, finished: bool) -> None:
        self._size += len(data)
        if finished and not self._parts:  # the usual message: one event, nothing to join
            self._messages.append(data)
        else:
            self._parts.append(data)
            if finished:
                self._messages.append(b"".join(self._parts))
                self._parts.clear()
        if finished:
            self._size = 0

    async def _far_side_closed(self, event: CloseConnection) -> None:
        if self.close_code is None:
            self.close_code, self.close_reason = event.code, event.reason
        state = self._ws.state
        if state is ConnectionState.REMOTE_CLOSING:  # the far side's close: answered
            await self._write(self._ws.send(event.response()))
        elif state is ConnectionState.OPEN:  # a frame wsproto could not parse
            await self._write(self._ws.send(CloseConnection(event.code, event.reason)))
            raise ProtocolError(f"a broken WebSocket frame came from {self.name}: "
                                f"{event.reason}; the connection is closed")

    async def aclose(self) -> None:
        """Close: send a close frame, wait up to a second for the far side's, then
        close the stream. Closing a closed connection does nothing more."""
        try:
            if self._ws.state is ConnectionState.OPEN:
                await self._write(self._ws.send(CloseConnection(1000)))
            with trio.move_on_after(_CLOSE_WAIT):
                while not self._closed:
                    # the receiver, if one reads, is woken by the close frame; else read
                    async with self._receive_lock:
                        await self._receive_some()
        except (ProtocolError, WsprotoError):
            pass  # a broken connection: closed below all the same
        finally:
            self._closed = True
            await trio.aclose_forcefully(self.stream)


async def connect_websocket(stream: trio.abc.Stream, host: str, target: str,
                            headers: Sequence[tuple[bytes, bytes]] = (), name: str = "",
                            max_message: int = MAX_MESSAGE) -> WebSocketConnection:
    """The WebSocket upgrade of ``stream`` (connected to ``host``) for ``target`` (path
    and query), with ``headers`` in the request. Returns the open connection; raises
    :class:`ConnectionLost` when the server refuses it (its status and body in the
    message), answers what is not HTTP, or closes; ``OSError`` or
    ``trio.BrokenResourceError`` from the stream. ``name`` names it in messages."""
    ws = WSConnection(ConnectionType.CLIENT)
    name = name or target
    await stream.send_all(ws.send(Request(host=host, target=target,
                                          extra_headers=list(headers))))
    refused: RejectConnection | None = None
    body = b""
    while True:
        data = await stream.receive_some(_HANDSHAKE_BYTES)
        try:
            ws.receive_data(data or None)  # None: the stream ended
            for event in ws.events():
                if isinstance(event, AcceptConnection):
                    connection = WebSocketConnection(stream, ws, name, max_message)
                    # what came with the answer (the server's first messages)
                    await connection._handle_events()
                    return connection
                if isinstance(event, RejectConnection):
                    refused = event
                elif isinstance(event, RejectData):
                    body = (body + event.data)[:_REFUSAL_BYTES]
        except WsprotoError as exc:
            raise ConnectionLost(f"{name} answered the WebSocket upgrade with what is not "
                                 f"an HTTP response ({exc})") from None
        if refused is not None and ws.state is ConnectionState.CLOSED:  # body and all
            reason = body.decode(errors="replace").strip()
            raise ConnectionLost(f"{name} refused the WebSocket upgrade with status "
                                 f"{refused.status_code}" + (f": {reason}" if reason else ""))
        if not data:
            raise ConnectionLost(f"{name} closed the connection in the WebSocket upgrade"
                                 + (f" (status {refused.status_code})" if refused else ""))
