"""What the lab database's methods return: frozen snapshots of its rows, never ORM
objects, so nothing holds a database session after a call. Plain dataclasses: code
that only reads them (the dashboard, the CLI's parsers) imports no SQLAlchemy; they are
made from rows in ``info_rows``."""

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

__all__ = ("SubjectInfo", "RigInfo", "SessionInfo", "TrialInfo", "QualificationInfo",
           "AssetInfo", "AssetLinkInfo", "NetworkInfo", "NodeInfo", "VectorInfo",
           "InformationInfo", "TransmissionInfo")


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
