"""The moalab-server Quart app: REST and WebSocket endpoints over one object registry.

The WebSocket endpoint ``/ws`` speaks the binary moalab protocol (see
:mod:`moalab.executor.session`). The REST endpoints speak JSON, so a person
can drive a rig with curl; see :data:`OPENAPI` (served at ``/openapi.json``)
and the page at ``/``.

A client works in a namespace (see :mod:`moalab.executor.registry`), named by the
query parameter ``namespace``: once on ``/ws?namespace=run-3``, on every REST
request (``/api/objects/lever/call/press?namespace=run-3``); without it, in
``""``, the shared one. A namespace the registry does not accept is refused: a
REST request with 400, a WebSocket closed with code 4400 and the reason. A
namespace other than ``""`` that no client has used for ``namespace_grace``
seconds (no session or update stream watching its objects, no request) is deleted
with its objects: a client that died leaves them that long, one that reconnects
sooner finds them (see :meth:`~moalab.executor.registry.ObjectRegistry.idle_namespaces`).

A failed request is answered with the exception's type and message; its
traceback goes to the log ``moalab.server``, and to the client as well only when
the server runs with ``MOALAB_SERVER_DEBUG=1`` (a traceback shows the server's
files and code to whoever made the request).
"""

import json
import logging
import math
import os
from collections.abc import AsyncIterator, Callable
from typing import Any

import trio
from quart import Response, jsonify, request, websocket
from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException

from .. import __version__
from ..core.clock import now
from ..executor.batching import chunk_items, join_frames
from ..executor.codec import (MEDIA_TYPE, Frame, encode, encode_exception, encode_parts,
                              to_jsonable)
from ..executor.errors import AuthenticationError, NotAllowed, ProtocolError, UnknownObject
from ..executor.framing import prefixed
from ..core.errors import InvalidArgument
from ..executor.registry import ObjectRegistry, RemoteObject, check_namespace
from ..executor.session import NAMESPACE_PARAM, FailureReport, Session
from ..executor.websocket import BAD_REQUEST
from .config import DEFAULT_NAMESPACE_GRACE
from .docs import OPENAPI, index_page
from .token import bearer_token, token_matches

__all__ = ("create_app", "POLICY_VIOLATION", "DEBUG_ENV")

POLICY_VIOLATION = 1008
"""WebSocket close code for a connection without the right token."""

DEBUG_ENV = "MOALAB_SERVER_DEBUG"
"""Set to 1 and error replies carry the server's tracebacks (for debugging a rig's
devices; the log has them either way)."""

_LONGEST_EXPIRY_CHECK = 5.0
"""Seconds at most between two looks for idle namespaces (and a quarter of their grace
when shorter): a namespace goes at most that late."""

Describe = Callable[[BaseException], dict[str, Any]]
"""The error of a reply, made from the exception (see :class:`FailureReport`)."""


def _error(info: dict[str, Any], status: int) -> tuple[Response, int]:
    return jsonify({"error": to_jsonable(info)}), status


def _line(message: dict) -> bytes:
    """One NDJSON line; a value JSON cannot hold is sent as its text."""
    return json.dumps(to_jsonable(message), default=str).encode() + b"\n"


def _status_of(exc: Exception) -> int:
    if isinstance(exc, NotAllowed):
        return 403
    if isinstance(exc, UnknownObject):
        return 404
    return 400


def _namespace() -> str:
    """The namespace the request names (``""`` if none); raises
    :class:`InvalidArgument` for one the registry does not accept."""
    return check_namespace(request.args.get(NAMESPACE_PARAM, ""))


async def _json_body() -> dict[str, Any]:
    data = await request.get_data(as_text=True)
    if not data.strip():
        return {}
    try:
        body = json.loads(data)
    except ValueError as exc:
        raise ProtocolError(f"the request body is not JSON ({exc}): send a JSON object, "
                            'e.g. {"args": [1], "kwargs": {}}') from None
    if not isinstance(body, dict):
        raise ProtocolError(f"the request body must be a JSON object, not {body!r}")
    return body


def _call_arguments(body: dict[str, Any]) -> tuple[list, dict]:
    args, kwargs = body.get("args", []), body.get("kwargs", {})
    if not isinstance(args, list) or not isinstance(kwargs, dict):
        raise ProtocolError('give "args" as a JSON list and "kwargs" as a JSON object')
    return args, kwargs


def _frame(message: dict) -> bytes:
    return b"".join(prefixed(encode_parts(message)))


def _lines(items: list[Any]) -> bytes:
    return b"".join(_line({"item": item}) for item in items)


def _frames(items: list[Any]) -> bytes:
    # one copy of the arrays: the parts of every frame joined at once
    return b"".join(part for chunk in chunk_items(items)
                    for part in prefixed(encode_parts({"items": chunk})))


def _wants_msgpack() -> bool:
    """A client accepting msgpack (RestExecutor does) gets a call's reply as one frame
    and a stream as length-prefixed frames, arrays as arrays; others get JSON."""
    return MEDIA_TYPE in request.headers.get("Accept", "")


async def _stream_body(remote: RemoteObject, method: str, args: list, kwargs: dict,
                       pack_items: Callable[[list[Any]], bytes],
                       pack: Callable[[dict], bytes], describe: Describe) -> AsyncIterator[bytes]:
    """A generator method's items, then ``{"end": true}`` or ``{"error": ...}``."""
    try:
        async with remote.stream(method, args, kwargs) as items:
            while True:
                try:
                    batch = await items.receive_batch()
                except StopAsyncIteration:
                    break
                yield pack_items(batch)
        yield pack({"end": True})
    except Exception as exc:
        yield pack({"error": describe(exc)})


def _update(name: str, seq: int, props: dict, event: bool) -> dict[str, Any]:
    return {"op": "update", "obj": name, "seq": seq, "props": props, "event": event}


class _UpdateQueue:
    """A watcher of a remote object for one REST client: updates as NDJSON lines."""

    def __init__(self) -> None:
        self.send, self.receive = trio.open_memory_channel(math.inf)

    def on_update(self, name: str, seq: int, props: dict, event: bool) -> None:
        self.send.send_nowait(_update(name, seq, props, event))


class _UpdateList:
    """A watcher collecting the updates made during one REST call."""

    def __init__(self) -> None:
        self.updates: list[dict[str, Any]] = []

    def on_update(self, name: str, seq: int, props: dict, event: bool) -> None:
        self.updates.append(_update(name, seq, props, event))


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
    sessions: set[Session] = set()  # the live WebSocket sessions, counted by /health

    def describer() -> Describe:
        """Describes the failures of the request being handled, for its reply."""
        where = f"{request.method} {request.path}"
        return lambda exc: failures.describe(exc, where)

    def failed(exc: BaseException, status: int) -> tuple[Response, int]:
        return _error(describer()(exc), status)

    def unwatch(remote: RemoteObject, watcher: Any) -> None:
        remote.watchers.discard(watcher)
        registry.touch(remote.namespace)  # its REST client was there until now

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
        return _error(encode_exception(exc), exc.code or 500)

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
        except InvalidArgument as exc:
            await request.get_data()  # read, so the keep-alive connection stays usable
            return failed(exc, 400)
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
                        "namespaces": len(registry.namespaces()), "sessions": len(sessions)})

    @app.route("/api/echo")
    async def echo() -> Response:
        received = clock()
        return jsonify({"t1": received, "t2": clock()})

    @app.route("/api/objects", methods=["GET"])
    async def list_objects() -> Response:
        return jsonify(registry.describe())

    @app.route("/api/objects", methods=["POST"])
    async def create_object() -> Any:
        try:
            body = await _json_body()
            kwargs = body.get("kwargs", {})
            if not isinstance(kwargs, dict):
                raise ProtocolError('give "kwargs" as a JSON object')
            remote, created = registry.create(body.get("name"), body.get("cls"), kwargs,
                                              _namespace())
        except Exception as exc:
            return failed(exc, _status_of(exc))
        return jsonify({"created": created, "props": to_jsonable(remote.snapshot()),
                        "seq": remote.seq}), (
            201 if created else 200)

    @app.route("/api/objects/<name>", methods=["DELETE"])
    async def delete_object(name: str) -> Any:
        try:
            registry.delete(name, _namespace())
        except Exception as exc:
            return failed(exc, _status_of(exc))
        return jsonify({"deleted": name})

    async def _target(name: str, method: str, kind: str) -> tuple[RemoteObject, list, dict]:
        """The object and the arguments of a call or stream request; raises for a bad one."""
        # the body first: answering before it is read stalls the keep-alive connection
        body = await _json_body()
        remote = registry.get(name, _namespace())
        remote.method(method, kind)
        return (remote, *_call_arguments(body))

    @app.route("/api/objects/<name>/call/<method>", methods=["POST"])
    async def call(name: str, method: str) -> Any:
        try:
            remote, args, kwargs = await _target(name, method, "call")
        except Exception as exc:
            return failed(exc, _status_of(exc))
        # the updates the call causes travel with its reply too: the /updates stream
        # is another connection, and may deliver them after the reply
        collected = _UpdateList()
        remote.watchers.add(collected)
        try:
            result = await remote.call(method, args, kwargs)
            remote.flush()  # the call's changes into `collected` before the reply is built
            reply = {"result": result, "updates": collected.updates}
            if _wants_msgpack():
                return Response(encode(reply), mimetype=MEDIA_TYPE)
            return jsonify(to_jsonable(reply))
        except Exception as exc:  # raised by the device method, or a result that can't travel
            return failed(exc, 500)
        finally:
            unwatch(remote, collected)

    @app.route("/api/objects/<name>/stream/<method>", methods=["POST"])
    async def stream(name: str, method: str) -> Any:
        try:
            remote, args, kwargs = await _target(name, method, "generator")
        except Exception as exc:
            return failed(exc, _status_of(exc))
        # the body runs after this handler returns, outside the request's context
        describe = describer()
        if _wants_msgpack():
            return Response(_stream_body(remote, method, args, kwargs, _frames, _frame,
                                         describe), mimetype=MEDIA_TYPE)
        return Response(_stream_body(remote, method, args, kwargs, _lines, _line, describe),
                        mimetype="application/x-ndjson")

    @app.route("/api/objects/<name>/updates")
    async def updates(name: str) -> Any:
        try:
            remote = registry.get(name, _namespace())
        except Exception as exc:
            return failed(exc, _status_of(exc))
        queue = _UpdateQueue()
        remote.watchers.add(queue)

        async def lines() -> AsyncIterator[bytes]:
            try:
                yield _line(_update(name, remote.seq, remote.snapshot(), False))
                async for update in queue.receive:
                    yield _line(update)
            finally:
                unwatch(remote, queue)

        return Response(lines(), mimetype="application/x-ndjson")

    @app.websocket("/ws")
    async def ws() -> None:
        if token is not None:
            given = bearer_token(websocket.headers.get("Authorization"))
            if not token_matches(token, given or websocket.args.get("token")):
                await websocket.accept()
                await websocket.close(POLICY_VIOLATION, "missing or wrong token")
                return
        try:
            namespace = check_namespace(websocket.args.get(NAMESPACE_PARAM, ""))
        except InvalidArgument as exc:
            await websocket.accept()
            # a close reason holds at most 123 bytes
            await websocket.close(BAD_REQUEST, str(exc).encode()[:123].decode(errors="ignore"))
            return
        async def send_frames(frames: list[Frame]) -> None:
            # frames joined end to end: few WebSocket messages per burst
            for message in join_frames(frames):
                await websocket.send(message)

        async def receive() -> bytes | None:
            data = await websocket.receive()
            # text is taken as its UTF-8 bytes; an empty message arrives as None
            return data.encode() if isinstance(data, str) else data or b""

        session = Session(registry, send_frames, clock, failures=failures, namespace=namespace)
        sessions.add(session)
        try:
            await session.serve(receive)
        finally:
            sessions.discard(session)

    return app
