"""Dashboard: the runs a process's page watches, its token, its lab, and change pushes."""

import logging
import os
import secrets
import threading
from pathlib import Path

import trio

from ..core.errors import InvalidArgument
from ..runner.run import Run
from ..store.infos import SessionInfo
from ..store.lab import Lab
from .feed import RunFeed

__all__ = ("Dashboard", "new_token", "COALESCE", "SESSIONS_EVERY", "RECENT_SESSIONS")

_log = logging.getLogger("moalab.dashboard")

COALESCE = 0.025
"""Seconds at least between two pushes of one page: changes in between are coalesced."""
SESSIONS_EVERY = 2.0
"""Seconds between two reads of the lab's sessions."""
RECENT_SESSIONS = 20
"""Sessions the page lists (the running ones and the latest)."""


def new_token() -> str:
    """``$MOALAB_TOKEN`` if set, else a new random token."""
    return os.environ.get("MOALAB_TOKEN") or secrets.token_urlsafe(24)


class Dashboard:
    """The runs being watched in this process (:meth:`watch`), selectable by run id;
    the ``token`` a page must bring; optionally a lab (its folder), whose sessions the
    page lists.

    Feeds tell the dashboard of changes from their runs' threads; pages wait for them
    with :meth:`wait_change` in the dashboard's own trio loop (see :meth:`bind`). A
    wake-up is scheduled at most once at a time, so a feed never blocks and a slow page
    only misses intermediate states.
    """

    def __init__(self, token: str | None = None, lab_folder: str | os.PathLike | None = None
                 ) -> None:
        self.token = token or new_token()
        self.lab_folder = Path(lab_folder) if lab_folder is not None else None
        self.feeds: list[RunFeed] = []
        self.sessions: list[SessionInfo] = []
        self.sessions_version = 0
        self.pages = 0
        """Event streams open now (pages watching): one less as soon as a page goes."""
        self._loop: trio.lowlevel.TrioToken | None = None
        self._wake_pending = False
        self._wake_lock = threading.Lock()
        self._version = 0
        self._changed: trio.Event | None = None

    def watch(self, label: str, run: Run | None = None) -> RunFeed:
        """A new :class:`RunFeed` for the run labelled ``label``: give it to the run as a
        sink; with ``run`` (or :meth:`RunFeed.attach` later) the page's buttons control it."""
        feed = RunFeed(label, self._feed_changed)
        if run is not None:
            feed.attach(run)
        self.feeds.append(feed)
        return feed

    @property
    def runs(self) -> list[RunFeed]:
        """The feeds of runs with an id, as ``/api/runs`` and the page list them: a feed
        watched before its run is made (a session's, while its assets are prepared) has
        none until :meth:`RunFeed.attach` or its run's start record."""
        return [feed for feed in self.feeds if feed.run_id]

    def feed(self, run_id: str | None) -> RunFeed:
        """The feed of ``run_id``; with None, the latest run's. Raises
        :class:`InvalidArgument` naming the runs known."""
        feeds = [f for f in self.feeds if run_id is None or f.run_id == run_id]
        if not feeds:
            known = ", ".join(repr(f.run_id) for f in self.feeds if f.run_id) or "none yet"
            raise InvalidArgument(f"no run {run_id!r} on this dashboard: the runs are {known}")
        return feeds[-1]

    # ------------------------------------------------------------ change pushes

    def bind(self) -> None:
        """Deliver change wake-ups to the calling trio loop (the dashboard's)."""
        self._loop = trio.lowlevel.current_trio_token()
        self._changed = trio.Event()

    def _feed_changed(self) -> None:
        # any thread (a run's): schedule one wake-up, never wait for the loop
        loop = self._loop
        if loop is None:
            return
        with self._wake_lock:
            if self._wake_pending:
                return
            self._wake_pending = True
        try:
            loop.run_sync_soon(self._wake)
        except trio.RunFinishedError:
            self._loop = None

    def _wake(self) -> None:
        with self._wake_lock:
            self._wake_pending = False
        self._version += 1
        if self._changed is not None:
            self._changed.set()
            self._changed = trio.Event()

    async def wait_change(self, seen: int) -> int:
        """Wait until something changed after version ``seen``; return the new version.
        In the dashboard's loop."""
        while self._version == seen and self._changed is not None:
            await self._changed.wait()
        return self._version

    @property
    def version(self) -> int:
        return self._version

    # ---------------------------------------------------------------- the lab

    async def poll_sessions(self, every: float = SESSIONS_EVERY) -> None:
        """Read the lab's sessions every ``every`` seconds (in a worker thread), for ever;
        in the dashboard's loop. Returns at once without a lab."""
        if self.lab_folder is None:
            return
        while True:
            try:
                sessions = await trio.to_thread.run_sync(self._read_sessions)
            except Exception as exc:  # a locked or moved database: the page keeps the last list
                _log.warning("cannot read the sessions of the lab %s: %s", self.lab_folder, exc)
                sessions = self.sessions
            if sessions != self.sessions:
                self.sessions = sessions
                self.sessions_version += 1
                self._wake()
            await trio.sleep(every)

    def _read_sessions(self) -> list[SessionInfo]:
        # a Lab of this thread's own: the database's connections stay in one thread
        lab = Lab(self.lab_folder)  # type: ignore[arg-type]
        try:
            infos = lab.database.list_sessions()
        finally:
            lab.close()
        running = [s for s in infos if s.status == "running"]
        others = [s for s in infos if s.status != "running"]
        return running + others[::-1][:max(0, RECENT_SESSIONS - len(running))]

