"""The moalab-server Quart app: REST and WebSocket endpoints over one object registry.

The WebSocket endpoint ``/ws`` speaks the binary moalab protocol (see
:mod:`moalab.executor.session`), served on ASGI ahead of Quart's routes (see
:mod:`moalab.server.ws_route`). The REST endpoints speak JSON, so a person
can drive a rig with curl; see :data:`OPENAPI` (served at ``/openapi.json``)
and the page at ``/``. Both run one call path,
:class:`~moalab.executor.handler.RequestHandler`: a REST route turns its request
(path and JSON body) into a message of :mod:`moalab.executor.messages`, hands it
to a handler of its own, and turns the reply into the HTTP response. The batch
route ``POST /api/calls`` takes several calls in one request (RestExecutor's
concurrent callers' calls) through one handler, and streams each call's reply as
the call ends.

A client works in a namespace (see :mod:`moalab.executor.registry`), named by the
query parameter ``namespace``: once on ``/ws?namespace=run-3``, on every REST
request (``/api/objects/lever/call/press?namespace=run-3``); without it, in
``""``, the shared one. A namespace the registry does not accept is refused: a
REST request with 400, a WebSocket closed with code 4400 and the reason. A
namespace other than ``""`` that no client has used for ``namespace_grace``
seconds (no session or update stream watching its objects, no request) is deleted
with its objects: a client that died leaves them that long, one that reconnects
sooner finds them (see :meth:`~moalab.executor.registry.ObjectRegistry.idle_namespaces`).

A failed request is answered with the exception's type and message (status 400 for
a bad request, 401 without the token, 403 not allowed, 404 no such object, 500 the
device method raised), by one error handler; its
traceback goes to the log ``moalab.server``, and to the client as well only when
the server runs with ``MOALAB_SERVER_DEBUG=1`` (a traceback shows the server's
files and code to whoever made the request).
"""

import collections
import json
import logging
import math
import os
import reprlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import trio
from quart import Response, jsonify, request
from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException

from .. import __version__
from ..core.clock import now
from ..core.errors import InvalidArgument, MoaError
from ..executor.codec import MEDIA_TYPE, encode, encode_exception, encode_parts, to_jsonable
from ..executor.errors import AuthenticationError, NotAllowed, ProtocolError, UnknownObject
from ..executor.framing import prefixed
from ..executor.handler import Backlog, RequestHandler, resolve
from ..executor.messages import (BATCH_CALL, CALL_BODY, CREATE_BODY, Call, Create, Credit,
                                 Delete, Echo, End, Failed, Gen, List, Message, Ok, Reply,
                                 Update, parse_body)
from ..executor.registry import ObjectRegistry, RemoteObject, check_namespace
from ..executor.session import NAMESPACE_PARAM, QUEUE_LIMIT, FailureReport
from .config import DEFAULT_NAMESPACE_GRACE
from .docs import OPENAPI, index_page
from .token import bearer_token, token_matches
from .ws_route import WsEndpoint, serve_ws

__all__ = ("create_app", "DEBUG_ENV", "WS_ENDPOINT")

DEBUG_ENV = "MOALAB_SERVER_DEBUG"
"""Set to 1 and error replies carry the server's tracebacks (for debugging a rig's
devices; the log has them either way)."""
WS_ENDPOINT = "moalab.ws"
"""The key of the app's :class:`~moalab.server.ws_route.WsEndpoint` in its
``extensions``: :func:`~moalab.server.serve.serve` serves plain ``/ws`` connections by it."""

_LONGEST_EXPIRY_CHECK = 5.0
"""Seconds at most between two looks for idle namespaces (and a quarter of their grace
when shorter): a namespace goes at most that late."""

STREAM_CREDIT = 1024
"""Items of a REST stream produced ahead of the response's reading (the response's
own pace holds the rest back)."""


def _error(info: dict[str, Any], status: int) -> tuple[Response, int]:
    return jsonify({"error": to_jsonable(info)}), status


def _line(message: dict) -> bytes:
    """One NDJSON line; a value JSON cannot hold is sent as its text."""
    return json.dumps(to_jsonable(message), default=str).encode() + b"\n"


def _status_of(exc: BaseException) -> int:
    """The HTTP status of a request that raised ``exc``: moalab's refusals 4xx, anything
    else (a reply that cannot be built) 500. A device's own error comes as a
    :class:`Failed` reply, answered with 500 too."""
    if isinstance(exc, AuthenticationError):
        return 401
    if isinstance(exc, NotAllowed):
        return 403
    if isinstance(exc, UnknownObject):
        return 404
    return 400 if isinstance(exc, MoaError) else 500


def _namespace() -> str:
    """The namespace the request names (``""`` if none); raises
    :class:`InvalidArgument` for one the registry does not accept."""
    return check_namespace(request.args.get(NAMESPACE_PARAM, ""))


def _where() -> str:
    """The request, in a few words: the id of its message, named in the log."""
    return f"{request.method} {request.path}"


async def _json(kind: type, example: str) -> Any:
    """The request's JSON body, a ``kind`` (an empty body: an empty one); raises
    :class:`ProtocolError` naming ``example`` for anything else."""
    data = await request.get_data(as_text=True)
    if not data.strip():
        return kind()
    what = "a JSON object" if kind is dict else "a JSON list"
    try:
        body = json.loads(data)
    except ValueError as exc:
        raise ProtocolError(f"the request body is not JSON ({exc}): send {what}, "
                            f"e.g. {example}") from None
    if not isinstance(body, kind):
        raise ProtocolError(f"the request body must be {what}, not {reprlib.repr(body)}: "
                            f"e.g. {example}")
    return body


async def _json_body() -> dict[str, Any]:
    return await _json(dict, '{"args": [1], "kwargs": {}}')


def _batch_call(index: int, item: Any) -> Call:
    """The call of item ``index`` of a batch request, its index its id; raises
    :class:`ProtocolError` for a bad one."""
    if not isinstance(item, dict):
        raise ProtocolError(f"call {index} of the batch must be a JSON object "
                            f'{{"obj", "method", "args", "kwargs"}}, not {reprlib.repr(item)}')
    return parse_body(Call, item, BATCH_CALL, id=index)


def _batch_reply(reply: Ok | Failed, updates: list[dict[str, Any]]) -> dict[str, Any]:
    """A batch's reply to one call: its index, its result or its error, and the updates
    of the batch's objects that came before it."""
    if isinstance(reply, Failed):
        return {"index": reply.id, "error": reply.error, "updates": updates}
    return {"index": reply.id, "result": reply.ok, "updates": updates}


def _frame(message: dict) -> bytes:
    return b"".join(prefixed(encode_parts(message)))


def _lines(items: list[Any]) -> bytes:
    return b"".join(_line({"item": item}) for item in items)


def _frames(items: list[Any]) -> bytes:
    return _frame({"items": items})


def _wants_msgpack() -> bool:
    """A client accepting msgpack (RestExecutor does) gets a call's reply as one frame
    and a stream as length-prefixed frames, arrays as arrays; others get JSON."""
    return MEDIA_TYPE in request.headers.get("Accept", "")


class _Failed(Exception):
    """A request's :class:`Failed` reply (a device's own error), to answer with 500."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(error.get("message"))
        self.error = error


class _Replies:
    """The reply sink of one REST request: the replies of its message, in order, and
    the updates of watched objects (a call's travel with its reply: the /updates
    stream is another connection, and may deliver them after the reply)."""

    def __init__(self) -> None:
        self.backlog = Backlog(QUEUE_LIMIT)  # never fills: a stream is held back by credit
        self.updates: list[dict[str, Any]] = []
        self._replies: collections.deque[Reply] = collections.deque()
        self._arrived = trio.Event()

    def send(self, reply: Reply, copy_arrays: bool = True) -> None:
        self._replies.append(reply)
        self._arrived.set()

    def on_update(self, name: str, seq: int, props: dict, event: bool) -> None:
        self.updates.append(Update(name, seq, props, event).to_wire())

    async def receive(self) -> Reply:
        """The next reply; a :class:`Failed` one raises :class:`_Failed`."""
        while not self._replies:
            self._arrived = trio.Event()
            await self._arrived.wait()
        reply = self._replies.popleft()
        if isinstance(reply, Failed):
            raise _Failed(reply.error)
        return reply


class _BatchReplies:
    """The reply sink of one batch request: its calls' replies as they come, each with
    the updates of the watched objects that came before it."""

    def __init__(self) -> None:
        self.backlog = Backlog(QUEUE_LIMIT)  # never fills: the response's pace holds it
        self._updates: list[dict[str, Any]] = []
        self._ready: list[tuple[Reply, list[dict[str, Any]]]] = []
        self._arrived = trio.Event()

    def send(self, reply: Reply, copy_arrays: bool = True) -> None:
        self._ready.append((reply, self._updates))
        self._updates = []
        self._arrived.set()

    def on_update(self, name: str, seq: int, props: dict, event: bool) -> None:
        self._updates.append(Update(name, seq, props, event).to_wire())

    async def receive(self) -> list[tuple[Reply, list[dict[str, Any]]]]:
        """The replies come since the last receive (at least one), with their updates."""
        while not self._ready:
            self._arrived = trio.Event()
            await self._arrived.wait()
        ready, self._ready = self._ready, []
        return ready


class _UpdateQueue:
    """A watcher of a remote object for one REST client: updates as NDJSON lines."""

    def __init__(self) -> None:
        self.send, self.receive = trio.open_memory_channel(math.inf)

    def on_update(self, name: str, seq: int, props: dict, event: bool) -> None:
        self.send.send_nowait(Update(name, seq, props, event).to_wire())


def create_app(registry: ObjectRegistry, clock: Callable[[], float] = now,
               token: str | None = None, debug: bool | None = None,
               namespace_grace: float = DEFAULT_NAMESPACE_GRACE) -> QuartTrio:
    """Build the app serving ``registry``; ``clock`` stamps clock echoes (default: the
    experiment clock, which the devices' timestamps are on). While it serves, a
    namespace unused for ``namespace_grace`` seconds is deleted (see above).

    With a ``token``, every ``/api`` request needs ``Authorization: Bearer
    <token>`` (else 401, and nothing runs) and a WebSocket that does not bring
    it (header, or ``?token=``) is closed with code 1008 (policy violation).
    The page, ``/openapi.json`` and ``/health`` stay open. ``debug``: error
    replies carry tracebacks (None: when :data:`DEBUG_ENV` is 1).
    """
    app = QuartTrio("moalab.server")
    # "//" in a path is not merged with a redirect (an HTML 308): it matches no route
    app.url_map.merge_slashes = False
    if debug is None:
        debug = os.environ.get(DEBUG_ENV) == "1"
    log = logging.getLogger("moalab.server")
    failures = FailureReport(tracebacks=debug, log=log)
    # the /ws endpoint; its live sessions are counted by /health
    endpoint = app.extensions[WS_ENDPOINT] = WsEndpoint(registry, clock, failures, token)

    def unwatch(remote: RemoteObject, watcher: Any) -> None:
        remote.watchers.discard(watcher)
        registry.touch(remote.namespace)  # its REST client was there until now

    async def answer(message: Message, sink: _Replies | None = None,
                     received_at: float | None = None) -> Any:
        """Run a REST request's ``message`` through the call path; return its reply's
        value. Raises the handler's refusal, or :class:`_Failed`. The WebSocket
        sessions run the same :class:`RequestHandler`."""
        sink = sink or _Replies()
        refused: Exception | None = None
        async with trio.open_nursery() as nursery:  # an async call's task
            handler = RequestHandler(registry, sink, nursery, _namespace(), clock, failures)
            try:
                try:
                    handler.handle(message, clock() if received_at is None else received_at)
                except Exception as exc:  # raised outside the nursery: not in a group
                    refused = exc
                else:
                    reply = await sink.receive()
            finally:
                handler.close()
        if refused is not None:
            raise refused
        return reply.ok

    expiry = trio.CancelScope()  # of the task deleting idle namespaces, while serving

    async def delete_idle_namespaces() -> None:
        with expiry:
            while True:
                await trio.sleep(min(namespace_grace / 4, _LONGEST_EXPIRY_CHECK))
                for namespace in registry.idle_namespaces(namespace_grace):
                    try:
                        count = registry.delete_namespace(namespace)
                    except Exception:  # a device's close failed; its objects are gone still
                        log.warning("deleted namespace %r, unused for %g s; closing one of "
                                    "its objects failed", namespace, namespace_grace,
                                    exc_info=True)
                    else:
                        log.warning("deleted namespace %r and its %d object(s): no client "
                                    "used it for %g s", namespace, count, namespace_grace)

    @app.before_serving
    async def start_expiry() -> None:
        app.add_background_task(delete_idle_namespaces)

    @app.after_serving
    async def stop_expiry() -> None:
        expiry.cancel()  # at once: the app's other background tasks get a deadline

    @app.errorhandler(HTTPException)
    async def http_error(exc: HTTPException) -> Any:
        # Quart's own errors (no such route, method not allowed, body too large) as
        # JSON, like every other error of the API
        response, status = _error(encode_exception(exc), exc.code or 500)
        if status == 413:
            # the rest of the body is left unread on the connection: closed, or the
            # client's next request on it would wait behind it for ever
            response.headers["Connection"] = "close"
        return response, status

    @app.errorhandler(Exception)
    async def request_error(exc: Exception) -> Any:
        # every route's: a refusal 4xx, a device's own error or a reply that cannot be
        # built 500, as {"error": ...}; the failure is logged (bar moalab's refusals)
        if isinstance(exc, _Failed):
            return _error(exc.error, 500)
        return _error(failures.describe(exc, _where()), _status_of(exc))

    @app.before_request
    async def check_token() -> Any:
        if token is None or not request.path.startswith("/api/"):
            return None
        if token_matches(token, bearer_token(request.headers.get("Authorization"))):
            return None
        await request.get_data()  # read, so the keep-alive connection stays usable
        response, _ = _error(encode_exception(AuthenticationError(
            "missing or wrong token: send the server's token as 'Authorization: Bearer "
            "<token>' (clients: token=... or the MOALAB_TOKEN environment variable)")), 401)
        response.headers["WWW-Authenticate"] = "Bearer"
        return response, 401

    @app.before_request
    async def check_namespace_param() -> Any:
        # every /api route: a listing too, which does not use it, tells a bad one; a
        # request no route takes gets its routing error
        if not request.path.startswith("/api/") or request.url_rule is None:
            return None
        try:
            namespace = _namespace()
        except InvalidArgument:
            await request.get_data()  # read, so the keep-alive connection stays usable
            raise
        registry.touch(namespace)  # a REST client leaves no session: its requests count
        return None

    @app.route("/")
    async def index() -> Response:
        return Response(index_page(), mimetype="text/html")

    @app.route("/openapi.json")
    async def openapi() -> Response:
        return jsonify(OPENAPI)

    @app.route("/health")
    async def health() -> Response:
        return jsonify({"status": "ok", "version": __version__,
                        "objects": len(registry.objects),
                        "namespaces": len(registry.namespaces()),
                        "sessions": len(endpoint.sessions)})

    @app.route("/api/echo")
    async def echo() -> Response:
        t1, t2 = await answer(Echo(_where()), received_at=clock())
        return jsonify({"t1": t1, "t2": t2})

    @app.route("/api/objects", methods=["GET"])
    async def list_objects() -> Response:
        return jsonify(await answer(List(_where())))

    @app.route("/api/objects", methods=["POST"])
    async def create_object() -> Any:
        body = await _json_body()
        reply = await answer(parse_body(Create, body, CREATE_BODY, id=_where()))
        return jsonify(to_jsonable(reply)), 201 if reply["created"] else 200

    @app.route("/api/objects/<name>", methods=["DELETE"])
    async def delete_object(name: str) -> Any:
        await answer(Delete(_where(), name))
        return jsonify({"deleted": name})

    async def request_of(kind: type[Call | Gen], name: str, method: str,
                         **more: Any) -> Call | Gen:
        """The message of a call or stream request; raises for a bad one."""
        # the body first: answering before it is read stalls the keep-alive connection
        body = await _json_body()
        return parse_body(kind, body, CALL_BODY, id=_where(), obj=name, method=method, **more)

    @app.route("/api/objects/<name>/call/<method>", methods=["POST"])
    async def call(name: str, method: str) -> Any:
        message = await request_of(Call, name, method)
        remote, _ = resolve(registry, _namespace(), message)
        sink = _Replies()
        remote.watchers.add(sink)  # the call's updates, for its reply
        try:
            result = await answer(message, sink)
        finally:
            unwatch(remote, sink)
        reply = {"result": result, "updates": sink.updates}
        if _wants_msgpack():
            return Response(encode(reply), mimetype=MEDIA_TYPE)
        return jsonify(to_jsonable(reply))

    @app.route("/api/calls", methods=["POST"])
    async def calls() -> Any:
        items = await _json(list, '[{"obj": "lever", "method": "press", "args": [], '
                                  '"kwargs": {}}]')
        # the body runs after this handler returns, outside the request's context
        namespace, where = _namespace(), _where()
        if _wants_msgpack():
            return Response(batch_body(items, namespace, where, _frame), mimetype=MEDIA_TYPE)
        return Response(batch_body(items, namespace, where, _line),
                        mimetype="application/x-ndjson")

    async def batch_body(items: list[Any], namespace: str, where: str,
                         pack: Callable[[dict], bytes]) -> AsyncIterator[bytes]:
        """The replies of a batch's calls, each as its call ends (those ready together
        in one chunk); a bad call is answered with its error, the others run."""
        def pack_reply(reply: Ok | Failed, updates: list[dict[str, Any]]) -> bytes:
            try:
                return pack(_batch_reply(reply, updates))
            except Exception as exc:  # a result the wire cannot carry: that call's error
                error = failures.describe(exc, f"{where} call {reply.id}")
                return pack(_batch_reply(Failed(reply.id, error), updates))

        sink = _BatchReplies()
        watched: set[RemoteObject] = set()
        async with trio.open_nursery() as nursery:  # the async calls' tasks
            handler = RequestHandler(registry, sink, nursery, namespace, clock, failures)
            try:
                received_at = clock()
                for index, item in enumerate(items):
                    try:
                        message = _batch_call(index, item)
                        remote, _ = resolve(registry, namespace, message)
                        if remote not in watched:  # its updates, for the replies
                            remote.watchers.add(sink)
                            watched.add(remote)
                        handler.handle(message, received_at)
                    except Exception as exc:
                        sink.send(Failed(index, failures.describe(exc, f"{where} call {index}")))
                unanswered = len(items)
                while unanswered:
                    ready = await sink.receive()
                    unanswered -= len(ready)
                    yield b"".join(pack_reply(*answer) for answer in ready)
            finally:
                handler.close()
                for remote in watched:
                    unwatch(remote, sink)
                nursery.cancel_scope.cancel()

    @app.route("/api/objects/<name>/stream/<method>", methods=["POST"])
    async def stream(name: str, method: str) -> Any:
        message = await request_of(Gen, name, method, credit=STREAM_CREDIT)
        resolve(registry, _namespace(), message)  # refused now: with a status, not a line
        # the body runs after this handler returns, outside the request's context
        namespace, where = _namespace(), _where()
        if _wants_msgpack():
            return Response(stream_body(message, namespace, where, _frames, _frame),
                            mimetype=MEDIA_TYPE)
        return Response(stream_body(message, namespace, where, _lines, _line),
                        mimetype="application/x-ndjson")

    async def stream_body(message: Gen, namespace: str, where: str,
                          pack_items: Callable[[list[Any]], bytes],
                          pack: Callable[[dict], bytes]) -> AsyncIterator[bytes]:
        """A stream's items, then ``{"end": true}`` or ``{"error": ...}``; credit goes
        back as the response takes them."""
        sink = _Replies()
        async with trio.open_nursery() as nursery:  # the stream's task
            handler = RequestHandler(registry, sink, nursery, namespace, clock, failures)
            try:
                handler.handle(message, clock())
                while True:
                    reply = await sink.receive()
                    if isinstance(reply, End):
                        yield pack({"end": True})
                        return
                    yield pack_items(reply.items)
                    handler.handle(Credit(message.id, len(reply.items)), clock())
            except _Failed as failed:
                yield pack({"error": failed.error})
            except Exception as exc:  # its object deleted since the request came
                yield pack({"error": failures.describe(exc, where)})
            finally:
                handler.close()
                nursery.cancel_scope.cancel()

    @app.route("/api/objects/<name>/updates")
    async def updates(name: str) -> Any:
        remote = registry.get(name, _namespace())
        queue = _UpdateQueue()
        remote.watchers.add(queue)

        async def lines() -> AsyncIterator[bytes]:
            try:
                yield _line(Update(name, remote.seq, remote.snapshot(), False).to_wire())
                async for update in queue.receive:
                    yield _line(update)
            finally:
                unwatch(remote, queue)

        return Response(lines(), mimetype="application/x-ndjson")

    app.asgi_app = serve_ws(app.asgi_app, endpoint)
    return app
