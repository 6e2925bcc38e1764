"""What the lab database's parts share: a row's time, a name or a value checked, a
row found by id."""

import json
from datetime import datetime, timezone
from typing import Any

from sqlalchemy.orm import Session as OrmSession

from ..core.errors import InvalidArgument
from .errors import UnknownName

__all__ = ("check_name", "checked_json", "row_by_id", "utc_now")


def utc_now() -> datetime:
    """Now, in UTC (every time the lab records)."""
    return datetime.now(timezone.utc)


def checked_json(what: str, value: Any) -> Any:
    """``value`` if it can be stored as JSON; else InvalidArgument naming ``what``."""
    try:
        json.dumps(value, allow_nan=True)
    except (TypeError, ValueError) as error:
        raise InvalidArgument(f"{what} = {value!r} cannot be stored: {error}; give "
                              f"numbers, strings, booleans, None, lists and dicts of "
                              f"them") from None
    return value


def row_by_id(session: OrmSession, table: type, kind: str, row_id: int) -> Any:
    """The row ``row_id`` of ``table``; raises UnknownName naming ``kind``."""
    row = session.get(table, row_id) if isinstance(row_id, int) else None
    if row is None:
        raise UnknownName(kind, str(row_id), ())
    return row


def check_name(kind: str, name: str) -> None:
    if not isinstance(name, str) or not name.strip() or name != name.strip():
        raise InvalidArgument(f"{kind} name {name!r} must be a non-empty string without "
                              f"leading or trailing spaces")
