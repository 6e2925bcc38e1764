"""What the commands that run an experiment (``run``, ``demo``, ``session run``) share
before anything runs: their exit codes, the ``--dashboard`` option and the default log
file. Kept apart from :mod:`moalab.cli.run`, so that building the parser imports no
trio, runner or dashboard."""

import argparse
from datetime import datetime
from pathlib import Path

from ..core.errors import InvalidArgument
from ..dashboard.address import parse_address

__all__ = ("EXIT_FAILED", "EXIT_INTERRUPTED", "add_dashboard_option", "default_log_path")

EXIT_FAILED = 1
EXIT_INTERRUPTED = 130


def default_log_path(stem: str) -> Path:
    """A new CSV file name in the current directory: ``<stem>-<date>-<time>[-n].csv``."""
    base = f"{stem}-{datetime.now():%Y%m%d-%H%M%S}"
    path, n = Path(f"{base}.csv"), 1
    while path.exists():
        path, n = Path(f"{base}-{n}.csv"), n + 1
    return path


def _dashboard_address(text: str) -> tuple[str, int]:
    try:
        return parse_address(text)
    except InvalidArgument as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_dashboard_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--dashboard [HOST:]PORT`` (parsed to ``(host, port)``) to ``parser``."""
    parser.add_argument(
        "--dashboard", type=_dashboard_address, metavar="[HOST:]PORT",
        help="serve a live page of the run (its tree, devices, records, plots, pause/resume/"
        "stop) on HOST:PORT (default host 127.0.0.1; port 0 picks a free one); the link to "
        "open, with its token ($MOALAB_TOKEN, else a new one), is printed first")
