"""RestExecutor: device methods on a moalab-server, over its REST API (HTTP/1.1 on h11:
:mod:`~moalab.executor.http_client`).

Requests are JSON; replies and streams come as msgpack (``Accept:
application/x-msgpack``), so arrays arrive as arrays, in binary.
"""

import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote

import outcome
import trio

from ..core.clock import now
from ..core.dispatch import read_items
from ..core.memory import keep_large_buffers
from ..core.nursery import open_nursery
from .clock import ClockSync
from .codec import MEDIA_TYPE, decode, decode_exception, to_jsonable
from .endpoint import TOKEN_ENV, ServerEndpoint
from .errors import AuthenticationError, ConnectionLost, ProtocolError, RemoteError
from .framing import pop_frames
from .future import Future
from .http_client import HTTPClient, TransportError
from .messages import Call, Create, Delete, Echo, List, Message, Update, parse_fields
from .rest_batch import Answer, CallBatcher
from .mirror import object_name
from .remote import FarSideExecutor
from .session import NAMESPACE_PARAM

__all__ = ("RestExecutor",)


class _FrameStream:
    """Items of a streamed generator, read from length-prefixed msgpack frames."""

    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self.chunks = chunks
        self.buffer = bytearray()
        self.frames: list[bytes] = []

    async def receive(self) -> dict[str, Any] | None:
        """The next frame, decoded; None at the end of the response."""
        while not self.frames:
            chunk = await anext(self.chunks, None)
            if chunk is None:
                return None
            self.buffer += chunk
            self.frames = pop_frames(self.buffer)
        return decode(self.frames.pop(0))

    async def receive_batch(self) -> list[Any]:
        msg = await self.receive()
        if msg is None:
            raise ConnectionLost("the server ended the stream without its end mark")
        if "items" in msg:
            return msg["items"]
        if "error" in msg:
            raise decode_exception(msg["error"])
        raise StopAsyncIteration


_ACCEPT_MSGPACK = {"Accept": MEDIA_TYPE}


def _q(part: str) -> str:
    return quote(part, safe="")


logger = logging.getLogger("moalab.executor.rest")


class RestExecutor(FarSideExecutor):
    """Runs device methods on a ``moalab-server`` at ``server:port`` over REST.

    Slower than :class:`WebSocketExecutor` (an HTTP request per call) but plain
    HTTP; arguments travel as JSON, results and streamed items as msgpack (numpy
    arrays arrive as arrays). Calls that concurrent tasks make in one scheduler
    round share one request (``POST /api/calls``, see
    ``moalab.executor.rest_batch``), each answered as its own reply comes.
    A device's instance on the server is created (or attached to) on its first call
    or stream (or by :meth:`ensure_remote_instance`); its property changes are
    followed from then on over a streamed ``/updates`` request each. Every request
    is an HTTP request of its own (no connection to keep
    watch on: no heartbeats, no lost-link policy; a call the server cannot be reached
    for raises :class:`ConnectionLost`).
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
        super().__init__(timeout, clock_sync, namespace)
        self.endpoint = ServerEndpoint(server, port, token, tls, ca_file)
        self.url = self.endpoint.url("http")
        self._client: HTTPClient | None = None
        self._nursery: trio.Nursery | None = None  # of the clock and the update followers
        self._scope: trio.CancelScope | None = None
        self._stopped: trio.Event | None = None
        self._followers: dict[str, trio.CancelScope] = {}
        self._calls = CallBatcher(self._call_alone, self._call_batch, self._spawn)

    def _describe(self) -> str:
        return f"RestExecutor({self.url})"

    @property
    def connected(self) -> bool:
        """Whether the executor runs (it reached the server at its start)."""
        return self._client is not None

    def _running(self) -> bool:
        return self._scope is not None

    async def start_executor(self) -> None:
        """Reach the server (the token checked), then follow the clock in a system task;
        raises :class:`AuthenticationError` or :class:`ConnectionLost`."""
        if self._scope is not None:
            return
        keep_large_buffers()  # received replies and arrays reuse memory (no page faults)
        client = await self._open_client()
        self.mirror.forget()  # no update followers yet: each object is attached again
        started: Future = Future()
        self._scope, self._stopped = trio.CancelScope(), trio.Event()
        trio.lowlevel.spawn_system_task(self._background, client, started,
                                        name=self._describe())
        await started.wait()
        await self.clock.wait_aligned()  # the first probes, so timestamps align from the start

    async def stop_executor(self) -> None:
        if self._scope is None:
            return
        await self._delete_run_objects()
        scope, self._scope = self._scope, None
        scope.cancel()
        await self._stopped.wait()

    async def _background(self, client: HTTPClient, started: Future) -> None:
        """Align the clock and follow remote objects' updates until the stop; close the
        client then."""
        try:
            with self._scope:
                async with open_nursery() as nursery:
                    self._client, self._nursery = client, nursery
                    nursery.start_soon(self.clock.run, self.get_echo_clock)
                    started.set(outcome.Value(None))
                    await trio.sleep_forever()
        except Exception:  # a system task must not raise
            logger.exception("%s: its clock or an update follower failed", self._describe())
        finally:
            self._client = self._nursery = None
            self._followers.clear()
            with trio.CancelScope(shield=True):
                await client.aclose()
            self._scope = None
            self._stopped.set()

    async def _open_client(self) -> HTTPClient:
        client = HTTPClient(self.url, headers=self.endpoint.headers(),
                            params={NAMESPACE_PARAM: self.namespace} if self.namespace
                            else None,
                            ssl_context=self.endpoint.ssl_context)
        try:
            response = await client.request("GET", "/api/objects")  # checks the token too
        except TransportError as exc:
            await client.aclose()
            raise ConnectionLost(
                f"cannot reach moalab-server at {self.url}: {self.endpoint.describe_error(exc)}; "
                "is the server running, reachable, and is its certificate trusted?"
            ) from exc
        if response.status_code >= 300:
            await client.aclose()
            if response.status_code == 401:
                raise AuthenticationError(
                    f"moalab-server at {self.url} refused the token: give the server's token "
                    f"(token=... or {TOKEN_ENV})")
            raise ConnectionLost(
                f"cannot reach moalab-server at {self.url}: GET /api/objects answered "
                f"{response.status_code} {response.reason}: {response.text[:200]}; is it a "
                "moalab-server?")
        return client

    def _http(self) -> HTTPClient:
        if self._client is None:
            raise self._not_running()
        return self._client

    def _apply_update(self, value: Any) -> None:
        """Mirror an update the server sent (a map); one it garbles is logged, skipped."""
        try:
            update = parse_fields(Update, value, "update")
        except ProtocolError as exc:
            logger.warning("%s: an update from the server is ignored: %s", self._describe(), exc)
            return
        self.mirror.apply(update)

    async def _send_http(self, method: str, path: str, body: Any = None) -> Any:
        try:
            response = await self._http().request(
                method, path, json=None if body is None else to_jsonable(body),
                headers=_ACCEPT_MSGPACK)
        except TransportError as exc:
            raise ConnectionLost(f"request to {self.url}{path} failed: {exc}") from exc
        try:
            if response.headers.get("content-type") == MEDIA_TYPE:
                data = decode(response.content)
            else:
                data = response.json()
        except (ValueError, ProtocolError):
            raise RemoteError(f"{method} {path} answered {response.status_code} "
                              f"{response.reason}: {response.text[:200]}") from None
        if "error" in data:
            raise decode_exception(data["error"])
        return data

    async def _call_alone(self, msg: Call) -> Any:
        """``msg``'s result, over the call route."""
        path = f"/api/objects/{_q(msg.obj)}/call/{_q(msg.method)}"
        data = await self._send_http("POST", path, {"args": msg.args, "kwargs": msg.kwargs})
        for update in data.get("updates", ()):
            self._apply_update(update)
        return data["result"]

    async def _call_batch(self, calls: list[Call], answer: Answer) -> None:
        """Send ``calls`` in one request to the batch route; ``answer`` each as its reply
        comes, its updates applied first. Raises the server's refusal of the whole
        request, or :class:`ConnectionLost`."""
        body = to_jsonable([{"obj": msg.obj, "method": msg.method, "args": msg.args,
                             "kwargs": msg.kwargs} for msg in calls])
        refusal = None
        try:
            async with self._http().stream("POST", "/api/calls", json=body,
                                           headers=_ACCEPT_MSGPACK) as response:
                if response.status_code != 200:
                    await response.aread()
                    refusal = response.json().get("error")
                else:
                    frames = _FrameStream(response.aiter_raw())
                    while (reply := await frames.receive()) is not None:
                        for update in reply.get("updates", ()):
                            self._apply_update(update)
                        answer(reply.get("index"), outcome.Error(decode_exception(
                            reply["error"])) if "error" in reply else outcome.Value(
                            reply.get("result")))
        except TransportError as exc:
            raise ConnectionLost(f"request to {self.url}/api/calls failed: {exc}") from exc
        if refusal is not None:
            raise decode_exception(refusal)

    def _spawn(self, fn: Callable[..., Any], *args: Any) -> None:
        if self._nursery is None:
            raise self._not_running()
        self._nursery.start_soon(fn, *args)

    async def _request(self, msg: Message, wait_link: bool = True) -> Any:
        kind = type(msg)
        if kind is Call:
            return await self._calls.call(msg)
        if kind is Create:
            return await self._send_http("POST", "/api/objects", {
                "name": msg.name, "cls": msg.cls, "kwargs": msg.kwargs})
        if kind is Delete:
            return await self._send_http("DELETE", f"/api/objects/{_q(msg.name)}")
        if kind is List:
            return await self._send_http("GET", "/api/objects")
        if kind is Echo:
            data = await self._send_http("GET", "/api/echo")
            return data["t1"], data["t2"]
        raise ProtocolError(f"RestExecutor cannot send a {kind.__name__} request: it sends "
                            "call, create, delete, list and echo requests")

    async def _execute(self, obj: Any, fn: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
        name = object_name(obj)
        if name not in self.mirror.objects:  # its first call: create it there first
            await self._attach(obj)
        return await self._request(Call(None, name, fn.__name__, list(args), kwargs))

    async def get_echo_clock(self) -> tuple[float, float, float, float]:
        # stamped around the exchange itself, not the building of the request and the
        # decoding of the reply (they would add asymmetry)
        client = self._http()
        request = client.build_request("GET", "/api/echo")
        try:
            t0 = now()
            response = await client.send(request)
            t3 = now()
        except TransportError as exc:
            raise ConnectionLost(f"request to {self.url}/api/echo failed: {exc}") from exc
        data = response.json()
        if "error" in data:
            raise decode_exception(data["error"])
        return t0, data["t1"], data["t2"], t3

    @asynccontextmanager
    async def execute_generator(self, obj: Any, fn: Callable[..., Any], args: tuple = (),
                                kwargs: dict | None = None, callback: Any = None
                                ) -> AsyncIterator[AsyncIterator[Any]]:
        name = object_name(obj)
        if name not in self.mirror.objects:
            await self._attach(obj)
        path = f"/api/objects/{_q(name)}/stream/{_q(fn.__name__)}"
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
                            self._apply_update(json.loads(line))
            except TransportError:
                pass  # the object or the server went away; calls report it
            finally:
                if self._followers.get(name) is scope:
                    del self._followers[name]
