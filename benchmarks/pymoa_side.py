"""The workloads run through PyMoa (pymoa-remote 0.1.0), in PyMoa's own virtual env.

Run by ``moalab bench --compare pymoa`` as
``<venv>/bin/python benchmarks/pymoa_side.py --out FILE [--quick] [--executors a,b]``.
It must not import moalab (not installed there). Servers are PyMoa's own:
``python -m pymoa_remote.app.quart`` (WebSocket and REST share it, as in
PyMoa's tests) and the child of ``MultiprocessSocketExecutor``; both import the
device class ``benchmarks.pymoa_devices:BenchDevice`` by module name, so the
repository root is put on ``PYTHONPATH`` for them.
"""

import argparse
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from time import perf_counter
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
os.environ.setdefault("KIVY_NO_ARGS", "1")

import numpy as np  # noqa: E402
import trio  # noqa: E402
from pymoa_remote import __version__ as pymoa_version  # noqa: E402
from pymoa_remote.rest.client import RestExecutor  # noqa: E402
from pymoa_remote.socket.multiprocessing_client import MultiprocessSocketExecutor  # noqa: E402
from pymoa_remote.socket.websocket_client import WebSocketExecutor  # noqa: E402
from pymoa_remote.threading import ThreadExecutor  # noqa: E402

from benchmarks.common import EXECUTORS, FULL, QUICK, SideResults, Sizes  # noqa: E402
from benchmarks.pymoa_devices import BenchDevice  # noqa: E402
from benchmarks.workloads import run_workloads  # noqa: E402

SERVER_START_TIMEOUT = 30.0


class PyMoaSubject:
    """A :class:`BenchDevice` behind one PyMoa executor (or none)."""

    def __init__(self, name: str, device: BenchDevice, executor: Any = None,
                 async_calls: bool = False, remote: bool = False,
                 has_streams: bool = True) -> None:
        self.name = name
        self.device = device
        self.executor = executor
        self.async_calls = async_calls
        self.remote = remote
        self.has_echo = executor is not None
        self.has_streams = has_streams
        self.has_paced_stream = has_streams and executor is not None

    async def echo(self) -> float:
        if self.async_calls:  # the loop in the worker thread, as PyMoa's own table
            t0, _, t3 = await self.executor._get_async_echo_clock()
        else:
            t0, _, t3 = await self.executor.get_echo_clock()
        return (t3 - t0) / 1e9

    async def call(self, x: int) -> Any:
        if self.async_calls:
            return await self.device.read_value_async(x)
        return await self.device.read_value(x)

    def stream(self, n: int):
        return self.device.generate_items(n)

    @asynccontextmanager
    async def array_stream(self, n: int, floats: int) -> AsyncIterator[AsyncIterator[Any]]:
        async with self.device.generate_arrays(n, floats, as_bytes=self.remote) as items:
            if not self.remote:
                yield items
                return

            async def arrays() -> AsyncIterator[Any]:
                async for item in items:
                    yield np.frombuffer(item)

            yield arrays()

    def paced_stream(self, n: int, interval: float):
        return self.device.generate_paced(n, interval)


def free_port() -> int:
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@asynccontextmanager
async def pymoa_server() -> AsyncIterator[int]:
    """PyMoa's Quart server in a child process; yields its port."""
    port = free_port()
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "pymoa_remote.app.quart", "--host", "127.0.0.1",
         "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with trio.fail_after(SERVER_START_TIMEOUT):
            while True:
                try:
                    stream = await trio.open_tcp_stream("127.0.0.1", port)
                except OSError:
                    if process.poll() is not None:
                        raise RuntimeError(
                            f"PyMoa's server exited with code {process.returncode}") from None
                    await trio.sleep(0.05)
                    continue
                await stream.aclose()
                break
        yield port
    finally:
        with trio.CancelScope(shield=True):
            process.terminate()
            with trio.move_on_after(5):
                await process.wait()
            if process.returncode is None:
                process.kill()
                await process.wait()


async def bench_executor(name: str, sizes: Sizes, results: SideResults,
                         nursery: trio.Nursery, server_port: int | None) -> None:
    device = BenchDevice()
    if name == "none":
        await run_workloads(PyMoaSubject(name, device), sizes, results)
        return
    if name == "dummy":
        results.skip(name, "pymoa-remote 0.1.0 (PyPI) has no DummyRemoteExecutor")
        return
    remote = name in ("process", "websocket", "rest")
    if name in ("thread", "async_thread"):
        executor = ThreadExecutor(init_context=False)
        if name == "async_thread":
            # async methods run in PyMoa's per-object AsyncThreadExecutor, a trio
            # loop in a worker thread (PyMoa's own tests switch this flag on)
            executor.supports_coroutine = True
    elif name == "process":
        executor = MultiprocessSocketExecutor(server="127.0.0.1", init_context=False)
    elif name == "websocket":
        executor = WebSocketExecutor(nursery=nursery, server="127.0.0.1", port=server_port,
                                     init_context=False)
    elif name == "rest":
        executor = RestExecutor(uri=f"http://127.0.0.1:{server_port}", init_context=False)
    else:
        raise ValueError(name)
    async with executor:
        device.pymoa_executor = executor
        await executor.ensure_remote_instance(device, f"bench-{name}")
        try:
            subject = PyMoaSubject(name, device, executor, async_calls=name == "async_thread",
                                   remote=remote, has_streams=name != "async_thread")
            skip = {}
            if name == "async_thread":
                reason = ("PyMoa's AsyncThreadExecutor cannot run generators "
                          "(execute_generator raises NotImplementedError)")
                skip = {"stream": reason, "array": reason, "during_stream": reason}
            await run_workloads(subject, sizes, results, skip)
        finally:
            with trio.CancelScope(shield=True):
                await executor.delete_remote_instance(device)


async def main_async(executors: list[str], sizes: Sizes, results: SideResults) -> None:
    async with trio.open_nursery() as nursery:
        server: Any = None
        port = None
        if {"websocket", "rest"} & set(executors):
            server = pymoa_server()
            port = await server.__aenter__()
        try:
            for name in executors:
                start = perf_counter()
                try:
                    await bench_executor(name, sizes, results, nursery, port)
                except Exception as exc:
                    results.error(name, "*", exc)
                print(f"  pymoa   {name:16s} done in {perf_counter() - start:.1f} s",
                      file=sys.stderr, flush=True)
        finally:
            if server is not None:
                await server.__aexit__(None, None, None)
        nursery.cancel_scope.cancel()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pymoa_side.py")
    parser.add_argument("--out", required=True, help="JSON file for the results")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--executors", default=",".join(EXECUTORS))
    args = parser.parse_args(argv)
    executors = [e for e in args.executors.split(",") if e]
    results = SideResults("pymoa", pymoa_version)
    trio.run(main_async, executors, QUICK if args.quick else FULL, results)
    results.write(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
