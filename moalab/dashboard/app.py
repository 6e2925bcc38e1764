"""The dashboard's HTTP routes: its page, its SSE stream, its controls, ``/api/runs``.

:func:`dashboard_blueprint` gives the routes as a Quart blueprint (the rig's server
mounts it), :func:`create_dashboard_app` a quart-trio app of them alone. Every route
but the static files needs the dashboard's token: ``GET /?token=T`` sets it as an
HttpOnly, SameSite=Strict cookie and redirects to the page (the token leaves the
address bar), and the controls take it as well as ``Authorization: Bearer`` or
``X-Moalab-Token``.
"""

import functools
import math
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import trio
from quart import Blueprint, Response, jsonify, redirect, request
from quart_trio import QuartTrio

from ..core.errors import InvalidArgument, StageStateError
from ..server.token import bearer_token, token_matches
from .dashboard import COALESCE, Dashboard
from .feed import RunFeed
from .render import HEARTBEAT_EVENT, fragments, render_noaccess, render_page, sse_event

__all__ = ("dashboard_blueprint", "create_dashboard_app", "authorised", "token_landing",
           "noaccess_page", "token_refusal", "COOKIE", "HEARTBEAT", "PLOT_EVERY",
           "RECORDS_EVERY", "ACTIONS", "STATIC")

COOKIE = "moalab_token"
"""The cookie holding the dashboard's token."""
HEARTBEAT = 5.0
"""Seconds at most between two events of a stream: a quiet one sends a ``heartbeat``
(the page knows it is live, proxies keep it open)."""
PLOT_EVERY = 0.25
"""Seconds at least between two ``plot`` events of a stream (2000 points a trace)."""
RECORDS_EVERY = 0.2
"""Seconds at least between two ``records`` events of a stream (and two ``status`` ones
changing only the elapsed time): device changes and stages go at once."""
_EVERY = {"status": RECORDS_EVERY, "records": RECORDS_EVERY, "plot": PLOT_EVERY}
ACTIONS = ("pause", "resume", "stop")
"""The controls of a run."""

STATIC = Path(__file__).parent / "static"
_NO_TOKEN = ("missing or wrong token: open the link the command printed "
             "(http://HOST:PORT/?token=...), or send the token as 'Authorization: Bearer "
             "<token>' or 'X-Moalab-Token: <token>'")


def authorised(token: str | None) -> bool:
    """Whether the request brings ``token`` (cookie, Bearer or X-Moalab-Token header);
    None: a server without a token (on a loopback address only) lets everyone in."""
    if token is None:
        return True
    given = (request.cookies.get(COOKIE) or bearer_token(request.headers.get("Authorization"))
             or request.headers.get("X-Moalab-Token"))
    return token_matches(token, given)


def token_landing(token: str | None, base: str) -> Response | None:
    """For ``GET base?token=T``: a redirect to ``base`` setting the cookie, or the 401
    page for a wrong token; None for a request without ``token``."""
    given = request.args.get("token")
    if given is None:
        return None
    if token is not None and not token_matches(token, given):
        return Response(render_noaccess("The token in this link is not this dashboard's."),
                        401, mimetype="text/html")
    response = redirect(base)
    response.set_cookie(COOKIE, given, httponly=True, samesite="Strict", path=base)
    return response


def token_refusal() -> tuple[Response, int]:
    """The 401 JSON answer of a data or control request without the token."""
    return _json_error(_NO_TOKEN, 401)


def noaccess_page() -> Response:
    """The 401 page saying how to get the link."""
    return Response(render_noaccess("This page needs its token."), 401, mimetype="text/html")


def _json_error(message: str, status: int) -> tuple[Response, int]:
    return jsonify({"error": message}), status


def _event_keys(dashboard: Dashboard, feed: RunFeed) -> dict[str, tuple[Any, Any]]:
    """Each event's (urgent, lazy) keys, cheap to take: an event is due when its urgent
    key changed, or its lazy one did and :data:`_EVERY` of it has passed."""
    versions = feed.versions()
    return {
        "status": ((feed.status, versions["tree"]), f"{feed.elapsed:.1f}"),
        "tree": (versions["tree"], None),
        "devices": (versions["devices"], None),
        "records": (None, versions["records"]),
        "sessions": ((dashboard.sessions_version, len(dashboard.feeds)), None),
        "plot": (None, versions["plot"]),
    }


def _due(key: tuple[Any, Any], sent: tuple[Any, Any] | None, every: float, since: float
         ) -> bool:
    """Whether an event of ``key`` is due, ``sent`` its last one's, ``since`` s ago."""
    return sent is None or key[0] != sent[0] or (key[1] != sent[1] and since >= every)


async def _events(dashboard: Dashboard, feed: RunFeed, base: str) -> AsyncIterator[bytes]:
    """The SSE stream of ``feed``'s page: a fragment when its part of the feed changed
    (the records, and the status for its elapsed time alone, at most every
    :data:`RECORDS_EVERY` s), the plot at most every :data:`PLOT_EVERY` s, a stamp per
    device change, a heartbeat after :data:`HEARTBEAT` s without an event."""
    sent: dict[str, tuple[Any, Any]] = {}
    sent_at: dict[str, float] = {}
    html_sent: dict[str, str] = {}
    stamp = None
    seen = -1
    last_event = time.monotonic()
    dashboard.pages += 1
    try:
        yield b"retry: 1000\n\n"
        while True:
            now = time.monotonic()
            keys = _event_keys(dashboard, feed)
            due = [name for name, key in keys.items()
                   if _due(key, sent.get(name), _EVERY.get(name, 0.0),
                           now - sent_at.get(name, -math.inf))]
            for name in due:
                sent[name], sent_at[name] = keys[name], now
            out = []
            for event, html in fragments(dashboard, feed, base,
                                         [name for name in due if name != "plot"]).items():
                if html_sent.get(event) != html:
                    html_sent[event] = html
                    out.append(sse_event(event, html))
            if feed.stamp() is not stamp and feed.stamp() is not None:
                stamp = feed.stamp()
                out.append(sse_event("stamp", {
                    "device": stamp.device, "prop": stamp.prop, "value": stamp.value,
                    "server_ms": stamp.server_ms, "sent_ms": time.time() * 1000.0}))
            if "plot" in due:
                out.append(sse_event("plot", feed.plot()))
            if not out and now - last_event >= HEARTBEAT:
                out.append(HEARTBEAT_EVENT)
            if out:
                last_event = now
            for chunk in out:
                yield chunk
            # wake for a change, a throttled event's turn, or the heartbeat's
            wake = min([sent_at[name] + _EVERY[name] for name, key in keys.items()
                        if key != sent[name]] + [last_event + HEARTBEAT])
            pushed = time.monotonic()
            with trio.move_on_after(max(0.0, wake - pushed)):
                seen = await dashboard.wait_change(seen)
            # at most one push per COALESCE s: changes coming sooner wait, and go together
            await trio.sleep(max(0.0, COALESCE - (time.monotonic() - pushed)))
    finally:  # the page went (the response is cancelled) or the server stops
        dashboard.pages -= 1


async def _control(feed: RunFeed, action: str) -> None:
    """Call the run's ``action`` in its own trio thread; raises StageStateError."""
    run = feed.run
    assert run is not None and feed.trio_token is not None
    method = {"pause": run.pause, "resume": run.resume, "stop": run.stop}[action]
    await trio.to_thread.run_sync(
        functools.partial(trio.from_thread.run_sync, method, trio_token=feed.trio_token))


def dashboard_blueprint(dashboard: Dashboard, base: str = "/", name: str = "dashboard"
                        ) -> Blueprint:
    """The dashboard's routes over ``dashboard``, for an app to register at ``base``
    (``url_prefix=base``; ``base`` ends with '/')."""
    bp = Blueprint(name, __name__, static_folder=str(STATIC), static_url_path="/static")

    def feed_or_404(run_id: str | None) -> RunFeed | tuple[Response, int]:
        try:
            return dashboard.feed(run_id)
        except InvalidArgument as exc:
            return _json_error(str(exc), 404)

    def page(run_id: str | None) -> Any:
        if not authorised(dashboard.token):
            return noaccess_page()
        feed = None
        if dashboard.feeds or run_id is not None:
            found = feed_or_404(run_id)
            if not isinstance(found, RunFeed):
                return found
            feed = found
        return Response(render_page(dashboard, feed, base), mimetype="text/html")

    @bp.route("/")
    async def index() -> Any:
        return token_landing(dashboard.token, base) or page(None)

    @bp.route("/runs/<run_id>")
    async def run_page(run_id: str) -> Any:
        return page(run_id)

    @bp.route("/api/runs")
    async def api_runs() -> Any:
        if not authorised(dashboard.token):
            return token_refusal()
        return jsonify([feed.summary() for feed in dashboard.runs])

    @bp.route("/events")
    async def events() -> Any:
        if not authorised(dashboard.token):
            return _json_error(_NO_TOKEN, 401)
        found = feed_or_404(request.args.get("run") or None)
        if not isinstance(found, RunFeed):
            return found
        response = Response(_events(dashboard, found, base), mimetype="text/event-stream",
                            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        response.timeout = None  # a stream lasts as long as its page
        return response

    # a page or script that read a run's id too soon posts to /runs//ACTION: merged to
    # /runs/ACTION (a page's address, GET only) it got a 405 HTML page
    @bp.route("/runs//<action>", methods=["POST"], merge_slashes=False)
    async def control_without_id(action: str) -> Any:
        if not authorised(dashboard.token):
            return _json_error(_NO_TOKEN, 401)
        return _json_error(
            f"POST /runs//{action} has no run id: give a run's id from /api/runs "
            f"(POST /runs/RUN_ID/{action}); a run is listed once it is made", 404)

    @bp.route("/runs/<run_id>/<action>", methods=["POST"])
    async def control(run_id: str, action: str) -> Any:
        if not authorised(dashboard.token):
            return _json_error(_NO_TOKEN, 401)
        if action not in ACTIONS:
            return _json_error(f"no control {action!r}: give one of {', '.join(ACTIONS)}", 404)
        found = feed_or_404(run_id)
        if not isinstance(found, RunFeed):
            return found
        if found.run is None or found.trio_token is None:
            return _json_error(f"run {run_id!r} cannot be controlled from this dashboard "
                               "(it watches the run's records only)", 409)
        if found.run.finished:
            return _json_error(f"cannot {action} run {run_id!r}: it has ended "
                               f"({found.run.status})", 409)
        try:
            await _control(found, action)
        except StageStateError as exc:
            return _json_error(str(exc), 409)
        return jsonify(found.summary())

    return bp


def create_dashboard_app(dashboard: Dashboard) -> QuartTrio:
    """A quart-trio app serving ``dashboard`` at ``/`` (its loop must call
    :meth:`Dashboard.bind`: :class:`~moalab.dashboard.server.DashboardServer` does)."""
    app = QuartTrio(__name__, static_folder=None)
    app.register_blueprint(dashboard_blueprint(dashboard), url_prefix="")
    return app
