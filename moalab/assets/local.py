"""A protocol's assets as local files: stored once, then copied to a cache folder where
the session's devices run (the lab's cache for a local or dry run)."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from ..core.errors import InvalidArgument
from .hashing import file_sha256, folder_sha256
from .keys import CACHED_PREFIX
from .storage import AssetStorage
from .types import Asset, ExternalAsset, FastFunctionAsset, check_key_part

__all__ = ("MANIFEST_NAME", "prepare_assets")

MANIFEST_NAME = "manifest.json"
"""In the cache folder: the SHA-256 of each local copy as it was downloaded, by key."""

LIST_FROM = 100
"""From this many assets on, one listing of the store's ``cached/`` keys replaces an
``exists`` call each (on S3 a HEAD request each, where a listing page holds 1,000)."""

FAST_FOLDER = "fast"
"""In the cache folder: the files fast function assets are made into."""


def prepare_assets(assets: Mapping[str, Asset], storage: AssetStorage,
                   cache_folder: str | os.PathLike) -> dict[str, Path]:
    """Ensure each of ``assets`` is in ``storage`` and a current copy under
    ``cache_folder``; return the path of each copy by the asset's name.

    A stored asset's copy is ``cache_folder/<its key>`` (a folder asset's a folder),
    fetched with ``storage.get`` only if it is missing or its SHA-256 differs from the
    one recorded when it was fetched (a copy edited or corrupted since is fetched
    again). From :data:`LIST_FROM` assets on, the store is listed once instead of asked
    about each asset. A :class:`FastFunctionAsset` is made anew at each call, as
    ``cache_folder/fast/<name><extension>``. External assets have no local copy: they
    are left out of the result (reach them by ``asset.url()``).

    Two prepares at once are safe (a manifest entry lost to the race costs one fetch
    again). Blocks on disk and storage: call from a worker thread. Raises
    :class:`InvalidArgument` for a name that is not one part of a key or a value that
    is not an :class:`Asset`; what ``ensure`` and ``storage.get`` raise.
    """
    cache = Path(cache_folder)
    cache.mkdir(parents=True, exist_ok=True)
    manifest = _read_manifest(cache)
    changed = False
    listed = {f"{CACHED_PREFIX}/{name}" for name in storage.list(CACHED_PREFIX)} \
        if len(assets) >= LIST_FROM else set()
    paths: dict[str, Path] = {}
    for name, asset in assets.items():
        check_key_part(name, "prepare_assets", "asset name")
        if not isinstance(asset, Asset):
            raise InvalidArgument(f"assets[{name!r}] = {asset!r} is not accepted; give an "
                                  "Asset, e.g. {'tone': CachedAsset('tone.wav')}")
        if isinstance(asset, FastFunctionAsset):
            paths[name] = asset.make(cache / FAST_FOLDER, name)
            continue
        key = asset.ensure(storage, listed)
        if key is None:
            if not isinstance(asset, ExternalAsset):
                raise InvalidArgument(f"assets[{name!r}] = {asset!r} is not stored before a "
                                      "session (an ExperimentAsset is made during one); "
                                      "declare a CachedAsset or CachedFunctionAsset")
            continue
        local = cache / key
        if manifest.get(key) is None or _sha256(local) != manifest[key]:
            storage.get(key, local)
            manifest[key] = _sha256(local)
            changed = True
        paths[name] = local
    if changed:
        _write_manifest(cache, manifest)
    return paths


def _sha256(path: Path) -> str | None:
    """The SHA-256 of the file or folder at ``path``, or None if there is none."""
    if path.is_dir():
        return folder_sha256(path)
    return file_sha256(path) if path.is_file() else None


def _read_manifest(cache: Path) -> dict[str, str]:
    try:
        manifest = json.loads((cache / MANIFEST_NAME).read_text("utf-8"))
    except (OSError, ValueError):
        return {}  # none yet, or unreadable: every copy is checked against storage again
    return manifest if isinstance(manifest, dict) else {}


def _write_manifest(cache: Path, manifest: dict[str, str]) -> None:
    # under a temporary name, then renamed: a killed write leaves the old manifest
    handle, temporary = tempfile.mkstemp(dir=cache, prefix=f".{MANIFEST_NAME}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            json.dump(manifest, file, sort_keys=True, indent=0)
        os.replace(temporary, cache / MANIFEST_NAME)
    finally:
        Path(temporary).unlink(missing_ok=True)
