"""The HTTP client of :class:`~moalab.executor.rest.RestExecutor`: httpx over HTTP/1.1,
each request sent in one write.

httpcore writes a request's head and its body with a ``send`` each: the server's loop
wakes for the head, parses it, sleeps, and wakes again for the body (and the client
makes two system calls). Held until the request's first read, they leave as one
segment. HTTP/1.1, not HTTP/2: h2's framing, HPACK and flow control cost both ends more
CPU per request than they save here (measured against moalab-server: 1.3-1.5x the CPU
per call on each end, and fewer calls per second, sequential or with 8 callers), and
8 callers get 8 pooled connections.
"""

import ssl
from typing import Any

import httpcore
import httpx

__all__ = ("WRITE_BUFFER", "JoinedWritesTransport", "http_client")

WRITE_BUFFER = 64 * 1024
"""Bytes held before they are written without waiting for a read: a large body (an
upload) still streams."""

LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)
"""httpx's own default pool: a connection per concurrent caller, 20 kept open."""


class _JoinedWritesStream(httpcore.AsyncNetworkStream):
    """A connection whose writes wait for its next read (or :data:`WRITE_BUFFER` bytes)."""

    def __init__(self, stream: httpcore.AsyncNetworkStream) -> None:
        self._stream = stream
        self._pending: list[bytes] = []
        self._size = 0

    async def _flush(self, timeout: float | None) -> None:
        data = b"".join(self._pending)
        self._pending.clear()
        self._size = 0
        await self._stream.write(data, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if buffer:
            self._pending.append(buffer)
            self._size += len(buffer)
            if self._size >= WRITE_BUFFER:
                await self._flush(timeout)

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        if self._pending:
            try:
                await self._flush(timeout)
            except httpcore.WriteError:
                # as httpcore does for a failed body write: the server may have
                # answered (a 413) and closed; the read gets its answer or the error
                pass
        return await self._stream.read(max_bytes, timeout)

    async def aclose(self) -> None:
        self._pending.clear()
        await self._stream.aclose()

    async def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                        timeout: float | None = None) -> "_JoinedWritesStream":
        return _JoinedWritesStream(
            await self._stream.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _JoinedWritesBackend(httpcore.AsyncNetworkBackend):
    """``backend``'s connections with :class:`_JoinedWritesStream`'s writes."""

    def __init__(self, backend: httpcore.AsyncNetworkBackend) -> None:
        self._backend = backend

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Any = None) -> _JoinedWritesStream:
        return _JoinedWritesStream(await self._backend.connect_tcp(
            host, port, timeout=timeout, local_address=local_address,
            socket_options=socket_options))

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Any = None) -> _JoinedWritesStream:
        return _JoinedWritesStream(await self._backend.connect_unix_socket(
            path, timeout=timeout, socket_options=socket_options))

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


class JoinedWritesTransport(httpx.AsyncHTTPTransport):
    """httpx's HTTP/1.1 transport (``verify`` as httpx takes it, :data:`LIMITS`), each
    request's head and body written together (see the module's docstring).

    ``network_backend`` makes the connections (default ``httpcore.TrioBackend()``: the
    transport runs in trio); their writes are joined.
    """

    def __init__(self, verify: ssl.SSLContext | bool = True,
                 network_backend: httpcore.AsyncNetworkBackend | None = None) -> None:
        # not super().__init__(): it builds httpx's pool, which takes no network
        # backend (and loads the CAs once more); this is that pool, the same settings,
        # over ours. handle_async_request and its exception mapping stay httpx's
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify),
            max_connections=LIMITS.max_connections,
            max_keepalive_connections=LIMITS.max_keepalive_connections,
            keepalive_expiry=LIMITS.keepalive_expiry,
            network_backend=_JoinedWritesBackend(network_backend or httpcore.TrioBackend()))


def http_client(base_url: str, *, verify: ssl.SSLContext | bool = True,
                **options: Any) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` for ``base_url`` over :class:`JoinedWritesTransport`.

    ``verify``: True (the system's CAs), False, or an ``ssl.SSLContext``; ``options``
    go to ``httpx.AsyncClient`` (``headers``, ``params``, ``timeout``...). The caller
    closes it (``await client.aclose()`` or ``async with``).
    """
    return httpx.AsyncClient(base_url=base_url, verify=verify,
                             transport=JoinedWritesTransport(verify), **options)
