"""What the lab database's methods return: frozen snapshots of its rows, never ORM
objects, so nothing holds a database session after a call."""

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session as OrmSession

from .models import Rig, Session, Subject, Trial

__all__ = ("SubjectInfo", "RigInfo", "SessionInfo", "TrialInfo", "QualificationInfo",
           "subject_info", "rig_info", "session_infos")


@dataclass(frozen=True)
class SubjectInfo:
    name: str
    species: str | None
    sex: str
    dob: date | None
    notes: str
    personal: tuple[str, ...]


@dataclass(frozen=True)
class RigInfo:
    name: str
    executor: str
    host: str | None
    port: int | None


@dataclass(frozen=True)
class SessionInfo:
    """A session; ``data_dir`` is relative to the lab's data folder, times are UTC."""

    id: str
    subject: str
    protocol: str
    version: int
    args: dict[str, Any]
    rig: str | None
    status: str
    kind: str
    step: int | None
    created: datetime
    started: datetime | None
    ended: datetime | None
    data_dir: str
    error: str | None
    owner_host: str | None
    owner_pid: int | None
    heartbeat: datetime | None
    n_trials: int


@dataclass(frozen=True)
class TrialInfo:
    index: int
    values: dict[str, Any]
    start: float | None
    end: float | None


@dataclass(frozen=True)
class QualificationInfo:
    subject: str
    name: str
    value: int
    granted: datetime
    revoked: datetime | None


def subject_info(row: Subject) -> SubjectInfo:
    return SubjectInfo(row.name, row.species, row.sex, row.dob, row.notes,
                       tuple(row.personal))


def rig_info(row: Rig) -> RigInfo:
    return RigInfo(row.name, row.executor, row.host, row.port)


def session_infos(session: OrmSession, *where: Any) -> list[SessionInfo]:
    n_trials = (select(func.count(Trial.id)).where(Trial.session_id == Session.id)
                .correlate(Session).scalar_subquery())
    query = (select(Session, Subject.name, Rig.name, n_trials)
             .join(Subject, Session.subject_id == Subject.id)
             .outerjoin(Rig, Session.rig_id == Rig.id)
             .where(*where).order_by(Session.created, Session.id))
    return [SessionInfo(
        row.id, subject, row.protocol, row.version, row.args, rig, row.status, row.kind,
        row.step, row.created, row.started, row.ended, row.data_dir, row.error,
        row.owner_host, row.owner_pid, row.heartbeat, count,
    ) for row, subject, rig, count in session.execute(query)]
