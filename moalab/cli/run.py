"""`moalab run` and `moalab demo`: run an experiment with a live view and a CSV log."""

import signal
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import trio
from rich.console import Console
from rich.live import Live
from rich.text import Text

from ..core.errors import InvalidArgument
from ..core.nursery import leaves, open_nursery
from ..dashboard import Dashboard
from ..log.loggers import SimpleCSVLogger
from ..log.sink import TreeSink
from ..runner.run import Run
from ..stage.runstate import RunState
from ..stage.snapshot import snapshot_tree
from . import failure
from .live import LiveView
from .run_options import EXIT_FAILED, EXIT_INTERRUPTED
from .script import Experiment

__all__ = ("run_cli_experiment", "run_with_signals", "make_clock", "served_dashboard")


def make_clock(dry_run: bool, speed: float | None) -> trio.abc.Clock | None:
    """The clock of a run: virtual for ``--dry-run`` (at once) or ``--speed``, else real."""
    import trio.testing  # here: it imports pytest, 0.2 s that a real-time run does without

    if dry_run:
        return trio.testing.MockClock(autojump_threshold=0)
    if speed is not None:
        return trio.testing.MockClock(rate=speed)
    return None


@contextmanager
def served_dashboard(address: tuple[str, int] | None, dry_run: bool, console: Console,
                     lab_folder: Path | None = None) -> Iterator[Dashboard | None]:
    """Serve a dashboard on ``address`` while the block runs, its link printed first;
    None (and nothing served) without an address. Raises :class:`InvalidArgument` with
    ``dry_run`` (over before a page loads) or if it cannot listen there."""
    if address is None:
        yield None
        return
    if dry_run:
        raise InvalidArgument("--dashboard with --dry-run: a dry run is over before a page "
                              "loads; drop --dry-run, or watch it at --speed FACTOR")
    # imported here: Quart and hypercorn add 0.15 s to every command that serves no page
    from ..dashboard.server import DashboardServer

    dashboard = Dashboard(lab_folder=lab_folder)
    with DashboardServer(dashboard, *address) as server:
        # the one line with the token in it, before the run's own output
        console.print(f"dashboard: {server.link}", soft_wrap=True, highlight=False, markup=False)
        console.file.flush()
        yield dashboard


async def run_with_signals(execute: Callable[[], Awaitable[Any]], stop: Callable[[], None],
                           running: Callable[[], bool], console: Console) -> bool:
    """Await ``execute()``; the first SIGINT/SIGTERM calls ``stop()`` (a clean stop),
    the second, or one while not ``running()``, cancels it. Returns whether a signal
    arrived."""
    interrupted = False
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        # a lone failure comes out as itself, for the command line to show
        async with open_nursery() as nursery:

            async def watch_signals() -> None:
                nonlocal interrupted
                async for _ in signals:
                    if interrupted or not running():
                        nursery.cancel_scope.cancel()
                    interrupted = True
                    console.print("[yellow]stopping the experiment (again to abort)...[/]")
                    stop()

            nursery.start_soon(watch_signals)
            await execute()
            nursery.cancel_scope.cancel()
    return interrupted


def run_cli_experiment(
    experiment: Experiment,
    log_path: Path,
    *,
    dry_run: bool = False,
    speed: float | None = None,
    live: bool = True,
    overwrite: bool = False,
    console: Console | None = None,
    errors: Console | None = None,
    full_traceback: bool = False,
    dashboard: tuple[str, int] | None = None,
) -> int:
    """Run ``experiment``, recording it to a CSV file at ``log_path``; return an exit code.

    The live view (kept from the run's records) and the summary go to ``console``;
    an exception of the run goes to ``errors`` (stderr by default) as the user's
    frames and the stage it was raised in, or with every frame when ``full_traceback``.
    With ``dashboard`` (``(host, port)``) a live page of the run is served there while it
    runs (see :func:`served_dashboard`: its errors are raised before the log is made).
    """
    console = console or Console()
    if log_path.is_dir():  # refused before a page is served
        raise InvalidArgument(f"--log {str(log_path)!r} is a folder: give a file name, "
                              "e.g. run1.csv")
    with served_dashboard(dashboard, dry_run, console) as page:
        return _run_cli_experiment(experiment, log_path, page, dry_run=dry_run, speed=speed,
                                   live=live, overwrite=overwrite, console=console,
                                   errors=errors, full_traceback=full_traceback)


def _run_cli_experiment(experiment: Experiment, log_path: Path, page: Dashboard | None, *,
                        dry_run: bool, speed: float | None, live: bool, overwrite: bool,
                        console: Console, errors: Console | None, full_traceback: bool) -> int:
    clock = make_clock(dry_run, speed)
    logger = SimpleCSVLogger(log_path, overwrite=overwrite)
    try:
        logger.open()
    except OSError as exc:
        raise InvalidArgument(
            f"cannot write the log file {str(log_path)!r} ({exc.strerror or exc}): give a "
            "path in an existing folder you may write to"
        ) from None
    root = experiment.root
    tree = TreeSink()
    feeds = [page.watch(str(experiment.source))] if page is not None else []
    run = Run(root, experiment.devices, experiment.executors, sinks=[logger, tree, *feeds])
    for feed in feeds:
        feed.attach(run)

    read_clock: Callable[[], float] = clock.current_time if clock else time.perf_counter
    start = read_clock()
    view = LiveView(lambda: tree.snapshot() or snapshot_tree(root), lambda: read_clock() - start,
                    str(log_path))
    interrupted = False
    keyboard: BaseExceptionGroup | None = None
    try:
        display = (
            Live(get_renderable=view.render, console=console, refresh_per_second=8)
            if live
            else nullcontext()
        )
        try:
            with display:
                interrupted = trio.run(run_with_signals, run.execute, run.stop,
                                       lambda: run.root.active, console, clock=clock)
        finally:
            if live:  # the live view's last line ends before anything else is printed
                console.line()
    # a Ctrl-C outside trio's signal handling comes in trio's groups: a stop
    except* KeyboardInterrupt as group:
        interrupted, keyboard = True, group
    finally:
        logger.close()

    state = root.run_state
    # one line whatever the width, so the log's path is never broken up
    console.print(
        Text.assemble(
            f"experiment {experiment.source}: ", (str(state), "bold"),
            f" after {read_clock() - start:.3f} s{' (virtual time)' if clock else ''}; "
            f"{logger.count} log events in {log_path.resolve()}",
        ),
        soft_wrap=True,
    )
    errors = errors or Console(stderr=True, soft_wrap=True)
    if keyboard is not None:
        first = leaves(keyboard)[0]
        errors.print(Text.assemble(("interrupted: ", "yellow"), failure.headline(first)),
                     soft_wrap=True)
    if run.error is not None:
        _report_failure(run.error, errors, full_traceback)
        return EXIT_FAILED
    if interrupted:
        return EXIT_INTERRUPTED
    return 0 if state in (RunState.DONE, RunState.STOPPED) else EXIT_FAILED


def _report_failure(error: BaseException, errors: Console, full: bool) -> None:
    """Print each exception ``error`` carries: the user's frames (all of them with
    ``full``), then one line naming its type and the stage it was raised in."""
    if full:
        errors.out(failure.full_traceback(error), highlight=False, end="")
    for exc in leaves(error):
        if not full:
            text = failure.user_traceback(exc)
            if text:
                errors.out(text, highlight=False, end="")
        hint = "" if full else " (--traceback shows every frame)"
        errors.print(Text.assemble(("error: ", "red"), failure.headline(exc), hint),
                     soft_wrap=True)
