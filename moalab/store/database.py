"""The lab database: subjects, rigs, sessions and their trials, state,
qualifications, counters, asset records and networks, in SQLite or PostgreSQL.

Each method is one unit of work (one transaction) and blocks: call it from a worker
thread (``DatabaseWorker``), never from the trio loop. Methods return frozen
dataclasses, never ORM objects, so nothing holds a database session after the call.
"""

import os
import secrets
import socket
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, delete, event, insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.orm import Session as OrmSession

from ..core.errors import InvalidArgument
from .asset_rows import AssetRows
from .errors import (
    DatabaseUnavailable,
    NameTaken,
    SchemaTooNew,
    SchemaTooOld,
    SessionNotHeld,
    SubjectBusy,
    UnknownName,
)
from .infos import (
    AssetInfo,
    AssetLinkInfo,
    InformationInfo,
    NetworkInfo,
    NodeInfo,
    QualificationInfo,
    RigInfo,
    SessionInfo,
    SubjectInfo,
    TransmissionInfo,
    TrialInfo,
    VectorInfo,
)
from .info_rows import rig_info, session_infos, subject_info
from .models import (
    EXECUTORS,
    KINDS,
    SEXES,
    AssetLink,
    Counter,
    NodeRow,
    Qualification,
    Rig,
    Session,
    SessionStateRow,
    Subject,
    Trial,
)
from .network_rows import NetworkRows
from .revisions import database_revision, script_head, script_revisions
from .rows import check_name, checked_json, utc_now

# the Info classes are the methods' return types: importable from here too
__all__ = (
    "Database",
    "SubjectInfo",
    "RigInfo",
    "SessionInfo",
    "TrialInfo",
    "QualificationInfo",
    "AssetInfo",
    "AssetLinkInfo",
    "NetworkInfo",
    "NodeInfo",
    "VectorInfo",
    "InformationInfo",
    "TransmissionInfo",
    "STALE_AFTER",
    "MIGRATIONS",
)

MIGRATIONS = Path(__file__).with_name("migrations")
STALE_AFTER = 30.0
"""Seconds without a heartbeat after which a running session counts as interrupted
(its owner heartbeats every few seconds; the hosts' clocks must agree to well within
this, as NTP keeps them)."""
BUSY_TIMEOUT = 10.0
"""Seconds a write waits for another process's lock (SQLite's file, a PostgreSQL row)
before giving up with DatabaseUnavailable."""
CONNECT_TIMEOUT = 5
"""Seconds to wait for a PostgreSQL server to answer."""
END_STATUSES = ("interrupted", "submitted", "failed", "abandoned")
SUBJECT_FIELDS = ("name", "species", "sex", "dob", "notes")
MATCHES_NAMED = 10
"""The most session ids an ambiguous prefix's error names (find_session)."""


def _pid_alive(pid: int | None) -> bool:
    """Whether process ``pid`` of this host runs (a zombie does not)."""
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return True  # no /proc (macOS): kill(0) is all we know


class Database(AssetRows, NetworkRows):
    """The lab database at ``url`` (``sqlite:///PATH`` or ``postgresql+psycopg://...``).

    ``Database(url)`` checks nothing; ``Database.open`` also checks the schema.
    ``migrations`` is the Alembic scripts folder (tests give another).
    """

    def __init__(self, url: str, *, migrations: Path = MIGRATIONS) -> None:
        try:
            parsed = make_url(url)
        except ArgumentError:
            raise InvalidArgument(f"database URL {url!r} is not a URL: give e.g. "
                                  f"'sqlite:///lab.sqlite' or "
                                  f"'postgresql+psycopg://user:password@host/lab'") from None
        self.url = url
        self.shown_url = parsed.render_as_string(hide_password=True)
        """The URL without its password, for messages."""
        self.migrations = Path(migrations)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        if self.is_sqlite:
            # one pool connection per thread at a time; the pool hands it between threads
            self._engine = create_engine(url, connect_args={
                "timeout": BUSY_TIMEOUT, "check_same_thread": False})
            event.listen(self._engine, "connect", _sqlite_connect)
            event.listen(self._engine, "begin", _sqlite_begin)
        else:
            self._engine = create_engine(url, pool_pre_ping=True,
                                         connect_args={"connect_timeout": CONNECT_TIMEOUT})
            event.listen(self._engine, "connect", _postgresql_connect)

    @classmethod
    def open(cls, url: str, upgrade: bool = False, *,
             migrations: Path = MIGRATIONS) -> "Database":
        """Open the database at ``url`` and check its schema: a database without one or
        with an older one is upgraded when ``upgrade``, else raises SchemaTooOld; one
        with a schema this moalab does not know raises SchemaTooNew. Raises
        DatabaseUnavailable when it cannot be reached."""
        database = cls(url, migrations=migrations)
        try:
            if upgrade:
                database.upgrade()
            else:
                database.check_schema()
        except BaseException:
            database.close()
            raise
        return database

    def close(self) -> None:
        """Close every connection (the Database can open new ones after)."""
        self._engine.dispose()

    # -- schema

    def head(self) -> str:
        """The schema revision this moalab makes."""
        return script_head(script_revisions(self.migrations), self.migrations)

    def revision(self) -> str | None:
        """The database's schema revision; None for a database without one."""
        with self._mapped_errors(), self._engine.connect() as connection:
            return database_revision(connection)

    def check_schema(self) -> None:
        """Raise SchemaTooOld / SchemaTooNew unless the database is at ``head``."""
        self._check_revision(self.revision(), upgrading=False)

    def _check_revision(self, revision: str | None, upgrading: bool) -> None:
        revisions = script_revisions(self.migrations)
        if revision is not None and revision not in revisions:
            raise SchemaTooNew(self.shown_url, revision)
        head = script_head(revisions, self.migrations)
        if revision != head and not upgrading:
            raise SchemaTooOld(self.shown_url, revision, head)

    def upgrade(self) -> None:
        """Migrate the database to ``head`` (make its tables when it has none), in one
        transaction. Raises SchemaTooNew for a database from a newer moalab."""
        from alembic import command  # only here: its import costs ~0.2 s (revisions.py)
        from alembic.config import Config

        config = Config()  # no alembic.ini: everything it would hold is here
        config.set_main_option("script_location", str(self.migrations))
        with self._mapped_errors(), self._engine.connect() as connection:
            connection.execution_options(moalab_write=True)
            with connection.begin():
                self._check_revision(database_revision(connection), upgrading=True)
                config.attributes["connection"] = connection
                command.upgrade(config, "head")

    # -- units of work

    @contextmanager
    def _mapped_errors(self) -> Iterator[None]:
        """Turn a failure to reach the database into DatabaseUnavailable."""
        try:
            yield
        except (OperationalError, InterfaceError) as error:
            reason = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
            raise DatabaseUnavailable(self.shown_url, reason) from error

    @contextmanager
    def _unit(self, write: bool = False) -> Iterator[OrmSession]:
        """One unit of work: an ORM session in a transaction, committed at the end
        (rolled back on an exception). ``write`` takes SQLite's write lock at the
        start, so the transaction cannot fail half-way for another writer."""
        with self._mapped_errors(), self._engine.connect() as connection:
            connection.execution_options(moalab_write=write)
            with OrmSession(bind=connection, expire_on_commit=False) as session, \
                    session.begin():
                yield session

    # -- subjects and rigs

    def add_subject(self, name: str, species: str | None = None, sex: str = "U",
                    dob: date | str | None = None, notes: str = "",
                    personal: Iterable[str] = ()) -> SubjectInfo:
        """Add a subject. ``dob`` a date or 'YYYY-MM-DD'; ``personal`` names fields
        that identify a person. Raises InvalidArgument for a bad value, NameTaken when
        the name is in use."""
        check_name("subject", name)
        if sex not in SEXES:
            raise InvalidArgument(f"subject {name!r}: sex {sex!r} is not one of "
                                  f"{', '.join(SEXES)} (U: unknown)")
        if isinstance(dob, str):
            try:
                dob = date.fromisoformat(dob)
            except ValueError:
                raise InvalidArgument(f"subject {name!r}: date of birth {dob!r} is not a "
                                      f"date YYYY-MM-DD") from None
        personal = tuple(personal)
        for field in personal:
            if field not in SUBJECT_FIELDS:
                raise InvalidArgument(f"subject {name!r}: personal field {field!r} is not "
                                      f"one of {', '.join(SUBJECT_FIELDS)}")
        row = Subject(name=name, species=species, sex=sex, dob=dob, notes=notes,
                      personal=list(personal))
        self._add_named("subject", name, row)
        return subject_info(row)

    def get_subject(self, name: str) -> SubjectInfo:
        """The subject ``name``; raises UnknownName."""
        with self._unit() as session:
            return subject_info(self._subject_row(session, name))

    def list_subjects(self) -> list[SubjectInfo]:
        """Every subject, by name."""
        with self._unit() as session:
            return [subject_info(row) for row in
                    session.scalars(select(Subject).order_by(Subject.name))]

    def add_rig(self, name: str, executor: str, host: str | None = None,
                port: int | None = None) -> RigInfo:
        """Add a rig reached by an ``executor`` of that kind at ``host``:``port``.
        Raises InvalidArgument for a bad value, NameTaken when the name is in use."""
        check_name("rig", name)
        if executor not in EXECUTORS:
            raise InvalidArgument(f"rig {name!r}: executor {executor!r} is not one of "
                                  f"{', '.join(EXECUTORS)}")
        if port is not None and (isinstance(port, bool) or not isinstance(port, int)
                                 or not 0 < port < 65536):
            raise InvalidArgument(f"rig {name!r}: port {port!r} is not a port number "
                                  f"(1-65535)")
        row = Rig(name=name, executor=executor, host=host, port=port)
        self._add_named("rig", name, row)
        return rig_info(row)

    def get_rig(self, name: str) -> RigInfo:
        """The rig ``name``; raises UnknownName."""
        with self._unit() as session:
            return rig_info(self._rig_row(session, name))

    def list_rigs(self) -> list[RigInfo]:
        """Every rig, by name."""
        with self._unit() as session:
            return [rig_info(row) for row in session.scalars(select(Rig).order_by(Rig.name))]

    def _add_named(self, kind: str, name: str, row: Subject | Rig) -> None:
        try:
            with self._unit(write=True) as session:
                session.add(row)
        except IntegrityError:
            raise NameTaken(f"this lab already has a {kind} {name!r}: choose another "
                            f"name (`moalab {kind} list` lists them)") from None

    @staticmethod
    def _subject_row(session: OrmSession, name: str) -> Subject:
        row = session.scalar(select(Subject).where(Subject.name == name))
        if row is None:
            raise UnknownName("subject", name, session.scalars(select(Subject.name)))
        return row

    @staticmethod
    def _rig_row(session: OrmSession, name: str) -> Rig:
        row = session.scalar(select(Rig).where(Rig.name == name))
        if row is None:
            raise UnknownName("rig", name, session.scalars(select(Rig.name)))
        return row

    @staticmethod
    def _session_row(session: OrmSession, session_id: str) -> Session:
        row = session.get(Session, session_id)
        if row is None:
            # close matches among those sharing a first few digits: a lab holds many
            raise UnknownName("session", session_id, session.scalars(select(Session.id).where(
                Session.id.startswith(session_id[:3], autoescape=True))))
        return row

    # -- sessions

    def create_session(self, subject: str, protocol: str, version: int,
                       args: dict[str, Any], rig: str | None = None, kind: str = "main",
                       step: int | None = None) -> SessionInfo:
        """Make a session (status created) of ``protocol`` for ``subject``; its data
        folder is its id, relative to the lab's data folder. Raises UnknownName for
        an unknown subject or rig, InvalidArgument for a bad kind or args."""
        if kind not in KINDS:
            raise InvalidArgument(f"session kind {kind!r} is not one of {', '.join(KINDS)}")
        for key, value in args.items():
            checked_json(f"{protocol} arg {key}", value)
        with self._unit(write=True) as session:
            subject_row = self._subject_row(session, subject)
            rig_row = self._rig_row(session, rig) if rig is not None else None
            session_id = secrets.token_hex(6)
            row = Session(id=session_id, subject_id=subject_row.id, protocol=protocol,
                          version=version, args=dict(args),
                          rig_id=rig_row.id if rig_row else None, status="created",
                          kind=kind, step=step, created=utc_now(), data_dir=session_id)
            session.add(row)
        return self.get_session(session_id)

    def claim_session(self, session_id: str, host: str, pid: int) -> SessionInfo:
        """Make a created or interrupted session running, owned by process ``pid`` of
        ``host``. Raises SubjectBusy when its subject has another running session
        (one whose owner died or whose heartbeat went stale is marked interrupted
        first), InvalidArgument when the session has ended."""
        self._interrupt_dead()
        try:
            with self._unit(write=True) as session:
                row = self._session_row(session, session_id)
                subject = session.get(Subject, row.subject_id).name
                if row.status not in ("created", "interrupted"):
                    if row.status == "running":
                        raise SubjectBusy(subject, row.id, _owner(row))
                    raise InvalidArgument(
                        f"session {session_id} is {row.status}: only a created or "
                        f"interrupted session can run (start a new one)")
                self._refuse_busy(session, row.subject_id, subject)
                now = utc_now()
                row.status = "running"
                row.started = row.started or now
                row.owner_host, row.owner_pid, row.heartbeat = host, pid, now
                row.error = None
        except IntegrityError:
            # another process claimed a session of this subject after our check: the
            # partial unique index refused ours
            with self._unit() as session:
                row = self._session_row(session, session_id)
                self._refuse_busy(session, row.subject_id,
                                  session.get(Subject, row.subject_id).name)
            raise
        return self.get_session(session_id)

    @staticmethod
    def _refuse_busy(session: OrmSession, subject_id: int, subject: str) -> None:
        running = session.scalar(select(Session).where(
            Session.subject_id == subject_id, Session.status == "running"))
        if running is not None:
            raise SubjectBusy(subject, running.id, _owner(running))

    def heartbeat(self, session_id: str, host: str, pid: int) -> None:
        """Mark the running session held by ``pid`` of ``host`` alive now. Raises
        SessionNotHeld when that process does not hold it (any more)."""
        with self._unit(write=True) as session:
            held = session.execute(update(Session).where(
                Session.id == session_id, Session.status == "running",
                Session.owner_host == host, Session.owner_pid == pid,
            ).values(heartbeat=utc_now())).rowcount
            if not held:
                row = self._session_row(session, session_id)
                raise SessionNotHeld(
                    f"session {session_id} is not held by process {pid} on {host}: it is "
                    f"{row.status}" + (f", held by {_owner(row)}"
                                       if row.status == "running" else "")
                    + (f" ({row.error})" if row.error else ""))

    def end_session(self, session_id: str, status: str, error: str | None = None) -> None:
        """End a session with ``status`` (interrupted, submitted, failed, abandoned)
        and ``error`` text; releases its owner. A failed or abandoned session's network
        nodes fail with it (in the same transaction): its place goes to the next
        subject, and what it made is passed on to nobody."""
        if status not in END_STATUSES:
            raise InvalidArgument(f"session {session_id}: end status {status!r} is not one "
                                  f"of {', '.join(END_STATUSES)}")
        with self._unit(write=True) as session:
            row = self._session_row(session, session_id)
            row.status, row.error, row.ended = status, error, utc_now()
            row.owner_host = row.owner_pid = None
            if status in ("failed", "abandoned"):
                for node in session.scalars(select(NodeRow).where(
                        NodeRow.session_id == session_id)):
                    self._fail_node(session, node)

    def delete_session(self, session_id: str) -> None:
        """Delete a session that never started, with anything recorded for it.
        Raises InvalidArgument for a session that started (it is kept: end it)."""
        with self._unit(write=True) as session:
            row = self._session_row(session, session_id)
            if row.status != "created":
                raise InvalidArgument(f"session {session_id} is {row.status}: only a "
                                      f"session that never started can be deleted (end "
                                      f"it as abandoned instead)")
            session.execute(delete(Trial).where(Trial.session_id == session_id))
            session.execute(delete(SessionStateRow).where(
                SessionStateRow.session_id == session_id))
            session.execute(delete(AssetLink).where(
                AssetLink.owner_kind == "session", AssetLink.owner == session_id))
            session.delete(row)  # its deposits and their links go with it (CASCADE)

    def get_session(self, session_id: str) -> SessionInfo:
        """The session ``session_id`` (interrupted if its owner is gone); raises
        UnknownName."""
        self._interrupt_dead()
        with self._unit() as session:
            infos = session_infos(session, Session.id == session_id)
            if not infos:
                self._session_row(session, session_id)
            return infos[0]

    def find_session(self, id_prefix: str) -> SessionInfo:
        """The session whose id is ``id_prefix`` or the one session whose id starts with
        it (as git takes a commit's first digits). Raises UnknownName when no id
        starts with it (or it is empty), InvalidArgument naming the ids when several
        do."""
        if not id_prefix:
            return self.get_session(id_prefix)  # raises UnknownName
        with self._unit() as session:
            ids = sorted(session.scalars(select(Session.id).where(
                Session.id.startswith(id_prefix, autoescape=True)).limit(MATCHES_NAMED + 1)))
        if id_prefix in ids or len(ids) == 1:
            return self.get_session(id_prefix if id_prefix in ids else ids[0])
        if not ids:
            return self.get_session(id_prefix)  # raises UnknownName, with close matches
        count = f"over {MATCHES_NAMED}" if len(ids) > MATCHES_NAMED else str(len(ids))
        more = ", ..." if len(ids) > MATCHES_NAMED else ""
        raise InvalidArgument(f"{id_prefix!r} is the start of {count} sessions' ids: "
                              f"{', '.join(ids[:MATCHES_NAMED])}{more}; give more of the id")

    def list_sessions(self, subject: str | None = None,
                      protocol: str | None = None) -> list[SessionInfo]:
        """The sessions, oldest first, of ``subject`` and ``protocol`` when given.
        A running session whose owner died or went silent is marked interrupted
        first. Raises UnknownName for an unknown subject."""
        self._interrupt_dead()
        with self._unit() as session:
            where = []
            if subject is not None:
                where.append(Session.subject_id == self._subject_row(session, subject).id)
            if protocol is not None:
                where.append(Session.protocol == protocol)
            return session_infos(session, *where)

    def subject_sessions(self, subject: str, protocol: str) -> list[SessionInfo]:
        """The sessions of ``subject`` for ``protocol``, oldest first."""
        return self.list_sessions(subject, protocol)

    def _interrupt_dead(self) -> None:
        """Mark interrupted each running session whose owner is known dead (a process
        of this host that is gone) or whose heartbeat is older than STALE_AFTER."""
        now = utc_now()
        with self._unit() as session:
            running = session.execute(select(
                Session.id, Session.owner_host, Session.owner_pid, Session.heartbeat,
            ).where(Session.status == "running")).all()
        dead = []
        for session_id, host, pid, beat in running:
            if beat is None or now - beat > timedelta(seconds=STALE_AFTER):
                dead.append((session_id, host, pid, beat,
                             f"interrupted: no heartbeat from process {pid} on {host} "
                             f"since {beat:%Y-%m-%d %H:%M:%S} UTC"))
            elif host == socket.gethostname() and not _pid_alive(pid):
                dead.append((session_id, host, pid, beat,
                             f"interrupted: its process {pid} on {host} is gone"))
        if not dead:
            return
        with self._unit(write=True) as session:
            for session_id, host, pid, beat, reason in dead:
                # only if nobody claimed or heartbeat it since we looked
                session.execute(update(Session).where(
                    Session.id == session_id, Session.status == "running",
                    Session.owner_host == host, Session.owner_pid == pid,
                    Session.heartbeat == beat,
                ).values(status="interrupted", owner_host=None, owner_pid=None,
                         error=reason))

    # -- trials and state

    def add_trials(self, session_id: str,
                   trials: Sequence[tuple[int, dict[str, Any], float | None, float | None]],
                   ) -> None:
        """Record ``trials`` (index, values, start, end) of a session, in order, in
        one transaction. Raises InvalidArgument when an index is already recorded
        (nothing of the batch is written), UnknownName for an unknown session."""
        indices = [index for index, *_ in trials]
        if len(set(indices)) != len(indices):
            raise InvalidArgument(f"session {session_id}: trial indices {indices} repeat "
                                  f"one: each trial index is recorded once")
        for index, values, _, _ in trials:
            checked_json(f"session {session_id} trial {index} values", values)
        try:
            with self._unit(write=True) as session:
                self._session_row(session, session_id)
                recorded = sorted(session.scalars(select(Trial.index).where(
                    Trial.session_id == session_id, Trial.index.in_(indices))))
                if recorded:
                    raise _trial_recorded(session_id, recorded)
                # one INSERT of many rows, no ORM objects: a commit holds the GIL
                # a stage may need, for less time
                session.execute(insert(Trial), [
                    {"session_id": session_id, "index": index, "values": values,
                     "start": start, "end": end} for index, values, start, end in trials])
        except IntegrityError:
            raise _trial_recorded(session_id, indices) from None

    def set_trial_ends(self, session_id: str, ends: Sequence[tuple[int, float]]) -> None:
        """Set the end time of trials recorded before, ``ends`` (index, end), in one
        transaction. Raises InvalidArgument naming an index not recorded (nothing is
        written), UnknownName for an unknown session."""
        with self._unit(write=True) as session:
            self._session_row(session, session_id)
            indices = [index for index, _ in ends]
            recorded = set(session.scalars(select(Trial.index).where(
                Trial.session_id == session_id, Trial.index.in_(indices))))
            missing = sorted(set(indices) - recorded)
            if missing:
                raise InvalidArgument(
                    f"session {session_id} has no trial index {', '.join(map(str, missing))}:"
                    " a trial's end is set after the trial is recorded (add_trials)")
            for index, end in ends:
                session.execute(update(Trial).where(
                    Trial.session_id == session_id, Trial.index == index).values(end=end))

    def list_trials(self, session_id: str) -> list[TrialInfo]:
        """The session's trials, by index. Raises UnknownName."""
        with self._unit() as session:
            self._session_row(session, session_id)
            return [TrialInfo(row.index, row.values, row.start, row.end)
                    for row in session.scalars(select(Trial).where(
                        Trial.session_id == session_id).order_by(Trial.index))]

    def load_state(self, session_id: str) -> tuple[Any | None, Any | None]:
        """The session's saved (init, data); (None, None) when nothing is saved."""
        with self._unit() as session:
            self._session_row(session, session_id)
            row = session.scalar(select(SessionStateRow).where(
                SessionStateRow.session_id == session_id))
            return (row.init, row.data) if row is not None else (None, None)

    def save_state(self, session_id: str, init: Any | None, data: Any | None) -> None:
        """Save the session's (init, data), replacing both, atomically."""
        checked_json(f"session {session_id} init state", init)
        checked_json(f"session {session_id} data", data)
        with self._unit(write=True) as session:
            self._session_row(session, session_id)
            row = session.scalar(select(SessionStateRow).where(
                SessionStateRow.session_id == session_id))
            if row is None:
                session.add(SessionStateRow(session_id=session_id, init=init, data=data))
            else:
                row.init, row.data = init, data

    # -- qualifications

    def grant(self, subject: str, name: str, value: int) -> QualificationInfo:
        """Give ``subject`` qualification ``name`` with ``value``, replacing its
        current one (kept as revoked history)."""
        now = utc_now()
        with self._unit(write=True) as session:
            subject_id = self._subject_row(session, subject).id
            self._revoke(session, subject_id, name, now)
            session.flush()  # the old row revoked before the new one is current
            row = Qualification(subject_id=subject_id, name=name, value=value, granted=now)
            session.add(row)
        return QualificationInfo(subject, name, value, now, None)

    def revoke(self, subject: str, name: str) -> bool:
        """Revoke ``subject``'s qualification ``name``; False when it had none."""
        with self._unit(write=True) as session:
            return self._revoke(session, self._subject_row(session, subject).id, name,
                                utc_now())

    @staticmethod
    def _revoke(session: OrmSession, subject_id: int, name: str, now: datetime) -> bool:
        return bool(session.execute(update(Qualification).where(
            Qualification.subject_id == subject_id, Qualification.name == name,
            Qualification.revoked.is_(None)).values(revoked=now)).rowcount)

    def qualification(self, subject: str, name: str) -> int | None:
        """The value of ``subject``'s current qualification ``name``; None if none."""
        with self._unit() as session:
            return session.scalar(select(Qualification.value).where(
                Qualification.subject_id == self._subject_row(session, subject).id,
                Qualification.name == name, Qualification.revoked.is_(None)))

    def list_qualifications(self, subject: str,
                            history: bool = False) -> list[QualificationInfo]:
        """``subject``'s current qualifications by name; with ``history`` also the
        revoked ones, oldest first within a name."""
        with self._unit() as session:
            query = select(Qualification).where(
                Qualification.subject_id == self._subject_row(session, subject).id)
            if not history:
                query = query.where(Qualification.revoked.is_(None))
            return [QualificationInfo(subject, row.name, row.value, row.granted, row.revoked)
                    for row in session.scalars(query.order_by(
                        Qualification.name, Qualification.granted, Qualification.id))]

    # -- shared by the parts (AssetRows, NetworkRows, counters)

    def _insert(self) -> Any:
        return sqlite_insert if self.is_sqlite else postgresql_insert

    # -- counters

    def take_slot(self, counter: str, cap: int) -> bool:
        """Take one of ``cap`` slots of ``counter``: True if one was free (and is now
        taken), False when all are taken. Atomic across processes and hosts."""
        with self._unit(write=True) as session:
            session.execute(self._insert()(Counter).values(name=counter, value=0)
                            .on_conflict_do_nothing(index_elements=["name"]))
            # one statement: PostgreSQL re-checks the WHERE on the row it locks,
            # SQLite holds its write lock from BEGIN IMMEDIATE
            return bool(session.execute(update(Counter).where(
                Counter.name == counter, Counter.value < cap,
            ).values(value=Counter.value + 1)).rowcount)

    def free_slot(self, counter: str) -> None:
        """Give back a slot of ``counter`` (none below zero)."""
        with self._unit(write=True) as session:
            session.execute(update(Counter).where(Counter.name == counter, Counter.value > 0)
                            .values(value=Counter.value - 1))

    def counter(self, counter: str) -> int:
        """The slots of ``counter`` in use (0 for a counter never used)."""
        with self._unit() as session:
            return session.scalar(select(Counter.value).where(Counter.name == counter)) or 0


def _sqlite_connect(connection: Any, record: Any) -> None:
    # moalab, not the sqlite3 module, begins transactions (see _sqlite_begin)
    connection.isolation_level = None
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT * 1000)}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _postgresql_connect(connection: Any, record: Any) -> None:
    # a unit of work waiting on a lock another program holds gives up, as SQLite does
    connection.execute(f"SET lock_timeout = {int(BUSY_TIMEOUT * 1000)}")
    connection.commit()


def _sqlite_begin(connection: Connection) -> None:
    # a write unit takes the write lock at BEGIN: a deferred transaction that reads
    # then writes fails at once (SQLITE_BUSY, no busy wait) if another process wrote
    # in between
    write = connection.get_execution_options().get("moalab_write", False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _owner(row: Session) -> str:
    return f"process {row.owner_pid} on {row.owner_host}" if row.owner_pid else ""


def _trial_recorded(session_id: str, indices: list[int]) -> InvalidArgument:
    return InvalidArgument(f"session {session_id} already has trial index "
                           f"{', '.join(map(str, indices))}: each trial is recorded once "
                           f"(a resumed session continues after its last trial)")
