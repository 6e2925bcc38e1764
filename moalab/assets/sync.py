"""A session's stimuli to its rig before it starts: only what the rig lacks is sent.

The lab's local copies of a protocol's assets (:func:`~moalab.assets.prepare_assets`)
are compared with the rig's files by SHA-256, in one call for the whole set; only the
missing or different files are uploaded (a folder asset file by file), and the
session's devices get each asset's path on the rig.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from ..core.errors import InvalidArgument
from ..executor.rest import RestExecutor
from ..executor.websocket import WebSocketExecutor
from .hashing import file_sha256, folder_entries
from .keys import check_key
from .rig import RigStorage

__all__ = ("SyncProgress", "reaches_rig", "sync_to_rig")

SyncProgress = Callable[[int, int], None]
"""Called with (bytes done, bytes to send): once before anything is sent (0 of a
total that is 0 when the rig has everything), then as each chunk is acknowledged
(in the trio thread)."""


def reaches_rig(executor: Any) -> bool:
    """Whether ``executor`` reaches a rig's moalab-server over the network (its devices
    read files there, not here)."""
    return isinstance(executor, WebSocketExecutor | RestExecutor)


def sync_to_rig(copies: Mapping[str, Path], cache_folder: str | os.PathLike,
                storage: RigStorage, progress: SyncProgress | None = None
                ) -> dict[str, PurePosixPath]:
    """Make the rig of ``storage`` hold each of ``copies`` (local files or folders under
    ``cache_folder``, by asset name), each under its path relative to ``cache_folder``
    as key; return each asset's path on the rig, by name.

    The rig's SHA-256 of every file is asked in one call; a file is sent only if the
    rig has none under its key or a different one. Blocks: call from a worker thread.
    Raises :class:`InvalidArgument` for a copy outside ``cache_folder``; what
    :class:`RigStorage` raises (:class:`~moalab.assets.StorageError`).
    """
    cache = Path(cache_folder)
    keys: dict[str, str] = {}
    files: dict[str, Path] = {}  # by key: a folder's files each under key/<relative path>
    for name, copy in copies.items():
        path = Path(copy)
        if not path.is_relative_to(cache):
            raise InvalidArgument(f"sync_to_rig: assets[{name!r}] = {str(path)!r} is not in "
                                  f"the cache folder {str(cache)!r}; give the copies "
                                  "prepare_assets made there")
        key = keys[name] = check_key(path.relative_to(cache).as_posix())
        if path.is_dir():
            entries, _ = folder_entries(path)
            files.update((f"{key}/{relative}", file) for relative, file in entries)
        else:
            files[key] = path
    local = {key: file_sha256(file) for key, file in files.items()}
    held = storage.hashes(list(files))
    missing = [key for key in files if held.get(key) != local[key]]
    total = sum(files[key].stat().st_size for key in missing)
    done = 0

    def moved(n: int) -> None:
        nonlocal done
        done += n
        progress(done, total)

    if progress is not None:
        progress(0, total)
    storage.upload_many([(key, files[key], local[key]) for key in missing],
                        moved if progress is not None else None)
    return {name: storage.path(key) for name, key in keys.items()}
