"""The schema revisions of the migration scripts and of a database, read without
Alembic: opening a lab checks its schema, and importing Alembic costs ~0.2 s of every
`moalab` command, so Alembic is imported only to migrate (``Database.upgrade``)."""

import re
from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from ..core.errors import InvalidArgument

__all__ = ("VERSION_TABLE", "script_revisions", "script_head", "database_revision")

VERSION_TABLE = "alembic_version"
"""The table where Alembic records a database's revision."""

# as Alembic's templates write them, with or without a type annotation
_REVISION = re.compile(r"""^revision(?:\s*:[^=\n]+)?\s*=\s*["'](\w+)["']""", re.MULTILINE)
_DOWN_REVISION = re.compile(r"""^down_revision(?:\s*:[^=\n]+)?\s*=\s*(?:None|["'](\w+)["'])""",
                            re.MULTILINE)


def script_revisions(migrations: Path) -> dict[str, str | None]:
    """Each revision of the scripts in ``migrations/versions`` and the revision it
    follows (None for the first), as their ``revision = "..."`` and ``down_revision =
    ...`` lines declare them. Raises InvalidArgument for a script that declares none."""
    revisions: dict[str, str | None] = {}
    for script in sorted((migrations / "versions").glob("*.py")):
        if script.name == "__init__.py":  # Alembic skips it too
            continue
        source = script.read_text()
        revision, down = _REVISION.search(source), _DOWN_REVISION.search(source)
        if revision is None or down is None:
            raise InvalidArgument(
                f"migration script {str(script)!r} declares no revision: give it the "
                f"lines `revision = \"...\"` and `down_revision = \"...\"` (None for the first)")
        revisions[revision[1]] = down[1]
    return revisions


def script_head(revisions: dict[str, str | None], migrations: Path) -> str:
    """The one revision of ``revisions`` (from :func:`script_revisions` of
    ``migrations``) no other follows. Raises InvalidArgument when there is not one."""
    heads = sorted(set(revisions) - set(revisions.values()))
    if len(heads) != 1:
        raise InvalidArgument(
            f"the migrations in {str(migrations)!r} have {len(heads)} last revisions "
            f"({', '.join(heads) or 'none'}): give them one line of revisions, each script's "
            f"down_revision the one before")
    return heads[0]


def database_revision(connection: Connection) -> str | None:
    """The revision recorded in the database of ``connection``; None when it has no
    schema yet (no version table, or an empty one)."""
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    return connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()
