"""The rig's page on moalab-server: its namespaces (each a controller's run) and their
objects' properties, live, behind the server's token.

Mounted at :data:`RIG_BASE` by :func:`mount_rig_dashboard` (``moalab-server`` passes it
to :func:`~moalab.server.serve.serve`). The objects are sampled every :data:`SAMPLE`
seconds in the server's trio thread rather than watched: a watcher keeps a namespace
in use, and a page left open must not keep a dead client's objects for ever.
"""

import time
from collections.abc import AsyncIterator
from typing import Any

import trio
from quart import Blueprint, Response, jsonify
from quart_trio import QuartTrio

from ..executor.registry import ObjectRegistry
from .app import HEARTBEAT, STATIC, authorised, noaccess_page, token_landing, token_refusal
from .feed import value_text
from .render import HEARTBEAT_EVENT, render_template, sse_event

__all__ = ("rig_blueprint", "mount_rig_dashboard", "RIG_BASE", "SAMPLE")

RIG_BASE = "/dashboard/"
"""Where the rig's page is on the server."""
SAMPLE = 0.05
"""Seconds between two looks at the objects' properties for an open page."""


def rig_state(registry: ObjectRegistry) -> dict[str, dict[str, dict[str, str]]]:
    """Every object's properties as text, by namespace and name (server's trio thread)."""
    state: dict[str, dict[str, dict[str, str]]] = {}
    for (namespace, name), remote in sorted(registry.objects.items()):
        state.setdefault(namespace, {})[name] = {
            prop: value_text(value) for prop, value in remote.snapshot().items()}
    return state


async def _events(registry: ObjectRegistry) -> AsyncIterator[bytes]:
    """The ``rig`` fragment whenever it changes (sampled), a heartbeat when quiet."""
    sent, quiet_since = None, time.monotonic()
    yield b"retry: 1000\n\n"
    while True:
        html = render_template("rig_state.html", namespaces=rig_state(registry))
        if html != sent:
            sent, quiet_since = html, time.monotonic()
            yield sse_event("rig", html)
        elif time.monotonic() - quiet_since >= HEARTBEAT:
            quiet_since = time.monotonic()
            yield HEARTBEAT_EVENT
        await trio.sleep(SAMPLE)


def rig_blueprint(registry: ObjectRegistry, token: str | None, base: str = RIG_BASE
                  ) -> Blueprint:
    """The rig page's routes over ``registry``, for an app to register at ``base``:
    ``GET /`` (``?token=`` sets the cookie), ``GET /events`` (SSE), ``GET /api/rig``."""
    bp = Blueprint("rig_dashboard", __name__, static_folder=str(STATIC),
                   static_url_path="/static")

    @bp.route("/")
    async def index() -> Any:
        landing = token_landing(token, base)
        if landing is not None:
            return landing
        if not authorised(token):
            return noaccess_page()
        return Response(render_template("rig.html", base=base,
                                        namespaces=rig_state(registry)), mimetype="text/html")

    @bp.route("/events")
    async def events() -> Any:
        if not authorised(token):
            return token_refusal()
        response = Response(_events(registry), mimetype="text/event-stream",
                            headers={"Cache-Control": "no-cache"})
        response.timeout = None  # a stream lasts as long as its page
        return response

    @bp.route("/api/rig")
    async def api_rig() -> Any:
        if not authorised(token):
            return token_refusal()
        return jsonify(rig_state(registry))

    return bp


def mount_rig_dashboard(app: QuartTrio, registry: ObjectRegistry, token: str | None) -> None:
    """Serve the rig's page at :data:`RIG_BASE` of the server's ``app``."""
    app.register_blueprint(rig_blueprint(registry, token), url_prefix=RIG_BASE.rstrip("/"))
