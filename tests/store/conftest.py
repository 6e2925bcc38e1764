"""The store tests' databases: a real SQLite file and a real PostgreSQL (a fresh
schema per test, so tests never see each other's rows)."""

import functools
import os
import secrets
from collections.abc import Iterator

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


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """The URL of a fresh, empty PostgreSQL schema (dropped after the test)."""
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


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> str:
    """An empty database of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'lab.sqlite'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def database(database_url) -> Iterator[Database]:
    """A database of each kind at the current schema."""
    database = Database.open(database_url, upgrade=True)
    yield database
    database.close()
