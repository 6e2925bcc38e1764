"""The lab store: the lab folder and its config, the lab database (SQLAlchemy models,
Alembic migrations) and the worker threads that call it from trio."""

from .config import CONFIG_NAME, LabConfig, write_default
from .database import (
    STALE_AFTER,
    AssetInfo,
    AssetLinkInfo,
    Database,
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
from .errors import (
    DatabaseUnavailable,
    NameTaken,
    SchemaTooNew,
    SchemaTooOld,
    SessionNotHeld,
    StoreError,
    SubjectBusy,
    UnknownName,
)
from .lab import LAB_ENV, Lab
from .worker import DatabaseWorker, TrialWriter

__all__ = (
    "AssetInfo",
    "AssetLinkInfo",
    "CONFIG_NAME",
    "LAB_ENV",
    "STALE_AFTER",
    "Database",
    "DatabaseUnavailable",
    "DatabaseWorker",
    "InformationInfo",
    "Lab",
    "LabConfig",
    "NameTaken",
    "NetworkInfo",
    "NodeInfo",
    "QualificationInfo",
    "RigInfo",
    "SchemaTooNew",
    "SchemaTooOld",
    "SessionInfo",
    "SessionNotHeld",
    "StoreError",
    "SubjectBusy",
    "SubjectInfo",
    "TransmissionInfo",
    "TrialInfo",
    "TrialWriter",
    "UnknownName",
    "VectorInfo",
    "write_default",
)
