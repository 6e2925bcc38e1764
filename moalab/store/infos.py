"""What the lab database's methods return: frozen snapshots of its rows, never ORM
objects, so nothing holds a database session after a call."""

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session as OrmSession

from . import models
from .models import Asset, AssetLink, Rig, Session, Subject, Trial

__all__ = ("SubjectInfo", "RigInfo", "SessionInfo", "TrialInfo", "QualificationInfo",
           "AssetInfo", "AssetLinkInfo", "NetworkInfo", "NodeInfo", "VectorInfo",
           "InformationInfo", "TransmissionInfo", "subject_info", "rig_info",
           "session_infos", "asset_info", "asset_link_info", "row_info")


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
    pending_deposits: int = 0
    """Its deposits not yet uploaded (a session is submitted once there are none)."""
    failed_deposits: int = 0
    """Its deposits that failed (``Database.list_assets(session, 'failed')`` says why)."""


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


@dataclass(frozen=True)
class AssetInfo:
    """An asset's record. ``kind``: 'cached', 'experiment' (a session's deposit) or
    'external'; ``status``: 'stored' (cached, external), or a deposit's 'pending',
    'deposited', 'failed' (``error`` says why); ``session``: the session that made an
    experiment asset. ``input_path`` and ``delete_input``: a pending deposit's file
    and whether it goes once uploaded (for a retry)."""

    id: int
    key: str | None
    kind: str
    extension: str
    personal: bool
    status: str
    session: str | None
    local_key: str | None
    url: str | None
    sha256: str | None
    size: int | None
    error: str | None
    created: datetime
    deposited: datetime | None
    input_path: str | None = None
    delete_input: bool = False


@dataclass(frozen=True)
class AssetLinkInfo:
    """Asset ``asset`` (its id) attached under ``name`` to an owner of ``owner_kind``
    ('protocol', 'stage', 'session', 'subject', 'trial', 'node')."""

    asset: int
    owner_kind: str
    owner: str
    name: str


def asset_info(row: Asset) -> AssetInfo:
    return AssetInfo(row.id, row.key, row.kind, row.extension, row.personal, row.status,
                     row.session_id, row.local_key, row.url, row.sha256, row.size, row.error,
                     row.created, row.deposited, row.input_path, row.delete_input)


def asset_link_info(row: AssetLink) -> AssetLinkInfo:
    return AssetLinkInfo(row.asset_id, row.owner_kind, row.owner, row.name)


def subject_info(row: Subject) -> SubjectInfo:
    return SubjectInfo(row.name, row.species, row.sex, row.dob, row.notes,
                       tuple(row.personal))


def rig_info(row: Rig) -> RigInfo:
    return RigInfo(row.name, row.executor, row.host, row.port)


def session_infos(session: OrmSession, *where: Any) -> list[SessionInfo]:
    n_trials = (select(func.count(Trial.id)).where(Trial.session_id == Session.id)
                .correlate(Session).scalar_subquery())
    pending, failed = ((select(func.count(Asset.id)).where(
        Asset.session_id == Session.id, Asset.status == status)
        .correlate(Session).scalar_subquery()) for status in ("pending", "failed"))
    query = (select(Session, Subject.name, Rig.name, n_trials, pending, failed)
             .join(Subject, Session.subject_id == Subject.id)
             .outerjoin(Rig, Session.rig_id == Rig.id)
             .where(*where).order_by(Session.created, Session.id))
    return [SessionInfo(
        row.id, subject, row.protocol, row.version, row.args, rig, row.status, row.kind,
        row.step, row.created, row.started, row.ended, row.data_dir, row.error,
        row.owner_host, row.owner_pid, row.heartbeat, count, n_pending, n_failed,
    ) for row, subject, rig, count, n_pending, n_failed in session.execute(query)]


@dataclass(frozen=True)
class NetworkInfo:
    """A network: ``type`` its class ('module:qualname'), ``properties`` its topology's
    parameters; ``protocol`` the protocol that made it (None: made directly);
    ``size`` its nodes that have not failed (full when ``size >= max_size``)."""

    id: int
    type: str
    protocol: str | None
    role: str
    max_size: int
    size: int
    properties: dict[str, Any]
    creation_time: datetime

    @property
    def full(self) -> bool:
        return self.size >= self.max_size


@dataclass(frozen=True)
class NodeInfo:
    """A node of network ``network_id``: a participant's (a subject's name; the
    ``session_id`` that took it) or a source's (``participant`` None)."""

    id: int
    network_id: int
    type: str
    participant: str | None
    session_id: str | None
    fitness: float | None
    generation: int | None
    properties: dict[str, Any]
    creation_time: datetime
    failed: bool
    time_of_death: datetime | None


@dataclass(frozen=True)
class VectorInfo:
    """A one-way connection from node ``origin_id`` to node ``destination_id``."""

    id: int
    network_id: int
    origin_id: int
    destination_id: int
    creation_time: datetime
    failed: bool


@dataclass(frozen=True)
class InformationInfo:
    """An info (Dallinger's): what node ``origin_id`` made, its ``contents`` and the
    asset it carries (``asset_id``, None for none)."""

    id: int
    network_id: int
    origin_id: int
    type: str
    contents: Any
    asset_id: int | None
    creation_time: datetime
    failed: bool


@dataclass(frozen=True)
class TransmissionInfo:
    """Info ``info_id`` sent along vector ``vector_id``: 'pending' or 'received'."""

    id: int
    network_id: int
    vector_id: int
    info_id: int
    origin_id: int
    destination_id: int
    creation_time: datetime
    status: str
    receive_time: datetime | None
    failed: bool


_NETWORK_INFOS: dict[type, type] = {
    models.NetworkRow: NetworkInfo, models.NodeRow: NodeInfo, models.VectorRow: VectorInfo,
    models.InfoRow: InformationInfo, models.TransmissionRow: TransmissionInfo}


def row_info(row: Any) -> Any:
    """The frozen info of a network table's row (a NetworkRow's NetworkInfo, ...)."""
    info = _NETWORK_INFOS[type(row)]
    return info(**{field: getattr(row, field) for field in info.__dataclass_fields__})
