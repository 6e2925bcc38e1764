"""The store tests' databases: a real SQLite file and a real PostgreSQL (a fresh
schema per test, so tests never see each other's rows). A test's migrated ``database``
starts from one migrated once a session (migrating costs 0.1 s on SQLite, 0.5 s on
PostgreSQL): a copy of the SQLite file, the PostgreSQL schema with its rows removed."""

import functools
import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from moalab.store import Database
from tests.conftest import require

POSTGRES_ENV = "MOALAB_TEST_POSTGRES_URL"
"""A PostgreSQL the tests may make schemas in (``.ci/run`` starts one and sets it)."""


def libpq_url(url: str) -> str:
    """The SQLAlchemy ``url`` as psycopg's own connect string."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@functools.cache
def postgres_reason() -> str | None:
    """Why the tests cannot use PostgreSQL here; None when they can."""
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        return f"no PostgreSQL for the tests: {POSTGRES_ENV} is not set (.ci/run sets it)"
    try:
        psycopg.connect(libpq_url(url), connect_timeout=3).close()
    except psycopg.Error as error:
        return f"the PostgreSQL of {POSTGRES_ENV} does not answer: {error}"
    return None


@contextmanager
def _new_schema() -> Iterator[str]:
    """The URL of a new, empty PostgreSQL schema, dropped at the end."""
    reason = postgres_reason()
    require(reason is None, reason or "")
    url = os.environ[POSTGRES_ENV]
    schema = f"test_{secrets.token_hex(6)}"
    with psycopg.connect(libpq_url(url), autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {schema}")
    try:
        yield make_url(url).update_query_dict(
            {"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(libpq_url(url), autocommit=True) as connection:
            connection.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """The URL of a fresh, empty PostgreSQL schema (dropped after the test)."""
    with _new_schema() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> str:
    """An empty database of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'lab.sqlite'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory) -> Path:
    """An SQLite file at the current schema with no rows, made once a session; tests
    use copies."""
    path = tmp_path_factory.mktemp("migrated") / "lab.sqlite"
    Database.open(f"sqlite:///{path}", upgrade=True).close()
    # closed, its write-ahead log is in the file: the file alone is the database
    assert not path.with_name("lab.sqlite-wal").exists()
    return path


class MigratedSchema:
    """A PostgreSQL schema at the current schema, shared by the tests one after the
    other: :meth:`emptied` gives it without rows (a TRUNCATE of every table but
    alembic's), :meth:`check` makes it again when a test changed its schema."""

    def __init__(self, url: str) -> None:
        self.url = url
        Database.open(url, upgrade=True).close()
        self.revision = self._revision()

    def _revision(self) -> str | None:
        with psycopg.connect(libpq_url(self.url), autocommit=True) as connection:
            row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
        return row and row[0]

    def emptied(self) -> str:
        with psycopg.connect(libpq_url(self.url), autocommit=True) as connection:
            tables = [row[0] for row in connection.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                "AND tablename <> 'alembic_version'")]
            # a lock a test left would be a hang without this
            connection.execute("SET lock_timeout = '10s'")
            connection.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
        return self.url

    def check(self) -> None:
        """After a test: when it upgraded, downgraded or stamped the schema (the
        migration tests do), drop every table and migrate again."""
        if self._revision() == self.revision:
            return
        with psycopg.connect(libpq_url(self.url), autocommit=True) as connection:
            tables = [row[0] for row in connection.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")]
            connection.execute(f"DROP TABLE {', '.join(tables)} CASCADE")
        Database.open(self.url, upgrade=True).close()
        assert self._revision() == self.revision


@pytest.fixture(scope="session")
def migrated_postgres() -> Iterator[MigratedSchema]:
    """The session's :class:`MigratedSchema` (dropped at its end)."""
    with _new_schema() as url:
        yield MigratedSchema(url)


def migrated_database(request: pytest.FixtureRequest, kind: str) -> Database:
    """A database of ``kind`` (``"sqlite"`` or ``"postgresql"``) at the current schema
    with no rows, from the session's migrated one; closed after the test (and the
    shared schema checked, :meth:`MigratedSchema.check`). Needs the ``migrated_*``
    fixtures visible to the test (imported beside the fixture that calls this)."""
    if kind == "sqlite":
        path = request.getfixturevalue("tmp_path") / "lab.sqlite"
        shutil.copyfile(request.getfixturevalue("migrated_sqlite"), path)
        url = f"sqlite:///{path}"
    else:
        schema = request.getfixturevalue("migrated_postgres")
        request.addfinalizer(schema.check)
        url = schema.emptied()
    database = Database.open(url, upgrade=True)
    request.addfinalizer(database.close)
    return database


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request) -> Database:
    """A database of each kind at the current schema, with no rows."""
    return migrated_database(request, request.param)
