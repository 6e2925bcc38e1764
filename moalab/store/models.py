"""The lab database's tables, as SQLAlchemy 2 typed models.

The migrations (``migrations/versions``) make these tables; a test checks that the
two agree. Nothing outside ``moalab.store`` sees these classes: the database's
methods return frozen dataclasses (``moalab.store.database``).
"""

from datetime import date, datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

__all__ = (
    "Base",
    "Subject",
    "Rig",
    "Session",
    "Trial",
    "SessionStateRow",
    "Qualification",
    "Counter",
    "Asset",
    "AssetLink",
    "NetworkRow",
    "NodeRow",
    "VectorRow",
    "InfoRow",
    "TransmissionRow",
    "SEXES",
    "EXECUTORS",
    "STATUSES",
    "KINDS",
    "ASSET_KINDS",
    "ASSET_STATUSES",
    "OWNER_KINDS",
    "NETWORK_ROLES",
    "TRANSMISSION_STATUSES",
)

SEXES = ("F", "M", "U")
EXECUTORS = ("websocket", "rest", "process", "thread")
STATUSES = ("created", "running", "interrupted", "submitted", "failed", "abandoned")
KINDS = ("main", "training", "screening")
ASSET_KINDS = ("cached", "experiment", "external")
ASSET_STATUSES = ("stored", "pending", "deposited", "failed")
OWNER_KINDS = ("protocol", "stage", "session", "subject", "trial", "node")
NETWORK_ROLES = ("practice", "experiment")
TRANSMISSION_STATUSES = ("pending", "received")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class UTCDateTime(TypeDecorator):
    """A UTC datetime: aware on the Python side whatever the database keeps (SQLite
    keeps no zone, so a naive value read back is UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[str]: JSON}


class Subject(Base):
    """A mouse, a rat, a participant. ``personal`` lists the fields that identify a
    person (left out of exports)."""

    __tablename__ = "subjects"
    __table_args__ = (CheckConstraint(_one_of("sex", SEXES), name="subject_sex"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    species: Mapped[str | None] = mapped_column(String(200))
    sex: Mapped[str] = mapped_column(String(1), default="U")
    dob: Mapped[date | None]
    notes: Mapped[str] = mapped_column(Text, default="")
    personal: Mapped[list[str]] = mapped_column(default=list)


class Rig(Base):
    """A rig and how to reach its devices: executor kind, host and port."""

    __tablename__ = "rigs"
    __table_args__ = (CheckConstraint(_one_of("executor", EXECUTORS), name="rig_executor"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    executor: Mapped[str] = mapped_column(String(20))
    host: Mapped[str | None] = mapped_column(String(255))
    port: Mapped[int | None]


class Session(Base):
    """One run of a protocol's tree for one subject. While ``running`` the owner
    (host, pid) holds it and keeps ``heartbeat`` fresh."""

    __tablename__ = "sessions"
    __table_args__ = (
        CheckConstraint(_one_of("status", STATUSES), name="session_status"),
        CheckConstraint(_one_of("kind", KINDS), name="session_kind"),
        # at most one running session per subject, across processes and PCs: the
        # database refuses the second, so no check-then-write race can let it in
        Index("one_running_session_per_subject", "subject_id", unique=True,
              sqlite_where=text("status = 'running'"),
              postgresql_where=text("status = 'running'")),
        Index("sessions_by_subject_protocol", "subject_id", "protocol"),
    )

    id: Mapped[str] = mapped_column(String(12), primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"))
    protocol: Mapped[str] = mapped_column(String(200))
    version: Mapped[int]
    args: Mapped[dict[str, Any]] = mapped_column(default=dict)
    rig_id: Mapped[int | None] = mapped_column(ForeignKey("rigs.id"))
    status: Mapped[str] = mapped_column(String(20), default="created")
    kind: Mapped[str] = mapped_column(String(20), default="main")
    step: Mapped[int | None]
    created: Mapped[datetime]
    started: Mapped[datetime | None]
    ended: Mapped[datetime | None]
    data_dir: Mapped[str] = mapped_column(String(500))
    error: Mapped[str | None] = mapped_column(Text)
    owner_host: Mapped[str | None] = mapped_column(String(255))
    owner_pid: Mapped[int | None]
    heartbeat: Mapped[datetime | None]


class Trial(Base):
    """One recorded trial of a session: its ``values`` and start / end times."""

    __tablename__ = "trials"
    __table_args__ = (UniqueConstraint("session_id", "index", name="one_trial_per_index"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    index: Mapped[int]
    values: Mapped[dict[str, Any]]
    start: Mapped[float | None] = mapped_column(Float)
    end: Mapped[float | None] = mapped_column(Float)


class SessionStateRow(Base):
    """A session's SessionState: its first ``init`` and its latest ``data``."""

    __tablename__ = "session_state"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[str] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), unique=True)
    init: Mapped[Any | None] = mapped_column(JSON)
    data: Mapped[Any | None] = mapped_column(JSON)


class Qualification(Base):
    """A subject's qualification (e.g. a protocol's training): the current row has
    ``revoked`` None; revoked rows stay as history."""

    __tablename__ = "qualifications"
    __table_args__ = (
        Index("one_current_qualification", "subject_id", "name", unique=True,
              sqlite_where=text("revoked IS NULL"),
              postgresql_where=text("revoked IS NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"))
    name: Mapped[str] = mapped_column(String(200))
    value: Mapped[int]
    granted: Mapped[datetime]
    revoked: Mapped[datetime | None]


class Counter(Base):
    """A named count kept in the database so it survives restarts and is shared by
    every process (e.g. a protocol's screening slots in use)."""

    __tablename__ = "counters"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    value: Mapped[int] = mapped_column(default=0)


class Asset(Base):
    """A file the lab stores or references: a cached asset (``cached/<sha256><ext>``),
    a session's deposit (``experiment/<session_id>/<local_key><ext>``, made 'pending'
    before its upload starts, then 'deposited' or 'failed') or an external URL.
    ``input_path`` is where a pending deposit's file lies, for a retry."""

    __tablename__ = "assets"
    __table_args__ = (
        CheckConstraint(_one_of("kind", ASSET_KINDS), name="asset_kind"),
        CheckConstraint(_one_of("status", ASSET_STATUSES), name="asset_status"),
        UniqueConstraint("session_id", "local_key", name="one_deposit_per_local_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str | None] = mapped_column(String(1024), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    extension: Mapped[str] = mapped_column(String(40), default="")
    personal: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(String(20))
    session_id: Mapped[str | None] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"))
    local_key: Mapped[str | None] = mapped_column(String(200))
    input_path: Mapped[str | None] = mapped_column(Text)
    delete_input: Mapped[bool] = mapped_column(default=False)
    url: Mapped[str | None] = mapped_column(Text)
    sha256: Mapped[str | None] = mapped_column(String(64))
    size: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(Text)
    created: Mapped[datetime]
    deposited: Mapped[datetime | None]


class AssetLink(Base):
    """An asset attached under ``name`` to an owner: the protocol (its name), a stage
    (``<session_id>/<stage path>``), a session (its id), a subject (its name), a trial
    (``<session_id>/<index>``) or a node (its id). One asset per (owner, name)."""

    __tablename__ = "asset_links"
    __table_args__ = (
        CheckConstraint(_one_of("owner_kind", OWNER_KINDS), name="asset_link_owner_kind"),
        UniqueConstraint("owner_kind", "owner", "name", name="one_asset_per_owner_name"),
        Index("asset_links_by_asset", "asset_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"))
    owner_kind: Mapped[str] = mapped_column(String(20))
    owner: Mapped[str] = mapped_column(String(300))
    name: Mapped[str] = mapped_column(String(200))


# a deleted node's id is never given again (SQLite would reuse the highest one), so a
# Node object still holding it cannot reach another node
_NEVER_REUSED = {"sqlite_autoincrement": True}


class NetworkRow(Base):
    """A network (Dallinger's): its class as ``type`` ('module:qualname') and its
    topology's ``properties``, the ``protocol`` that made it (None: made directly)
    and its ``role``. ``size`` counts its nodes that have not failed, kept by the
    database under ``max_size``: whether it is full, whatever process asks."""

    __tablename__ = "networks"
    __table_args__ = (
        # the database refuses a node past max_size, whatever process adds it
        CheckConstraint("size <= max_size", name="network_not_overfull"),
        CheckConstraint(_one_of("role", NETWORK_ROLES), name="network_role"),
        Index("networks_by_protocol_role", "protocol", "role"),
        _NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(300))
    protocol: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    max_size: Mapped[int]
    size: Mapped[int] = mapped_column(default=0)
    properties: Mapped[dict[str, Any]] = mapped_column(default=dict)
    creation_time: Mapped[datetime]


class NodeRow(Base):
    """A node of a network: a participant's (a subject's name, with the ``session_id``
    that took it) or a source's (no participant). ``failed`` nodes stay, out of the
    network's size. One node per participant in a network, failed or not."""

    __tablename__ = "nodes"
    __table_args__ = (
        UniqueConstraint("network_id", "participant", name="one_node_per_participant"),
        Index("nodes_by_network", "network_id"),
        Index("nodes_by_session", "session_id"),
        _NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    network_id: Mapped[int] = mapped_column(ForeignKey("networks.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(300))
    participant: Mapped[str | None] = mapped_column(String(200))
    session_id: Mapped[str | None] = mapped_column(
        ForeignKey("sessions.id", ondelete="SET NULL"))
    fitness: Mapped[float | None] = mapped_column(Float)
    generation: Mapped[int | None]
    properties: Mapped[dict[str, Any]] = mapped_column(default=dict)
    failed: Mapped[bool] = mapped_column(default=False)
    creation_time: Mapped[datetime]
    time_of_death: Mapped[datetime | None]


class VectorRow(Base):
    """A one-way connection from ``origin_id`` to ``destination_id``: at most one that
    has not failed per pair."""

    __tablename__ = "vectors"
    __table_args__ = (
        Index("one_live_vector_per_pair", "origin_id", "destination_id", unique=True,
              sqlite_where=text("NOT failed"), postgresql_where=text("NOT failed")),
        Index("vectors_by_network", "network_id"),
        _NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    network_id: Mapped[int] = mapped_column(ForeignKey("networks.id", ondelete="CASCADE"))
    origin_id: Mapped[int] = mapped_column(ForeignKey("nodes.id", ondelete="CASCADE"))
    destination_id: Mapped[int] = mapped_column(ForeignKey("nodes.id", ondelete="CASCADE"))
    failed: Mapped[bool] = mapped_column(default=False)
    creation_time: Mapped[datetime]


class InfoRow(Base):
    """What node ``origin_id`` made: ``contents`` (JSON, written once) and, when it
    carries a file, ``asset_id``, its asset record (e.g. a session's recording)."""

    __tablename__ = "infos"
    __table_args__ = (Index("infos_by_network", "network_id"), _NEVER_REUSED)

    id: Mapped[int] = mapped_column(primary_key=True)
    network_id: Mapped[int] = mapped_column(ForeignKey("networks.id", ondelete="CASCADE"))
    origin_id: Mapped[int] = mapped_column(ForeignKey("nodes.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(300))
    contents: Mapped[Any | None] = mapped_column(JSON)
    asset_id: Mapped[int | None] = mapped_column(ForeignKey("assets.id", ondelete="SET NULL"))
    failed: Mapped[bool] = mapped_column(default=False)
    creation_time: Mapped[datetime]


class TransmissionRow(Base):
    """Info ``info_id`` sent along vector ``vector_id``: 'pending' until its
    destination receives it ('received', at ``receive_time``)."""

    __tablename__ = "transmissions"
    __table_args__ = (
        CheckConstraint(_one_of("status", TRANSMISSION_STATUSES), name="transmission_status"),
        Index("transmissions_by_network", "network_id"),
        Index("transmissions_by_destination", "destination_id", "status"),
        _NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    network_id: Mapped[int] = mapped_column(ForeignKey("networks.id", ondelete="CASCADE"))
    vector_id: Mapped[int] = mapped_column(ForeignKey("vectors.id", ondelete="CASCADE"))
    info_id: Mapped[int] = mapped_column(ForeignKey("infos.id", ondelete="CASCADE"))
    origin_id: Mapped[int] = mapped_column(ForeignKey("nodes.id", ondelete="CASCADE"))
    destination_id: Mapped[int] = mapped_column(ForeignKey("nodes.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    failed: Mapped[bool] = mapped_column(default=False)
    creation_time: Mapped[datetime]
    receive_time: Mapped[datetime | None]
