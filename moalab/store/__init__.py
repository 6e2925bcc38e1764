"""The lab store: the lab folder and its config, the lab database (SQLAlchemy models,
Alembic migrations) and the worker threads that call it from trio."""

from ..core.lazy import lazy_names

_MODULES = {
    **dict.fromkeys(("CONFIG_NAME", "LabConfig", "write_default"), "config"),
    **dict.fromkeys(("STALE_AFTER", "Database"), "database"),
    **dict.fromkeys(("AssetInfo", "AssetLinkInfo", "InformationInfo", "NetworkInfo",
                     "NodeInfo", "QualificationInfo", "RigInfo", "SessionInfo",
                     "SubjectInfo", "TransmissionInfo", "TrialInfo", "VectorInfo"), "infos"),
    **dict.fromkeys(("DatabaseUnavailable", "NameTaken", "SchemaTooNew", "SchemaTooOld",
                     "SessionNotHeld", "StoreError", "SubjectBusy", "UnknownName"), "errors"),
    **dict.fromkeys(("LAB_ENV", "Lab"), "lab"),
    **dict.fromkeys(("DatabaseWorker", "TrialWriter"), "worker"),
}
"""Each public name and the module of this package holding it, imported on first use
(SQLAlchemy is imported only with the database, not for a lab's folder, config or
infos)."""


__getattr__ = lazy_names(__name__, _MODULES)


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
