"""`moalab lab`, `subject`, `rig` and `session`: the lab's registry from the command line.

The ``--json`` outputs are a stable contract: a session is an object with at least
``id``, ``subject``, ``protocol``, ``version``, ``status``, ``kind``, ``step``,
``started``, ``ended`` (ISO 8601 UTC, or null), ``n_trials``, ``rig``,
``data_dir`` (absolute), ``error``, ``pending_deposits`` and ``failed_deposits``;
``session show --json`` adds ``trials``, a list of ``{"index": i, "values": {...}}``
in order, and ``deposits``, a list of ``{"local_key", "key", "status", "error",
"size", "sha256"}`` in the order made. ``subject list --json`` gives
``name``, ``species``, ``sex``, ``dob``, ``notes`` and ``qualifications``.
"""

import argparse
import dataclasses
import datetime
import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Column, Table

from ..core.errors import InvalidArgument
from ..store.infos import SessionInfo
from ..store.lab import Lab
from .run_options import add_dashboard_option

__all__ = ("add_lab_commands", "run_lab_command", "LAB_COMMANDS")

LAB_COMMANDS = ("lab", "subject", "rig", "session")
SEXES = ("F", "M", "U")
PERSONAL_FIELDS = ("species", "sex", "dob", "notes")
EXECUTORS = ("websocket", "rest", "process", "thread")
ID_HELP = "the session's id, or its first characters if no other id starts with them"
WHOLE_COLUMNS = ("id",)
"""Table columns never cut short: a session's id is typed from the table."""


def _date(text: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date: give YYYY-MM-DD") from None


def _lab_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lab", metavar="DIR", help="the lab folder (default: $MOALAB_LAB, "
                        "else the current folder)")


def _json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON (a stable format)")


def add_lab_commands(commands: Any, add_run_timing: Any) -> None:
    """Add the lab's commands to ``commands`` (the `moalab` subparsers);
    ``add_run_timing`` adds --dry-run / --speed to a parser."""
    lab = commands.add_parser("lab", help="make or upgrade a lab folder").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    init = lab.add_parser("init", help="make a lab folder (config, data folder, database)")
    init.add_argument("folder", type=Path)
    init.add_argument("--name", help="the lab's name (default: the folder's)")
    init.add_argument("--database", metavar="URL", help="a PostgreSQL URL for a registry "
                      "shared by several PCs (default: an SQLite file in the folder)")
    upgrade = lab.add_parser("upgrade", help="upgrade the lab's database to this moalab")
    _lab_option(upgrade)

    subject = commands.add_parser("subject", help="the lab's subjects").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    add = subject.add_parser("add", help="add a subject")
    add.add_argument("name")
    add.add_argument("--species")
    add.add_argument("--sex", choices=SEXES, default="U")
    add.add_argument("--dob", type=_date, metavar="YYYY-MM-DD", help="date of birth")
    add.add_argument("--notes", default="")
    add.add_argument("--personal", action="append", default=[], choices=PERSONAL_FIELDS,
                     help="mark a field as personal (an export leaves it out); repeat for "
                     "several")
    for action in ("list", "show"):
        parser = subject.add_parser(action, help=f"{action} subjects")
        if action == "show":
            parser.add_argument("name")
        _lab_option(parser)
        _json_option(parser)
    requalify = subject.add_parser("requalify", help="clear a subject's qualification (a "
                                   "failed training or screening) so it may try again")
    requalify.add_argument("name")
    requalify.add_argument("qualification")
    for parser in (add, requalify):
        _lab_option(parser)

    rig = commands.add_parser("rig", help="the lab's rigs").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    add = rig.add_parser("add", help="add a rig")
    add.add_argument("name")
    add.add_argument("--executor", choices=EXECUTORS, required=True)
    add.add_argument("--host")
    add.add_argument("--port", type=int)
    _lab_option(add)
    listing = rig.add_parser("list", help="list rigs")
    _lab_option(listing)
    _json_option(listing)

    session = commands.add_parser("session", help="run and list sessions").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    run = session.add_parser("run", help="run a subject's next session of a protocol")
    run.add_argument("protocol", help="a protocol file or module (FILE:ClassName when it "
                     "holds several)")
    run.add_argument("--subject", required=True)
    run.add_argument("--rig")
    run.add_argument("--arg", action="append", default=[], metavar="KEY=VALUE",
                     help="a protocol argument (repeat for several)")
    add_run_timing(run)
    add_dashboard_option(run)
    resume = session.add_parser("resume", help="continue an interrupted session")
    resume.add_argument("id", help=ID_HELP)
    resume.add_argument("--protocol", help="the protocol file or module, if it is not where "
                        "the session was started from")
    add_run_timing(resume)
    add_dashboard_option(resume)
    listing = session.add_parser("list", help="list sessions")
    listing.add_argument("--subject")
    show = session.add_parser("show", help="show a session and its trials")
    show.add_argument("id", help=ID_HELP)
    abandon = session.add_parser("abandon", help="give up an interrupted session (frees a "
                                 "screening session's place)")
    abandon.add_argument("id", help=ID_HELP)
    plot = session.add_parser("plot", help="draw a session at a glance into a PNG file "
                              "(trials, outcomes, response times, device traces)")
    plot.add_argument("id", help=ID_HELP)
    plot.add_argument("out", type=Path, metavar="OUT.png")
    for parser in (run, resume, listing, show, abandon, plot):
        _lab_option(parser)
    for parser in (listing, show):
        _json_option(parser)


def run_lab_command(args: argparse.Namespace, console: Console) -> int:
    """Run a lab command; raises :class:`~moalab.MoaError` with the message to show."""
    if args.command == "lab" and args.action == "init":
        lab = Lab.init(args.folder, name=args.name, database_url=args.database)
        console.print(f"lab {lab.name!r} made in {lab.folder}")
        return 0
    lab = Lab.find(args.lab)
    command = _COMMANDS[(args.command, args.action)]
    return command(lab, args, console)


# ------------------------------------------------------------------ commands


def _upgrade(lab: Lab, args: argparse.Namespace, console: Console) -> int:
    lab.upgrade()
    console.print(f"lab {lab.name!r}: database at revision {lab.database.revision()}")
    return 0


def _subject_add(lab: Lab, args: argparse.Namespace, console: Console) -> int:
    info = lab.database.add_subject(args.name, species=args.species, sex=args.sex,
                                    dob=args.dob, notes=args.notes, personal=args.personal)
    console.print(f"subject {info.name!r} added")
    return 0


def _subject_dict(lab: Lab, info: Any) -> dict[str, Any]:
    data = _plain(info)
    data["qualifications"] = {q.name: q.value for q in lab.database.list_qualifications(
        info.name)}
    return data


def _subject_list(lab: Lab, args: argparse.Namespace, console: Console) -> int:
    subjects = [_subject_dict(lab, info) for info in lab.database.list_subjects()]
    if args.json:
        console.out(json.dumps(subjects, indent=2))
        return 0
    _table(console, subjects, ("name", "species", "sex", "dob", "qualifications"))
    return 0


def _subject_show(lab: Lab, args: argparse.Namespace, console: Console) -> int:
    subject = _subject_dict(lab, lab.database.get_subject(args.name))
    subject["sessions"] = [_session_dict(lab, info)
                           for info in lab.database.list_sessions(subject=args.name)]
    if args.json:
        console.out(json.dumps(subject, indent=2))
        return 0
    for key in ("name", "species", "sex", "dob", "notes", "qualifications"):
        console.print(f"{key}: {subject[key]}")
    _table(console, subject["sessions"], _SESSION_COLUMNS)
    return 0


def _subject_requalify(lab: Lab, args: argparse.Namespace, console: Console) -> int:
    lab.database.get_subject(args.name)
    if lab.database.qualification(args.name, args.qualification) is None:
        raise InvalidArgument(
            f"subject {args.name!r} has no qualification {args.qualification!r}: `moalab "
            f"subject show {args.name}` lists its qualifications")
    lab.database.revoke(args.name, args.qualification)
    console.print(f"subject {args.name!r}: {args.qualification!r} cleared")
    return 0


def _rig_add(lab: Lab, args: argparse.Namespace, console: Console) -> int:
    info = lab.database.add_rig(args.name, args.executor, host=args.host, port=args.port)
    console.print(f"rig {info.name!r} added")
    return 0


def _rig_list(lab: Lab, args: argparse.Namespace, console: Console) -> int:
    rigs = [_plain(info) for info in lab.database.list_rigs()]
    if args.json:
        console.out(json.dumps(rigs, indent=2))
        return 0
    _table(console, rigs, ("name", "executor", "host", "port"))
    return 0


_SESSION_COLUMNS = ("id", "subject", "protocol", "version", "kind", "status", "n_trials",
                    "started", "ended")


def _session_dict(lab: Lab, info: SessionInfo) -> dict[str, Any]:
    data = _plain(info)
    data["data_dir"] = str(lab.session_folder(info.id))
    return data


def _status_text(session: dict[str, Any]) -> str:
    """A session's status with its deposits not deposited: 'submitted, 2 deposits
    failed'."""
    parts = [session["status"]]
    for count, state in ((session["failed_deposits"], "failed"),
                         (session["pending_deposits"], "pending")):
        if count:
            parts.append(f"{count} deposit{'s' if count > 1 else ''} {state}")
    if session["pending_deposits"] and session["status"] != "running":
        parts[-1] += " (its run was killed: retried when the protocol next runs)"
    return ", ".join(parts)


def _shown(session: dict[str, Any]) -> dict[str, Any]:
    return {**session, "status": _status_text(session)}


def _session_list(lab: Lab, args: argparse.Namespace, console: Console) -> int:
    sessions = [_session_dict(lab, info) for info in lab.database.list_sessions(
        subject=args.subject)]
    if args.json:
        console.out(json.dumps(sessions, indent=2))
        return 0
    _table(console, [_shown(session) for session in sessions], _SESSION_COLUMNS)
    return 0


def _session_show(lab: Lab, args: argparse.Namespace, console: Console) -> int:
    info = lab.database.find_session(args.id)
    session = _session_dict(lab, info)
    session["trials"] = [{"index": trial.index, "values": trial.values}
                         for trial in lab.database.list_trials(info.id)]
    session["deposits"] = [
        {"local_key": asset.local_key, "key": asset.key, "status": asset.status,
         "error": asset.error, "size": asset.size, "sha256": asset.sha256}
        for asset in lab.database.list_assets(session=info.id, kind="experiment")]
    if args.json:
        console.out(json.dumps(session, indent=2))
        return 0
    for key in (*_SESSION_COLUMNS, "rig", "args", "data_dir", "error"):
        console.print(f"{key}: {_shown(session)[key]}", soft_wrap=True)
    _table(console, [{"index": t["index"], **t["values"]} for t in session["trials"]], None)
    if session["deposits"]:
        console.print("deposits:")
        _table(console, session["deposits"], ("local_key", "status", "size", "error"))
    return 0


def _session_abandon(lab: Lab, args: argparse.Namespace, console: Console) -> int:
    info = lab.database.find_session(args.id)
    if info.status not in ("created", "interrupted"):
        raise InvalidArgument(
            f"session {info.id} is {info.status}: only an interrupted session can be abandoned")
    lab.database.end_session(info.id, "abandoned")
    if info.kind == "screening":
        lab.database.free_slot(f"{info.protocol}-screening-slots")
    console.print(f"session {info.id} abandoned")
    return 0


def _session_plot(lab: Lab, args: argparse.Namespace, console: Console) -> int:
    # imported here: matplotlib is an extra, and slow to import for the other commands
    from ..export.plot import plot_session

    session_id = lab.database.find_session(args.id).id
    plot_session(lab, session_id, args.out)
    console.print(f"session {session_id} drawn in {args.out}", soft_wrap=True)
    return 0


def _session_run(lab: Lab, args: argparse.Namespace, console: Console) -> int:
    # imported here: trio, the runner and the dashboard, which only running a session needs
    from .session_run import run_session

    return run_session(lab, args, console)


def _session_resume(lab: Lab, args: argparse.Namespace, console: Console) -> int:
    from .session_run import resume_session

    return resume_session(lab, args, console)


_COMMANDS = {
    ("lab", "upgrade"): _upgrade,
    ("subject", "add"): _subject_add,
    ("subject", "list"): _subject_list,
    ("subject", "show"): _subject_show,
    ("subject", "requalify"): _subject_requalify,
    ("rig", "add"): _rig_add,
    ("rig", "list"): _rig_list,
    ("session", "run"): _session_run,
    ("session", "resume"): _session_resume,
    ("session", "list"): _session_list,
    ("session", "show"): _session_show,
    ("session", "abandon"): _session_abandon,
    ("session", "plot"): _session_plot,
}


# ------------------------------------------------------------------ output


def _plain(info: Any) -> dict[str, Any]:
    """A row of the store as JSON values (dates and times in ISO 8601)."""
    return {key: value.isoformat() if isinstance(value, (datetime.date, datetime.datetime))
            else value for key, value in dataclasses.asdict(info).items()}


def _table(console: Console, rows: list[dict[str, Any]], columns: Any) -> None:
    if not rows:
        console.print("(none)")
        return
    columns = columns or list(rows[0])
    cells = [["" if row.get(c) is None else str(row.get(c)) for c in columns] for row in rows]
    table = Table(*(Column(name, no_wrap=True, min_width=max(len(cell[i]) for cell in cells))
                    if name in WHOLE_COLUMNS else name for i, name in enumerate(columns)))
    for row in cells:
        table.add_row(*row)
    console.print(table)
