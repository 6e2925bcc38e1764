"""A rig's asset store: the ``assets`` folder in its moalab-server's data folder, reached
over the connection the rig's executor already has.

:class:`RigFolder` is the rig's side: a device the server's object registry creates,
its folder given by the server (never by a client), its methods run in its worker
thread. :class:`RigStorage` is the lab's side: an :class:`~moalab.assets.AssetStorage`
whose calls become calls of the rig's :class:`RigFolder`, a file sent in chunks of
:data:`CHUNK_BYTES`, several on their way at once, resumed where a stopped upload
ended, verified by SHA-256 before it is seen under its key.

Importing this module runs nothing but definitions (a server imports it to create a
:class:`RigFolder`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import tempfile
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from pathlib import Path, PurePosixPath
from typing import Any

import trio

from ..core.dispatch import apply_executor
from ..core.errors import InvalidArgument
from ..core.nursery import leaves
from ..device.device import Device
from ..executor.errors import ExecutorError, UnknownObject
from ..executor.remote import FarSideExecutor
from ..executor.rest import RestExecutor
from .hashing import file_sha256
from .keys import check_key
from .storage import AssetMissing, AssetStorage, LocalStorage, StorageError

__all__ = ("CHUNK_BYTES", "FOLDER_NAME", "OBJECT_NAME", "WINDOW", "RigFolder", "RigStorage")

FOLDER_NAME = "assets"
"""The rig's store, inside its server's data folder."""

OBJECT_NAME = "moalab-rig-folder"
"""The name of the rig's :class:`RigFolder` on its server (in the executor's namespace);
every client of that namespace shares it, so its calls run one at a time."""

CHUNK_BYTES = 1 << 20
"""The bytes of one upload or download call."""

WINDOW = 4
"""How many chunk calls :class:`RigStorage` keeps on their way at once."""

SMALL_FILES_AT_ONCE = 64
"""How many files of one chunk or less :meth:`RigStorage.upload_many` sends at once."""

MAX_PENDING_BYTES = 64 << 20
"""The chunks a :class:`RigFolder` holds in memory, ahead of the end of an upload's
partial file (they arrived out of order)."""

_MANIFEST = "manifest.json"
_SHA256 = re.compile(r"[0-9a-f]{64}")
_NO_FOLDER = ("the far side has no data folder: start moalab-server with --data-dir DIR "
              "(its assets are kept in DIR/assets); a ProcessExecutor's child has none, "
              "use a ThreadExecutor with RigStorage(executor, data_dir=...) instead")


@asynccontextmanager
async def _chunk_calls() -> AsyncIterator[trio.Nursery]:
    """A nursery of chunk calls: the first call's failure comes out, not a group (the
    other calls in flight usually fail the same way: a lost link)."""
    try:
        async with trio.open_nursery() as nursery:
            yield nursery
    except BaseExceptionGroup as group:
        carried = leaves(group)
        failures = [leaf for leaf in carried if not isinstance(leaf, trio.Cancelled)]
        raise (failures or carried)[0] from None


class _Upload:
    """An upload in progress: the running SHA-256 of its partial file (what an earlier
    upload left included) and the chunks that arrived ahead of the file's end."""

    def __init__(self, partial: Path) -> None:
        with open(partial, "rb") as file:
            self.sha256 = hashlib.file_digest(file, "sha256")
        self.ahead: dict[int, bytes] = {}


def _check_count(owner: object, name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidArgument(f"RigFolder {owner!r}: {name}={value!r} is not accepted; give "
                              "a whole number of bytes >= 0")
    return value


def _check_sha256(digest: object) -> str:
    if not (isinstance(digest, str) and _SHA256.fullmatch(digest)):
        raise InvalidArgument(f"sha256={digest!r} is not accepted; give 64 lowercase hex digits")
    return digest


class RigFolder(Device):
    """A rig's asset store, ``<server_data_dir>/assets``, by key; the rig's side of
    :class:`RigStorage`.

    ``server_data_dir`` is filled by the server's registry with its own data folder
    (a client that sends it is refused); None (a server without one) makes every
    call raise :class:`StorageError` saying so. Every key is checked
    (:func:`~moalab.assets.check_key`) and its resolved path, symbolic links
    included, must lie inside the store (:class:`LocalStorage` does both): nothing
    is written or read outside it.

    An upload goes to ``.moalab-partial/upload-<sha256>`` (named by the content it
    will hold, so a stopped upload is resumed by whoever sends that content next),
    is appended to chunk by chunk, checked against its SHA-256 by :meth:`commit`
    (hashed as it grows: what :meth:`begin` found on disk, then each chunk
    appended), fsynced and renamed under its key: a file under a key is always
    whole. The SHA-256 of each stored file is kept with its size and mtime (in
    ``.moalab-partial/manifest.json``), so :meth:`hashes` re-reads only files changed
    since (one changed without a change of size or mtime, by another program, is
    not noticed). Methods are sync: they run in the object's worker thread.
    """

    def __init__(self, server_data_dir: str | os.PathLike | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._store = None if server_data_dir is None else LocalStorage(
            Path(server_data_dir) / FOLDER_NAME)
        self._manifest: dict[str, list] | None = None  # key: [size, mtime_ns, sha256]
        self._manifest_changed = False
        self._uploads: dict[str, _Upload] = {}  # by the sha256 announced

    # -- where ---------------------------------------------------------------------

    @property
    def store(self) -> LocalStorage:
        """The folder's :class:`LocalStorage`; raises :class:`StorageError` if the
        server has no data folder."""
        if self._store is None:
            raise StorageError(f"RigFolder {self.name!r}: {_NO_FOLDER}")
        return self._store

    def _internal(self, name: str) -> Path:
        folder = self.store.folder / LocalStorage.PARTIAL
        folder.mkdir(parents=True, exist_ok=True)
        return folder / name

    def _partial(self, digest: str) -> Path:
        return self._internal(f"upload-{_check_sha256(digest)}")

    @apply_executor
    def root(self) -> str:
        """The store's folder on the rig, an absolute path (made if missing)."""
        self.store.folder.mkdir(parents=True, exist_ok=True)
        return str(self.store.folder)

    @apply_executor
    def make_folder(self, key: str) -> str:
        """Make the folder ``key`` in the store (a place for a device on the rig to write
        its recordings); return its absolute path."""
        folder = self.store._path(check_key(key))
        folder.mkdir(parents=True, exist_ok=True)
        return str(folder)

    # -- hashes --------------------------------------------------------------------

    def _entries(self) -> dict[str, list]:
        if self._manifest is None:
            try:
                manifest = json.loads(self._internal(_MANIFEST).read_text("utf-8"))
            except (OSError, ValueError):
                manifest = {}  # none yet, or unreadable: every file is hashed again
            self._manifest = manifest if isinstance(manifest, dict) else {}
        return self._manifest

    def _sha256(self, key: str) -> str | None:
        """The SHA-256 of the file under ``key``, from the manifest while its size and
        mtime are those recorded; None if no file is there."""
        path = self.store._path(key)
        try:
            stat = path.stat()
        except FileNotFoundError:
            return None
        if not path.is_file():
            return None
        entries = self._entries()
        entry = entries.get(key)
        if entry is not None and entry[:2] == [stat.st_size, stat.st_mtime_ns]:
            return entry[2]
        digest = file_sha256(path)
        entries[key] = [stat.st_size, stat.st_mtime_ns, digest]
        self._manifest_changed = True
        return digest

    def _save_manifest(self) -> None:
        if not self._manifest_changed:
            return
        target = self._internal(_MANIFEST)
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{_MANIFEST}.")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                json.dump(self._manifest, file)
            os.replace(temporary, target)
            self._manifest_changed = False
        finally:
            Path(temporary).unlink(missing_ok=True)

    @apply_executor
    def hashes(self, keys: Iterable[str]) -> dict[str, str | None]:
        """The SHA-256 of the file under each of ``keys`` (None: no file there), in one
        call; a file is hashed only if it changed since it last was."""
        try:
            return {key: self._sha256(check_key(key)) for key in keys}
        finally:
            self._save_manifest()

    # -- upload --------------------------------------------------------------------

    @apply_executor
    def begin(self, key: str, sha256: str, size: int) -> int:
        """Start (or resume) an upload of ``size`` bytes of SHA-256 ``sha256`` under
        ``key``; return the offset to send from (the bytes already received)."""
        return self._begin(key, sha256, size)

    @apply_executor
    def write(self, sha256: str, offset: int, data: bytes | str) -> None:
        """Add ``data`` at ``offset`` of upload ``sha256``. A chunk past the end of
        what is written waits in memory for those before it (chunks may arrive out of
        order); one already written is ignored (a call sent again). ``data`` is the
        bytes, or their base64 text (a RestExecutor's JSON body cannot carry bytes)."""
        self._write(sha256, offset, data)

    @apply_executor
    def commit(self, key: str, sha256: str) -> None:
        """End upload ``sha256``: check its bytes' SHA-256, fsync it and rename it under
        ``key``. A mismatch deletes the partial file and raises :class:`StorageError`."""
        self._commit(key, sha256)

    @apply_executor
    def write_whole(self, key: str, sha256: str, data: bytes | str) -> None:
        """A small file in one call: :meth:`begin`, :meth:`write` of all of ``data``,
        :meth:`commit`."""
        data = self._bytes(data)
        self._begin(key, sha256, len(data))
        self._write(sha256, 0, data)
        self._commit(key, sha256)

    def _begin(self, key: str, sha256: str, size: int) -> int:
        self.store._path(check_key(key))  # refused now, before any byte is sent
        _check_count(self.name, "size", size)
        partial = self._partial(sha256)
        with open(partial, "ab") as file:  # made here: an empty file has no chunks
            have = file.tell()
            if have > size:  # not the upload announced: start again
                file.truncate(0)
                have = 0
        # the bytes there are hashed again: what the rig checks is what is on its disk
        self._uploads[sha256] = _Upload(partial)
        return have

    def _upload_of(self, sha256: str, key: str = "") -> _Upload:
        upload = self._uploads.get(_check_sha256(sha256))
        if upload is None:
            where = f" for key {key!r}" if key else ""
            raise StorageError(f"RigFolder {self.name!r}: no upload of {sha256[:12]}{where} "
                               "was begun (or it was committed, or the server restarted); "
                               "put again")
        return upload

    def _bytes(self, data: object) -> bytes:
        if isinstance(data, str):
            try:
                return base64.b64decode(data, validate=True)
            except ValueError:
                pass  # refused below
        if not isinstance(data, bytes):
            raise InvalidArgument(f"RigFolder {self.name!r}: data of type "
                                  f"{type(data).__name__} is not accepted; give bytes (or "
                                  "their base64 text)")
        return data

    def _write(self, sha256: str, offset: int, data: bytes | str) -> None:
        upload = self._upload_of(sha256)
        _check_count(self.name, "offset", offset)
        data = self._bytes(data)
        ahead = upload.ahead
        ahead[offset] = data
        if sum(map(len, ahead.values())) > MAX_PENDING_BYTES:
            del self._uploads[sha256]
            raise StorageError(f"RigFolder {self.name!r}: upload {sha256[:12]} holds over "
                               f"{MAX_PENDING_BYTES} bytes of chunks ahead of its end; send "
                               "chunks in order, from the offset begin() gives, after begin()")
        with open(self._partial(sha256), "ab") as file:
            end = file.tell()
            for start in sorted(ahead):
                if start > end:
                    break
                chunk = ahead.pop(start)
                if start + len(chunk) > end:
                    new = chunk[end - start:]
                    file.write(new)
                    upload.sha256.update(new)
                    end = start + len(chunk)

    def _commit(self, key: str, sha256: str) -> None:
        final = self.store._path(check_key(key))
        upload = self._upload_of(sha256, key)
        del self._uploads[sha256]
        partial = self._partial(sha256)
        actual = upload.sha256.hexdigest()
        if actual != sha256:
            partial.unlink()
            raise StorageError(f"RigFolder {self.name!r}: the upload for key {key!r} has "
                               f"SHA-256 {actual[:12]}, not {sha256[:12]} as announced; it "
                               "was deleted, put the file again")
        with open(partial, "rb+") as file:
            os.fsync(file.fileno())
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(partial, final)
        folder = os.open(final.parent, os.O_RDONLY)
        try:
            os.fsync(folder)  # the rename itself survives a power cut
        finally:
            os.close(folder)
        stat = final.stat()
        self._entries()[key] = [stat.st_size, stat.st_mtime_ns, sha256]
        self._manifest_changed = True

    # -- download and the rest --------------------------------------------------------

    @apply_executor
    def stat(self, key: str) -> list | None:
        """``[size, sha256]`` of the file under ``key``, or None if there is none."""
        digest = self._sha256(check_key(key))
        if digest is None:
            return None
        return [self.store._path(key).stat().st_size, digest]

    @apply_executor
    def read(self, key: str, offset: int, size: int) -> bytes:
        """Up to ``size`` (at most 4 chunks) bytes of the file under ``key`` from
        ``offset``; raises FileNotFoundError if there is none."""
        path = self.store._path(check_key(key))
        start = _check_count(self.name, "offset", offset)
        most = min(_check_count(self.name, "size", size), 4 * CHUNK_BYTES)
        with open(path, "rb") as file:
            file.seek(start)
            return file.read(most)

    @apply_executor
    def has(self, key: str) -> bool:
        """Whether a file is stored under exactly ``key``."""
        return self.store._has(check_key(key))

    @apply_executor
    def keys(self, prefix: str = "") -> list[str]:
        """The keys under ``prefix`` (every key for ``""``), relative to it, sorted."""
        return self.store.list(prefix)

    @apply_executor
    def delete(self, key: str) -> None:
        """Delete the file under ``key`` and every file under ``key/``."""
        self.store.delete(key)
        entries = self._entries()
        for name in [name for name in entries if name == key or name.startswith(key + "/")]:
            del entries[name]
            self._manifest_changed = True

    def close(self) -> None:
        """Keep the manifest (the server calls this when it deletes the object)."""
        if self._store is not None and self._manifest is not None:
            self._save_manifest()


Progress = Callable[[int], None]
"""Called with the bytes each chunk moved, as it is acknowledged."""


class RigStorage(AssetStorage):
    """The asset store of the rig ``executor`` reaches (its server's ``<data
    dir>/assets``), over the executor's connection: a WebSocketExecutor or a
    RestExecutor. With a local executor (a ThreadExecutor) it is the folder
    ``<data_dir>/assets`` of this computer, ``data_dir`` required; a remote rig's
    folder is its server's choice, so ``data_dir`` is refused there.

    The executor must be running while the storage is used. Calls block: make them
    from a thread trio started (``await run_in_thread(storage.put, key, path)``), or
    any thread if the storage was made in the trio thread. A file moves in chunks of
    ``chunk_size`` bytes, a window of ``window`` chunks on their way at once, the
    next once they are acknowledged; a cancel of the task waiting for the thread
    stops a transfer between two windows (trio.Cancelled). An upload stopped half
    way (a lost link, a cancel) is resumed by the next put of the same content, only
    the missing bytes sent; the rig checks the SHA-256 before the file appears
    under its key, and a download is checked against the rig's SHA-256. A put skips
    a file the rig holds with the same content under the same key.

    :attr:`bytes_sent`, :attr:`bytes_received` and :attr:`calls` count what moved.
    :meth:`url` gives ``moalab-rig://<host>/<key>``, a name for messages and records,
    not a URL any program fetches; :meth:`path` gives the file's path on the rig.
    Errors are :class:`AssetMissing` (nothing under the key) and
    :class:`StorageError` (the rig's refusal, a lost connection, a stopped executor).
    """

    foreign_errors = (OSError, ExecutorError)

    def __init__(self, executor: Any, *, data_dir: str | os.PathLike | None = None,
                 chunk_size: int = CHUNK_BYTES, window: int = WINDOW) -> None:
        remote = isinstance(executor, FarSideExecutor)
        if remote and data_dir is not None:
            raise InvalidArgument(f"RigStorage({executor!r}, data_dir={str(data_dir)!r}): a "
                                  "rig's server chooses its own folder (moalab-server "
                                  "--data-dir); leave data_dir out")
        if not remote and data_dir is None:
            raise InvalidArgument(f"RigStorage({executor!r}): a local executor has no server "
                                  "to choose the folder; give data_dir=... (its assets go in "
                                  "data_dir/assets)")
        if not (isinstance(chunk_size, int) and chunk_size > 0):
            raise InvalidArgument(f"RigStorage: chunk_size={chunk_size!r} is not accepted; "
                                  "give a whole number of bytes above 0")
        if not (isinstance(window, int) and window > 0):
            raise InvalidArgument(f"RigStorage: window={window!r} is not accepted; give a "
                                  "whole number of calls above 0")
        self.executor = executor
        self.chunk_size, self.window = chunk_size, window
        # a REST call's arguments travel as JSON, where bytes would be escaped ~3x
        self._text_chunks = isinstance(executor, RestExecutor)
        self.folder = RigFolder(name=OBJECT_NAME, executor=executor, server_data_dir=data_dir)
        endpoint = getattr(executor, "endpoint", None)  # a server's; none for a local one
        self.host = f"{endpoint.host}:{endpoint.port}" if endpoint else "localhost"
        self.bytes_sent = self.bytes_received = self.calls = 0
        self._created = False
        self._root: PurePosixPath | None = None
        try:
            self._token: trio.lowlevel.TrioToken | None = trio.lowlevel.current_trio_token()
        except RuntimeError:
            self._token = None  # made outside trio: used from threads trio starts

    def __repr__(self) -> str:
        return f"RigStorage({self.host!r})"

    # -- the bridge to the trio thread ----------------------------------------------

    def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``await fn(*args)`` in the trio thread from this (worker) thread."""
        how = ("call it from a worker thread: `await run_in_thread(storage.put, ...)` "
               "(moalab.core.realtime)")
        try:
            trio.lowlevel.current_task()
        except RuntimeError:
            pass  # not in the trio thread: good
        else:
            raise StorageError(f"{self}: a blocking call was made in the trio thread; {how}")
        try:
            return trio.from_thread.run(fn, *args, trio_token=self._token)
        except RuntimeError as error:
            if "created by Trio" not in str(error):
                raise
            raise StorageError(f"{self}: called from a thread trio did not start and the "
                               f"storage was made outside trio; {how}") from None

    async def _call(self, method: str, *args: Any) -> Any:
        """Call the rig folder's ``method``; its object is made on the rig at the first
        call, and again if the server lost it (restarted)."""
        for attempt in (1, 2):
            if not self._created:
                await self.executor.ensure_remote_instance(self.folder)
                self._created = True
            try:
                self.calls += 1
                return await getattr(self.folder, method)(*args)
            except UnknownObject:
                if attempt == 2:
                    raise
                self._created = False
            except ExecutorError as error:  # the link or the server, not the folder's answer
                raise StorageError(f"{self}: {method} failed: {type(error).__name__}: "
                                   f"{error}") from error

    def call(self, method: str, *args: Any) -> Any:
        """``RigFolder.<method>(*args)`` on the rig, from a worker thread."""
        return self._run(self._call, method, *args)

    # -- what the rig offers beyond the base -------------------------------------------

    @property
    def root(self) -> PurePosixPath:
        """The store's folder on the rig (asked once)."""
        if self._root is None:
            with self._mapped(""):
                self._root = PurePosixPath(self.call("root"))
        return self._root

    def path(self, key: str) -> PurePosixPath:
        """The path on the rig of the file (or folder) under ``key``."""
        return self.root / check_key(key)

    def key_of(self, path: str | os.PathLike) -> str | None:
        """The key of the rig's file at ``path`` (a path :meth:`path` could give), or
        None for a path outside the rig's store."""
        path = PurePosixPath(path)
        return check_key(path.relative_to(self.root).as_posix()) \
            if path.is_relative_to(self.root) and path != self.root else None

    def make_folder(self, key: str) -> PurePosixPath:
        """Make the folder ``key`` on the rig; return its path there."""
        with self._mapped(check_key(key)):
            return PurePosixPath(self.call("make_folder", key))

    def url(self, key: str) -> str:
        return f"moalab-rig://{self.host}/{check_key(key)}"

    def hashes(self, keys: Iterable[str]) -> dict[str, str | None]:
        """The SHA-256 of the rig's file under each of ``keys`` (None: none there), in
        one round trip."""
        keys = [check_key(key) for key in keys]
        with self._mapped(keys[0] if keys else ""):
            return self.call("hashes", keys)

    def upload(self, key: str, source: str | os.PathLike, sha256: str | None = None,
               progress: Progress | None = None) -> None:
        """Send the file ``source`` (whose SHA-256 is ``sha256``, computed if None)
        under ``key``, resuming an upload of the same content stopped before;
        ``progress`` is called in the trio thread with the bytes of each chunk."""
        check_key(key)
        source = Path(source)
        with self._mapped(key):
            digest = sha256 or file_sha256(source)
            self._upload(key, source, digest, source.stat().st_size, progress)

    def upload_many(self, files: Iterable[tuple[str, str | os.PathLike, str]],
                    progress: Progress | None = None) -> None:
        """Send each ``(key, path, sha256)`` of ``files`` as :meth:`upload` does; files
        of one chunk or less a call each, many at once (up to ``window`` chunks' bytes,
        or :data:`SMALL_FILES_AT_ONCE` files)."""
        small: list[tuple[str, str, bytes]] = []
        for key, path, digest in files:
            source = Path(path)
            with self._mapped(check_key(key)):
                size = source.stat().st_size
                if size > self.chunk_size:
                    self._upload(key, source, digest, size, progress)
                    continue
                small.append((key, digest, source.read_bytes()))
                if len(small) == SMALL_FILES_AT_ONCE or \
                        sum(len(data) for _, _, data in small) >= self.window * self.chunk_size:
                    self._send_wholes(small, progress)
                    small = []
        if small:
            with self._mapped(small[0][0]):
                self._send_wholes(small, progress)

    # -- the base's one-object methods ---------------------------------------------------

    def _write(self, key: str, source: Path, if_absent: bool) -> bool:
        digest = file_sha256(source)
        held = self.call("hashes", [key])[key]
        if held == digest or (if_absent and held is not None):
            return False
        self._upload(key, source, digest, source.stat().st_size, None)
        return True

    def _read(self, key: str, target: Path) -> None:
        self._download(key, target)

    def _has(self, key: str) -> bool:
        return self.call("has", key)

    def _remove(self, key: str) -> None:
        self.call("delete", key)

    def _keys(self, prefix: str) -> list[str]:
        return self.call("keys", prefix)

    def delete(self, key: str) -> None:
        check_key(key)
        with self._mapped(key):
            self.call("delete", key)  # a folder's files too, in one call

    # -- chunks: read and written in the calling thread, sent a window at a time -----

    def _upload(self, key: str, source: Path, digest: str, size: int,
                progress: Progress | None) -> None:
        if size <= self.chunk_size:  # one call, nothing to resume
            self._send_wholes([(key, digest, source.read_bytes())], progress)
            return
        offset = self.call("begin", key, digest, size)
        if offset and progress is not None:
            self._run(_report, progress, offset)  # sent by an upload stopped before
        with open(source, "rb") as file:
            file.seek(offset)
            while offset < size:
                _check_cancelled()
                calls = []
                for _ in range(self.window):
                    data = file.read(min(self.chunk_size, size - offset))
                    if not data:
                        raise StorageError(f"{self}: {str(source)!r} shrank to {offset} bytes "
                                           f"while it was sent for key {key!r}; put it again")
                    calls.append((len(data), "write", digest, offset, self._wire(data)))
                    offset += len(data)
                    if offset >= size:
                        break
                self._run(self._send_window, calls, progress)
        self.call("commit", key, digest)

    def _send_wholes(self, files: list[tuple[str, str, bytes]],
                     progress: Progress | None) -> None:
        """Send small files ``(key, sha256, bytes)``, one call each, all at once."""
        _check_cancelled()
        self._run(self._send_window, [(len(data), "write_whole", key, digest, self._wire(data))
                                      for key, digest, data in files], progress)

    def _wire(self, data: bytes) -> bytes | str:
        return base64.b64encode(data).decode("ascii") if self._text_chunks else data

    async def _send_window(self, calls: list[tuple[Any, ...]], progress: Progress | None) -> None:
        """Make each call ``(bytes it sends, method, *args)`` at once; report each."""
        async with _chunk_calls() as nursery:
            for n, method, *args in calls:
                nursery.start_soon(self._send_call, n, progress, method, *args)

    async def _send_call(self, n: int, progress: Progress | None, method: str,
                         *args: Any) -> None:
        # never cancelled half way (a stop, another call's failure): trio starts a
        # window's calls in no set order, so a chunk the rig acknowledged may wait
        # there for an earlier one, in memory; a cancelled earlier chunk would lose it,
        # and the resumed upload would send it again (the executor's timeout applies)
        with trio.CancelScope(shield=True):
            await self._call(method, *args)
        self.bytes_sent += n
        if progress is not None:
            progress(n)

    def _download(self, key: str, target: Path) -> None:
        stat = self.call("stat", key)
        if stat is None:
            raise AssetMissing(f"{self} has no object under key {key!r}; put it first, or "
                               "check the key with list()")
        size, digest = stat
        offsets = range(0, size, self.chunk_size)
        with open(target, "wb") as file:
            for first in range(0, len(offsets), self.window):
                _check_cancelled()
                for data in self._run(self._fetch_chunks, key, offsets[first:first + self.window]):
                    file.write(data)
                    self.bytes_received += len(data)
        actual = file_sha256(target)
        if actual != digest:
            raise StorageError(f"{self}: the file under key {key!r} changed while it was "
                               f"downloaded (SHA-256 {actual[:12]}, the rig said "
                               f"{digest[:12]}); get it again")

    async def _fetch_chunks(self, key: str, offsets: range) -> list[bytes]:
        chunks: list[bytes] = [b""] * len(offsets)

        async def fetch(i: int) -> None:
            chunks[i] = await self._call("read", key, offsets[i], self.chunk_size)

        async with _chunk_calls() as nursery:
            for i in range(len(offsets)):
                nursery.start_soon(fetch, i)
        return chunks


async def _report(progress: Progress, n: int) -> None:
    progress(n)


def _check_cancelled() -> None:
    """Raise trio.Cancelled here (a worker thread) if the trio task waiting for this
    thread was cancelled: a stop ends an upload between two windows of chunks."""
    try:
        trio.from_thread.check_cancelled()
    except RuntimeError:
        pass  # a thread trio did not start: nobody waits to cancel it
