"""`moalab export DIR`: the lab's data and assets for a paper's supplementary materials.

``--json`` prints the summary as an object: ``folder`` (absolute), ``written``,
``unchanged``, ``removed`` (paths relative to it), ``missing`` (export keys of assets
not exported) and ``left_out`` (personal assets an anonymous export left out).
"""

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress

from ..core.errors import InvalidArgument
from ..export.options import ASSET_CHOICES
from ..store.lab import Lab

__all__ = ("add_export_command", "run_export")


def add_export_command(commands: Any) -> None:
    """Add `moalab export` to ``commands`` (the `moalab` subparsers)."""
    export = commands.add_parser(
        "export", help="export the lab's data and assets for a paper's supplementary "
        "materials",
        description="Write the lab's subjects, sessions, trials and qualifications as CSV "
        "and JSON into DIR, with its assets as <subject>/<session>/<local_key><ext> "
        "(and protocols/<protocol>/<name><ext> with --assets all), a README.md and a "
        "manifest.json. Exporting again into DIR updates it: only what changed is "
        "copied.")
    export.add_argument("folder", type=Path, metavar="DIR", nargs="?",
                        help="the export's folder: new, empty, or an earlier export")
    export.add_argument("--nwb", nargs=2, metavar=("SESSION_ID", "OUT.nwb"),
                        help="instead, write one session as an NWB file (its subject, "
                        "trials, stages, device events and recordings' keys); the id, or "
                        "its first characters if no other id starts with them")
    export.add_argument("--overwrite", action="store_true",
                        help="with --nwb: replace OUT.nwb if it exists")
    export.add_argument("--assets", choices=ASSET_CHOICES, default="experiment",
                        help="experiment: the sessions' recordings (default); all: and the "
                        "protocols' stimuli; none: the data only")
    export.add_argument("--anonymous", action="store_true",
                        help="leave out the subject fields and the assets marked personal")
    export.add_argument("--lab", metavar="DIR", help="the lab folder (default: $MOALAB_LAB, "
                        "else the current folder)")
    export.add_argument("--json", action="store_true", help="print the summary as JSON")


def run_export(args: argparse.Namespace, console: Console) -> int:
    """Run `moalab export`; raises :class:`~moalab.MoaError` with the message to show."""
    if args.nwb:
        return _run_nwb_export(args, console)
    if args.folder is None:
        raise InvalidArgument("give the export's folder DIR, or "
                              "--nwb SESSION_ID OUT.nwb for one session as an NWB file")
    from ..export import export_lab  # with the store and assets: only for an export

    lab = Lab.find(args.lab)
    try:
        with Progress(console=console, transient=True,
                      disable=args.json or not console.is_terminal) as bar:
            task = bar.add_task("assets", total=None)

            def progress(done: int, total: int, path: str) -> None:
                bar.update(task, completed=done, total=total, description=path)

            summary = export_lab(lab, args.folder, assets=args.assets,
                                 anonymous=args.anonymous, progress=progress)
    finally:
        lab.close()
    if args.json:
        shown = dataclasses.asdict(summary)
        shown["folder"] = str(summary.folder)
        console.out(json.dumps(shown, indent=2))
        return 0
    console.print(f"lab {lab.name!r} exported to {summary.folder}: "
                  f"{len(summary.written)} files written, {len(summary.unchanged)} "
                  f"unchanged, {len(summary.removed)} removed", soft_wrap=True)
    if args.anonymous:
        console.print(f"anonymous: subject fields marked personal and "
                      f"{summary.left_out} personal asset(s) left out", soft_wrap=True)
    if summary.missing:
        console.print(f"{len(summary.missing)} asset(s) not exported (pending, failed or "
                      f"gone from storage; manifest.json says why): "
                      f"{', '.join(summary.missing)}", soft_wrap=True)
    return 0


def _run_nwb_export(args: argparse.Namespace, console: Console) -> int:
    """`moalab export --nwb SESSION_ID OUT.nwb`: one session as an NWB file."""
    from ..export import export_nwb

    session_id, out = args.nwb
    lab = Lab.find(args.lab)
    try:
        session_id = lab.database.find_session(session_id).id  # or a unique start of it
        summary = export_nwb(lab, session_id, Path(out), overwrite=args.overwrite,
                             anonymous=args.anonymous)
    finally:
        lab.close()
    if args.json:
        shown = dataclasses.asdict(summary)
        shown["path"] = str(summary.path.resolve())
        console.out(json.dumps(shown, indent=2))
        return 0
    console.print(f"session {session_id!r} exported to {summary.path}: {summary.trials} "
                  f"trials, {summary.stage_intervals} stage intervals, "
                  f"{summary.device_events} device events, {summary.signals} signals, "
                  f"{summary.assets} recordings' "
                  "keys", soft_wrap=True)
    return 0
