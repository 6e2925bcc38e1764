"""The files of an export: names made from the lab's names, whole writes, content
hashes and removals that leave no empty folder behind."""

import os
import shutil
import tempfile
from pathlib import Path

from ..assets import file_sha256, folder_sha256

__all__ = ("content_sha256", "path_part", "remove", "write_bytes")

# characters a file name cannot hold on some system (Windows' reserved ones
# included: supplementary materials are opened anywhere), and '%', the escape itself
_UNSAFE = set('/\\%<>:"|?*') | {chr(code) for code in range(32)} | {"\x7f"}


def path_part(name: str) -> str:
    """``name`` (a subject's, a protocol's, a local key) as one file name, readable as
    it is: only characters no file system takes are percent-encoded (``a/b`` ->
    ``a%2Fb``), and ``.``/``..``. Distinct names give distinct parts."""
    part = "".join(f"%{ord(c):02X}" if c in _UNSAFE else c for c in name)
    return part.replace(".", "%2E") if part in ("", ".", "..") else part


def write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` under a temporary name beside it, then rename: a
    reader (or a killed export) sees the old file or the new one, never half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                                         suffix=".part")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    finally:
        Path(temporary).unlink(missing_ok=True)


def content_sha256(path: Path) -> str | None:
    """The SHA-256 of the file or folder at ``path``; None when there is neither."""
    if path.is_dir() and not path.is_symlink():
        return folder_sha256(path)
    return file_sha256(path) if path.is_file() else None


def remove(path: Path, root: Path) -> None:
    """Delete the file or folder ``path`` and the folders it leaves empty, up to (not
    including) ``root``."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
    for parent in path.parents:
        if parent == root or not parent.is_relative_to(root):
            break
        try:
            parent.rmdir()
        except OSError:  # not empty
            break
