"""The page and its SSE events' fragments, rendered from a feed (Jinja templates)."""

import json
from collections.abc import Callable, Iterable
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from ..stage.snapshot import trial_text
from .dashboard import Dashboard
from .feed import RunFeed

__all__ = ("render_template", "render_page", "render_noaccess", "fragments", "sse_event",
           "HEARTBEAT_EVENT", "RECORDS_SHOWN", "FRAGMENTS")

RECORDS_SHOWN = 50
"""Rows of the records' tail the page shows, newest first."""

# auto_reload off: the templates are the package's, and their files' dates were looked
# at on every render (a stat per fragment, up to 40 pushes a second)
_ENV = Environment(loader=PackageLoader("moalab.dashboard", "templates"), auto_reload=False,
                   autoescape=select_autoescape(default=True, default_for_string=True))
_ENV.globals["trials"] = trial_text


def render_template(name: str, **context: Any) -> str:
    """The template ``name`` of ``moalab/dashboard/templates`` rendered with ``context``."""
    return _ENV.get_template(name).render(**context)


FRAGMENTS = ("status", "tree", "devices", "records", "sessions")
"""The page's HTML fragments, by SSE event name."""


def fragments(dashboard: Dashboard, feed: RunFeed, base: str,
              names: Iterable[str] = FRAGMENTS) -> dict[str, str]:
    """The HTML fragments ``names`` (of :data:`FRAGMENTS`) of the page, by SSE event name;
    only those are rendered."""
    sessions = dashboard.sessions if dashboard.lab_folder is not None else None
    renderers: dict[str, Callable[[], str]] = {
        "status": lambda: render_template("status.html", feed=feed,
                                          current=feed.current_paths()),
        "tree": lambda: render_template("tree.html", tree=feed.snapshot(),
                                        current=feed.current_paths()),
        "devices": lambda: render_template("devices.html", devices=feed.devices()),
        "records": lambda: render_template("records.html",
                                           rows=feed.tail()[:-RECORDS_SHOWN - 1:-1]),
        "sessions": lambda: render_template(
            "sessions.html", sessions=sessions,
            run_ids={f.metadata.get("session"): f.run_id for f in dashboard.runs},
            base=base),
    }
    return {name: renderers[name]() for name in names}


def render_page(dashboard: Dashboard, feed: RunFeed | None, base: str) -> str:
    """The whole page of ``feed``'s run (None: no run yet), its fragments in place."""
    return render_template("page.html", feed=feed, base=base,
                   runs=[f.summary() for f in dashboard.runs],
                   fragments=fragments(dashboard, feed, base) if feed is not None else {})


def render_noaccess(message: str) -> str:
    """The page saying how to get the dashboard's link."""
    return render_template("noaccess.html", message=message)


def sse_event(event: str, data: str | dict[str, Any]) -> bytes:
    """One server-sent event: ``data`` (text, or JSON of a dict) one ``data:`` line per line."""
    text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    lines = "".join(f"data: {line}\n" for line in text.splitlines() or [""])
    return f"event: {event}\n{lines}\n".encode()


HEARTBEAT_EVENT = sse_event("heartbeat", "quiet")
"""The event a quiet stream sends: a named event (a comment raises none in the browser),
so the page's staleness check hears from a paused run with nothing to show."""
