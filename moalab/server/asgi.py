"""moalab's ASGI layer: what must hold around the Quart app where hypercorn serves it."""

import json
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from ..core.memory import release_free_memory
from ..executor.codec import encode_exception
from ..executor.errors import ProtocolError

__all__ = ("GuardedApp",)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

DRAIN_QUIET = 1.0
"""Seconds without an event after which a finished WebSocket stops waiting for its
disconnect (see :class:`GuardedApp`)."""

_NO_PATH = ProtocolError("the request target has no path: request one that starts with '/', "
                         "e.g. /health or /api/objects")


class GuardedApp:
    """The ASGI app ``app``, guarded against two things it does not handle itself.

    A request (HTTP or WebSocket) whose target has no path (``?x``, or empty)
    gets a 400 with a JSON error before ``app`` sees it: Quart fails on it with an
    ``IndexError`` (a 500, and a traceback in the log, before authentication).

    Once a WebSocket's handler is done, the connection's events are read (and
    dropped) until its disconnect, or until none comes for :data:`DRAIN_QUIET`
    seconds: hypercorn's reader waits to hand over each event of a bounded queue,
    and a reader waiting for a handler that is gone would hold the connection and
    its socket for ever (a client that left with requests unread behind a reply
    backlog left them so). The disconnect itself may never come: hypercorn drops it
    when its delivery is cancelled along with the handler. Then the memory freed
    goes back to the system: what a connection held (a backlog of 8 MiB of
    replies, and as much of requests, or more) is not kept for reuse.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and not scope.get("path"):
            await _refuse(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        disconnected = False

        async def watched_receive() -> dict[str, Any]:
            nonlocal disconnected
            event = await receive()
            disconnected = event["type"] == "websocket.disconnect"
            return event

        try:
            await self.app(scope, watched_receive, send)
        finally:
            while not disconnected:
                with trio.move_on_after(DRAIN_QUIET) as quiet:
                    disconnected = (await receive())["type"] == "websocket.disconnect"
                if quiet.cancelled_caught:
                    break
            release_free_memory()


async def _refuse(scope: Scope, receive: Receive, send: Send) -> None:
    """Answer 400, as an HTTP response or as the refusal of a WebSocket handshake."""
    body = json.dumps({"error": encode_exception(_NO_PATH)}).encode()
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode())]
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 400, "headers": headers})
        await send({"type": "http.response.body", "body": body})
    else:
        await receive()  # websocket.connect: ASGI's first event of a WebSocket
        await send({"type": "websocket.http.response.start", "status": 400,
                    "headers": headers})
        await send({"type": "websocket.http.response.body", "body": body})
