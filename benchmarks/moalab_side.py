"""The workloads run through moalab's executors, plus the transport floor and timing.

Run by ``moalab bench`` as ``python -m benchmarks.moalab_side --out FILE
[--quick] [--subjects a,b]`` from the repository root (a fresh interpreter per
run, like the PyMoa side). Each executor is one entry of :data:`EXECUTORS`;
executors whose module is not there yet, or that need a ``moalab-server``
that cannot be started, are skipped with the reason.
"""

import argparse
import importlib
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from time import perf_counter
from typing import Any

REPO = Path(__file__).resolve().parents[1]
# child processes (ProcessExecutor's child, moalab-server) import the device module
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
# the servers started here and the executors talking to them share this token
os.environ.setdefault("MOALAB_TOKEN", secrets.token_hex(16))

import trio  # noqa: E402

import moalab  # noqa: E402

from .common import (EXECUTORS, EXTRA_SUBJECTS, FULL, NONBLOCKING_ROWS, QUICK,  # noqa: E402
                     SideResults, Sizes)
from .closed_loop import run_closed_loop  # noqa: E402
from .floor import run_floors  # noqa: E402
from .deposits import COMPARED_WITH as DEPOSITS_COMPARED_WITH  # noqa: E402
from .deposits import DEPOSIT_ROW, open_deposits  # noqa: E402
from .hdf5 import COMPARED_WITH as HDF5_COMPARED_WITH  # noqa: E402
from .hdf5 import HDF5_GATE_ROW, hdf5_gates, measure_hdf5_write  # noqa: E402
from .lab import COMPARED_WITH, GateSessions, open_labs, run_lab  # noqa: E402
from .nwb_export import NWB_ROW, measure_nwb_export  # noqa: E402
from .timing import run_timing  # noqa: E402
from .workloads import run_workloads  # noqa: E402

DEVICE_MODULE = "benchmarks.moalab_devices"
SERVER_START_TIMEOUT = 30.0
_LISTENING = re.compile(rb"moalab-server listening on http://([0-9.]+):(\d+)")


@dataclass(frozen=True)
class Server:
    host: str
    port: int


@dataclass(frozen=True)
class ExecutorEntry:
    """How to make one executor: ``create(server)`` (server is None unless
    ``needs_server``); ``async_methods`` picks the device's async flavours;
    ``nonblocking``: only calls, of the method declared ``blocking=False``."""

    create: Callable[[Server | None], Any] | None
    async_methods: bool = False
    needs_server: bool = False
    nonblocking: bool = False


def _load(path: str) -> Any:
    """``module:attr``, imported now (raises ImportError while it does not exist)."""
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


EXECUTORS_BY_NAME: dict[str, ExecutorEntry] = {
    "none": ExecutorEntry(None),
    "dummy": ExecutorEntry(lambda _: _load("moalab.executor.dummy:DummyRemoteExecutor")()),
    "thread": ExecutorEntry(lambda _: _load("moalab.executor:ThreadExecutor")()),
    "async_thread": ExecutorEntry(lambda _: _load("moalab.executor:AsyncThreadExecutor")(),
                                  async_methods=True),
    "process": ExecutorEntry(lambda _: _load("moalab.executor.process:ProcessExecutor")()),
    "websocket": ExecutorEntry(
        lambda s: _load("moalab.executor.websocket:WebSocketExecutor")(server=s.host, port=s.port),
        needs_server=True),
    "rest": ExecutorEntry(
        lambda s: _load("moalab.executor.rest:RestExecutor")(server=s.host, port=s.port),
        needs_server=True),
}
EXECUTORS_BY_NAME.update({
    f"{name}_nb": replace(EXECUTORS_BY_NAME[name], nonblocking=True)
    for name in (row.removesuffix("_nb") for row in NONBLOCKING_ROWS)})
"""One entry per executor measured; the keys are :data:`common.EXECUTORS`, then
:data:`common.NONBLOCKING_ROWS`."""

NONBLOCKING_WORKLOADS = ("exec", "concurrent")
"""The workloads of a ``*_nb`` row: the others call no ``blocking=False`` method."""


class MoalabSubject:
    """A :class:`BenchDevice` behind one moalab executor (or none)."""

    def __init__(self, name: str, device: Any, executor: Any, async_methods: bool,
                 nonblocking: bool = False) -> None:
        self.name = name
        self.device = device
        self.executor = executor
        self.has_echo = executor is not None
        self.has_streams = True
        # a direct call of a paced sync generator would block the trio loop
        self.has_paced_stream = executor is not None
        suffix = "_async" if async_methods else ""
        self._call = getattr(device, "read_value" + ("_nonblocking" if nonblocking else suffix))
        self._items = getattr(device, "generate_items" + suffix)
        self._arrays = getattr(device, "generate_arrays" + suffix)
        self._paced = getattr(device, "generate_paced" + suffix)

    async def echo(self) -> float:
        t0, _, _, t3 = await self.executor.get_echo_clock()
        return t3 - t0

    async def call(self, x: int) -> Any:
        return await self._call(x)

    def stream(self, n: int):
        return self._items(n)

    def array_stream(self, n: int, floats: int):
        return self._arrays(n, floats)

    def paced_stream(self, n: int, interval: float):
        return self._paced(n, interval)


def _server_command() -> str | None:
    local = Path(sys.executable).with_name("moalab-server")
    return str(local) if local.exists() else shutil.which("moalab-server")


@asynccontextmanager
async def moalab_server(nursery: trio.Nursery, data_dir: Path) -> AsyncIterator[Server]:
    """``moalab-server`` on 127.0.0.1 (a free port), allowing the device module, its
    data folder ``data_dir`` (the rig upload's files go there)."""
    command = _server_command()
    if command is None:
        raise FileNotFoundError("the moalab-server command is not installed (yet)")
    process = await trio.lowlevel.open_process(
        [command, "--host", "127.0.0.1", "--port", "0", "--allow", DEVICE_MODULE,
         "--data-dir", str(data_dir)], stdout=subprocess.PIPE, cwd=str(REPO))
    try:
        output = b""
        with trio.fail_after(SERVER_START_TIMEOUT):
            while (match := _LISTENING.search(output)) is None:
                chunk = await process.stdout.receive_some(4096)
                if not chunk:
                    raise RuntimeError(f"moalab-server exited during start-up (code "
                                       f"{await process.wait()}); output: {output[-500:]!r}")
                output += chunk

        async def drain() -> None:  # a full pipe would stall the server
            while await process.stdout.receive_some(65536):
                pass

        nursery.start_soon(drain)
        yield Server(match.group(1).decode(), int(match.group(2)))
    finally:
        with trio.CancelScope(shield=True):
            if process.returncode is None:
                process.send_signal(signal.SIGINT)
                with trio.move_on_after(10):
                    await process.wait()
                if process.returncode is None:
                    process.kill()
                    await process.wait()


async def _on_rig(storage: Any, key: str, fn: Any, *args: Any) -> float:
    """``fn(*args)``'s result (seconds), run in a worker thread; the rig's ``key``
    deleted after, whatever happens."""
    from moalab.core.realtime import run_in_thread

    try:
        return await run_in_thread(fn, *args)
    finally:
        with trio.CancelScope(shield=True):
            await run_in_thread(storage.delete, key)


def _put_seconds(storage: Any, key: str, source: Path) -> float:
    start = perf_counter()
    storage.put(key, source)
    return perf_counter() - start


async def measure_rig_upload(name: str, executor: Any, sizes: Sizes,
                             results: SideResults) -> None:
    """``rig_upload_mb_s``: MB/s (10^6 bytes) of ``RigStorage(executor).put`` of a
    file of random bytes, from a worker thread as a session's sync makes it (its
    SHA-256, the rig's check of the key, 1 MiB chunks 4 at a time, the rig's hash
    check, fsync and rename all included)."""
    from moalab.assets import RigStorage

    storage = RigStorage(executor)
    with tempfile.TemporaryDirectory(prefix="moalab-bench-rig-") as folder:
        source = Path(folder) / "upload.bin"
        source.write_bytes(os.urandom(sizes.rig_upload_bytes))
        key = f"bench/{name}.bin"
        try:
            elapsed = await _on_rig(storage, key, _put_seconds, storage, key, source)
        except Exception as exc:
            results.error(name, "rig_upload_mb_s", exc)
            return
    results.record(name, "rig_upload_mb_s", sizes.rig_upload_bytes / elapsed / 1e6)


def _check_seconds(storage: Any, copies: dict[str, Path], cache: Path) -> float:
    """Seconds of a second ``sync_to_rig`` of ``copies`` (the first sends them);
    RuntimeError if it sends anything."""
    from moalab.assets import sync_to_rig

    sync_to_rig(copies, cache, storage)
    sent = storage.bytes_sent
    start = perf_counter()
    sync_to_rig(copies, cache, storage)
    elapsed = perf_counter() - start
    if storage.bytes_sent != sent:
        raise RuntimeError(f"the check sent {storage.bytes_sent - sent} bytes of files the "
                           "rig holds")
    return elapsed


async def measure_rig_check(name: str, executor: Any, sizes: Sizes,
                            results: SideResults) -> None:
    """``rig_check_ms``: a session's sync (``sync_to_rig``) of ``sizes.rig_checked_files``
    stimulus files the rig already holds: their SHA-256 here and one ``hashes`` call
    answered from the rig's manifest; an error if anything is sent."""
    from moalab.assets import RigStorage

    storage = RigStorage(executor)
    prefix = f"bench-check-{name}"
    with tempfile.TemporaryDirectory(prefix="moalab-bench-rig-") as folder:
        cache = Path(folder)
        copies = {}
        for i in range(sizes.rig_checked_files):
            path = copies[f"s{i}"] = cache / prefix / f"s{i}.wav"
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(os.urandom(4096))
        try:
            elapsed = await _on_rig(storage, prefix, _check_seconds, storage, copies, cache)
        except Exception as exc:
            results.error(name, "rig_check_ms", exc)
            return
    results.record(name, "rig_check_ms", elapsed * 1e3)


async def bench_executor(name: str, sizes: Sizes, results: SideResults,
                         server: Server | None) -> None:
    from .moalab_devices import BenchDevice

    entry = EXECUTORS_BY_NAME[name]
    device = BenchDevice(name=f"bench-{name}")
    if entry.create is None:
        await run_workloads(MoalabSubject(name, device, None, False), sizes, results)
        return
    executor = entry.create(server)
    async with executor:
        device.executor = executor
        await executor.ensure_remote_instance(device)
        try:
            await run_workloads(MoalabSubject(name, device, executor, entry.async_methods,
                                              entry.nonblocking), sizes, results,
                                only=NONBLOCKING_WORKLOADS if entry.nonblocking else None)
            if entry.needs_server and not entry.nonblocking:  # beside the array stream, over the same connection
                await measure_rig_upload(name, executor, sizes, results)
                await measure_rig_check(name, executor, sizes, results)
        finally:
            with trio.CancelScope(shield=True):
                await executor.delete_remote_instance(device)


def _unavailable(name: str) -> str | None:
    """Why executor ``name`` cannot be measured, or None."""
    entry = EXECUTORS_BY_NAME[name]
    if entry.create is None:
        return None
    try:
        entry.create(Server("127.0.0.1", 1) if entry.needs_server else None)
    except ImportError as exc:
        return f"not available yet ({type(exc).__name__}: {exc})"
    return None


async def main_async(subjects: list[str], sizes: Sizes, results: SideResults) -> None:
    async with open_labs(subjects, results) as labs, \
            open_deposits(subjects, sizes, results) as deposits:
        if labs and COMPARED_WITH not in subjects:  # the lab's gate rows' goal is against it
            subjects = [*subjects, COMPARED_WITH]
        if deposits and DEPOSITS_COMPARED_WITH not in subjects:  # as for the lab's
            subjects = [*subjects, DEPOSITS_COMPARED_WITH]
        gates: dict[str, Any] = {row: GateSessions(lab) for row, lab in labs.items()}
        if deposits:
            gates[DEPOSIT_ROW] = deposits.gate
        if HDF5_GATE_ROW in subjects and HDF5_COMPARED_WITH not in subjects:
            subjects = [*subjects, HDF5_COMPARED_WITH]
        gates.update(hdf5_gates(subjects))
        await run_timing(subjects, sizes, results, gates)
        await measure_hdf5_write(subjects, results)
        await run_lab(subjects, labs, sizes, results)
        if NWB_ROW in subjects:  # its session runs a trio run of its own: in a thread
            await trio.to_thread.run_sync(measure_nwb_export, results)
        if deposits:
            await deposits.measure_return(results)
    await run_floors(subjects, sizes, results)
    executors = [name for name in EXECUTORS_BY_NAME if name in subjects]
    runnable = []
    for name in executors:
        reason = _unavailable(name)
        if reason is None:
            runnable.append(name)
        else:
            results.skip(name, reason)
    async with trio.open_nursery() as nursery:
        server_cm = None
        server: Server | None = None
        data_dir = Path(tempfile.mkdtemp(prefix="moalab-bench-server-"))
        if any(EXECUTORS_BY_NAME[name].needs_server for name in runnable):
            try:
                server_cm = moalab_server(nursery, data_dir)
                server = await server_cm.__aenter__()
            except Exception as exc:
                server_cm = None
                for name in [n for n in runnable if EXECUTORS_BY_NAME[n].needs_server]:
                    runnable.remove(name)
                    results.skip(name, f"no moalab-server ({type(exc).__name__}: {exc})")
        try:
            for name in runnable:
                start = perf_counter()
                try:
                    await bench_executor(name, sizes, results, server)
                except Exception as exc:
                    results.error(name, "*", exc)
                print(f"  moalab  {name:16s} done in {perf_counter() - start:.1f} s",
                      file=sys.stderr, flush=True)
        finally:
            if server_cm is not None:
                await server_cm.__aexit__(None, None, None)
            shutil.rmtree(data_dir, ignore_errors=True)
        nursery.cancel_scope.cancel()
    if "clock" in subjects:
        await run_clock(sizes is QUICK, results)


async def run_clock(quick: bool, results: SideResults) -> None:
    """Remote clock alignment error (``clock_quality.py``, servers on skewed clocks)."""
    try:
        from .clock_quality import run_clock_quality

        with trio.fail_after(300):
            rows = await run_clock_quality(quick)
    except Exception as exc:
        results.error("clock", "*", exc)
        return
    for row in rows:
        name = row["transport"] + ("_proxy" if row["proxy"] else "")
        results.record(name, "clock_error_p50_us", row["error_p50_us"])
        results.record(name, "clock_error_max_us", row["error_max_us"])
        results.record(name, "clock_goal_us", row["goal_us"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.moalab_side")
    parser.add_argument("--out", required=True, help="JSON file for the results")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--subjects", default=",".join(EXECUTORS + EXTRA_SUBJECTS))
    args = parser.parse_args(argv)
    subjects = [s for s in args.subjects.split(",") if s]
    results = SideResults("moalab", moalab.__version__)
    sizes = QUICK if args.quick else FULL
    trio.run(main_async, subjects, sizes, results)
    run_closed_loop(subjects, sizes, results)  # outside trio: its runner starts trio runs
    results.write(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
