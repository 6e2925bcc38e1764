"""The lab database's rows as the frozen infos its methods return (``infos``)."""

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session as OrmSession

from . import models
from .infos import (
    AssetInfo,
    AssetLinkInfo,
    InformationInfo,
    NetworkInfo,
    NodeInfo,
    RigInfo,
    SessionInfo,
    SubjectInfo,
    TransmissionInfo,
    VectorInfo,
)
from .models import Asset, AssetLink, Rig, Session, Subject, Trial

__all__ = ("subject_info", "rig_info", "session_infos", "asset_info", "asset_link_info",
           "row_info")


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


_NETWORK_INFOS: dict[type, type] = {
    models.NetworkRow: NetworkInfo, models.NodeRow: NodeInfo, models.VectorRow: VectorInfo,
    models.InfoRow: InformationInfo, models.TransmissionRow: TransmissionInfo}


def row_info(row: Any) -> Any:
    """The frozen info of a network table's row (a NetworkRow's NetworkInfo, ...)."""
    info = _NETWORK_INFOS[type(row)]
    return info(**{field: getattr(row, field) for field in info.__dataclass_fields__})
