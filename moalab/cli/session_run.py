"""`moalab session run` and `session resume`: a session of a protocol, run from the
command line (its stimuli sent to its rig, a progress bar, Ctrl-C, the live page).
Apart from :mod:`moalab.cli.lab`: the other lab commands do without trio, the runner
and the dashboard."""

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

from ..core.errors import InvalidArgument
from ..dashboard import Dashboard
from ..store.infos import SessionInfo
from ..store.lab import Lab
from .run import make_clock, run_with_signals, served_dashboard
from .run_options import EXIT_FAILED, EXIT_INTERRUPTED

if TYPE_CHECKING:
    from ..protocol.runner import ProtocolRunner

__all__ = ("resume_session", "run_session")

PROTOCOL_SOURCE = "protocol.txt"
"""In a session's data folder: where its protocol was loaded from, for a resume."""


def run_session(lab: Lab, args: argparse.Namespace, console: Console) -> int:
    """`moalab session run`: a new session of the protocol for the subject, run here."""
    runner = _runner(lab, args.protocol)
    # the page is served (or refused) before the session is made
    with served_dashboard(args.dashboard, args.dry_run, console, lab.folder) as page:
        info = runner.create_session(args.subject, args.arg, rig=args.rig)
        (lab.session_folder(info.id) / PROTOCOL_SOURCE).write_text(_source(args.protocol) + "\n")
        return _run_session(lab, runner, info, args, console, page)


def resume_session(lab: Lab, args: argparse.Namespace, console: Console) -> int:
    """`moalab session resume`: an interrupted session, run on from where it stopped."""
    info = lab.database.find_session(args.id)
    if info.status != "interrupted":
        raise InvalidArgument(
            f"session {info.id} is {info.status}: only an interrupted session can be resumed "
            "(`moalab session list` shows each session's status)")
    source = lab.session_folder(info.id) / PROTOCOL_SOURCE
    spec = args.protocol or (source.read_text().strip() if source.exists() else "")
    if not spec:
        raise InvalidArgument(f"session {info.id}: its protocol file is not known here; give "
                              "it with --protocol")
    runner = _runner(lab, spec)
    with served_dashboard(args.dashboard, args.dry_run, console, lab.folder) as page:
        return _run_session(lab, runner, info, args, console, page)


def _runner(lab: Lab, spec: str) -> "ProtocolRunner":
    """A runner of the protocol ``spec`` names (a file or module, FILE:ClassName)."""
    # imported here: the protocols, the database's models and the assets' transports
    # are half a second of imports that the other lab commands do without
    from ..protocol.loading import load_protocol
    from ..protocol.protocol import Protocol
    from ..protocol.runner import ProtocolRunner

    return ProtocolRunner(lab, load_protocol(spec, base=Protocol))


def _source(spec: str) -> str:
    """A protocol spec as it can be found again from elsewhere (a file made absolute)."""
    path, _, name = spec.partition(":")
    if Path(path).suffix == ".py" and Path(path).exists():
        path = str(Path(path).resolve())
    return f"{path}:{name}" if name else path


class _SyncBar:
    """The progress bar of a session's stimuli sent to its rig, for run_session's
    ``sync_progress``: shown only when bytes are sent and ``console`` is a terminal."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._bar: Progress | None = None

    def __call__(self, done: int, total: int) -> None:
        if not total or not self.console.is_terminal:
            return
        if self._bar is None:
            self._bar = Progress(TextColumn("stimuli to the rig"), BarColumn(), DownloadColumn(),
                                 TransferSpeedColumn(), console=self.console)
            self._bar.add_task("sync", total=total)
            self._bar.start()
        self._bar.update(self._bar.task_ids[0], completed=done)
        if done >= total:
            self.close()

    def close(self) -> None:
        """Stop the bar (and its refresh thread), if it is shown."""
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def _run_session(lab: Lab, runner: "ProtocolRunner", info: SessionInfo,
                 args: argparse.Namespace, console: Console, page: Dashboard | None = None
                 ) -> int:
    step = "" if info.step is None else f" step {info.step}"
    header = (f"session {info.id}: subject {info.subject!r}, protocol {info.protocol!r} "
              f"v{info.version} ({info.kind}{step})")
    shown = False

    def show_header() -> None:
        # once the session is claimed (its stimuli sent, its run made, or its end): a
        # session refused (its subject busy) is deleted, only the refusal is printed
        nonlocal shown
        if not shown:
            shown = True
            console.print(header, soft_wrap=True)

    runs: list[Any] = []
    sync_bar = _SyncBar(console)
    feeds = [page.watch(f"session {info.id}")] if page is not None else []

    def started(run: Any) -> None:
        show_header()
        runs.append(run)
        for feed in feeds:
            feed.attach(run)

    def synced(done: int, total: int) -> None:
        show_header()
        sync_bar(done, total)

    async def execute() -> None:
        nonlocal info
        try:
            info = await runner.run_session(info, sinks=feeds, on_run=started,
                                            sync_progress=synced)
        finally:
            sync_bar.close()

    def stop() -> None:
        for run in runs:
            run.stop()

    clock = make_clock(args.dry_run, args.speed)
    try:
        interrupted = trio.run(run_with_signals, execute, stop,
                               lambda: any(not run.finished for run in runs), console,
                               clock=clock)
    finally:
        runner.cleanup_session(info)
    ended = lab.database.get_session(info.id)
    show_header()
    console.print(f"session {ended.id}: {ended.status} after {ended.n_trials} trials; data in "
                  f"{lab.session_folder(ended.id)}", soft_wrap=True)
    if ended.error:
        console.print(f"error: {ended.error}", soft_wrap=True)
    if ended.status == "failed":
        return EXIT_FAILED
    return EXIT_INTERRUPTED if interrupted or ended.status == "interrupted" else 0
