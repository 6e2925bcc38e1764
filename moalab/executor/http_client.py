"""The HTTP client of :class:`~moalab.executor.rest.RestExecutor`: HTTP/1.1 on h11 over
trio, a pool of kept-alive connections, each request written in one write.

Not httpx: its client and httpcore's pool cost as much CPU as the server's side of a
call. Sequential POSTs to a bare Quart route on hypercorn (``python -m benchmarks.floor
quart``, one kept-alive connection, the 2-core development machine idle): httpx
~410-480 calls/s, httpcore's pool alone ~450, h11 on a trio stream ~715-815; to a raw
ASGI app on hypercorn httpx ~430, h11 ~950-1060. The client's CPU per call, measured
in one process in alternating blocks (medians; the machine loaded, so absolute figures
are high): httpx 1,280-1,335 us, httpcore alone 860-930, h11 alone ~440, this client
~450-530. h11 is the protocol library httpx itself uses; this module adds what
RestExecutor needs around it: base URL, default headers and query, JSON bodies, TLS,
streamed responses, the pool.

Each request's head and body leave in one write (without trio's scheduler round when
the kernel takes it whole, :func:`~moalab.executor.framing.write_at_once`): written
apart, the server's loop wakes for the head, parses it, sleeps, and wakes again for the
body. HTTP/1.1, not HTTP/2: h2's framing, HPACK and flow control cost both ends more
CPU per request than they save here (measured against moalab-server: 1.3-1.5x the CPU
per call on each end, and fewer calls per second, sequential or with 8 callers), and
concurrent requests get a connection each.
"""

import json as jsonlib
import select
import ssl
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, Self
from urllib.parse import urlencode, urlsplit

import h11
import trio

from ..core.errors import InvalidArgument
from .errors import ConnectionLost, ExecutorError
from .framing import write_at_once

__all__ = ("MAX_IDLE", "HTTPClient", "Request", "Response", "TransportError")

MAX_IDLE = 20
"""Idle connections a client keeps open for later requests (more are closed)."""

RECEIVE_BYTES = 64 * 1024
"""Bytes read from the socket at once."""

_FAILURES = (OSError, trio.BrokenResourceError, trio.ClosedResourceError, h11.ProtocolError)
"""What a connection raises when its socket, its TLS or the server's HTTP fails
(``ssl.SSLError`` is an ``OSError``)."""


class TransportError(ConnectionLost):
    """A request could not be sent, or its response not read: the connection failed
    (refused, reset, closed early, a TLS certificate not trusted, HTTP broken)."""


def _reason(exc: BaseException) -> str:
    # trio's errors often carry their reason only in a cause: a failed TLS handshake
    # raises an empty BrokenResourceError from the SSLCertVerificationError, a failed
    # connect "all attempts to connect ... failed" from a group of each address's error
    while (not str(exc) or isinstance(exc.__cause__, BaseExceptionGroup)) \
            and (exc.__cause__ or exc.__context__) is not None:
        exc = exc.__cause__ or exc.__context__
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(_reason(each) for each in exc.exceptions)
    return str(exc) or type(exc).__name__


class Request:
    """A request ready to send: its h11 head and its body (``body`` bytes, or none)."""

    __slots__ = ("body", "head")

    def __init__(self, head: h11.Request, body: bytes) -> None:
        self.head = head
        self.body = body

    @property
    def target(self) -> str:
        return f"{self.head.method.decode()} {self.head.target.decode()}"


class _Connection:
    """One HTTP/1.1 connection: a trio stream (TCP, or TLS over it) and its h11 state.

    ``broken``: it failed or was left in an unknown state, and is never reused."""

    def __init__(self, stream: trio.abc.Stream, socket: trio.socket.SocketType,
                 address: str) -> None:
        self.stream = stream
        self.socket = socket
        self.address = address
        self.tls = isinstance(stream, trio.SSLStream)
        self.h11 = h11.Connection(h11.CLIENT)
        self.broken = False
        self._poll = select.poll()  # no select(): it fails on descriptors past 1023
        self._poll.register(socket.fileno(), select.POLLIN)

    def is_quiet(self) -> bool:
        """Whether the idle connection is still open with nothing to read. A server
        closes kept-alive connections (its keep-alive timeout, its restart): such a
        connection reads as readable (the end of the stream), and is not reused."""
        return self.socket.fileno() >= 0 and not self._poll.poll(0)

    async def send(self, request: Request) -> None:
        """Write ``request`` (head and body together); :class:`TransportError` if it fails."""
        data = self.h11.send(request.head)
        if request.body:
            data += self.h11.send(h11.Data(data=request.body))
        data += self.h11.send(h11.EndOfMessage())
        try:
            if not self.tls:  # TLS encrypts first: SSLStream writes through its send_all
                data = write_at_once(self.socket, data)
            if data:
                await self.stream.send_all(data)
        except _FAILURES as exc:
            self.broken = True
            raise TransportError(f"sending {request.target} to {self.address} failed: "
                                 f"{_reason(exc)}") from exc

    async def next_event(self) -> Any:
        """The response's next h11 event, read as needed; :class:`TransportError` if the
        connection fails or closes before the response's end."""
        data = None
        try:
            while (event := self.h11.next_event()) is h11.NEED_DATA:
                data = await self.stream.receive_some(RECEIVE_BYTES)
                self.h11.receive_data(data)
        except _FAILURES as exc:
            self.broken = True
            # h11's own words for an early end are about its states
            reason = "the connection closed" if data == b"" else _reason(exc)
            raise TransportError(f"reading a response from {self.address} failed: "
                                 f"{reason} before the response's end") from exc
        if type(event) is h11.ConnectionClosed:
            self.broken = True
            raise TransportError(f"reading a response from {self.address} failed: the "
                                 "connection closed before the response")
        return event

    def reusable(self) -> bool:
        """Whether the exchange ended cleanly and both sides keep the connection open
        (not after ``Connection: close``); if so it is ready for the next request."""
        if self.broken or self.h11.our_state is not h11.DONE \
                or self.h11.their_state is not h11.DONE:
            return False
        self.h11.start_next_cycle()
        return True

    async def aclose(self) -> None:
        self.broken = True
        await trio.aclose_forcefully(self.stream)


class Response:
    """An HTTP response: ``status_code``, ``reason``, ``headers`` (lower-case names), and
    its body: ``content`` once read (:meth:`aread`; :meth:`HTTPClient.request` reads it),
    or as it arrives (:meth:`aiter_raw`, :meth:`aiter_lines`, in :meth:`HTTPClient.stream`)."""

    def __init__(self, head: h11.Response, connection: _Connection) -> None:
        self.status_code: int = head.status_code
        self.reason: str = head.reason.decode("latin-1")
        self.headers: dict[str, str] = {}
        for name, value in head.headers:
            key = name.decode("latin-1")
            text = value.decode("latin-1")
            self.headers[key] = f"{self.headers[key]}, {text}" if key in self.headers else text
        self._connection = connection
        self._content: bytes | None = None
        self._complete = False

    def __repr__(self) -> str:
        return f"<Response {self.status_code} {self.reason}>"

    @property
    def content(self) -> bytes:
        if self._content is None:
            raise ExecutorError(f"{self!r}: its body is not read; await response.aread() first")
        return self._content

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON (``ValueError`` if it is not JSON)."""
        return jsonlib.loads(self.content)

    async def aiter_raw(self) -> AsyncIterator[bytes]:
        """The body's chunks as they arrive (chunked transfer-encoding undone)."""
        while not self._complete:
            event = await self._connection.next_event()
            if type(event) is h11.Data:
                yield event.data
            elif type(event) is h11.EndOfMessage:
                self._complete = True

    async def aiter_lines(self) -> AsyncIterator[str]:
        """The body's lines (UTF-8, a bad byte replaced; without their line ends) as they
        arrive."""
        pending = b""
        async for chunk in self.aiter_raw():
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                yield line.removesuffix(b"\r").decode(errors="replace")
        if pending:
            yield pending.decode(errors="replace")

    async def aread(self) -> bytes:
        """The whole body (read to its end once; ``content`` then holds it)."""
        if self._content is None:
            self._content = b"".join([chunk async for chunk in self.aiter_raw()])
        return self._content


class HTTPClient:
    """HTTP/1.1 requests to ``base_url`` (``http://host:port[/prefix]`` or ``https://``),
    over a pool of kept-alive connections: one a concurrent request, up to
    :data:`MAX_IDLE` idle ones kept (the last used is reused first).

    ``headers`` and the query ``params`` go with every request; ``https`` verifies the
    server's certificate with ``ssl_context`` (default: the system's CAs). Transport
    failures raise :class:`TransportError`; a request is never sent twice (one the
    server may have seen is not retried). Use it in trio; close it (``aclose`` or
    ``async with``): its idle connections close, those in use close at their end.
    """

    def __init__(self, base_url: str, *, headers: Mapping[str, str] | None = None,
                 params: Mapping[str, str] | None = None,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        url = urlsplit(base_url)
        if url.scheme not in ("http", "https") or not url.hostname or url.query:
            raise InvalidArgument(f"HTTPClient base_url={base_url!r} is not accepted: give "
                                  "http://host:port or https://host:port, optionally a path")
        tls = url.scheme == "https"
        self._host = url.hostname
        self._port = url.port or (443 if tls else 80)
        self._prefix = url.path.rstrip("/")
        self._query = urlencode(params) if params else ""
        self._headers = [("Host", url.netloc), *(headers or {}).items()]
        self._ssl_context = (ssl_context or ssl.create_default_context()) if tls else None
        self._idle: list[_Connection] = []
        self._closed = False

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for connection in idle:
            await connection.aclose()

    def build_request(self, method: str, path: str, json: Any = None,
                      headers: Mapping[str, str] | None = None) -> Request:
        """``method`` on ``path`` (under the base URL, with the default query), ``json``
        as its JSON body (None: no body), ``headers`` beside the defaults."""
        target = self._prefix + path
        if self._query:
            target += ("&" if "?" in path else "?") + self._query
        fields = [*self._headers, *(headers or {}).items()]
        body = b""
        if json is not None:
            body = jsonlib.dumps(json, ensure_ascii=False, separators=(",", ":"),
                                 allow_nan=False).encode()
            fields += [("Content-Type", "application/json"),
                       ("Content-Length", str(len(body)))]
        elif method in ("POST", "PUT", "PATCH"):
            fields.append(("Content-Length", "0"))  # some servers answer 411 without
        try:
            head = h11.Request(method=method, target=target, headers=fields)
        except h11.LocalProtocolError as exc:  # a header value with a line break...
            raise InvalidArgument(f"HTTPClient: the request {method} {target} is not "
                                  f"accepted: {exc}; give header values HTTP allows") from exc
        return Request(head, body)

    async def send(self, request: Request) -> Response:
        """Send ``request``; its response, read to its end."""
        async with self._exchange(request) as response:
            await response.aread()
        return response

    async def request(self, method: str, path: str, json: Any = None,
                      headers: Mapping[str, str] | None = None) -> Response:
        """``method`` on ``path`` (see :meth:`build_request`); its response, read."""
        return await self.send(self.build_request(method, path, json, headers))

    @asynccontextmanager
    async def stream(self, method: str, path: str, json: Any = None,
                     headers: Mapping[str, str] | None = None) -> AsyncIterator[Response]:
        """``method`` on ``path`` (see :meth:`build_request`): its response once its head
        is read, its body read in the block (``aiter_raw``, ``aiter_lines``, ``aread``).
        A body left unread closes the connection at the block's end."""
        async with self._exchange(self.build_request(method, path, json, headers)) as response:
            yield response

    @asynccontextmanager
    async def _exchange(self, request: Request) -> AsyncIterator[Response]:
        connection = await self._connection()
        try:
            response = await self._send(connection, request)
            yield response
        except BaseException:
            # failed, cancelled or left: the connection's state is unknown
            await connection.aclose()
            raise
        if response._complete and not self._closed and len(self._idle) < MAX_IDLE \
                and connection.reusable():
            self._idle.append(connection)
        else:
            await connection.aclose()

    async def _send(self, connection: _Connection, request: Request) -> Response:
        try:
            await connection.send(request)
        except TransportError:
            # the server may have answered before the body's end and closed (a 413):
            # that answer is the response; without one the failed write is the error
            try:
                return await self._read_head(connection)
            except TransportError:
                pass
            raise
        return await self._read_head(connection)

    async def _read_head(self, connection: _Connection) -> Response:
        while type(event := await connection.next_event()) is h11.InformationalResponse:
            pass  # a 1xx before the response (100 Continue)
        return Response(event, connection)

    async def _connection(self) -> _Connection:
        while self._idle:
            connection = self._idle.pop()
            if connection.is_quiet():
                return connection
            await connection.aclose()
        return await self._connect()

    async def _connect(self) -> _Connection:
        address = f"{self._host}:{self._port}"
        stream: trio.abc.Stream | None = None
        try:
            stream = tcp = await trio.open_tcp_stream(self._host, self._port)
            if self._ssl_context is not None:
                stream = trio.SSLStream(tcp, self._ssl_context, server_hostname=self._host)
                await stream.do_handshake()
        except BaseException as exc:  # a failure, or a cancellation: nothing left open
            if stream is not None:
                await trio.aclose_forcefully(stream)
            if isinstance(exc, _FAILURES):
                raise TransportError(f"cannot connect to {address}: {_reason(exc)}") from exc
            raise
        return _Connection(stream, tcp.socket, address)
