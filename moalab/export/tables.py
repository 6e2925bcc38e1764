"""The lab's data as tables (subjects, sessions, trials, qualifications): typed rows in
a fixed order, written as CSV and as JSON, byte for byte the same for the same data."""

import csv
import datetime
import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..store.database import Database, SessionInfo, SubjectInfo

__all__ = ("TABLE_NAMES", "LabData", "Table", "lab_data", "with_trial_assets")

SUBJECT_COLUMNS = {"name": "string", "species": "string", "sex": "string", "dob": "date",
                   "notes": "string", "personal": "json"}
SESSION_COLUMNS = {"id": "string", "subject": "string", "protocol": "string",
                   "version": "integer", "kind": "string", "step": "integer",
                   "status": "string", "created": "datetime", "started": "datetime",
                   "ended": "datetime", "rig": "string", "n_trials": "integer",
                   "error": "string", "args": "json", "state_init": "json",
                   "state_data": "json"}
TRIAL_COLUMNS = {"session": "string", "subject": "string", "protocol": "string",
                 "index": "integer", "start": "number", "end": "number"}
QUALIFICATION_COLUMNS = {"subject": "string", "name": "string", "value": "integer",
                         "granted": "datetime", "revoked": "datetime"}
TABLE_NAMES = ("subjects", "sessions", "trials", "qualifications")
ASSET_COLUMN = "asset.{}"
"""The trials' column of the assets attached to them under a name (their paths)."""
ANONYMOUS_NAME = "subject-{}"
"""An anonymous export's name for a subject whose name is personal (numbered in the
order of the lab's names)."""


@dataclass(frozen=True)
class Table:
    """A table of the export: ``columns`` maps each column to its type ('string',
    'integer', 'number', 'boolean', 'date', 'datetime', 'json' for lists and objects,
    'any' for a mix); ``rows`` hold JSON values (a trial's row lacks the value columns
    of other protocols' trials)."""

    name: str
    columns: dict[str, str]
    rows: list[dict[str, Any]]

    def json_bytes(self) -> bytes:
        """The rows as a JSON list of objects, keys in column order."""
        return (json.dumps(self.rows, indent=1, ensure_ascii=False) + "\n").encode()

    def csv_bytes(self) -> bytes:
        """The rows as CSV with a header: an empty cell for null or absent, ``true`` /
        ``false``, numbers as Python writes them, lists and objects as JSON."""
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(self.columns)
        writer.writerows([_cell(row.get(column)) for column in self.columns]
                         for row in self.rows)
        return text.getvalue().encode()


@dataclass(frozen=True)
class LabData:
    """The lab's tables, and what a layout of its assets needs: each subject's name
    as exported (by its name in the lab), each session by id, and the personal
    subject fields left out (field -> how many subjects')."""

    tables: list[Table]
    subject_names: dict[str, str]
    sessions: dict[str, SessionInfo]
    left_out: dict[str, int]


def lab_data(database: Database, anonymous: bool = False) -> LabData:
    """Read the lab's data from ``database`` as tables. With ``anonymous``, each
    subject's fields listed in its ``personal`` are left out (null), a personal name
    replaced by ``subject-<n>`` everywhere. Blocks on the database."""
    subjects = database.list_subjects()
    names = _exported_names(subjects, anonymous)
    left_out: dict[str, int] = {}
    subject_rows = []
    for subject in sorted(subjects, key=lambda s: names[s.name]):
        row = {"name": names[subject.name], "species": subject.species, "sex": subject.sex,
               "dob": subject.dob, "notes": subject.notes, "personal": list(subject.personal)}
        for field in subject.personal if anonymous else ():
            left_out[field] = left_out.get(field, 0) + 1
            if field != "name":
                row[field] = None
        subject_rows.append(row)

    infos = sorted(database.list_sessions(),
                   key=lambda s: (names[s.subject], s.created, s.id))
    session_rows, trial_rows = [], []
    for info in infos:
        init, data = database.load_state(info.id)
        session_rows.append({
            "id": info.id, "subject": names[info.subject], "protocol": info.protocol,
            "version": info.version, "kind": info.kind, "step": info.step,
            "status": info.status, "created": info.created, "started": info.started,
            "ended": info.ended, "rig": info.rig, "n_trials": info.n_trials,
            "error": info.error, "args": info.args, "state_init": init, "state_data": data})
        for trial in database.list_trials(info.id):
            trial_rows.append({
                "session": info.id, "subject": names[info.subject],
                "protocol": info.protocol, "index": trial.index, "start": trial.start,
                "end": trial.end, **{_value_column(key): value
                                     for key, value in sorted(trial.values.items())}})

    qualification_rows = [
        {"subject": names[subject.name], "name": q.name, "value": q.value,
         "granted": q.granted, "revoked": q.revoked}
        for subject in sorted(subjects, key=lambda s: names[s.name])
        for q in database.list_qualifications(subject.name, history=True)]

    values = sorted({key for row in trial_rows for key in row} - set(TRIAL_COLUMNS))
    trial_columns = {**TRIAL_COLUMNS,
                     **{key: _type_of(row.get(key) for row in trial_rows) for key in values}}
    tables = [_table("subjects", SUBJECT_COLUMNS, subject_rows),
              _table("sessions", SESSION_COLUMNS, session_rows),
              _table("trials", trial_columns, trial_rows),
              _table("qualifications", QUALIFICATION_COLUMNS, qualification_rows)]
    return LabData(tables, names, {info.id: info for info in infos}, left_out)


def _table(name: str, columns: dict[str, str], rows: list[dict[str, Any]]) -> Table:
    return Table(name, columns, [{key: _plain(value) for key, value in row.items()}
                                 for row in rows])


def with_trial_assets(trials: Table,
                      assets: Mapping[tuple[str, int], Mapping[str, str]]) -> Table:
    """``trials`` with a column ``asset.<name>`` (type 'string') for each name assets
    are attached to trials under: the path in the export of each trial's asset
    (``assets``: by (session, index), name -> path)."""
    names = sorted({name for attached in assets.values() for name in attached})
    if not names:
        return trials
    columns = {**trials.columns, **{ASSET_COLUMN.format(name): "string" for name in names}}
    rows = [{**row, **{ASSET_COLUMN.format(name): path for name, path in sorted(
        assets.get((row["session"], row["index"]), {}).items())}} for row in trials.rows]
    return Table(trials.name, columns, rows)


def _exported_names(subjects: list[SubjectInfo], anonymous: bool) -> dict[str, str]:
    """Each subject's name as exported: its own, or a numbered one for a personal
    name in an anonymous export (never one another subject has)."""
    hidden = sorted(s.name for s in subjects if anonymous and "name" in s.personal)
    taken = {s.name for s in subjects} - set(hidden)
    names = {s.name: s.name for s in subjects}
    number = 0
    for name in hidden:
        number += 1
        while ANONYMOUS_NAME.format(number) in taken:
            number += 1
        names[name] = ANONYMOUS_NAME.format(number)
    return names


def _value_column(key: str) -> str:
    # a trial value named like a fixed column ("index", "session") keeps its own column
    return f"values.{key}" if key in TRIAL_COLUMNS else key


def _plain(value: Any) -> Any:
    """``value`` as JSON data: dates and times in ISO 8601, objects' keys sorted."""
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(key): _plain(value[key]) for key in sorted(value, key=str)}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def _kind(value: Any) -> str:
    if isinstance(value, bool):  # before int: a bool is an int
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return "string" if isinstance(value, str) else "json"


def _type_of(values: Iterable[Any]) -> str:
    kinds = {_kind(value) for value in values if value is not None}
    if kinds == {"integer", "number"}:
        return "number"
    return kinds.pop() if len(kinds) == 1 else "any"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
