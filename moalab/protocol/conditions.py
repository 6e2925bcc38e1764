"""A static protocol's table of conditions (Mephisto's StaticBlueprint data): one row
a unit, taken in order, ``units_per_session`` rows a session.

The table comes from a CSV file, a JSON file (a list of objects), a list of dicts or
any iterable of them (a generator is consumed whole). A schema maps each column to
its type; CSV cells are read by it as ``--arg`` values are
(:class:`~moalab.protocol.args.ArgType`), and the values of JSON or Python rows must
already fit it. Rows are numbered as a user sees them: in a CSV file as a
spreadsheet shows it (the header is row 1, the first unit row 2), in a list or a JSON
file from 1.
"""

import csv
import difflib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..core.errors import InvalidArgument
from .args import ArgType

__all__ = ("load_conditions", "next_units", "units_left")

Source = str | os.PathLike[str] | Iterable[Mapping[str, Any]]


def _schema_types(schema: Mapping[str, type] | None) -> dict[str, ArgType] | None:
    if schema is None:
        return None
    types = {}
    for column, annotation in schema.items():
        try:
            types[column] = ArgType.of(annotation)
        except InvalidArgument as exc:
            raise InvalidArgument(f"conditions schema, column {column!r}: {exc}") from None
    return types


def _column_mismatch(where: str, columns: Sequence[str], expected: Sequence[str],
                     what: str) -> str | None:
    """Why ``columns`` are not ``expected`` (missing and extra, with close matches), or
    None when they are the same set."""
    missing = [name for name in expected if name not in columns]
    extra = [name for name in columns if name not in expected]
    if not missing and not extra:
        return None
    reasons = []
    if missing:
        reasons.append(f"no column {', '.join(map(repr, missing))}")
    for name in extra:
        close = difflib.get_close_matches(name, missing or list(expected), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        reasons.append(f"column {name!r} is not in {what}{hint}")
    return (f"{where}: {'; '.join(reasons)}; give the columns {', '.join(map(repr, expected))}")


def _read_csv(path: Path, label: str, types: dict[str, ArgType] | None) -> list[dict[str, Any]]:
    # utf-8-sig: spreadsheets save CSV with a byte-order mark
    with open(path, newline="", encoding="utf-8-sig") as file:
        # csv.reader, not DictReader: a blank line is a row a spreadsheet shows too
        lines = list(csv.reader(file))
    if not lines or not any(lines[0]):
        raise InvalidArgument(f"conditions {label}: the file is empty; give a header row "
                              "of column names, then one row per unit")
    header = [name.strip() for name in lines[0]]  # "delay, reward" written by hand
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise InvalidArgument(f"conditions {label}: column {', '.join(map(repr, repeated))} "
                              "appears twice in the header (row 1); give each column once")
    if types is not None:
        mismatch = _column_mismatch(f"conditions {label}, header (row 1)", header,
                                    list(types), "the schema")
        if mismatch:
            raise InvalidArgument(mismatch)
    rows = []
    for number, cells in enumerate(lines[1:], start=2):
        if not cells:
            continue
        if len(cells) != len(header):
            raise InvalidArgument(
                f"conditions {label} row {number}: {len(cells)} cells, but the header has "
                f"{len(header)} columns ({', '.join(header)}); give one cell a column")
        if types is None:
            rows.append(dict(zip(header, cells)))
        else:
            given = dict(zip(header, cells))
            rows.append({column: kind.parse(given[column], f"conditions {label} row {number}, "
                                            f"column {column!r}")
                         for column, kind in types.items()})
    return rows


def _read_json(path: Path, label: str) -> list[Any]:
    try:
        with open(path, encoding="utf-8") as file:
            data = json.load(file)
    except json.JSONDecodeError as exc:
        raise InvalidArgument(f"conditions {label}: not valid JSON at line {exc.lineno}, "
                              f"column {exc.colno}: {exc.msg}") from None
    if not isinstance(data, list):
        raise InvalidArgument(f"conditions {label}: holds a JSON {type(data).__name__}; give "
                              "a list of objects, one per unit ([{\"delay\": 1.5}, ...])")
    return data


def _check_rows(rows: Iterable[Any], label: str,
                types: dict[str, ArgType] | None) -> list[dict[str, Any]]:
    """``rows`` as new dicts, each checked against ``types`` (or, without a schema,
    against the first row's columns)."""
    checked: list[dict[str, Any]] = []
    for number, row in enumerate(rows, start=1):
        where = f"conditions {label} row {number}"
        if not isinstance(row, Mapping):
            raise InvalidArgument(f"{where}: {row!r} ({type(row).__name__}) is not a row; "
                                  "give a dict of column: value")
        expected = list(types) if types is not None else list(checked[0]) if checked else None
        if expected is not None:
            mismatch = _column_mismatch(where, list(row), expected,
                                        "the schema" if types is not None else "row 1")
            if mismatch:
                raise InvalidArgument(mismatch)
        if types is None:
            checked.append(dict(row))
        else:
            checked.append({column: kind.load(row[column], f"{where}, column {column!r}")
                            for column, kind in types.items()})
    return checked


def load_conditions(source: Source,
                    schema: Mapping[str, type] | None = None) -> list[dict[str, Any]]:
    """The rows of a conditions table, in order, as new dicts (columns in the
    schema's order when there is one).

    ``source`` is the path of a ``.csv`` or ``.json`` file, or an iterable of dicts;
    ``schema`` maps each column to its type (see :class:`~moalab.protocol.args.ArgType`);
    without one, CSV cells stay text and every row must have row 1's columns.

    Raise :class:`InvalidArgument` for a missing file or another suffix, invalid JSON, a
    column of the schema missing or one not in it (naming it), a row that is not a dict,
    a cell or value its column's type does not take (naming its row and column), an
    unsupported schema type, or an empty table.
    """
    types = _schema_types(schema)
    if isinstance(source, (str, os.PathLike)):
        path, label = Path(source), repr(os.fspath(source))
        if path.suffix.lower() not in (".csv", ".json"):
            raise InvalidArgument(f"conditions {label}: not a .csv or .json file; give a CSV "
                                  "file with a header row, or a JSON list of objects")
        if not path.is_file():
            raise InvalidArgument(f"conditions {label}: no such file ({path.resolve()})")
        if path.suffix.lower() == ".csv":
            rows = _read_csv(path, label, types)
        else:
            rows = _check_rows(_read_json(path, label), label, types)
    elif isinstance(source, Mapping) or not isinstance(source, Iterable):
        raise InvalidArgument(
            f"conditions {source!r} ({type(source).__name__}) is not accepted; give a .csv "
            "or .json path, or a list (or generator) of dicts, one per unit")
    else:
        label = "list" if isinstance(source, Sequence) else type(source).__name__
        rows = _check_rows(source, label, types)
    if not rows:
        raise InvalidArgument(f"conditions {label}: the table has no rows; give at least one "
                              "unit")
    return rows


def _check_done(conditions: Sequence[Mapping[str, Any]], done: int, caller: str) -> None:
    if type(done) is not int or not 0 <= done <= len(conditions):
        raise InvalidArgument(
            f"{caller}: done={done!r} is not accepted; give the number of units done, a whole "
            f"number from 0 to {len(conditions)} (the number of conditions)")


def next_units(conditions: Sequence[Mapping[str, Any]], done: int,
               units_per_session: int) -> list[Mapping[str, Any]]:
    """The next block of units: the ``units_per_session`` rows after the ``done`` first
    (fewer at the end of the table, none when all are done).

    Raise :class:`InvalidArgument` for ``done`` outside 0..len(conditions) or
    ``units_per_session`` not a whole number >= 1.
    """
    _check_done(conditions, done, "next_units")
    if type(units_per_session) is not int or units_per_session < 1:
        raise InvalidArgument(f"next_units: units_per_session={units_per_session!r} is not "
                              "accepted; give a whole number >= 1")
    return list(conditions[done:done + units_per_session])


def units_left(conditions: Sequence[Mapping[str, Any]], done: int) -> int:
    """How many units are left after the ``done`` first (0: the protocol is complete
    for this subject); raise :class:`InvalidArgument` as :func:`next_units`."""
    _check_done(conditions, done, "units_left")
    return len(conditions) - done
