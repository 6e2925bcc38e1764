"""RestExecutor: device methods on a moalab-server, over its REST API (httpx).

Requests are JSON; replies and streams come as msgpack (``Accept:
application/x-msgpack``), so arrays arrive as arrays, in binary.
"""

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote

import httpx
import trio

from ..core.clock import now
from ..core.dispatch import read_items
from .clock import ClockSync
from .codec import MEDIA_TYPE, decode, decode_exception, to_jsonable
from .endpoint import TOKEN_ENV, ServerEndpoint
from .errors import AuthenticationError, ConnectionLost, ProtocolError, RemoteError
from .framing import pop_frames
from .remote import RemoteExecutor, Transport
from .session import NAMESPACE_PARAM

__all__ = ("RestExecutor",)


class _Idle:
    """No frames: REST requests are separate HTTP requests; closes with the client."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.closed = trio.Event()

    async def send_frames(self, frames: list[bytes]) -> None:
        raise ProtocolError("RestExecutor sends no frames")

    async def receive_frame(self) -> bytes | None:
        await self.closed.wait()
        return None

    async def aclose(self) -> None:
        self.closed.set()
        await self.client.aclose()


class _FrameStream:
    """Items of a streamed generator, read from length-prefixed msgpack frames."""

    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self.chunks = chunks
        self.buffer = bytearray()
        self.frames: list[bytes] = []

    async def receive_batch(self) -> list[Any]:
        while not self.frames:
            chunk = await anext(self.chunks, None)
            if chunk is None:
                raise ConnectionLost("the server ended the stream without its end mark")
            self.buffer += chunk
            self.frames = pop_frames(self.buffer)
        msg = decode(self.frames.pop(0))
        if "items" in msg:
            return msg["items"]
        if "error" in msg:
            raise decode_exception(msg["error"])
        raise StopAsyncIteration


_ACCEPT_MSGPACK = {"Accept": MEDIA_TYPE}


def _q(part: str) -> str:
    return quote(part, safe="")


class RestExecutor(RemoteExecutor):
    """Runs device methods on a ``moalab-server`` at ``server:port`` over REST.

    Slower than :class:`WebSocketExecutor` (an HTTP request per call) but plain
    HTTP; arguments travel as JSON, results and streamed items as msgpack (numpy
    arrays arrive as arrays). Remote objects' property changes are followed over
    a streamed ``/updates`` request each.
    The server's clock is aligned over ``/api/echo`` (``clock_sync``, see
    :class:`RemoteExecutor`); the executor outlives a restart of the server, and
    a clock step it brings is detected. ``namespace``: where its objects live on the
    server (see :class:`RemoteExecutor`), sent as the query parameter
    ``namespace=...`` of every request when it is not ``""``.
    """

    def __init__(self, server: str = "127.0.0.1", port: int = 5000,
                 timeout: float | None = None,
                 clock_sync: ClockSync | None = ClockSync(), token: str | None = None,
                 tls: bool = False, ca_file: str | None = None,
                 namespace: str | None = None) -> None:
        super().__init__(timeout, clock_sync=clock_sync, namespace=namespace)
        self.endpoint = ServerEndpoint(server, port, token, tls, ca_file)
        self.url = self.endpoint.url("http")
        self._client: httpx.AsyncClient | None = None
        self._nursery: trio.Nursery | None = None
        self._followers: dict[str, trio.CancelScope] = {}

    _heartbeats = False  # every request is a connection of its own

    def _describe(self) -> str:
        return f"RestExecutor({self.url})"

    async def _connect(self, nursery: trio.Nursery) -> Transport:
        client = httpx.AsyncClient(base_url=self.url, timeout=None,
                                   headers=self.endpoint.headers(),
                                   params={NAMESPACE_PARAM: self.namespace} if self.namespace
                                   else None,
                                   verify=self.endpoint.ssl_context or True)
        try:
            response = await client.get("/api/objects")  # checks the token too
            if response.status_code == 401:
                await client.aclose()
                raise AuthenticationError(
                    f"moalab-server at {self.url} refused the token: give the server's token "
                    f"(token=... or {TOKEN_ENV})")
            response.raise_for_status()
        except httpx.HTTPError as exc:
            await client.aclose()
            raise ConnectionLost(
                f"cannot reach moalab-server at {self.url}: {self.endpoint.describe_error(exc)}; "
                "is the server running, reachable, and is its certificate trusted?"
            ) from exc
        self._client, self._nursery = client, nursery
        return _Idle(client)

    def _http(self) -> httpx.AsyncClient:
        if self._client is None or self._out_send is None:
            self._send({})  # raises the not-running error
        return self._client

    async def _send_http(self, method: str, path: str, body: Any = None) -> Any:
        try:
            response = await self._http().request(
                method, path, json=None if body is None else to_jsonable(body),
                headers=_ACCEPT_MSGPACK)
        except httpx.TransportError as exc:
            raise ConnectionLost(f"request to {self.url}{path} failed: {exc}") from exc
        try:
            if response.headers.get("content-type") == MEDIA_TYPE:
                data = decode(response.content)
            else:
                data = response.json()
        except (ValueError, ProtocolError):
            raise RemoteError(f"{method} {path} answered {response.status_code} "
                              f"{response.reason_phrase}: {response.text[:200]}") from None
        if "error" in data:
            raise decode_exception(data["error"])
        return data

    async def _request(self, msg: dict, wait_link: bool = True) -> Any:
        op = msg["op"]
        if op == "call":
            path = f"/api/objects/{_q(msg['obj'])}/call/{_q(msg['method'])}"
            data = await self._send_http("POST", path, {"args": msg["args"],
                                                          "kwargs": msg["kwargs"]})
            for update in data.get("updates", ()):
                self._dispatch(update)
            return data["result"]
        if op == "create":
            return await self._send_http("POST", "/api/objects", {
                "name": msg["name"], "cls": msg["cls"], "kwargs": msg["kwargs"]})
        if op == "delete":
            return await self._send_http("DELETE", f"/api/objects/{_q(msg['name'])}")
        if op == "list":
            return await self._send_http("GET", "/api/objects")
        if op == "echo":
            data = await self._send_http("GET", "/api/echo")
            return data["t1"], data["t2"]
        raise ProtocolError(f"RestExecutor cannot send op {op!r}")

    async def get_echo_clock(self) -> tuple[float, float, float, float]:
        # stamped around the exchange itself, not httpx's building of the request and
        # decoding of the reply (they would add ~50 us of asymmetry)
        client = self._http()
        request = client.build_request("GET", "/api/echo")
        try:
            t0 = now()
            response = await client.send(request)
            t3 = now()
        except httpx.TransportError as exc:
            raise ConnectionLost(f"request to {self.url}/api/echo failed: {exc}") from exc
        data = response.json()
        if "error" in data:
            raise decode_exception(data["error"])
        return t0, data["t1"], data["t2"], t3

    @asynccontextmanager
    async def execute_generator(self, obj: Any, fn: Callable[..., Any], args: tuple = (),
                                kwargs: dict | None = None, callback: Any = None
                                ) -> AsyncIterator[AsyncIterator[Any]]:
        path = f"/api/objects/{_q(self._name(obj))}/stream/{_q(fn.__name__)}"
        body = to_jsonable({"args": list(args), "kwargs": kwargs or {}})
        async with self._http().stream("POST", path, json=body,
                                       headers=_ACCEPT_MSGPACK) as response:
            if response.status_code != 200:
                await response.aread()
                raise decode_exception(response.json().get("error"))
            async with read_items(obj, callback, _FrameStream(response.aiter_raw())) as items:
                yield items

    async def ensure_remote_instance(self, obj: Any) -> bool:
        created = await super().ensure_remote_instance(obj)
        if obj.name not in self._followers:
            await self._nursery.start(self._follow_updates, obj.name)
        return created

    async def delete_remote_instance(self, obj: Any) -> None:
        scope = self._followers.pop(obj.name, None)
        if scope is not None:
            scope.cancel()
        await super().delete_remote_instance(obj)

    async def _follow_updates(self, name: str,
                              task_status: trio.TaskStatus = trio.TASK_STATUS_IGNORED) -> None:
        with trio.CancelScope() as scope:
            self._followers[name] = scope
            try:
                async with self._client.stream("GET", f"/api/objects/{_q(name)}/updates") as r:
                    task_status.started()
                    async for line in r.aiter_lines():
                        if line:
                            self._dispatch(json.loads(line))
            except httpx.HTTPError:
                pass  # the object or the server went away; calls report it
            finally:
                if self._followers.get(name) is scope:
                    del self._followers[name]
