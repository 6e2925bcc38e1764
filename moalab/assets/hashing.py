"""Content hashes of files and folders, and the storage keys derived from them.

A file's hash is the SHA-256 of its bytes. A folder's hash covers the relative POSIX
path of every file and every empty folder inside it, and every file's bytes; it does
not depend on the order the file system lists them in, and it changes when a file is
renamed, moved, added, removed or edited, or an empty folder is added or removed. File
modes, owners and times are not covered: touching or ``chmod``-ing a stimulus does not
make it new. Symbolic links to files count as their targets' bytes; a symbolic link to
a folder is refused (it could loop, or reach outside the folder).
"""

import functools
import hashlib
import os
from pathlib import Path

from ..core.errors import InvalidArgument
from .keys import CACHED_PREFIX, check_extension, check_key

__all__ = ("cached_key", "content_key", "file_sha256", "folder_entries", "folder_sha256")

_FOLDER_TAG = b"moalab-folder-sha256-v1\0"
"""Starts every folder digest, so a folder never hashes like some file's bytes."""


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of the file at ``path``, as 64 hex digits; read in chunks, never
    whole into memory. Raises OSError if it cannot be read.

    A file this process hashed before and that is unchanged since (same device,
    inode, size, modification and change times: any write or rename changes the
    change time) is not read again: a session's stimuli, checked by
    :func:`~moalab.assets.prepare_assets`, are then compared with the rig's without
    a second read."""
    info = os.stat(path)
    return _read_sha256(os.fspath(path), (info.st_dev, info.st_ino, info.st_size,
                                          info.st_mtime_ns, info.st_ctime_ns))


@functools.lru_cache(maxsize=4096)
def _read_sha256(path: str, identity: tuple[int, ...]) -> str:
    # ``identity`` is only the cache's key: a changed file is a new entry
    with open(path, "rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def folder_entries(path: str | os.PathLike) -> tuple[list[tuple[str, Path]], list[str]]:
    """The files and the empty folders inside the folder at ``path``.

    Returns ``(files, empty_folders)``: ``files`` a list of (relative POSIX path, path)
    pairs, ``empty_folders`` a list of relative POSIX paths, both sorted by relative
    path. Raises :class:`InvalidArgument` if ``path`` is not a folder, or holds a
    symbolic link to a folder, or a name that is not a valid key part.
    """
    root = Path(path)
    if not root.is_dir():
        raise InvalidArgument(f"{str(root)!r} is not a folder; give the path of a folder")
    files: list[tuple[str, Path]] = []
    empty: list[str] = []
    for folder, dirnames, filenames in os.walk(root):
        here = Path(folder)
        relative = here.relative_to(root).as_posix()
        prefix = "" if relative == "." else relative + "/"
        for name in dirnames:
            if (here / name).is_symlink():
                raise InvalidArgument(
                    f"{str(here / name)!r} in folder {str(root)!r} is a symbolic link to a "
                    "folder; copy the folder in, or link its files one by one")
        if not dirnames and not filenames and prefix:
            empty.append(check_key(relative))
        files.extend((check_key(prefix + name), here / name) for name in filenames)
    files.sort()
    empty.sort()
    return files, empty


def folder_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of the folder at ``path`` (see the module docstring for what it
    covers), as 64 hex digits. Raises :class:`InvalidArgument` as
    :func:`folder_entries` does, OSError if a file cannot be read."""
    files, empty = folder_entries(path)
    digest = hashlib.sha256(_FOLDER_TAG)
    # Each record is self-delimiting (NUL cannot occur in a name), so no two
    # different listings make the same byte stream.
    records = [(name, b"f" + bytes.fromhex(file_sha256(file))) for name, file in files]
    records += [(name, b"d") for name in empty]
    for name, record in sorted(records):
        digest.update(name.encode("utf-8") + b"\0" + record)
    return digest.hexdigest()


def content_key(path: str | os.PathLike, extension: str | None = None) -> str:
    """The storage key of a file's or a folder's content: ``cached/<sha256><extension>``.

    The same content gives the same key wherever it lies and whatever it is called (the
    name is left out so a renamed stimulus is not uploaded again); the extension is
    kept so a player that goes by it still can. ``extension`` defaults to a file's last
    suffix (``.wav``) and to none for a folder; given, it is ``""`` or a ``.`` and up to
    16 letters, digits, ``_`` or ``-``. Raises :class:`InvalidArgument` for a bad
    extension or a path that is neither a file nor a folder.
    """
    source = Path(path)
    if source.is_dir():
        digest, default = folder_sha256(source), ""
    elif source.is_file():
        digest, default = file_sha256(source), source.suffix
    else:
        raise InvalidArgument(f"{str(source)!r} is neither a file nor a folder; "
                              "give the path of an existing file or folder")
    suffix = check_extension(default if extension is None else extension, repr(str(source)))
    return cached_key(digest, suffix)


def cached_key(digest: str, extension: str) -> str:
    """The content-addressed key of content whose SHA-256 is ``digest``."""
    return f"{CACHED_PREFIX}/{digest}{extension}"
