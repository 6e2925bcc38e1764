"""Errors of the lab store: the lab folder, its config and its database."""

import difflib
from collections.abc import Iterable

from ..core.errors import InvalidArgument, MoaError

__all__ = (
    "StoreError",
    "UnknownName",
    "NameTaken",
    "SubjectBusy",
    "SessionNotHeld",
    "SchemaTooNew",
    "SchemaTooOld",
    "DatabaseUnavailable",
)


class StoreError(MoaError):
    """Something went wrong reading or writing the lab's folder or database."""


class UnknownName(StoreError, InvalidArgument):
    """An unknown subject, rig or session id.

    ``kind`` is what was looked for ("subject", "rig", "session"), ``name`` the value
    given; the message lists close matches among ``known`` and the command that
    lists them all.
    """

    def __init__(self, kind: str, name: str, known: Iterable[str]) -> None:
        self.kind = kind
        self.name = name
        close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
        super().__init__(f"no {kind} {name!r} in this lab{hint} "
                         f"(`moalab {kind} list` lists them)")


class SubjectBusy(StoreError):
    """A subject already has a running session; ``session_id`` names it."""

    def __init__(self, subject: str, session_id: str, owner: str = "") -> None:
        self.subject = subject
        self.session_id = session_id
        where = f" ({owner})" if owner else ""
        super().__init__(f"subject {subject!r} is in session {session_id}{where}, which is "
                         f"running: wait for it to end, or stop it")


class SessionNotHeld(StoreError):
    """A process acted on a running session it does not own (any more): another
    process claimed it, or it was marked interrupted when its heartbeat went stale."""


class SchemaTooNew(StoreError):
    """The lab's database was made by a newer moalab; ``revision`` is its schema."""

    def __init__(self, url: str, revision: str) -> None:
        self.revision = revision
        super().__init__(f"this lab's database ({url}) was made by a newer moalab "
                         f"(schema {revision}, unknown to this one): upgrade moalab")


class SchemaTooOld(StoreError):
    """The lab's database has an older schema than this moalab's (``revision``,
    None for a database without one); ``head`` is the current schema."""

    def __init__(self, url: str, revision: str | None, head: str) -> None:
        self.revision = revision
        self.head = head
        schema = f"schema {revision}" if revision else "no moalab schema"
        super().__init__(f"this lab's database ({url}) has {schema}, older than this "
                         f"moalab's (schema {head}): run `moalab lab upgrade`")


class DatabaseUnavailable(StoreError):
    """The database cannot be reached, or stays locked; ``url`` is shown without its
    password."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        super().__init__(f"cannot use the lab's database {url}: {reason} (check that the "
                         f"database server runs and answers at that address, or that no "
                         f"other program holds the file locked; the URL is [database] url "
                         f"in moalab-lab.toml)")


class NameTaken(StoreError, InvalidArgument):
    """A subject or rig name already in use in this lab."""
