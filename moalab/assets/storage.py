"""Where assets are stored: a small base class for back-ends, a folder on disk and
S3-compatible object stores (AWS, MinIO, Ceph).

Every call is synchronous and may block on disk or network: call it from a worker
thread (``await moalab.core.realtime.run_in_thread(storage.put, key, path)``), never
from a stage's task.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import urllib.parse
from collections.abc import Iterable, Iterator
from pathlib import Path

import obstore
import obstore.exceptions
from obstore.store import S3Store

from ..core.errors import InvalidArgument, MoaError
from .hashing import folder_entries
from .keys import check_key, is_key

__all__ = ("AssetMissing", "AssetStorage", "LocalStorage", "S3Storage", "StorageError",
           "open_storage")


class AssetMissing(MoaError, LookupError):
    """No object is stored under the key asked for; the message names key and back-end."""


class StorageError(MoaError, OSError):
    """A back-end failed to read or write (disk, network, permissions, the server's
    refusal); the message names the back-end, the key and the underlying error."""


class AssetStorage:
    """The base of every storage back-end: objects (bytes) under keys.

    A folder is stored as its files, each under ``key/<relative path>``; empty folders
    inside it are not stored (object stores have no folders). Every public method checks
    its key with :func:`~moalab.assets.check_key` before any I/O, so a key cannot
    reach outside the store, and maps the back-end's own errors to :class:`AssetMissing`
    (nothing under the key) or :class:`StorageError` (anything else).

    To add a back-end, subclass and implement the five one-object methods
    :meth:`_write`, :meth:`_read`, :meth:`_has`, :meth:`_remove`, :meth:`_keys`, and
    :meth:`url`; list in :attr:`foreign_errors` the exception types they may raise.
    A subclass's ``_write`` must be atomic: a reader sees the whole object or none.
    """

    foreign_errors: tuple[type[BaseException], ...] = (OSError,)
    """The back-end's own errors, mapped to :class:`StorageError` at the boundary."""

    # -- the public contract ---------------------------------------------------------

    def put(self, key: str, path: str | os.PathLike, *, if_absent: bool = False) -> bool:
        """Store the file or folder at ``path`` under ``key``, replacing what was there.

        With ``if_absent=True`` an object is written only if its key is missing (for a
        folder: each file's key). Returns whether anything was written. An interrupted
        put leaves the key as it was, never a half-written object (a folder's files are
        each whole, but a folder may be left with only some of them). Raises
        :class:`~moalab.InvalidArgument` for a bad key or a ``path`` that is neither a
        file nor a folder, :class:`StorageError` when the back-end fails.
        """
        check_key(key)
        source = Path(path)
        if source.is_dir():
            files, _ = folder_entries(source)
            written = [self._put_one(f"{key}/{name}", file, if_absent) for name, file in files]
            return any(written)
        if not source.is_file():
            raise InvalidArgument(f"{self}: cannot put {str(source)!r} under {key!r}: it is "
                                  "neither a file nor a folder; give an existing file or folder")
        return self._put_one(key, source, if_absent)

    def get(self, key: str, path: str | os.PathLike) -> None:
        """Download the object (or folder) under ``key`` to ``path``, replacing it.

        The download is written under a temporary name beside ``path`` and renamed, so
        ``path`` is whole or as it was. Raises :class:`AssetMissing` if nothing is under
        ``key``.
        """
        check_key(key)
        target = Path(path)
        with self._mapped(key, reading=True):
            if self._has(key):
                self._download_file(key, target)
                return
            names = self.list(key)
            if not names:
                raise AssetMissing(f"{self} has no object under key {key!r}; "
                                   "put it first, or check the key with list()")
            self._download_folder(key, names, target)

    def exists(self, key: str) -> bool:
        """Whether an object, or a folder's file, is stored under ``key``.

        True only after the store has shown the object; a back-end that cannot tell
        says False or raises :class:`StorageError`, never True for a missing key.
        """
        check_key(key)
        with self._mapped(key):
            return self._has(key) or any(True for _ in self._keys(key))

    def delete(self, key: str) -> None:
        """Delete the object under ``key`` and every object under ``key/``. Deleting a
        missing key is not an error (a retry after a lost reply must not fail)."""
        check_key(key)
        with self._mapped(key):
            for name in [key, *(f"{key}/{name}" for name in self._keys(key))]:
                self._remove(name)

    def list(self, prefix: str = "") -> list[str]:
        """The keys of every object under the folder ``prefix`` (every object for
        ``""``), relative to ``prefix``, sorted. ``list("a")`` holds ``"b"`` for an
        object ``a/b`` and nothing for an object named ``a`` itself."""
        if prefix:
            check_key(prefix)
        with self._mapped(prefix):
            # an object another tool named "a//b" or "..\x" cannot be addressed by
            # a key, nor joined to a folder safely: it is left out, not an error
            return sorted(filter(is_key, self._keys(prefix)))

    def url(self, key: str) -> str:
        """A URL of the object under ``key`` (it need not exist yet)."""
        raise NotImplementedError(f"{type(self).__name__} gives no URLs")

    # -- what a back-end implements: one object each ------------------------------------

    def _write(self, key: str, source: Path, if_absent: bool) -> bool:
        """Store the file ``source`` under ``key`` atomically; with ``if_absent``, only
        if ``key`` is missing. Return whether it wrote."""
        raise NotImplementedError

    def _read(self, key: str, target: Path) -> None:
        """Write the object under ``key`` to the (new, empty) file ``target``; raise
        FileNotFoundError (or AssetMissing) if it is missing."""
        raise NotImplementedError

    def _has(self, key: str) -> bool:
        """Whether an object is stored under exactly ``key``."""
        raise NotImplementedError

    def _remove(self, key: str) -> None:
        """Delete the object under exactly ``key``; nothing if it is missing."""
        raise NotImplementedError

    def _keys(self, prefix: str) -> Iterable[str]:
        """The keys of the objects under ``prefix/`` (all for ``""``), relative to it."""
        raise NotImplementedError

    # -- shared machinery --------------------------------------------------------------

    @contextlib.contextmanager
    def _mapped(self, key: str, reading: bool = False) -> Iterator[None]:
        """Map the back-end's own errors to ours, naming this back-end and ``key``.
        Only a read takes "not found" to mean the key is missing: for a write or a
        listing it is the store itself (a bucket, a folder) that is missing."""
        try:
            yield
        except self.foreign_errors as error:
            if isinstance(error, MoaError):  # ours already (a StorageError is an OSError)
                raise
            if reading and isinstance(error, FileNotFoundError):
                raise AssetMissing(f"{self} has no object under key {key!r} ({error}); "
                                   "put it first, or check the key with list()") from error
            raise StorageError(f"{self} failed on key {key!r}: "
                               f"{type(error).__name__}: {error}") from error

    def _put_one(self, key: str, source: Path, if_absent: bool) -> bool:
        with self._mapped(key):
            return self._write(key, source, if_absent)

    def _download_file(self, key: str, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.",
                                             suffix=".part")
        os.close(handle)
        try:
            self._read(key, Path(temporary))
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def _download_folder(self, key: str, names: list[str], target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.",
                                          suffix=".part"))
        try:
            for name in names:
                (temporary / name).parent.mkdir(parents=True, exist_ok=True)
                self._read(f"{key}/{name}", temporary / name)
            # a folder cannot be replaced in one rename: move the old one aside first
            old = None
            if target.is_dir() and not target.is_symlink():
                old = target.with_name(temporary.name + ".old")
                os.replace(target, old)
            elif target.exists() or target.is_symlink():
                target.unlink()
            os.replace(temporary, target)
            if old is not None:
                shutil.rmtree(old)
        except BaseException:
            shutil.rmtree(temporary, ignore_errors=True)
            raise


class LocalStorage(AssetStorage):
    """Objects as files in ``folder`` on this computer (made if missing).

    A key is a path inside ``folder``; every path is resolved (symbolic links included)
    and refused if it lies outside. A write goes to a temporary file in
    ``folder/.moalab-partial`` (the same file system) and is renamed into place, so a
    file under a key is always whole; that folder is not a key, and files a killed
    write left there are never listed. A delete never removes a folder above its key
    (an empty one is not listed: it holds no object). ``url()`` gives ``file://`` URLs.
    """

    PARTIAL = ".moalab-partial"
    """The folder, inside ``folder``, of writes in progress."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder).resolve()

    def __repr__(self) -> str:
        return f"LocalStorage({str(self.folder)!r})"

    def url(self, key: str) -> str:
        return self._path(key).as_uri()

    def _path(self, key: str) -> Path:
        check_key(key)
        if key.split("/", 1)[0] == self.PARTIAL:
            raise InvalidArgument(f"{self}: key {key!r} starts with {self.PARTIAL!r}, the "
                                  "folder of writes in progress; choose another key")
        path = (self.folder / key).resolve()
        if not path.is_relative_to(self.folder):
            raise InvalidArgument(f"{self}: key {key!r} leads to {str(path)!r}, outside the "
                                  "storage folder (a symbolic link on the way); remove the "
                                  "link or choose another key")
        return path

    def _write(self, key: str, source: Path, if_absent: bool) -> bool:
        final = self._path(key)
        if if_absent and final.exists():
            return False
        partial = self.folder / self.PARTIAL
        partial.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=partial, prefix=final.name[:64] + ".")
        try:
            with os.fdopen(handle, "wb") as file, open(source, "rb") as original:
                shutil.copyfileobj(original, file, 1 << 20)
                file.flush()
                os.fsync(file.fileno())
            final.parent.mkdir(parents=True, exist_ok=True)
            if not if_absent:
                os.replace(temporary, final)
                return True
            try:
                # a hard link fails if the name exists: create-if-absent without a race
                os.link(temporary, final)
            except FileExistsError:
                return False
            return True
        finally:
            Path(temporary).unlink(missing_ok=True)

    def _read(self, key: str, target: Path) -> None:
        source = self._path(key)
        if not source.is_file():
            raise FileNotFoundError(f"no file {str(source)!r}")
        shutil.copyfile(source, target)

    def _has(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        """Delete the file under ``key``, or the folder ``key`` with all it holds.

        The folders above ``key`` are kept, empty or not: one may be where a program
        still writes (a session's ``rig_folder`` on a rig, whose recordings are deleted
        there one by one as they are deposited)."""
        super().delete(key)
        folder = self._path(key)
        if folder.is_dir():  # emptied of its files: its own empty folders go too
            with self._mapped(key):
                for here, _, _ in os.walk(folder, topdown=False):
                    with contextlib.suppress(OSError):  # not empty: written meanwhile
                        Path(here).rmdir()

    def _remove(self, key: str) -> None:
        path = self._path(key)
        if path.is_dir():  # a folder's key: its files go one by one
            return
        path.unlink(missing_ok=True)  # its folder stays (see delete)

    def _keys(self, prefix: str) -> Iterator[str]:
        root = self._path(prefix) if prefix else self.folder
        if not root.is_dir():
            return
        for folder, dirnames, filenames in os.walk(root):
            here = Path(folder)
            if here == self.folder:
                dirnames[:] = [name for name in dirnames if name != self.PARTIAL]
            relative = here.relative_to(root).as_posix()
            for name in filenames:
                yield name if relative == "." else f"{relative}/{name}"


class S3Storage(AssetStorage):
    """Objects in an S3 bucket (AWS, or any S3-compatible server: MinIO, Ceph, moto),
    under ``prefix``, through obstore's synchronous calls.

    ``endpoint_url`` is the server for a non-AWS store (``http://`` is allowed);
    ``region``, ``access_key_id``, ``secret_access_key`` and ``session_token`` default
    to the usual AWS environment variables; further keyword arguments are obstore
    ``S3Config`` values (e.g. ``virtual_hosted_style_request=True``).

    A put is atomic on S3 (a multipart upload that is never completed leaves no
    object). ``put(..., if_absent=True)`` sends ``If-None-Match: *`` (AWS since 2024,
    MinIO, recent Ceph and moto honour it); the file is then sent in one request, held
    in memory. For a server that ignores that header, pass ``conditional_put=False``:
    the key is then checked first and written if missing, and two writers racing for
    the same missing key may both write (harmless for content-addressed keys, whose
    bytes are the same).
    """

    foreign_errors = (OSError, obstore.exceptions.BaseError)

    def __init__(self, bucket: str, prefix: str = "", endpoint_url: str | None = None,
                 region: str | None = None, access_key_id: str | None = None,
                 secret_access_key: str | None = None, session_token: str | None = None,
                 *, conditional_put: bool = True, **config: object) -> None:
        if prefix:
            check_key(prefix)
        self.bucket, self.prefix, self.endpoint_url = bucket, prefix, endpoint_url
        self.region = region or os.environ.get("AWS_REGION") or os.environ.get(
            "AWS_DEFAULT_REGION") or "us-east-1"
        self.conditional_put = conditional_put
        given = {"endpoint": endpoint_url, "access_key_id": access_key_id,
                 "secret_access_key": secret_access_key, "session_token": session_token}
        options = {"allow_http": True} if (endpoint_url or "").startswith("http://") else {}
        try:
            self._store = S3Store(bucket, prefix=prefix or None, region=self.region,
                                  client_options=options,
                                  **{k: v for k, v in given.items() if v is not None}, **config)
        except (obstore.exceptions.BaseError, ValueError, TypeError) as error:
            raise InvalidArgument(f"S3Storage(bucket={bucket!r}): the configuration is not "
                                  f"accepted: {error}") from error

    def __repr__(self) -> str:
        where = f", endpoint_url={self.endpoint_url!r}" if self.endpoint_url else ""
        return f"S3Storage({self.bucket!r}, prefix={self.prefix!r}{where})"

    def url(self, key: str) -> str:
        """The object's plain (unsigned) HTTP URL: readable by anyone only if the
        bucket allows it."""
        name = urllib.parse.quote("/".join(filter(None, (self.prefix, check_key(key)))))
        if self.endpoint_url:
            return f"{self.endpoint_url.rstrip('/')}/{self.bucket}/{name}"
        return f"https://{self.bucket}.s3.{self.region}.amazonaws.com/{name}"

    def _write(self, key: str, source: Path, if_absent: bool) -> bool:
        if not if_absent:
            obstore.put(self._store, key, source)
            return True
        if not self.conditional_put:
            if self._has(key):
                return False
            obstore.put(self._store, key, source)
            return True
        try:
            obstore.put(self._store, key, source, mode="create")
        except obstore.exceptions.AlreadyExistsError:
            return False
        return True

    def _read(self, key: str, target: Path) -> None:
        result = obstore.get(self._store, key)
        with open(target, "wb") as file:
            file.writelines(result.stream(min_chunk_size=1 << 20))

    def _has(self, key: str) -> bool:
        try:
            obstore.head(self._store, key)
        except FileNotFoundError:
            return False
        return True

    def _remove(self, key: str) -> None:
        obstore.delete(self._store, key)

    def _keys(self, prefix: str) -> Iterator[str]:
        start = len(prefix) + 1 if prefix else 0
        for batch in obstore.list(self._store, prefix=prefix or None):
            for meta in batch:
                yield meta["path"][start:]


S3_OPTIONS = ("endpoint_url", "region")
"""The query parameters an ``s3://`` storage line may carry (credentials come from
the AWS environment variables, never from a config file)."""


def open_storage(spec: "str | AssetStorage", base: str | os.PathLike) -> AssetStorage:
    """The storage one line of a lab's config (or a protocol's ``storage``) names:
    a folder (relative to ``base``, e.g. ``"assets"``) for a :class:`LocalStorage`, or
    ``"s3://bucket/prefix?endpoint_url=https://host&region=eu-west-1"`` for an
    :class:`S3Storage`. An :class:`AssetStorage` is returned as it is.

    Raises :class:`InvalidArgument` naming the line and what would be accepted.
    """
    if isinstance(spec, AssetStorage):
        return spec
    example = ("give a folder (e.g. 'assets') or 's3://bucket/prefix?endpoint_url="
               "https://host'")
    if not isinstance(spec, str) or not spec:
        raise InvalidArgument(f"asset storage {spec!r} is not accepted; {example}")
    parts = urllib.parse.urlsplit(spec)
    if parts.scheme != "s3":
        if "://" in spec:
            raise InvalidArgument(f"asset storage {spec!r}: the scheme {parts.scheme!r} is "
                                  f"not known; {example}")
        return LocalStorage(Path(base) / spec)
    options = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
    unknown = sorted(set(options) - set(S3_OPTIONS))
    if not parts.netloc or unknown or parts.fragment:
        raise InvalidArgument(
            f"asset storage {spec!r} is not accepted: "
            + (f"unknown option(s) {', '.join(unknown)} (give {' or '.join(S3_OPTIONS)}; "
               "credentials come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
               if unknown else f"it names no bucket; {example}"))
    return S3Storage(parts.netloc, prefix=parts.path.strip("/"), **options)
