"""A session's deposits: the files it makes (recordings) uploaded to the lab's storage
beside its run, each recorded in the lab's database, and the links that attach assets
to the session's trials, stages, subject or protocol.

A deposit's row is written 'pending' before its upload starts, then ends 'deposited'
or 'failed' (with the error): a deposit cut short by a kill is found again
(``Database.stale_deposits``) and retried by the next run of the protocol. Its input
file is deleted only after a successful upload (``delete_input``).
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import trio

from ..core.errors import InvalidArgument, error_text
from ..core.realtime import run_in_thread
from ..store.infos import AssetInfo
from .hashing import file_sha256, folder_sha256
from .keys import check_key
from .rig import RigStorage
from .storage import AssetMissing, AssetStorage, StorageError
from .types import (
    Asset,
    CachedAsset,
    CachedFunctionAsset,
    ExperimentAsset,
    ExternalAsset,
)

if TYPE_CHECKING:
    from ..store.worker import DatabaseWorker

__all__ = ("EXPERIMENT_PREFIX", "Depositor", "deposit_key")

log = logging.getLogger(__name__)

EXPERIMENT_PREFIX = "experiment"
"""The first part of every deposit's key: ``experiment/<session id>/<local key><ext>``."""


def deposit_key(session_id: str, local_key: str, extension: str) -> str:
    """The storage key of session ``session_id``'s deposit ``local_key``."""
    return check_key(f"{EXPERIMENT_PREFIX}/{session_id}/{local_key}{extension}")


@dataclass(frozen=True)
class _Deposit:
    asset: ExperimentAsset
    key: str
    delete_input: bool


@dataclass(frozen=True)
class _Link:
    asset: Asset
    owner_kind: str
    owner: str
    name: str


class Depositor:
    """Records and uploads one session's deposits, and records its asset links.

    Made by the session's runner in the trio thread of its run; :meth:`serve` runs as
    a task beside the tree; :meth:`close` when the tree ends lets :meth:`serve` finish
    the uploads queued and return. ``storage`` gives the lab's storage (called once,
    when the first upload needs it: a bad storage line fails the deposits, not the
    session). ``stale``: pending deposits a killed run left (``stale_deposits``), to
    retry first; ``taken``: the local keys the session has deposited before.

    An error of the database or the storage never reaches the tree: a failed upload
    ends its row 'failed'; a deposit or link that could not be recorded is logged and
    kept in :attr:`lost` (the runner writes them into the session's error).
    """

    def __init__(self, worker: DatabaseWorker, storage: Callable[[], AssetStorage],
                 session_id: str, *, stale: Sequence[AssetInfo] = (),
                 taken: Iterable[str] = ()) -> None:
        self.worker, self.session_id = worker, session_id
        self.lost: list[str] = []
        """What could not be recorded (a deposit, a link), as text."""
        self._open_storage = storage
        self._storage: AssetStorage | None = None
        self._stale = list(stale)
        self._taken = set(taken)
        self._ids: dict[str, int] = {}  # local key -> asset id, once recorded
        self._lock = threading.Lock()  # _taken, _ids, _closed: any thread deposits
        self._closed = False
        self._send, self._receive = trio.open_memory_channel[_Deposit | _Link](math.inf)
        self._token = trio.lowlevel.current_trio_token()
        self._trio_thread = threading.get_ident()
        self.rig: RigStorage | None = None
        """The session's rig store, for a rig reached over the network: a deposit whose
        input lies in it (``session.rig_folder``) is fetched from the rig, and deleted
        there after (``delete_input``)."""

    # -- what a session's tree calls (any thread)

    def deposit(self, asset: ExperimentAsset, *, async_: bool = False,
                delete_input: bool = False) -> str:
        """Deposit ``asset`` (a file of this session) under
        ``experiment/<session id>/<local key><ext>``; return that key.

        With ``async_`` it returns at once (no I/O: the row and the upload are
        queued for :meth:`serve`), from any thread. Without, it records and uploads
        before returning and raises what failed: call it from a worker thread (``await
        run_in_thread(asset.deposit)``) or outside trio; the trio thread is refused
        (it would stall every stage). Raises :class:`InvalidArgument` when the
        session's tree has ended, or the session has a deposit of that local key.
        """
        key = deposit_key(self.session_id, asset.local_key, asset.extension)
        if not async_ and threading.get_ident() == self._trio_thread:
            raise InvalidArgument(
                f"{asset!r}.deposit(async_=False) blocks until the upload ends: call it "
                "from a worker thread (await run_in_thread(asset.deposit)) or give "
                "async_=True")
        with self._lock:
            self._check_open(f"{asset!r} cannot be deposited")
            if asset.local_key in self._taken:
                raise InvalidArgument(
                    f"session {self.session_id} already has a deposit {asset.local_key!r}: "
                    f"give each of its recordings its own local_key (e.g. "
                    f"'{asset.local_key}-2')")
            self._taken.add(asset.local_key)
        item = _Deposit(asset, key, delete_input)
        if async_:
            self._queue(item)
            return key
        error = self._upload(self._record_deposit(item))
        if error is not None:
            raise error
        return key

    def attach(self, asset: Asset, owner_kind: str, owner: str, name: str) -> None:
        """Record ``asset`` as ``name`` of an owner (see ``Database.link_asset``),
        after the deposits and links queued before it. Returns at once, from any
        thread. ``asset``: one deposited in this session, a cached asset (recorded in
        the lab if it is not yet) or an external one. Raises InvalidArgument for an
        asset that is never stored, or once the tree has ended."""
        with self._lock:
            if not isinstance(asset, (CachedAsset, CachedFunctionAsset, ExternalAsset)) and not (
                    isinstance(asset, ExperimentAsset) and asset.local_key in self._taken):
                raise InvalidArgument(
                    f"{asset!r} cannot be attached as {owner_kind} {owner!r}'s {name!r}: "
                    "only an asset deposited in this session (deposit it first), a cached "
                    "or an external asset has a record to attach")
            self._check_open(f"{asset!r} cannot be attached as {name!r}")
        self._queue(_Link(asset, owner_kind, owner, name))

    def _check_open(self, what: str) -> None:
        if self._closed:
            raise InvalidArgument(f"{what}: the tree of session {self.session_id} has "
                                  "ended (deposit and attach during its run)")

    def _queue(self, item: _Deposit | _Link) -> None:
        if threading.get_ident() == self._trio_thread:
            self._send.send_nowait(item)
        else:
            self._token.run_sync_soon(self._send_late, item)

    def _send_late(self, item: _Deposit | _Link) -> None:
        # from another thread: the tree may have ended (close) since the call was made
        try:
            self._send.send_nowait(item)
        except trio.ClosedResourceError:
            self._lose(item, "it came after the session's tree ended")

    # -- the runner's side

    def close(self) -> None:
        """No more deposits or links (the tree has ended); :meth:`serve` finishes those
        queued and returns. Call in the trio thread."""
        with self._lock:
            self._closed = True
        self._send.close()

    async def serve(self) -> None:
        """Retry the stale deposits, then record and upload those queued, one upload
        at a time, until :meth:`close` and all are done. A task of the session's run;
        the rows and links are written in the worker's threads, uploads in one thread
        each, so nothing here blocks the trio loop."""
        uploads_send, uploads_receive = trio.open_memory_channel[AssetInfo](math.inf)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._upload_all, uploads_receive)
                async with uploads_send:
                    for info in self._stale:
                        uploads_send.send_nowait(info)
                    async for item in self._receive:
                        if isinstance(item, _Link):
                            await self.worker.call(self._record_link, item)
                            continue
                        info = await self.worker.call(self._record_queued, item)
                        if info is not None:
                            uploads_send.send_nowait(info)
        finally:  # cancelled (the run failed): what was never recorded is said, not lost
            while True:
                try:
                    self._lose(self._receive.receive_nowait(), "the run ended before it "
                               "was recorded (its file is kept)")
                except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                    break

    async def _upload_all(self, uploads: trio.MemoryReceiveChannel[AssetInfo]) -> None:
        async for info in uploads:
            await run_in_thread(self._upload, info)  # its error is on its row

    # -- in worker threads

    def _record_deposit(self, item: _Deposit) -> AssetInfo:
        """Write a deposit's pending row (linked to the session); raise what failed."""
        asset = item.asset
        info = self.worker.database.add_deposit(
            self.session_id, asset.local_key, item.key, asset.extension, asset.personal,
            str(asset.input_path), item.delete_input)
        with self._lock:
            self._ids[asset.local_key] = info.id
        return info

    def _record_queued(self, item: _Deposit) -> AssetInfo | None:
        """:meth:`_record_deposit` for a queued deposit: None (and the deposit in
        :attr:`lost`) when it could not be written."""
        try:
            return self._record_deposit(item)
        except Exception as error:  # noqa: BLE001 - the tree goes on; the session says it
            self._lose(item, error_text(error))
            return None

    def _record_link(self, item: _Link) -> None:
        """Write a link (recording a cached or external asset first); in :attr:`lost`
        when it could not be written."""
        asset, database = item.asset, self.worker.database
        try:
            if isinstance(asset, ExternalAsset):
                asset_id = database.record_asset(None, "external", asset.extension,
                                                 asset.personal, url=asset.url()).id
            elif isinstance(asset, (CachedAsset, CachedFunctionAsset)):
                asset_id = database.record_asset(asset.key, "cached", asset.extension,
                                                 asset.personal).id
            else:
                with self._lock:
                    asset_id = self._ids.get(asset.local_key)  # type: ignore[attr-defined]
                if asset_id is None:
                    raise InvalidArgument(f"{asset!r} has no record: its deposit was lost")
            database.link_asset(asset_id, item.owner_kind, item.owner, item.name)
        except Exception as error:  # noqa: BLE001 - the tree goes on; the session says it
            self._lose(item, error_text(error))

    def _upload(self, info: AssetInfo) -> Exception | None:
        """Upload a recorded deposit and end its row; delete its input after success.
        Returns the error that failed it. Blocks: in a thread of its own (or the
        caller's, for a synchronous deposit)."""
        path = Path(info.input_path or "")
        rig_key = self.rig.key_of(path) if self.rig is not None else None
        try:
            with self._input(path, rig_key) as source:
                sha256 = folder_sha256(source) if source.is_dir() else file_sha256(source)
                size = sum(f.stat().st_size for f in source.rglob("*") if f.is_file()) \
                    if source.is_dir() else source.stat().st_size
                if self._storage is None:
                    self._storage = self._open_storage()
                self._storage.put(info.key or "", source)
        except Exception as error:  # noqa: BLE001 - recorded on the row, the tree goes on
            log.warning("deposit %s of session %s failed: %s", info.key, info.session,
                        error_text(error))
            self._end(info, "failed", error=error_text(error))
            return error
        if self._end(info, "deposited", sha256=sha256, size=size) and info.delete_input:
            try:
                if rig_key is not None:
                    self.rig.delete(rig_key)  # type: ignore[union-attr]
                else:
                    shutil.rmtree(path) if path.is_dir() else os.unlink(path)
            except (OSError, StorageError) as error:  # uploaded and recorded: a leftover
                log.warning("deposit %s: its input %s could not be deleted: %s",
                            info.key, path, error)
        return None

    @contextmanager
    def _input(self, path: Path, rig_key: str | None) -> Iterator[Path]:
        """The deposit's input as a local file or folder: ``path`` itself, or the rig's
        file under ``rig_key`` fetched into a temporary folder (removed after)."""
        if rig_key is None:
            if not (path.is_file() or path.is_dir()):
                raise InvalidArgument(f"input file gone: {str(path)!r} is no longer there "
                                      "(deleted, or on another computer)")
            yield path
            return
        with tempfile.TemporaryDirectory(prefix="moalab-deposit-") as folder:
            local = Path(folder) / path.name
            try:
                self.rig.get(rig_key, local)  # type: ignore[union-attr]
            except AssetMissing:
                raise InvalidArgument(f"input file gone: {str(path)!r} is no longer on the "
                                      f"rig ({self.rig})") from None
            yield local

    def _end(self, info: AssetInfo, status: str, **values: object) -> bool:
        try:
            return self.worker.database.end_deposit(info.id, status, **values)
        except Exception as error:  # noqa: BLE001 - the row stays pending: retried later
            self._lose(info, f"its end ({status}) was not recorded: {error_text(error)}")
            return False

    def _lose(self, item: _Deposit | _Link | AssetInfo, reason: str) -> None:
        if isinstance(item, _Deposit):
            what = f"deposit {item.asset.local_key!r}"
        elif isinstance(item, _Link):
            what = f"link {item.name!r} of {item.owner_kind} {item.owner!r}"
        else:
            what = f"deposit {item.key!r}"  # an AssetInfo
        log.error("session %s: %s: %s", self.session_id, what, reason)
        with self._lock:
            self.lost.append(f"{what}: {reason}")
