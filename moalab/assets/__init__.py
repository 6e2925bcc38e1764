"""Assets: files a protocol uses or makes (stimuli, recordings), their content keys and
the storage back-ends they live in.

This layer sits above the store and below the lab's protocols: it knows nothing of
protocols; a session's deposits (``deposit.Depositor``) are recorded in the lab's
database through the store.
"""

from .hashing import cached_key, content_key, file_sha256, folder_entries, folder_sha256
from .keys import CACHED_PREFIX, MAX_KEY_BYTES, check_extension, check_key, is_key
from .local import prepare_assets
from .rig import RigFolder, RigStorage
from .storage import (
    AssetMissing,
    AssetStorage,
    LocalStorage,
    S3Storage,
    StorageError,
    open_storage,
)
from .sync import reaches_rig, sync_to_rig
from .types import (
    Asset,
    CachedAsset,
    CachedFunctionAsset,
    ExperimentAsset,
    ExternalAsset,
    ExternalS3Asset,
    FastFunctionAsset,
    Recording,
    code_sha256,
)

__all__ = (
    "MAX_KEY_BYTES",
    "Asset",
    "AssetMissing",
    "AssetStorage",
    "CachedAsset",
    "CachedFunctionAsset",
    "ExperimentAsset",
    "ExternalAsset",
    "ExternalS3Asset",
    "FastFunctionAsset",
    "LocalStorage",
    "Recording",
    "RigFolder",
    "RigStorage",
    "S3Storage",
    "StorageError",
    "CACHED_PREFIX",
    "cached_key",
    "check_extension",
    "check_key",
    "code_sha256",
    "content_key",
    "file_sha256",
    "folder_entries",
    "folder_sha256",
    "is_key",
    "open_storage",
    "prepare_assets",
    "reaches_rig",
    "sync_to_rig",
)
