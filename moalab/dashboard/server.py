"""DashboardServer: the dashboard served by hypercorn in a thread of its own."""

import logging
import threading
from types import TracebackType

import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve as hypercorn_serve

from ..core.errors import InvalidArgument
from ..core.nursery import leaves, open_nursery
from .app import create_dashboard_app
from .dashboard import Dashboard

__all__ = ("DashboardServer",)

_START_LIMIT = 10.0  # seconds for hypercorn to bind


class DashboardServer:
    """Serves ``dashboard`` on ``host:port`` from a thread with its own trio loop and
    the real clock, so a run under a virtual clock or a slow page delays nothing.

    ``with DashboardServer(dashboard, host, port) as server:`` starts it (returning once
    it listens: :attr:`url` has the real port) and stops it at the end, joining its
    thread. Raises :class:`InvalidArgument` if it cannot listen there (port in use,
    unknown host).
    """

    def __init__(self, dashboard: Dashboard, host: str = "127.0.0.1", port: int = 0) -> None:
        self.dashboard = dashboard
        self.host, self.port = host, port
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._loop: trio.lowlevel.TrioToken | None = None
        self._shutdown: trio.Event | None = None

    @property
    def url(self) -> str:
        """The page's address (without the token)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    @property
    def link(self) -> str:
        """The page's address with the token: the one line to print."""
        return f"{self.url}?token={self.dashboard.token}"

    def __enter__(self) -> "DashboardServer":
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def start(self) -> None:
        """Start serving; returns once listening. Raises :class:`InvalidArgument`."""
        self._thread = threading.Thread(target=trio.run, args=(self._serve,),
                                        name="moalab dashboard", daemon=True)
        self._thread.start()
        if not self._started.wait(_START_LIMIT):
            self.stop()
            raise InvalidArgument(f"the dashboard did not start on {self.host}:{self.port} "
                                  f"in {_START_LIMIT:.0f} s")
        if self._error is not None:
            self._thread.join()
            error = self._error
            reason = getattr(error, "strerror", None) or error
            raise InvalidArgument(
                f"--dashboard {self.host}:{self.port}: cannot listen there ({reason}): give a "
                "free port (0 picks one) on an address of this computer") from None

    def stop(self) -> None:
        """Stop serving (open pages are disconnected) and join the thread."""
        if self._loop is not None and self._shutdown is not None:
            try:
                self._loop.run_sync_soon(self._shutdown.set)
            except trio.RunFinishedError:
                pass
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    async def _serve(self) -> None:
        self._loop = trio.lowlevel.current_trio_token()
        self._shutdown = trio.Event()
        self.dashboard.bind()
        config = HypercornConfig()
        config.bind = [f"[{self.host}]:{self.port}" if ":" in self.host
                       else f"{self.host}:{self.port}"]
        config.accesslog = None  # a page's first request carries the token
        config.errorlog = logging.getLogger("moalab.dashboard")
        config.graceful_timeout = 0.5
        app = create_dashboard_app(self.dashboard)
        try:
            async with open_nursery() as nursery:

                async def serve(task_status: trio.TaskStatus[list[str]]) -> None:
                    await hypercorn_serve(app, config, shutdown_trigger=self._shutdown.wait,
                                          task_status=task_status)
                    nursery.cancel_scope.cancel()  # and the sessions' poll

                nursery.start_soon(self.dashboard.poll_sessions)
                urls = await nursery.start(serve)
                self.port = int(urls[0].rsplit(":", 1)[1])
                self._started.set()
        except Exception as exc:
            if self._started.is_set():
                raise
            self._error = leaves(exc)[0]  # reported by start(), in the caller's thread
            self._started.set()
