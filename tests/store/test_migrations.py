"""The lab database's schema: the migrations make the models' tables, a lab made by
an older moalab is upgraded, one from a newer moalab is refused, and an unreachable
database says so."""

import shutil
import socket
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

import moalab.store.database as store_database

from moalab.store import Database, DatabaseUnavailable, SchemaTooNew, SchemaTooOld
from moalab.store.database import MIGRATIONS
from moalab.store.models import Base
from tests.store.conftest import libpq_url

REVISION_NEXT = '''"""A test-only next revision: a column on counters."""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    with op.batch_alter_table("counters") as batch:
        batch.add_column(sa.Column("note", sa.Text))
'''


def test_the_migrations_make_the_models_tables(database):
    engine = create_engine(database.url)
    try:
        with engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection),
                                           Base.metadata)
    finally:
        engine.dispose()
    assert differences == []
    assert database.revision() == database.head() == "0003"


def test_a_database_without_a_schema_is_too_old(database_url):
    with pytest.raises(SchemaTooOld, match=r"has no moalab schema, older than this "
                                           r"moalab's \(schema 0003\): run `moalab lab "
                                           r"upgrade`"):
        Database.open(database_url)


def test_an_older_schema_is_refused_then_upgraded(database, tmp_path):
    database.add_subject("m1")
    newer = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, newer, ignore=shutil.ignore_patterns("__pycache__"))
    (newer / "versions" / "0004_counter_note.py").write_text(REVISION_NEXT)

    with pytest.raises(SchemaTooOld, match=r"has schema 0003, older than this moalab's "
                                           r"\(schema 0004\): run `moalab lab upgrade`"):
        Database.open(database.url, migrations=newer)
    upgraded = Database.open(database.url, upgrade=True, migrations=newer)
    try:
        assert upgraded.revision() == "0004"
        assert upgraded.get_subject("m1").name == "m1"  # the rows are kept
        engine = create_engine(database.url)
        try:
            assert "note" in {c["name"] for c in inspect(engine).get_columns("counters")}
        finally:
            engine.dispose()
    finally:
        upgraded.close()
    # this moalab (schema 0003) now meets a database from a newer one
    with pytest.raises(SchemaTooNew, match=r"made by a newer moalab \(schema 0004, "
                                           r"unknown to this one\): upgrade moalab"):
        Database.open(database.url)
    with pytest.raises(SchemaTooNew):
        Database.open(database.url, upgrade=True)


def test_a_revision_from_the_future_is_refused(database):
    engine = create_engine(database.url)
    try:
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = 'f00d'"))
    finally:
        engine.dispose()
    with pytest.raises(SchemaTooNew, match=r"schema f00d"):
        Database.open(database.url, upgrade=True)


def test_the_sqlite_file_is_in_wal_mode(tmp_path):
    url = f"sqlite:///{tmp_path / 'lab.sqlite'}"
    Database.open(url, upgrade=True).close()
    with sqlite3.connect(tmp_path / "lab.sqlite") as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_a_postgresql_nobody_answers_on(tmp_path):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    url = f"postgresql+psycopg://lab:s3cret@127.0.0.1:{port}/lab"
    start = time.monotonic()
    with pytest.raises(DatabaseUnavailable) as error:
        Database.open(url)
    assert time.monotonic() - start < 10
    message = str(error.value)
    assert f"postgresql+psycopg://lab:***@127.0.0.1:{port}/lab" in message
    assert "s3cret" not in message and "[database] url" in message


def test_a_sqlite_file_that_cannot_be_made(tmp_path):
    with pytest.raises(DatabaseUnavailable, match="unable to open database file"):
        Database.open(f"sqlite:///{tmp_path / 'no-such-folder' / 'lab.sqlite'}", upgrade=True)


def test_a_locked_database(database, monkeypatch):
    monkeypatch.setattr(store_database, "BUSY_TIMEOUT", 0.5)
    database.take_slot("screening:p", 5)
    waiting = Database(database.url)  # connects with the short timeout
    with holding_locks(database.url):  # another program holds the counters locked
        start = time.monotonic()
        with pytest.raises(DatabaseUnavailable, match="lock"):
            waiting.take_slot("screening:p", 5)
        assert time.monotonic() - start < 5
    assert waiting.take_slot("screening:p", 5) is True  # and works once they are free
    waiting.close()


@contextmanager
def holding_locks(url: str) -> Iterator[None]:
    """Hold SQLite's write lock, or PostgreSQL's lock on every counter row, with a
    connection of another library."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        holder = sqlite3.connect(parsed.database, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
    else:
        holder = psycopg.connect(libpq_url(url))
        holder.execute("SELECT * FROM counters FOR UPDATE")
    try:
        yield
    finally:
        holder.rollback()
        holder.close()


def test_a_lab_of_schema_0001_gains_the_asset_tables(database_url, tmp_path):
    older = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, older, ignore=shutil.ignore_patterns("__pycache__"))
    for newer in ("0002_assets.py", "0003_networks.py"):
        (older / "versions" / newer).unlink()
    first = Database.open(database_url, upgrade=True, migrations=older)
    first.add_subject("m1")
    first.close()
    session_id = "0123456789ab"
    engine = create_engine(database_url)  # a session as that moalab wrote it
    try:
        with engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO sessions (id, subject_id, protocol, version, args, status, kind, "
                "created, data_dir) SELECT :id, id, 'p', 1, '{}', 'submitted', 'main', "
                "'2026-01-01 00:00:00', :id FROM subjects"), {"id": session_id})
    finally:
        engine.dispose()
    with pytest.raises(SchemaTooOld, match="has schema 0001"):
        Database.open(database_url)
    upgraded = Database.open(database_url, upgrade=True)
    try:
        assert upgraded.revision() == "0003"
        assert upgraded.get_session(session_id).failed_deposits == 0  # rows kept
        asset = upgraded.add_deposit(session_id, "take", f"experiment/{session_id}/take.wav",
                                     ".wav", False, "/tmp/take.wav", True)
        assert upgraded.list_assets(session=session_id) == [asset]
    finally:
        upgraded.close()


def test_a_lab_of_schema_0002_gains_the_network_tables(database_url, tmp_path):
    older = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, older, ignore=shutil.ignore_patterns("__pycache__"))
    (older / "versions" / "0003_networks.py").unlink()
    first = Database.open(database_url, upgrade=True, migrations=older)
    first.add_subject("m1")
    session_id = first.create_session("m1", "p", 1, {}).id
    first.close()
    with pytest.raises(SchemaTooOld, match="has schema 0002"):
        Database.open(database_url)
    upgraded = Database.open(database_url, upgrade=True)
    engine = create_engine(database_url)
    try:
        assert upgraded.revision() == "0003"
        assert upgraded.get_session(session_id).subject == "m1"  # rows kept
        assert {"networks", "nodes", "vectors", "infos", "transmissions"} <= set(
            inspect(engine).get_table_names())
    finally:
        engine.dispose()
        upgraded.close()
