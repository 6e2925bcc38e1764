"""The deposit rows (issue 15), on a lab made in a temporary folder (SQLite), row
``deposits``:

- ``deposit_return_ms``: the slowest of :data:`DEPOSIT_CALLS` calls of
  ``Recording(...).deposit(async_=True)`` (10 ms apart, as a tree's trials make
  them) through a session's :class:`~moalab.assets.deposit.Depositor` whose store
  takes :data:`SLOW_UPLOAD_S` seconds per upload (a ``LocalStorage`` sleeping in its
  write). The call only queues the deposit; its row and upload happen beside it.
- ``gate_latency_p50_us`` / ``gate_latency_p99_us``: the gate tree of
  :mod:`benchmarks.timing` run by ``root.run_stage()`` (as the ``stage_engine`` row,
  the idle row it is compared with: the two take turns, tree by tree) while a
  session's Depositor uploads a ``Sizes.deposit_bytes`` recording to a
  ``LocalStorage`` in a temporary folder, again and again, so an upload runs through
  every trial (each: the input's SHA-256, a copy under a temporary name, fsync,
  rename, its rows written to the lab's SQLite; the stored copy deleted after).
"""

import os
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, asynccontextmanager, contextmanager
from pathlib import Path
from time import perf_counter

import trio

from moalab.assets import LocalStorage, Recording
from moalab.assets.deposit import Depositor
from moalab.core.realtime import run_in_thread
from moalab.protocol import MockProtocol, ProtocolRunner
from moalab.store import DatabaseWorker

from .common import SideResults, Sizes
from .lab import SUBJECT, temporary_lab
from .timing import GateTree, run_gate_tree

__all__ = ("COMPARED_WITH", "DEPOSIT_CALLS", "DEPOSIT_ROW", "SLOW_UPLOAD_S", "DepositBench",
           "UploadingGate", "open_deposits")

DEPOSIT_ROW = "deposits"
COMPARED_WITH = "stage_engine"
"""The gate row the deposit row's gate is compared with (the same tree, idle)."""
DEPOSIT_CALLS = 20
SLOW_UPLOAD_S = 2.0


class SlowStorage(LocalStorage):
    """A folder that takes ``delay`` seconds per upload (a slow network store)."""

    def __init__(self, folder: Path, delay: float) -> None:
        super().__init__(folder)
        self.delay = delay

    def _write(self, key: str, source: Path, if_absent: bool) -> bool:
        time.sleep(self.delay)
        return super()._write(key, source, if_absent)


class _Session:
    """A session as a recording's ``parent`` sees it: its id and its run's depositor."""

    def __init__(self, session_id: str, depositor: Depositor) -> None:
        self.id, self.depositor = session_id, depositor


class UploadingGate:
    """A :data:`~benchmarks.timing.GateRunner`: the gate tree run by
    ``root.run_stage()`` while ``recording`` is deposited again and again."""

    def __init__(self, worker: DatabaseWorker, session_id: str, recording: Path,
                 storage: LocalStorage) -> None:
        self.worker, self.session_id = worker, session_id
        self.recording, self.storage = recording, storage
        self.uploads = 0

    async def __call__(self, tree: GateTree, folder: Path) -> None:
        stop = trio.Event()
        uploading = trio.Event()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._upload_until, stop, uploading)
            await uploading.wait()
            try:
                await run_gate_tree(tree, None)
            finally:
                stop.set()  # the upload under way ends (a thread is not cancelled)

    async def _upload_until(self, stop: trio.Event, uploading: trio.Event) -> None:
        while not stop.is_set():
            depositor = Depositor(self.worker, lambda: self.storage, self.session_id)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(depositor.serve)
                take = Recording(f"take-{self.uploads}", self.recording, ".bin",
                                 parent=_Session(self.session_id, depositor))
                key = take.deposit(async_=True)
                depositor.close()
                await trio.sleep(0.02)  # its row is written, its hash begun
                uploading.set()
            if depositor.lost:
                raise RuntimeError(f"a bench deposit failed: {depositor.lost}")
            self.uploads += 1
            await run_in_thread(self.storage.delete, key)


@contextmanager
def _recording(folder: Path, size: int) -> Iterator[Path]:
    path = folder / "recording.bin"
    with open(path, "wb") as file:
        for _ in range(size >> 20):
            file.write(os.urandom(1 << 20))
        file.write(os.urandom(size & ((1 << 20) - 1)))
    yield path


class DepositBench:
    """The deposit row's lab session (``worker``, ``session_id``), its recording and a
    folder for its stores."""

    def __init__(self, worker: DatabaseWorker, session_id: str, recording: Path,
                 folder: Path) -> None:
        self.worker, self.session_id = worker, session_id
        self.recording, self.folder = recording, folder
        self.gate = UploadingGate(worker, session_id, recording, LocalStorage(folder / "store"))
        """The row's :data:`~benchmarks.timing.GateRunner`."""

    async def measure_return(self, results: SideResults) -> None:
        """Record ``deposit_return_ms`` (see the module); a failure is recorded as an
        error of the row."""
        try:
            with trio.fail_after(60):
                value = await self._return_ms()
        except Exception as exc:
            results.error(DEPOSIT_ROW, "deposit_return_ms", exc)
            return
        results.record(DEPOSIT_ROW, "deposit_return_ms", value)

    async def _return_ms(self) -> float:
        storage = SlowStorage(self.folder / "slow", SLOW_UPLOAD_S)
        source = self.folder / "take.bin"
        source.write_bytes(os.urandom(1 << 16))
        depositor = Depositor(self.worker, lambda: storage, self.session_id)
        parent = _Session(self.session_id, depositor)
        times = []
        async with trio.open_nursery() as nursery:
            nursery.start_soon(depositor.serve)
            for index in range(DEPOSIT_CALLS):
                take = Recording(f"slow-{index}", source, ".bin", parent=parent)
                start = perf_counter()
                take.deposit(async_=True)
                times.append(perf_counter() - start)
                await trio.sleep(0.01)
            # the uploads left would take 2 s each: only the one under way is waited for
            nursery.cancel_scope.cancel()
        return max(times) * 1e3


@asynccontextmanager
async def open_deposits(subjects: list[str], sizes: Sizes,
                        results: SideResults) -> AsyncIterator[DepositBench | None]:
    """The :class:`DepositBench` of a temporary SQLite lab when :data:`DEPOSIT_ROW` is
    among ``subjects`` (else None; None too when it cannot be made, recorded as an
    error of the row); removed after."""
    if DEPOSIT_ROW not in subjects:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="moalab-bench-deposits-") as folder, \
            ExitStack() as stack:
        try:
            lab = stack.enter_context(temporary_lab("sqlite"))
            path = stack.enter_context(_recording(Path(folder), sizes.deposit_bytes))
            info = await trio.to_thread.run_sync(
                ProtocolRunner(lab, MockProtocol).create_session, SUBJECT)
        except Exception as exc:
            results.error(DEPOSIT_ROW, "*", exc)
            yield None
            return
        yield DepositBench(DatabaseWorker(lab.database), info.id, path, Path(folder))
